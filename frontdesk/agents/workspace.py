"""The agent workspace: what a support agent does with a handed-off conversation.

List queues and open handoffs (SLA clock, priority, customer tier), read one with its live
transcript and agent assist, claim it, reply to the customer in their channel, add internal
notes, close it (the bot resumes and asks for a rating) and say whether the bot read the
customer right. Every step is audited; replies and notes are also mirrored to the ticket.

Out-of-band follow-ups (``channel == "email"``, see ``HandoffService.open_follow_up``) are worked
by e-mail: the chat is refused for them, and closing one touches neither the chat nor CSAT.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.agents.conversations import Conversations
from frontdesk.agents.directory import Principal
from frontdesk.agents.feedback import AgentFeedback
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.db import Database
from frontdesk.core.schema import utcnow
from frontdesk.handoff.service import HandoffRow, HandoffService, handoff_reference, is_follow_up, load_draft
from frontdesk.ticketing.port import TicketingBackend

MAX_REPLY_CHARS = 4000
_REFERENCE = re.compile(r"HO-(\d{1,9})")
FINISHED_TICKET_STATUSES = frozenset({"solved", "closed"})


class WorkspaceError(Exception):
    """A request the workspace refuses; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class QueueSummary:
    name: str
    open: int
    unclaimed: int
    overdue: int
    first_response_minutes: int


class AgentWorkspace:
    def __init__(
        self, db: Database, handoffs: HandoffService, conversations: Conversations, feedback: AgentFeedback,
        audit: AuditLog, clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.handoffs = handoffs
        self.conversations = conversations
        self.feedback = feedback
        self.audit = audit
        self.clock = clock

    # -- reading --------------------------------------------------------------------------------

    def queues(self, viewer: Principal | None = None) -> list[QueueSummary]:
        """Every queue, or those the viewer's token covers (docs/roles.md)."""
        now = self.clock()
        with self.db.transaction() as session:
            open_rows = session.execute(select(HandoffRow).where(HandoffRow.status == "open")).scalars().all()
        return [
            QueueSummary(
                name=queue.name,
                open=sum(1 for r in open_rows if r.queue == queue.name),
                unclaimed=sum(1 for r in open_rows if r.queue == queue.name and not r.claimed_by),
                overdue=sum(1 for r in open_rows if r.queue == queue.name and r.first_response_due < now),
                first_response_minutes=queue.first_response_minutes,
            )
            for queue in self.handoffs.policy.queues.values()
            if viewer is None or viewer.sees_queue(queue.name)
        ]

    def open_handoffs(self, queue: str | None = None, viewer: Principal | None = None) -> list[dict[str, Any]]:
        """Open handoffs, most urgent first: priority, then the SLA clock; only in the queues the
        viewer's token covers."""
        order = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
        with self.db.transaction() as session:
            query = select(HandoffRow).where(HandoffRow.status == "open")
            if queue:
                query = query.where(HandoffRow.queue == queue)
            rows = [row for row in session.execute(query).scalars() if viewer is None or viewer.sees_queue(row.queue)]
        rows = sorted(rows, key=lambda r: (order.get(r.priority, 9), r.first_response_due))
        return [self._listing(r) for r in rows]

    def _listing(self, row: HandoffRow) -> dict[str, Any]:
        draft = load_draft(row.draft)
        minutes_left = int((row.first_response_due - self.clock()).total_seconds() // 60)
        return {
            # The conversation by its opaque reference: agents never see (or pass on) its id.
            "reference": handoff_reference(row.id), "conversation": self.handoffs.references(row.conversation_id),
            "subject": draft.subject, "queue": row.queue,
            "priority": row.priority, "status": row.status, "reason": row.reason, "category": row.category,
            "channel": row.channel, "customer_id": row.customer_id, "tier": draft.profile.get("tier"),
            "plan": draft.profile.get("plan"), "created_at": _iso(row.created_at),
            "first_response_due": _iso(row.first_response_due), "sla_minutes_left": minutes_left,
            "overdue": minutes_left < 0, "claimed_by": row.claimed_by, "ticket": row.ticket_reference,
        }

    def ticket(self, reference: str, viewer: Principal | None = None) -> dict[str, Any]:
        with self.db.transaction() as session:
            row = self._row(session, reference, viewer)
            conversation_id = row.conversation_id
            listing = self._listing(row)
            draft = load_draft(row.draft)
            intent, confidence, closed_at = row.intent, row.confidence, row.closed_at
            follow_up = is_follow_up(row)
        redact = self.handoffs.redactor.redact
        # Live from the dialogue engine, so the agent sees what was said after the handoff too. Not
        # for an e-mail follow-up: whoever chatted may not be the account's owner it is about.
        turns = [] if follow_up else [
            {"speaker": t.speaker, "agent": t.agent, "text": redact(t.text), "timestamp": t.timestamp}
            for t in self.conversations.transcript(conversation_id)
        ]
        return {
            **listing, "intent": intent, "confidence": confidence,
            "labels": list(draft.labels), "summary": draft.summary, "suggested_reply": draft.suggested_reply,
            "profile": draft.profile, "transcript": turns, "closed_at": _iso(closed_at) if closed_at else None,
        }

    # -- acting ---------------------------------------------------------------------------------

    def claim(self, reference: str, agent: Principal) -> dict[str, Any]:
        with self.db.transaction() as session:
            row = self._open_row(session, reference, agent)
            if row.claimed_by and row.claimed_by != agent.name:
                raise WorkspaceError(409, f"{reference} is already claimed by {row.claimed_by}")
            if not row.claimed_by:
                row.claimed_by, row.claimed_at = agent.name, self.clock()
                self._audit(session, row, agent, "agent.claimed")
            return self._listing(row)

    def reply(self, reference: str, agent: Principal, text: str) -> None:
        """Sends the agent's words to the customer, in the customer's channel. Replying claims an
        unclaimed handoff; one claimed by someone else is refused."""
        text = _checked_text(text)
        with self.db.transaction() as session:
            if is_follow_up(self._open_row(session, reference, agent)):
                # The chat belongs to whoever asked, who may not be the account's owner.
                raise WorkspaceError(409, f"{reference} is an e-mail follow-up: answer the account's owner by "
                                          "e-mail, not in the chat")
        self.claim(reference, agent)
        with self.db.transaction() as session:
            conversation_id = self._open_row(session, reference).conversation_id
        self.conversations.send_agent_message(conversation_id, text, agent.name)
        with self.db.transaction() as session:
            row = self._row(session, reference)
            self.handoffs.enqueue(session, row.id, "reply",
                                  f"{agent.name} replied: {self.handoffs.redactor.redact(text)}")
            self._audit(session, row, agent, "agent.replied")

    def note(self, reference: str, agent: Principal, text: str) -> None:
        text = _checked_text(text)
        with self.db.transaction() as session:
            row = self._row(session, reference, agent)
            self.handoffs.enqueue(session, row.id, "comment",
                                  f"Internal note by {agent.name}: {self.handoffs.redactor.redact(text)}")
            self._audit(session, row, agent, "agent.noted")

    def close(self, reference: str, agent: Principal | None) -> None:
        """Hands the conversation back to the bot, which asks for a rating, and solves the ticket.
        ``agent`` is None when the ticket was solved in the ticketing system itself. A follow-up
        is only closed, with its ticket: its chat was never paused and had no agent to rate."""
        closed_by = agent.name if agent else "ticketing"
        with self.db.transaction() as session:
            row = self._open_row(session, reference, agent)
            if agent and row.claimed_by and row.claimed_by != agent.name:
                raise WorkspaceError(409, f"{reference} is claimed by {row.claimed_by}")
            conversation_id, in_chat = row.conversation_id, not is_follow_up(row)
        if in_chat:
            # The customer first: if the assistant is unreachable nothing changes and the agent retries.
            self.conversations.resume_with_csat(conversation_id)
        with self.db.transaction() as session:
            row = self._row(session, reference)
            row.status, row.closed_at, row.closed_by = "closed", self.clock(), closed_by
            if agent:  # solved elsewhere needs no solving again
                self.handoffs.enqueue(session, row.id, "close")
            self._audit(session, row, agent, "agent.closed" if agent else "ticketing.closed")

    def record_feedback(
        self, reference: str, agent: Principal, intent_correct: bool, correct_intent: str | None
    ) -> None:
        with self.db.transaction() as session:
            row = self._row(session, reference, agent)
            draft = load_draft(row.draft)
            example = _last_customer_message(draft.transcript)
            try:
                self.feedback.record(session, row.id, agent.agent_id, row.intent, intent_correct, correct_intent,
                                     example)
            except ValueError as problem:
                raise WorkspaceError(422, str(problem)) from problem
            self._audit(session, row, agent, "agent.feedback", intent_correct=intent_correct,
                        correct_intent=correct_intent if not intent_correct else row.intent)

    def sync_finished_tickets(self, backend: TicketingBackend) -> int:
        """Open handoffs whose ticket an agent solved in the ticketing system: resume the bot."""
        with self.db.transaction() as session:
            candidates = [
                (handoff_reference(r.id), r.ticket_external_id)
                for r in session.execute(select(HandoffRow).where(
                    HandoffRow.status == "open", HandoffRow.ticket_backend == backend.name,
                    HandoffRow.ticket_external_id.is_not(None))).scalars()
            ]
        closed = 0
        for reference, external_id in candidates:
            if backend.ticket_status(external_id) in FINISHED_TICKET_STATUSES:
                self.close(reference, None)
                closed += 1
        return closed

    # -- helpers --------------------------------------------------------------------------------

    def _row(self, session: Session, reference: str, viewer: Principal | None = None) -> HandoffRow:
        """The handoff, when it exists and the viewer's token covers its queue (None: the system)."""
        match = _REFERENCE.fullmatch(reference.strip().upper()) if isinstance(reference, str) else None
        row = session.get(HandoffRow, int(match.group(1))) if match else None
        if row is None:
            raise WorkspaceError(404, f"no handoff {reference!r}")
        if viewer is not None and not viewer.sees_queue(row.queue):
            raise WorkspaceError(403, f"{handoff_reference(row.id)} is in the {row.queue} queue, which your token "
                                      "does not cover")
        return row

    def _open_row(self, session: Session, reference: str, viewer: Principal | None = None) -> HandoffRow:
        row = self._row(session, reference, viewer)
        if row.status != "open":
            raise WorkspaceError(409, f"{reference} is already closed")
        return row

    def _audit(self, session: Session, row: HandoffRow, agent: Principal | None, decision: str, **details: Any) -> None:
        context = DecisionContext(row.conversation_id, row.intent, row.confidence, decision.split(".")[0])
        self.audit.record(session, context, decision, reason=None, handoff_id=row.id,
                          agent=agent.name if agent else None, **details)


def _checked_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise WorkspaceError(422, "the text must be a non-empty string")
    if len(text) > MAX_REPLY_CHARS:
        raise WorkspaceError(422, f"the text is longer than {MAX_REPLY_CHARS} characters")
    return text.strip()


def _last_customer_message(transcript: str) -> str:
    lines = [line[len("customer: "):] for line in transcript.splitlines() if line.startswith("customer: ")]
    real = [line for line in lines if not line.startswith("[clicked]")]
    return (real or lines or [""])[-1]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"
