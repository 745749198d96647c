"""Human handoff: one ticket per handoff, ready to work, delivered through an outbox.

``HandoffService.hand_off`` runs inside the action's transaction: it writes the handoff row
(unique idempotency key) and an outbox row, so a retried action or a ticketing outage never
creates a second ticket and never loses one. ``TicketOutbox.dispatch_due`` delivers to the
configured backend with retries; ``sync_waiting_messages`` appends what the customer writes
while the bot is paused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, Text, func, select, text
from sqlalchemy.orm import Session

from frontdesk.agent_assist import ConversationFacts, suggest_reply, summarise
from frontdesk.audit import AuditLog, DecisionContext
from frontdesk.billing_triage import BILLING_INTENTS
from frontdesk.crm import Crm
from frontdesk.db import Database
from frontdesk.handoff_policy import HandoffPolicy
from frontdesk.outbox import DeliveryColumns, claimed_due_rows
from frontdesk.privacy import Redactor
from frontdesk.schema import Base, utcnow
from frontdesk.tickets import TicketDraft, TicketingBackend, TicketingRejected, TicketingUnavailable, TicketRef

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)


class HandoffRow(Base):
    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True, autoincrement=True)
    idempotency_key = Column(String(160), nullable=False, unique=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    reason = Column(String(40), nullable=False)
    category = Column(String(40), nullable=True)
    intent = Column(String(64), nullable=True)
    confidence = Column(Float, nullable=True)
    queue = Column(String(40), nullable=False)
    priority = Column(String(10), nullable=False)
    customer_id = Column(String(16), nullable=True, index=True)
    status = Column(String(16), nullable=False, default="open", index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    first_response_due = Column(DateTime, nullable=False)
    draft = Column(Text, nullable=False)  # the TicketDraft as JSON, PII already redacted
    ticket_backend = Column(String(20), nullable=True)
    ticket_external_id = Column(String(64), nullable=True)
    ticket_reference = Column(String(32), nullable=True)
    # Rasa tracker-store event id up to which waiting messages were appended to the ticket.
    last_synced_event_id = Column(Integer, nullable=False, default=0)
    claimed_by = Column(String(80), nullable=True, index=True)  # the agent working on it
    claimed_at = Column(DateTime, nullable=True)
    closed_at = Column(DateTime, nullable=True)
    closed_by = Column(String(80), nullable=True)  # an agent's name, or "ticketing" when closed there


class TicketOutboxRow(DeliveryColumns, Base):
    __tablename__ = "ticket_outbox"

    id = Column(Integer, primary_key=True, autoincrement=True)
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=False, index=True)
    operation = Column(String(10), nullable=False)  # create | comment | reply (public) | close
    body = Column(Text, nullable=True)  # comment text, redacted
    done_at = Column(DateTime, nullable=True)


@dataclass(frozen=True)
class Turn:
    speaker: str  # customer | bot | agent
    text: str


@dataclass(frozen=True)
class HandoffRequest:
    conversation_id: str
    sequence: int  # position of the triggering customer message: stable when the action is retried
    reason: str
    channel: str
    intent: str | None
    confidence: float | None
    model_id: str | None
    turns: list[Turn]
    collected: dict[str, str] = field(default_factory=dict)
    entities: list[tuple[str, str]] = field(default_factory=list)
    bot_tried: list[str] = field(default_factory=list)
    customer_id: str | None = None
    # The NLU's (intent, confidence) ranking: billing inquiries are triaged from it.
    ranking: list[tuple[str, float]] = field(default_factory=list)
    # Set when the NLU pipeline relabelled the intent (the account-takeover guard): what it
    # replaced and why, for the audit record.
    intent_override: dict[str, Any] | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.conversation_id}:{self.sequence}"


def _override(request: HandoffRequest) -> dict[str, Any]:
    return {"intent_override": request.intent_override} if request.intent_override else {}


@dataclass(frozen=True)
class HandoffResult:
    handoff_id: int
    reference: str
    queue: str
    priority: str
    first_response_due: datetime
    expected_reply: str  # customer-facing wording, e.g. "today by 14:00 GMT"
    created: bool  # False when an earlier handoff of this conversation was reused


def load_draft(stored: str) -> TicketDraft:
    fields = json.loads(stored)
    return TicketDraft(**{**fields, "labels": tuple(fields["labels"])})


def handoff_reference(handoff_id: int) -> str:
    return f"HO-{handoff_id:05d}"


class HandoffService:
    def __init__(
        self,
        policy: HandoffPolicy,
        redactor: Redactor,
        crm: Crm,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.policy = policy
        self.redactor = redactor
        self.crm = crm
        self.audit = audit or AuditLog()
        self.clock = clock

    def _result(self, row: HandoffRow, created: bool) -> HandoffResult:
        return HandoffResult(
            int(row.id), handoff_reference(int(row.id)), row.queue, row.priority, row.first_response_due,
            self.policy.describe_due(row.first_response_due, self.clock()), created,
        )

    def hand_off(self, session: Session, request: HandoffRequest) -> HandoffResult:
        context = DecisionContext(request.conversation_id, request.intent, request.confidence,
                                  "handoff", request.model_id)
        same = session.execute(
            select(HandoffRow).where(HandoffRow.idempotency_key == request.idempotency_key)
        ).scalar_one_or_none()
        if same is not None:  # the same action retried
            return self._result(same, created=False)
        already_open = session.execute(
            select(HandoffRow).where(HandoffRow.conversation_id == request.conversation_id,
                                     HandoffRow.status == "open").order_by(HandoffRow.id.desc())
        ).scalars().first()
        if already_open is not None:
            self.enqueue(session, already_open.id, "comment",
                          f"Customer handed off again ({request.reason}): "
                          f"{self.redactor.redact(request.turns[-1].text if request.turns else '')}")
            self.audit.record(session, context, "handoff.reused", reason=request.reason,
                              handoff_id=already_open.id, **_override(request))
            return self._result(already_open, created=False)

        row = self._draft(session, request)
        session.add(row)
        session.flush()
        self.enqueue(session, row.id, "create")
        self.audit.record(session, context, "handoff.created", reason=request.reason, handoff_id=row.id,
                          queue=row.queue, priority=row.priority, category=row.category, **_override(request))
        return self._result(row, created=True)

    def _draft(self, session: Session, request: HandoffRequest) -> HandoffRow:
        now = self.clock()
        # When the bot handed off because it did not understand, its weak guess is a hint for the
        # agent (it stays on the ticket), not a routing decision: in the closed beta such guesses
        # sent unclear password and invoice questions to the security and privacy queues.
        guessing = request.reason == "low_nlu_confidence"
        routing_intent = None if guessing else request.intent
        category = self.policy.category(routing_intent)
        open_tickets = 0
        profile = None
        if request.customer_id:
            open_tickets = int(session.execute(
                select(func.count()).select_from(HandoffRow).where(
                    HandoffRow.customer_id == request.customer_id, HandoffRow.status == "open")
            ).scalar_one())
            profile = self.crm.profile(session, request.customer_id, open_tickets=open_tickets)
        queue = self.policy.queue_for(routing_intent, profile.plan if profile else None)
        triage = None
        if self.policy.triage is not None and routing_intent in BILLING_INTENTS:
            triage = self.policy.triage.classify(request.ranking or [(request.intent, request.confidence or 0.0)])
            queue = self.policy.queues[triage.queue]
            category = category or triage.category
        priority = self.policy.priority(category, profile.tier if profile else None, profile.plan if profile else None)
        redact = self.redactor.redact
        transcript_lines = [f"{t.speaker}: {redact(t.text)}" for t in request.turns]
        last_customer = next((t.text for t in reversed(request.turns) if t.speaker == "customer"), "")
        facts = ConversationFacts(
            intent=request.intent, confidence=request.confidence, reason=request.reason, category=category,
            last_customer_message=redact(last_customer),
            collected={k: redact(v) for k, v in request.collected.items()},
            entities=[f"{kind}={redact(value)}" for kind, value in request.entities],
            bot_tried=request.bot_tried,
            triage=triage.description if triage else None,
        )
        labels = tuple(
            label for label in (
                f"intent:{request.intent or 'unknown'}",
                f"confidence:{request.confidence:.2f}" if request.confidence is not None else "confidence:none",
                f"channel:{request.channel}", f"reason:{request.reason}",
                f"category:{category}" if category else None,
                *(triage.labels if triage else ()),
            ) if label
        )
        subject_topic = category or (request.intent or "conversation").replace("_", " ")
        draft = TicketDraft(
            idempotency_key=request.idempotency_key,
            conversation_id=request.conversation_id,
            channel=request.channel,
            subject=f"[{queue.name}] {subject_topic}: handoff from the assistant",
            queue=queue.name,
            priority=priority,
            labels=labels,
            transcript="\n".join(transcript_lines),
            summary=summarise(facts),
            suggested_reply=suggest_reply(facts),
            customer_id=request.customer_id,
            profile=profile.as_dict() if profile else {},
        )
        return HandoffRow(
            idempotency_key=request.idempotency_key, conversation_id=request.conversation_id,
            channel=request.channel, reason=request.reason, category=category, intent=request.intent,
            confidence=request.confidence, queue=queue.name, priority=priority,
            customer_id=request.customer_id, created_at=now,
            first_response_due=self.policy.first_response_due(queue, now),
            draft=json.dumps(asdict(draft)),
        )

    def enqueue(self, session: Session, handoff_id: int, operation: str, body: str | None = None) -> None:
        now = self.clock()
        session.add(TicketOutboxRow(handoff_id=handoff_id, operation=operation, body=body,
                                    created_at=now, next_attempt_at=now))

    def sync_waiting_messages(self, db: Database) -> int:
        """Appends to the ticket what customers wrote while their conversation waits for a person.

        Reads Rasa's SQL tracker store (the ``events`` table in the same database)."""
        appended = 0
        with db.transaction() as session:
            waiting = session.execute(select(HandoffRow).where(HandoffRow.status == "open")).scalars().all()
            for handoff in waiting:
                since = (handoff.created_at - datetime(1970, 1, 1)).total_seconds()
                rows = session.execute(
                    text("SELECT id, data FROM events WHERE sender_id = :sender AND type_name = 'user' "
                         "AND id > :last AND timestamp > :since ORDER BY id"),
                    {"sender": handoff.conversation_id, "last": handoff.last_synced_event_id, "since": since},
                ).all()
                for event_id, data in rows:
                    message = (json.loads(data).get("text") or "").strip()
                    if message:
                        self.enqueue(session, handoff.id, "comment",
                                      f"Customer (waiting for an agent): {self.redactor.redact(message)}")
                        appended += 1
                    handoff.last_synced_event_id = event_id
        return appended


class TicketOutbox:
    """Delivers handoff tickets and comments to the ticketing backend, with retries."""

    def __init__(self, backend: TicketingBackend, clock: Callable[[], datetime] = utcnow) -> None:
        self.backend = backend
        self.clock = clock

    def dispatch_due(self, db: Database, limit: int = 50) -> dict[str, int]:
        counts = {"delivered": 0, "retried": 0, "failed": 0}
        for row_id in claimed_due_rows(db, TicketOutboxRow, self.clock(), limit):
            with db.transaction() as session:
                row = session.get(TicketOutboxRow, row_id)
                handoff = session.get(HandoffRow, row.handoff_id)
                operation, body = row.operation, row.body
                draft = load_draft(handoff.draft)
                ref = (TicketRef(handoff.ticket_backend, handoff.ticket_external_id, handoff.ticket_reference)
                       if handoff.ticket_external_id else None)
            try:
                if operation == "create":
                    ref = self.backend.create_ticket(draft)
                elif ref is None:
                    raise TicketingUnavailable("the ticket is not created yet", retry_after=5)
                elif operation == "close":
                    self.backend.close_ticket(ref)
                else:
                    self.backend.add_comment(ref, body or "", public=operation == "reply")
            except TicketingUnavailable as problem:
                self._retry(db, row_id, problem)
                counts["retried"] += 1
                continue
            except TicketingRejected as problem:
                with db.transaction() as session:
                    failed = session.get(TicketOutboxRow, row_id)
                    failed.status, failed.last_error = "failed", str(problem)[:500]
                log.error("ticket outbox %s rejected by %s: %s", row_id, self.backend.name, problem)
                counts["failed"] += 1
                continue
            with db.transaction() as session:
                done = session.get(TicketOutboxRow, row_id)
                done.status, done.done_at, done.last_error = "done", self.clock(), None
                if operation == "create":
                    handoff = session.get(HandoffRow, done.handoff_id)
                    handoff.ticket_backend, handoff.ticket_external_id = ref.backend, ref.external_id
                    handoff.ticket_reference = ref.reference
            counts["delivered"] += 1
        return counts

    def _retry(self, db: Database, row_id: int, problem: TicketingUnavailable) -> None:
        with db.transaction() as session:
            row = session.get(TicketOutboxRow, row_id)
            wait = (timedelta(seconds=problem.retry_after) if problem.retry_after is not None
                    else min(timedelta(seconds=2 * 2 ** min(row.attempts, 10)), MAX_BACKOFF))
            row.next_attempt_at = self.clock() + wait
            row.last_error = str(problem)[:500]
        log.warning("ticket outbox %s: %s; retrying in %s", row_id, problem, wait)


def handoff_summary(row: HandoffRow) -> dict[str, Any]:
    return {
        "id": row.id, "reference": handoff_reference(row.id), "conversation_id": row.conversation_id,
        "reason": row.reason, "category": row.category, "intent": row.intent, "queue": row.queue,
        "priority": row.priority, "status": row.status, "ticket": row.ticket_reference,
        "created_at": row.created_at, "first_response_due": row.first_response_due,
    }
