"""A verified customer's own tickets: their live state, queue, last update and expected reply.

Which tickets are the customer's comes from the ``handoffs`` table (the handoff service writes the
verified customer's id on every handoff it opens for them, and the outbox writes the ticket's
reference there once it exists). A customer may quote the reference the bot gave them
(``HO-00012``), the embedded ticket's (``FD-00012``) or Zendesk's (``#4711``), typed loosely.

Someone else's ticket must look exactly like one that does not exist: the lookup is one query
that matches the reference *and* the customer together, so another customer's ticket is never
loaded, the ticketing system is never asked about it, and both cases return None from the same
code path. The live state comes from the ticketing backend; when it cannot be asked, the answer
says so (``live=False``) instead of raising.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from frontdesk.core.schema import utcnow
from frontdesk.handoff.policy import HandoffPolicy, Queue
from frontdesk.handoff.service import HandoffRow, handoff_reference
from frontdesk.ticketing.port import TicketingBackend, TicketingRejected, TicketingUnavailable, TicketSnapshot
from frontdesk.ticketing.sql import reference_for

log = logging.getLogger(__name__)

# "HO-00012", "ho 12", "FD-01042", "fd1042", "#4711", "4711", "ticket #4711", "ref: HO-12".
_REFERENCE = re.compile(
    r"(?:(?:ticket|case|ref(?:erence)?)\s*(?:no\.?|number|nr\.?)?\s*[:#]?\s*)?(HO|FD)?\s*[-_:#.]?\s*#?\s*0*(\d{1,9})",
    re.IGNORECASE,
)
LATEST_LIMIT = 3
# Local handoffs looked at for "my tickets": a few more than shown, as some may be solved already.
_LATEST_CANDIDATES = 10


class TicketState(str, Enum):
    """A ticket's state in the customer's words (the dialogue layer words the reply around it)."""

    RECEIVED = "received"  # the handoff exists; the ticket is on its way to the ticketing system
    OPEN = "open"  # with our team
    WAITING_FOR_YOU = "waiting for you"  # the team asked the customer something
    SOLVED = "solved"
    CLOSED = "closed"
    UNKNOWN = "unknown"  # the ticketing system could not be asked (``live`` is False)


# Zendesk's statuses (new, open, pending, hold, solved, closed) and the embedded backend's
# (open, solved), as Zendesk's own help centre shows them to end users: on hold is still open.
_STATE_FOR_BACKEND_STATUS = {
    "new": TicketState.OPEN, "open": TicketState.OPEN, "hold": TicketState.OPEN,
    "pending": TicketState.WAITING_FOR_YOU, "solved": TicketState.SOLVED, "closed": TicketState.CLOSED,
}
_AWAITING_US = (TicketState.RECEIVED, TicketState.OPEN)


@dataclass(frozen=True)
class TicketNumber:
    """A reference as typed, normalised: its prefix (HO, FD, or None for ``#4711``/``4711``) and number."""

    prefix: str | None
    number: int


def parse_reference(text: str | None) -> TicketNumber | None:
    """The reference in ``text``, or None when it does not look like one."""
    if not text:
        return None
    match = _REFERENCE.fullmatch(text.strip())
    if match is None:
        return None
    prefix, digits = match.group(1), match.group(2)
    return TicketNumber(prefix.upper() if prefix else None, int(digits))


@dataclass(frozen=True)
class TicketStatus:
    reference: str  # what the customer was given, e.g. "HO-00012"
    ticket_reference: str | None  # the ticketing system's, e.g. "FD-00012" or "#4711"; None until it exists
    state: TicketState
    live: bool  # False: the ticketing system could not be asked, and ``state`` is UNKNOWN
    queue: str
    opened_at: datetime  # naive UTC
    last_update: datetime  # naive UTC: the ticketing system's, or the last change the app knows of
    response_target: str  # the queue's SLA, e.g. "within 4 working hours"
    reply_due: datetime | None  # when we owe the customer a reply; None when we do not
    expected_reply: str | None  # customer wording of ``reply_due``, e.g. "today by 14:00 GMT"
    overdue: bool  # the reply is late

    @property
    def state_text(self) -> str:
        return self.state.value

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "ticket_reference": self.ticket_reference, "state": self.state.value,
            "live": self.live, "queue": self.queue, "opened_at": self.opened_at, "last_update": self.last_update,
            "response_target": self.response_target, "reply_due": self.reply_due,
            "expected_reply": self.expected_reply, "overdue": self.overdue,
        }


def describe_target(queue: Queue | None) -> str:
    """A queue's first-response target in words."""
    if queue is None:
        return "as soon as we can"
    minutes = queue.first_response_minutes
    amount = (f"{minutes // 60} hour{'s' if minutes != 60 else ''}" if minutes % 60 == 0
              else f"{minutes} minutes")
    return f"within {amount}" if queue.around_the_clock else f"within {amount} of opening hours"


class TicketStatusDesk:
    """Answers "what's happening with my ticket?" for a verified customer, about their tickets only."""

    def __init__(self, backend: TicketingBackend, policy: HandoffPolicy,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.backend = backend
        self.policy = policy
        self.clock = clock

    def status_of(self, session: Session, customer_id: str, reference: str | None) -> TicketStatus | None:
        """The customer's ticket with this reference; None when it does not exist *or* is not
        theirs (the same answer, by the same path). Without a reference: their latest open ticket."""
        if not customer_id:
            return None
        if reference is None or not reference.strip():
            latest = self.latest_for(session, customer_id, limit=1)
            return latest[0] if latest else None
        number = parse_reference(reference)
        if number is None:
            return None
        rows = session.execute(select(HandoffRow).where(
            HandoffRow.customer_id == customer_id, or_(*self._matches(number)))).scalars().all()
        row = self._best_match(rows, number)
        return self._status(row) if row is not None else None

    def latest_for(self, session: Session, customer_id: str, limit: int = LATEST_LIMIT) -> list[TicketStatus]:
        """The customer's most recent open tickets, newest first: those the ticketing system has
        solved or closed (and the handoffs not yet closed here) are left out."""
        if not customer_id:
            return []
        rows = session.execute(select(HandoffRow).where(
            HandoffRow.customer_id == customer_id, HandoffRow.status == "open")
            .order_by(HandoffRow.id.desc()).limit(_LATEST_CANDIDATES)).scalars().all()
        found: list[TicketStatus] = []
        for row in rows:
            status = self._status(row)
            if status.state not in (TicketState.SOLVED, TicketState.CLOSED):
                found.append(status)
            if len(found) >= limit:
                break
        return found

    # -- helpers --------------------------------------------------------------------------------

    def _matches(self, number: TicketNumber) -> list[Any]:
        """Which handoffs a reference can name: ``HO-`` ours, ``FD-`` the embedded ticket's, and a
        bare or ``#`` number any of the three (Zendesk's ``#4711`` first)."""
        by_handoff = HandoffRow.id == number.number
        by_embedded = HandoffRow.ticket_reference == reference_for(number.number)
        by_zendesk = HandoffRow.ticket_reference == f"#{number.number}"
        if number.prefix == "HO":
            return [by_handoff]
        if number.prefix == "FD":
            return [by_embedded]
        return [by_zendesk, by_handoff, by_embedded]

    @staticmethod
    def _best_match(rows: list[HandoffRow], number: TicketNumber) -> HandoffRow | None:
        def rank(row: HandoffRow) -> int:
            if row.ticket_reference == f"#{number.number}":
                return 0
            return 1 if number.prefix != "FD" and row.id == number.number else 2

        return min(rows, key=rank, default=None)

    def _status(self, row: HandoffRow) -> TicketStatus:
        now = self.clock()
        snapshot = self._snapshot(row)
        known_changes = [row.created_at, row.claimed_at, row.closed_at]
        if row.ticket_external_id is None:
            state, live = TicketState.RECEIVED, True
        elif snapshot is None:
            state, live = TicketState.UNKNOWN, False
        else:
            state, live = _STATE_FOR_BACKEND_STATUS.get(snapshot.status.lower(), TicketState.UNKNOWN), True
            if state is TicketState.UNKNOWN:  # e.g. the embedded row is missing: say we cannot tell
                live = False
            known_changes.append(snapshot.updated_at)
        last_update = max(when for when in known_changes if when is not None)
        queue = self.policy.queues.get(row.queue)
        # An unknown state of a handoff still open here: we most likely still owe the reply.
        awaiting_us = state in _AWAITING_US or (state is TicketState.UNKNOWN and row.status == "open")
        reply_due = self._reply_due(row, queue, last_update, now) if awaiting_us else None
        overdue = reply_due is not None and reply_due <= now
        return TicketStatus(
            reference=handoff_reference(int(row.id)), ticket_reference=row.ticket_reference, state=state, live=live,
            queue=row.queue, opened_at=row.created_at, last_update=last_update, response_target=describe_target(queue),
            reply_due=reply_due, overdue=overdue,
            expected_reply=self.policy.describe_due(reply_due, now) if reply_due and not overdue else None,
        )

    def _reply_due(self, row: HandoffRow, queue: Queue | None, last_update: datetime, now: datetime) -> datetime:
        """The first-response time; once that has passed and the ticket moved since, the queue's
        target counted from its last update (the customer wrote again, say)."""
        due = row.first_response_due
        if due <= now and queue is not None and last_update > row.created_at:
            due = max(due, self.policy.first_response_due(queue, last_update))
        return due

    def _snapshot(self, row: HandoffRow) -> TicketSnapshot | None:
        """The ticket's live state, or None when the ticketing system cannot tell us now."""
        if row.ticket_external_id is None:
            return None
        if row.ticket_backend != self.backend.name:  # filed with a backend this deployment no longer uses
            return None
        try:
            return self.backend.ticket_snapshot(row.ticket_external_id)
        except (TicketingUnavailable, TicketingRejected) as problem:
            # Worded by the backends without ticket contents (see the port).
            log.warning("ticket status unavailable from %s: %s", self.backend.name, problem)
            return None
