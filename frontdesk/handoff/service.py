"""Human handoff: one ticket per handoff, ready to work, delivered through an outbox.

``HandoffService.hand_off`` runs inside the action's transaction: it writes the handoff row
(unique idempotency key) and an outbox row, so a retried action or a ticketing outage never
creates a second ticket and never loses one. ``TicketOutbox.dispatch_due`` delivers to the
configured backend with retries (capped: a row that keeps failing ends ``failed``);
``sync_waiting_messages`` appends what the customer writes while the bot is paused.

``HandoffService.open_follow_up`` files an *out-of-band* case: a ticket about a known account
that an agent answers by e-mail, while the chat goes on as if nothing happened (pausing it, or
answering differently, would tell whoever is chatting that the account exists). Such handoffs
have ``channel == "email"``; they are never reused for, or resumed like, an in-chat handoff.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, Text, func, select, text
from sqlalchemy.orm import Session

from frontdesk.accounts.crm import Crm, CustomerProfile
from frontdesk.accounts.identity import normalise_email
from frontdesk.billing.triage import BILLING_INTENTS
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.db import Database
from frontdesk.core.privacy import Redactor
from frontdesk.core.ratelimit import Limit, SqlRateLimiter
from frontdesk.core.schema import Base, utcnow
from frontdesk.handoff.assist import ConversationFacts, suggest_reply, summarise
from frontdesk.handoff.escalation import FollowUp
from frontdesk.handoff.policy import HandoffPolicy
from frontdesk.knowledge.answering import Citation, ShownArticle
from frontdesk.mail.outbox import LEASE, DeliveryColumns, claimed_due_rows, describe_failure, record_failure
from frontdesk.ticketing.port import TicketDraft, TicketingBackend, TicketingRejected, TicketingUnavailable, TicketRef

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
# Attempts per ticket operation before it ends "failed". Back-off grows to MAX_BACKOFF, so this
# rides out roughly three hours of ticketing outage before a handoff needs a person to look.
MAX_TICKET_ATTEMPTS = 40
# What customers write while waiting goes on the ticket in one comment a minute at the most.
WAITING_PREFIX = "Customer (waiting for an agent):"
WAITING_COMMENT_INTERVAL = timedelta(minutes=1)
MAX_WAITING_MESSAGES_PER_COMMENT = 20  # the per-conversation message limit allows 20 a minute
# Out-of-band follow-ups: the agent answers the account's owner by e-mail, never in the chat.
FOLLOW_UP_CHANNEL = "email"
FOLLOW_UP_QUEUE = "security"


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
    # The pseudonym of the client's address (DecisionContext.client): handoffs are limited by it.
    client: str | None = None
    # The help-centre article the bot answered with and the customer message it answered, when
    # the customer then wanted a person; and the articles that match the conversation best.
    article_shown: ShownArticle | None = None
    citations: list[Citation] = field(default_factory=list)
    # Extra ticket labels, such as the open incident the conversation is about ("incident-42").
    labels: tuple[str, ...] = ()

    @property
    def idempotency_key(self) -> str:
        return f"{self.conversation_id}:{self.sequence}"


class HandoffRateLimited(Exception):
    """Too many new handoffs from this client, for this customer, or for everyone together: the
    customer is asked to try again later and no ticket is opened. ``limit`` says which (client,
    account or all); the caller audits the refusal, as this transaction is rolled back."""

    def __init__(self, limit: str) -> None:
        super().__init__(limit)
        self.limit = limit


@dataclass(frozen=True)
class HandoffLimits:
    """How many new tickets the chat may open in an hour, per client address, per customer (the
    verified account, or the e-mail address typed into the conversation) and for everyone."""

    limiter: SqlRateLimiter
    per_client: int
    per_account: int
    overall: int
    # A keyed pseudonym (frontdesk.core.chat_sessions.ChatSessions.client_key): no address is stored.
    pseudonym: Callable[[str], str]

    def for_request(self, request: HandoffRequest) -> list[Limit]:
        hour = timedelta(hours=1)
        limits = [Limit("handoff:all", "all", self.overall, hour)]
        if request.client:
            limits.append(Limit("handoff:client", request.client, self.per_client, hour))
        account = request.customer_id or (
            self.pseudonym("email:" + normalise_email(request.collected["account_email"]))
            if request.collected.get("account_email") else None)
        if account:
            limits.append(Limit("handoff:account", account, self.per_account, hour))
        return limits


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


def is_follow_up(row: HandoffRow) -> bool:
    """An out-of-band follow-up (no chat channel is called "email"): answered by e-mail only."""
    return row.channel == FOLLOW_UP_CHANNEL


def follow_up_key(conversation_id: str, account_id: str, reason: str) -> str:
    """One follow-up per conversation, account and reason. Chat handoff keys end in ``:<number>``
    and this one ends in the reason, so the two can never be equal; the conversation id is
    hashed to keep the key within the column whatever its length."""
    digest = hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:32]
    return f"follow-up:{digest}:{account_id}:{reason}"


def comment_key(outbox_row_id: int) -> str:
    """The idempotency key of a ticket comment: one per outbox row, stable across its retries."""
    return f"fd-op-{outbox_row_id}"


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
        references: Callable[[str], str],
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        limits: HandoffLimits | None = None,
    ) -> None:
        if FOLLOW_UP_QUEUE not in policy.queues:  # fail at start-up, not in a customer's request
            raise ValueError(f"the handoff policy needs a {FOLLOW_UP_QUEUE!r} queue for follow-ups")
        self.policy = policy
        self.redactor = redactor
        self.crm = crm
        # What tickets call a conversation (frontdesk/core/chat_sessions.py): its id goes nowhere else.
        self.references = references
        self.limits = limits
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
                                     HandoffRow.status == "open",
                                     # A follow-up is not a person in the chat: this one needs its own.
                                     HandoffRow.channel != FOLLOW_UP_CHANNEL).order_by(HandoffRow.id.desc())
        ).scalars().first()
        if already_open is not None:
            self.enqueue(session, already_open.id, "comment",
                          f"Customer handed off again ({request.reason}): "
                          f"{self.redactor.redact(request.turns[-1].text if request.turns else '')}")
            self.audit.record(session, context, "handoff.reused", reason=request.reason,
                              handoff_id=already_open.id, **_override(request))
            return self._result(already_open, created=False)

        if self.limits is not None:
            refused = self.limits.limiter.allow(session, self.limits.for_request(request))
            if refused is not None:
                raise HandoffRateLimited(refused.bucket.split(":")[1])
        row = self._draft(session, request)
        session.add(row)
        session.flush()
        self.enqueue(session, row.id, "create")
        self.audit.record(session, context, "handoff.created", reason=request.reason, handoff_id=row.id,
                          queue=row.queue, priority=row.priority, category=row.category, **_override(request))
        return self._result(row, created=True)

    def open_follow_up(self, session: Session, context: DecisionContext, follow_up: FollowUp) -> HandoffResult:
        """A ticket in the security queue about a known account, for an agent to answer by e-mail.

        Nothing changes in the chat: the bot is not paused and the conversation is not handed
        off. A retry of the same request returns the same follow-up; another request for an
        account that already has one open (same reason) is added to it as a comment."""
        reason = follow_up.reason.value
        key = follow_up_key(context.conversation_id, follow_up.account_id, reason)
        same = session.execute(select(HandoffRow).where(HandoffRow.idempotency_key == key)).scalar_one_or_none()
        if same is not None:
            return self._result(same, created=False)
        already_open = session.execute(
            select(HandoffRow).where(HandoffRow.customer_id == follow_up.account_id, HandoffRow.reason == reason,
                                     HandoffRow.channel == FOLLOW_UP_CHANNEL, HandoffRow.status == "open")
            .order_by(HandoffRow.id.desc())
        ).scalars().first()
        if already_open is not None:
            self.enqueue(session, already_open.id, "comment",
                         f"Requested again in conversation {self.references(context.conversation_id)}: "
                         f"{follow_up.summary}")
            self.audit.record(session, context, "handoff.follow_up_reused", reason=reason,
                              handoff_id=already_open.id)
            return self._result(already_open, created=False)

        now = self.clock()
        profile = self._profile(session, follow_up.account_id)
        queue = self.policy.queues[FOLLOW_UP_QUEUE]
        priority = self.policy.priority(follow_up.category, profile.tier if profile else None,
                                        profile.plan if profile else None)
        labels = tuple(label for label in (
            f"reason:{reason}", f"channel:{FOLLOW_UP_CHANNEL}", "follow_up:email",
            f"category:{follow_up.category}" if follow_up.category else None,
        ) if label)
        draft = TicketDraft(
            idempotency_key=key,
            conversation_id=self.references(context.conversation_id),
            channel=FOLLOW_UP_CHANNEL,
            subject=f"[{queue.name}] {follow_up.topic}: follow up by e-mail",
            queue=queue.name,
            priority=priority,
            labels=labels,
            transcript="",  # the chat stays out of it: the agent writes to the account's owner
            summary=follow_up.summary,
            suggested_reply=follow_up.suggested_reply,
            customer_id=follow_up.account_id,
            profile=profile.as_dict() if profile else {},
        )
        row = HandoffRow(
            idempotency_key=key, conversation_id=context.conversation_id, channel=FOLLOW_UP_CHANNEL,
            reason=reason, category=follow_up.category, intent=context.intent, confidence=context.confidence,
            queue=queue.name, priority=priority, customer_id=follow_up.account_id, created_at=now,
            first_response_due=self.policy.first_response_due(queue, now), draft=json.dumps(asdict(draft)),
        )
        session.add(row)
        session.flush()
        self.enqueue(session, row.id, "create")
        self.audit.record(session, context, "handoff.follow_up_created", reason=reason, handoff_id=row.id,
                          queue=row.queue, priority=row.priority, category=row.category)
        return self._result(row, created=True)

    def _profile(self, session: Session, customer_id: str) -> CustomerProfile | None:
        """The customer's CRM profile, with how many of their handoffs are open."""
        open_tickets = int(session.execute(select(func.count()).select_from(HandoffRow).where(
            HandoffRow.customer_id == customer_id, HandoffRow.status == "open")).scalar_one())
        return self.crm.profile(session, customer_id, open_tickets=open_tickets)

    def _draft(self, session: Session, request: HandoffRequest) -> HandoffRow:
        now = self.clock()
        # When the bot handed off because it did not understand, its weak guess is a hint for the
        # agent (it stays on the ticket), not a routing decision: in the closed beta such guesses
        # sent unclear password and invoice questions to the security and privacy queues.
        guessing = request.reason == "low_nlu_confidence"
        routing_intent = None if guessing else request.intent
        category = self.policy.category(routing_intent)
        profile = self._profile(session, request.customer_id) if request.customer_id else None
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
            article_shown=(f'"{request.article_shown.title}" ({request.article_shown.url}), for "'
                           f'{redact(request.article_shown.question)}"') if request.article_shown else None,
            articles=[f"{c.title}: {c.url}" for c in request.citations],
        )
        labels = tuple(
            label for label in (
                f"intent:{request.intent or 'unknown'}",
                f"confidence:{request.confidence:.2f}" if request.confidence is not None else "confidence:none",
                f"channel:{request.channel}", f"reason:{request.reason}",
                f"category:{category}" if category else None,
                *(triage.labels if triage else ()),
                *request.labels,
            ) if label
        )
        subject_topic = category or (request.intent or "conversation").replace("_", " ")
        draft = TicketDraft(
            # What leaves for the ticketing system names the conversation by its reference only.
            idempotency_key=f"{self.references(request.conversation_id)}:{request.sequence}",
            conversation_id=self.references(request.conversation_id),
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

        Reads Rasa's SQL tracker store (the ``events`` table in the same database). What arrived
        since the last time goes in one comment, at most one a handoff a minute: a customer
        typing fast (or an attacker with a handoff) cannot turn each message into ticketing
        calls. Nothing is lost: the rest waits for the next comment."""
        appended = 0
        with db.transaction() as session:
            # Not follow-ups: there the bot still answers, nobody is waiting for an agent in the chat.
            waiting = session.execute(select(HandoffRow).where(
                HandoffRow.status == "open", HandoffRow.channel != FOLLOW_UP_CHANNEL)).scalars().all()
            for handoff in waiting:
                last_comment = session.execute(
                    select(func.max(TicketOutboxRow.created_at)).where(
                        TicketOutboxRow.handoff_id == handoff.id, TicketOutboxRow.operation == "comment",
                        TicketOutboxRow.body.like(f"{WAITING_PREFIX}%"))).scalar()
                if last_comment is not None and self.clock() - last_comment < WAITING_COMMENT_INTERVAL:
                    continue
                since = (handoff.created_at - datetime(1970, 1, 1)).total_seconds()
                rows = session.execute(
                    text("SELECT id, data FROM events WHERE sender_id = :sender AND type_name = 'user' "
                         "AND id > :last AND timestamp > :since ORDER BY id LIMIT :most"),
                    {"sender": handoff.conversation_id, "last": handoff.last_synced_event_id, "since": since,
                     "most": MAX_WAITING_MESSAGES_PER_COMMENT},
                ).all()
                messages = [text_ for _, data in rows if (text_ := (json.loads(data).get("text") or "").strip())]
                if messages:
                    self.enqueue(session, handoff.id, "comment",
                                 "\n".join(f"{WAITING_PREFIX} {self.redactor.redact(m)}" for m in messages))
                    appended += len(messages)
                if rows:
                    handoff.last_synced_event_id = rows[-1][0]
        return appended


class TicketOutbox:
    """Delivers handoff tickets and comments to the ticketing backend, with capped retries.

    Every operation reaches the backend with a key that makes a repeat harmless (the draft's
    idempotency key for a create, ``comment_key`` for a comment; closing twice is closing), so a
    lost answer, a crash before the row is marked done, or a row outliving its lease costs a
    repeated request, not a duplicate ticket or comment.
    """

    def __init__(
        self,
        backend: TicketingBackend,
        clock: Callable[[], datetime] = utcnow,
        max_attempts: int = MAX_TICKET_ATTEMPTS,
        lease: timedelta = LEASE,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease = lease

    def dispatch_due(self, db: Database, limit: int = 50) -> dict[str, int]:
        counts = {"delivered": 0, "retried": 0, "failed": 0}
        for row_id in claimed_due_rows(db, TicketOutboxRow, self.clock, limit, self.lease):
            try:
                self._deliver(db, row_id)
                outcome = "delivered"
            except TicketingRejected as problem:
                outcome = self._fail(db, row_id, str(problem))
            except Exception as problem:  # a transient failure, or anything else wrong with this one row
                outcome = self._retry(db, row_id, problem)
            counts[outcome] += 1
        return counts

    def _deliver(self, db: Database, row_id: int) -> None:
        with db.transaction() as session:
            row = session.get(TicketOutboxRow, row_id)
            handoff = session.get(HandoffRow, row.handoff_id)
            operation, body = row.operation, row.body
            draft = load_draft(handoff.draft) if operation == "create" else None
            ref = (TicketRef(handoff.ticket_backend, handoff.ticket_external_id, handoff.ticket_reference)
                   if handoff.ticket_external_id else None)
        if draft is not None:
            ref = self.backend.create_ticket(draft)
        elif ref is None:
            raise TicketingUnavailable("the ticket is not created yet", retry_after=5)
        elif operation == "close":
            self.backend.close_ticket(ref)
        elif operation in ("comment", "reply"):
            self.backend.add_comment(ref, body or "", public=operation == "reply", key=comment_key(row_id))
        else:
            raise TicketingRejected(f"unknown ticket outbox operation {operation!r}")
        with db.transaction() as session:
            done = session.get(TicketOutboxRow, row_id)
            done.status, done.done_at, done.last_error = "done", self.clock(), None
            if operation == "create":
                handoff = session.get(HandoffRow, done.handoff_id)
                handoff.ticket_backend, handoff.ticket_external_id = ref.backend, ref.external_id
                handoff.ticket_reference = ref.reference

    def _fail(self, db: Database, row_id: int, error: str) -> str:
        with db.transaction() as session:
            failed = session.get(TicketOutboxRow, row_id)
            failed.status, failed.last_error = "failed", error[:500]
        log.error("ticket outbox %s rejected by %s: %s", row_id, self.backend.name, error)
        return "failed"

    def _retry(self, db: Database, row_id: int, problem: Exception) -> str:
        if isinstance(problem, TicketingUnavailable):
            error, retry_after = str(problem), problem.retry_after  # worded without ticket contents
        else:
            # Unexpected: only the class, as the message could quote the ticket or a customer.
            error, retry_after = f"unexpected {describe_failure(problem)}", None
        with db.transaction() as session:
            row = session.get(TicketOutboxRow, row_id)
            attempts = row.attempts
            wait = min(timedelta(seconds=2 * 2 ** min(attempts, 10)), MAX_BACKOFF)
            if retry_after is not None:  # the backend's own figure is a minimum, not a promise
                wait = max(wait, timedelta(seconds=retry_after))
            failed = record_failure(row, error, self.clock() + wait, self.max_attempts)
        if failed:
            log.error("ticket outbox %s failed for good after %s attempts: %s", row_id, attempts, error)
            return "failed"
        log.warning("ticket outbox %s (attempt %s): %s; retrying in %s", row_id, attempts, error, wait)
        return "retried"


def handoff_summary(row: HandoffRow) -> dict[str, Any]:
    return {
        "id": row.id, "reference": handoff_reference(row.id), "conversation_id": row.conversation_id,
        "reason": row.reason, "category": row.category, "intent": row.intent, "queue": row.queue,
        "priority": row.priority, "status": row.status, "ticket": row.ticket_reference,
        "created_at": row.created_at, "first_response_due": row.first_response_due,
    }
