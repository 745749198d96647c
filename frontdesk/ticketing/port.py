"""The ticketing port: what a handoff needs from a ticketing system.

A handoff builds a ``TicketDraft`` (everything an agent needs, PII already redacted) and hands
it to a ``TicketingBackend``. Backends must make ``create_ticket`` idempotent on
``draft.idempotency_key``: a retry after a timeout, or a double click, returns the ticket that
already exists instead of opening a second one. ``add_comment`` with a ``key`` is idempotent
the same way: the comment carries the key (``keyed_body``), and a retry whose first attempt was
applied, but whose answer was lost, finds it instead of adding it twice.

``erase_requester_data`` serves data-subject erasure (``frontdesk.privacy.subject_requests``):
it deletes tickets for good, and the requester's own record where the backend keeps people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


def comment_ref(key: str) -> str:
    """The line that carries a comment's idempotency key, e.g. ``[frontdesk ref fd-op-12]``.

    The closing bracket keeps ``fd-op-1`` from matching ``fd-op-12``."""
    return f"[frontdesk ref {key}]"


def keyed_body(body: str, key: str) -> str:
    """The comment as stored: its text, then the reference line last."""
    return f"{body.rstrip()}\n\n{comment_ref(key)}"


def has_key(stored: str, body: str, key: str) -> bool:
    """Whether ``stored`` is this comment: it must *end* with the reference line (a customer
    could quote one in their text) and carry the same text, give or take whitespace, so a
    reference line typed by someone else cannot suppress one of ours."""
    stored = stored.strip()
    ref = comment_ref(key)
    if not stored.endswith(ref):
        return False
    return stored[: -len(ref)].split() == body.split()


@dataclass(frozen=True)
class TicketDraft:
    idempotency_key: str  # "<conversation reference>:<handoff sequence>"
    # The conversation's opaque reference (frontdesk.core.chat_sessions), never its id: tickets are read
    # by people and systems the id must not reach.
    conversation_id: str
    channel: str
    subject: str
    queue: str
    priority: str  # low | normal | high | urgent (Zendesk's four)
    labels: tuple[str, ...]
    transcript: str  # redacted
    summary: str  # agent assist: what the customer wants, what was collected, what the bot tried
    suggested_reply: str
    customer_id: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketRef:
    backend: str
    external_id: str  # the backend's own id
    reference: str  # what the customer and agents call it, e.g. "FD-1042" or "#4711"


@dataclass(frozen=True)
class TicketSnapshot:
    """A ticket's live state as its backend reports it (what a customer asking about it needs)."""

    status: str  # the backend's own word, as ``ticket_status`` returns it
    updated_at: datetime | None  # naive UTC; None when the backend does not say


@dataclass(frozen=True)
class TicketErasure:
    """What ``erase_requester_data`` did, in counts and the backend's ticket ids, never contents.

    ``tickets_pending`` and ``requester_pending`` say what is still there because the backend
    failed (``problem``, worded without personal data); asking again finishes the job."""

    tickets_erased: int = 0
    requesters_erased: int = 0
    tickets_pending: tuple[str, ...] = ()
    requester_pending: bool = False
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return not self.tickets_pending and not self.requester_pending


# Backends word these two exceptions' messages without ticket contents: the outbox stores them
# as ``last_error`` and logs them.
class TicketingUnavailable(Exception):
    """A transient failure (outage, 5xx, 429): try again later, after ``retry_after`` if given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TicketingRejected(Exception):
    """A permanent failure (4xx other than 429): retrying the same request cannot succeed."""


class TicketingBackend(Protocol):
    name: str

    def create_ticket(self, draft: TicketDraft) -> TicketRef:
        """Creates the ticket, or returns the one already created for ``draft.idempotency_key``."""

    def add_comment(self, ticket: TicketRef, body: str, public: bool = False, key: str | None = None) -> None:
        """Appends a comment (internal unless ``public``); with ``key``, only if no comment of the
        ticket carries that key yet."""

    def close_ticket(self, ticket: TicketRef) -> None:
        """Marks the ticket solved: the agent has finished with it."""

    def ticket_status(self, external_id: str) -> str:
        """The ticket's status in the backend's words; ``solved``/``closed`` mean finished."""

    def ticket_snapshot(self, external_id: str) -> TicketSnapshot:
        """The ticket's status (as ``ticket_status``) and when it last changed."""

    def erase_requester_data(self, external_ids: Sequence[str], requester_email: str | None) -> TicketErasure:
        """Deletes these tickets (the backend's ids) for good and, where the backend keeps people,
        the end user with this address and every ticket they requested. Idempotent: what is gone
        already is skipped. An outage is reported in the result (``complete`` is False), not raised."""
