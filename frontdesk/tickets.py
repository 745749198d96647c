"""The ticketing port: what a handoff needs from a ticketing system.

A handoff builds a ``TicketDraft`` (everything an agent needs, PII already redacted) and hands
it to a ``TicketingBackend``. Backends must make ``create_ticket`` idempotent on
``draft.idempotency_key``: a retry after a timeout, or a double click, returns the ticket that
already exists instead of opening a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class TicketDraft:
    idempotency_key: str  # "<conversation id>:<handoff sequence>"
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

    def add_comment(self, ticket: TicketRef, body: str, public: bool = False) -> None:
        """Appends a comment (internal unless ``public``)."""

    def close_ticket(self, ticket: TicketRef) -> None:
        """Marks the ticket solved: the agent has finished with it."""

    def ticket_status(self, external_id: str) -> str:
        """The ticket's status in the backend's words; ``solved``/``closed`` mean finished."""
