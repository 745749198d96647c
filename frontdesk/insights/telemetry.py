"""Rasa's events, as analytics keeps them: a redacted event log, and the facts folded from it.

``record_events`` turns the bodies Rasa's event broker publishes into ``telemetry_events`` rows,
once each: the key of an event is the SHA-256 of its body, so a replayed or redelivered event is
recognised and skipped. What a row keeps: the kind of event, the intent or action or slot name,
confidence, the entities' types, channel, model id, word counts against the training vocabulary,
and for customer messages their redacted text; slot values only where analytics needs them (the
flow the bot resolved) or as a keyed pseudonym (who the customer is, for first contact resolution).

``refresh_facts`` recomputes the turn and conversation facts (``frontdesk.insights.facts``) of the
conversations an event batch touched, from their event log and the app tables (handoffs, their
agent replies, CSAT). Recomputing instead of adding up makes every fold idempotent. The redacted
text of a customer's message is cleared once its turn is complete and was understood: only what
the bot could not answer stays readable ("what customers ask that the bot cannot answer").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from frontdesk.core.schema import Base
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.csat import CsatRow
from frontdesk.insights.facts import ABANDONED, HANDED_OFF, NO_REQUEST, RESOLVED, ConversationFact, TurnFact

USER, ACTION, BOT, SLOT, REJECTED, SESSION = "user", "action", "bot", "slot", "rejected", "session"
PAUSE, RESUME = "pause", "resume"  # a person took the conversation over / gave it back to the bot
_KINDS = {"user": USER, "action": ACTION, "bot": BOT, "slot": SLOT, "action_execution_rejected": REJECTED,
          "session_started": SESSION, "pause": PAUSE, "resume": RESUME}
LISTEN = "action_listen"
FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_clarify"})
FALLBACK_INTENT = "nlu_fallback"
HANDOFF_ACTIONS = frozenset({"action_handoff", "action_billing_handoff"})
RESOLVED_FLOW_SLOT = "bot_resolved_flow"
# Slots whose value says who the customer is: kept only as a keyed pseudonym.
CUSTOMER_SLOTS = ("customer_id", "account_email", "billing_email")
# What a customer asked for, by the intent of the first message that asked for something.
FLOW_OF_INTENT = {
    "request_password_reset": "password_reset", "report_lost_2fa": "account_recovery",
    "ask_latest_invoice": "billing", "ask_charge_explanation": "billing", "ask_payment_history": "billing",
    "ask_plan_details": "billing", "ask_payment_failed": "billing", "request_invoice_change": "billing",
    "request_plan_change": "billing", "ask_tax_question": "billing", "ask_pricing": "billing",
    "ask_ticket_status": "ticket_status", "ask_service_status": "service_status",
    "request_human": "human_request", "request_refund": "refund", "report_dispute": "dispute",
    "legal_request": "legal", "privacy_request": "privacy", "report_security_incident": "security",
}
# A message the bot answered from the help centre, or could not place, asks for something too.
KNOWLEDGE_FLOW = "knowledge_base"
_WORD = re.compile(r"[a-z][a-z']*")


class TelemetryEvent(Base):
    __tablename__ = "telemetry_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    event_key = Column(String(64), nullable=False, unique=True)  # SHA-256 of the broker's body
    conversation_id = Column(String(128), nullable=False, index=True)
    at = Column(DateTime, nullable=False, index=True)
    kind = Column(String(16), nullable=False)
    name = Column(String(80), nullable=True)  # intent, action or slot
    confidence = Column(Float, nullable=True)
    entity_types = Column(String(200), nullable=True)
    channel = Column(String(32), nullable=True)
    model_id = Column(String(64), nullable=True)
    tokens = Column(Integer, nullable=True)
    oov_tokens = Column(Integer, nullable=True)
    text_redacted = Column(Text, nullable=True)  # customer messages only; cleared once understood
    value = Column(String(64), nullable=True)  # RESOLVED_FLOW_SLOT's value, or a customer pseudonym


class TurnFactRow(Base):
    __tablename__ = "turn_facts"
    __table_args__ = (UniqueConstraint("conversation_id", "turn", name="uq_turn_facts_turn"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    turn = Column(Integer, nullable=False)
    at = Column(DateTime, nullable=False, index=True)
    channel = Column(String(32), nullable=True)
    intent = Column(String(64), nullable=True)
    confidence = Column(Float, nullable=True)
    entity_types = Column(String(200), nullable=False, default="")
    actions = Column(String(500), nullable=False, default="")
    fallback = Column(Boolean, nullable=False, default=False)
    handoff = Column(Boolean, nullable=False, default=False)
    error = Column(Boolean, nullable=False, default=False)
    latency_ms = Column(Float, nullable=True)
    model_id = Column(String(64), nullable=True)
    tokens = Column(Integer, nullable=False, default=0)
    oov_tokens = Column(Integer, nullable=False, default=0)
    fallback_text = Column(Text, nullable=True)


class ConversationFactRow(Base):
    __tablename__ = "conversation_facts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, unique=True)
    started_at = Column(DateTime, nullable=False, index=True)
    last_event_at = Column(DateTime, nullable=False)
    channel = Column(String(32), nullable=True)
    customer_key = Column(String(32), nullable=True, index=True)
    flow = Column(String(40), nullable=True)
    outcome = Column(String(16), nullable=False)
    resolved_flow = Column(String(40), nullable=True)
    handoff_reason = Column(String(40), nullable=True)
    queue = Column(String(40), nullable=True)
    turns = Column(Integer, nullable=False)
    bot_seconds = Column(Float, nullable=False)
    human_seconds = Column(Float, nullable=True)
    first_human_response_seconds = Column(Float, nullable=True)
    sla_seconds = Column(Float, nullable=True)
    csat = Column(Integer, nullable=True)
    csat_after = Column(String(8), nullable=True)
    model_id = Column(String(64), nullable=True)
    mandatory_human_automated = Column(Boolean, nullable=False, default=False)


def event_key(body: dict[str, Any]) -> str:
    """The identity of a published event: a redelivery carries the same body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _utc(timestamp: Any) -> datetime:
    return datetime.fromtimestamp(float(timestamp), tz=timezone.utc).replace(tzinfo=None)


def training_vocabulary(data_dir: Path) -> frozenset[str]:
    """Every word of the NLU training examples (``data/**/*.yml``), lower-cased."""
    words: set[str] = set()
    for path in sorted(data_dir.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in document.get("nlu", []) or []:
            examples = item.get("examples") if isinstance(item, dict) else None
            if isinstance(examples, str):
                words.update(_WORD.findall(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", examples.lower())))
    return frozenset(words)


@dataclass(frozen=True)
class EventReader:
    """What ``record_events`` needs besides the events."""

    redact: Callable[[str], str]
    vocabulary: frozenset[str]
    pseudonym: Callable[[str], str]  # a keyed hash of a customer identifier


def customer_pseudonym(secret_key: str) -> Callable[[str], str]:
    key = secret_key.encode()
    return lambda value: hmac.new(key, b"customer:" + value.strip().lower().encode(), "sha256").hexdigest()[:32]


def _row(body: dict[str, Any], reader: EventReader) -> dict[str, Any] | None:
    kind = _KINDS.get(str(body.get("event")))
    sender, timestamp = body.get("sender_id"), body.get("timestamp")
    if kind is None or not sender or timestamp is None:
        return None
    metadata = body.get("metadata") or {}
    row: dict[str, Any] = {"event_key": event_key(body), "conversation_id": str(sender)[:128], "at": _utc(timestamp),
                           "kind": kind, "model_id": (metadata.get("model_id") or None)}
    if kind == USER:
        parse = body.get("parse_data") or {}
        intent = parse.get("intent") or {}
        text = str(body.get("text") or "")
        words = _WORD.findall(text.lower())
        row.update(name=intent.get("name"), confidence=intent.get("confidence"),
                   entity_types=",".join(sorted({str(e.get("entity")) for e in parse.get("entities") or []}))[:200],
                   channel=(body.get("input_channel") or None), tokens=len(words),
                   oov_tokens=sum(1 for w in words if w not in reader.vocabulary), text=text)
    elif kind in (ACTION, REJECTED):
        row.update(name=body.get("name"), confidence=body.get("confidence"))
    elif kind == SLOT:
        name, value = body.get("name"), body.get("value")
        if name == RESOLVED_FLOW_SLOT:
            row.update(name=name, value=str(value)[:64] if value else None)
        elif name in CUSTOMER_SLOTS and value:
            row.update(name="customer", value=reader.pseudonym(str(value)))
        else:
            return None  # other slots: nothing analytics needs
    return row


def _understood_in_batch(rows: Sequence[dict[str, Any]], index: int) -> bool:
    """Whether the customer message at ``index`` was answered without a fallback, as far as the
    rest of the batch shows (Rasa publishes a turn's events together, so it usually shows all)."""
    message = rows[index]
    if message["name"] == FALLBACK_INTENT:
        return False
    for row in rows[index + 1:]:
        if row["conversation_id"] != message["conversation_id"]:
            continue
        if row["kind"] == USER:
            return False  # not finished before the next message: keep it, redacted
        if row["kind"] == ACTION and row["name"] in FALLBACK_ACTIONS:
            return False
        if (row["kind"] == ACTION and row["name"] == LISTEN) or row["kind"] == PAUSE:
            return True
    return False


def record_events(session: Session, bodies: Iterable[dict[str, Any]], reader: EventReader) -> tuple[set[str], int]:
    """Stores the events not seen before; returns the conversations touched and how many were new."""
    rows = [row for row in (_row(body, reader) for body in bodies) if row is not None]
    if not rows:
        return set(), 0
    # A message's words are kept (redacted) only when the bot could not answer it. Deciding that
    # here, from the rest of its turn, spares the redactor (~10 ms of CPU) nearly every message.
    for index, row in enumerate(rows):
        text = row.pop("text", None)
        if text and not _understood_in_batch(rows, index):
            row["text_redacted"] = reader.redact(text)
    keys = [row["event_key"] for row in rows]
    seen = set(session.execute(select(TelemetryEvent.event_key).where(TelemetryEvent.event_key.in_(keys))).scalars())
    fresh, batch_keys = [], set()
    for row in rows:
        if row["event_key"] in seen or row["event_key"] in batch_keys:
            continue
        batch_keys.add(row["event_key"])
        fresh.append(row)
    if fresh:
        # executemany takes its columns from the first row: every row gets all of them.
        columns = [column.name for column in TelemetryEvent.__table__.columns if column.name != "id"]
        session.execute(TelemetryEvent.__table__.insert(), [{name: row.get(name) for name in columns}
                                                             for row in fresh])
    return {row["conversation_id"] for row in fresh}, len(fresh)


@dataclass
class _Turn:
    user: TelemetryEvent
    actions: list[str]
    last_at: datetime
    waiting: bool = False  # written while a person had the conversation
    complete: bool = False
    bot_replied: bool = False
    rejected: bool = False


def fold_turns(events: Sequence[TelemetryEvent]) -> list[tuple[TurnFact, bool]]:
    """The turns of one conversation from its events in order, each with whether it is complete
    (the bot went back to listening)."""
    turns: list[_Turn] = []
    paused = False
    for event in events:
        if event.kind == USER:
            # While a person has the conversation the bot does not answer: the message is a turn
            # of its own, complete as it is (no bot reply, no latency, no error).
            turns.append(_Turn(event, [], event.at, waiting=paused, complete=paused))
            continue
        if event.kind in (PAUSE, RESUME):
            paused = event.kind == PAUSE
        if not turns or turns[-1].complete:
            continue
        current = turns[-1]
        if (event.kind == ACTION and event.name == LISTEN) or event.kind == PAUSE:
            current.complete = True
        elif event.kind == ACTION and event.name:
            current.actions.append(event.name)
            current.last_at = event.at
        elif event.kind == BOT:
            current.bot_replied, current.last_at = True, event.at
        elif event.kind == REJECTED:
            current.rejected = True
    facts = []
    for position, turn in enumerate(turns, start=1):
        user = turn.user
        fallback = user.name == FALLBACK_INTENT or any(a in FALLBACK_ACTIONS for a in turn.actions)
        handoff = any(a in HANDOFF_ACTIONS for a in turn.actions)
        facts.append((TurnFact(
            conversation_id=user.conversation_id, turn=position, at=user.at, channel=user.channel, intent=user.name,
            confidence=user.confidence, entity_types=tuple(t for t in (user.entity_types or "").split(",") if t),
            actions=tuple(turn.actions), fallback=fallback, handoff=handoff,
            # A complete turn without a word from the bot: an action failed (Rasa logs it and
            # carries on) unless a person has the conversation and the bot stays quiet on purpose.
            error=turn.rejected or (turn.complete and not turn.waiting and not turn.bot_replied and not turn.actions),
            latency_ms=(round((turn.last_at - user.at).total_seconds() * 1000, 1)
                        if turn.complete and not turn.waiting else None),
            model_id=user.model_id, tokens=user.tokens or 0, oov_tokens=user.oov_tokens or 0,
            fallback_text=user.text_redacted if fallback else None), turn.complete))
    return facts


def _flow(turns: Sequence[TurnFact], resolved_flow: str | None, handed_off: bool) -> str | None:
    for turn in turns:
        if turn.intent in FLOW_OF_INTENT:
            return FLOW_OF_INTENT[turn.intent]
    if resolved_flow:
        return resolved_flow
    if handed_off or any(turn.fallback for turn in turns):
        return KNOWLEDGE_FLOW if any("knowledge" in a for t in turns for a in t.actions) else "unclassified"
    return None


def fold_conversation(conversation_id: str, events: Sequence[TelemetryEvent], turns: Sequence[TurnFact],
                      handoff: HandoffRow | None, first_reply_at: datetime | None, csat: CsatRow | None,
                      mandatory_intents: frozenset[str]) -> ConversationFact | None:
    if not events:
        return None
    resolved_flow = next((e.value for e in events if e.kind == SLOT and e.name == RESOLVED_FLOW_SLOT and e.value),
                         None)
    customer_key = next((e.value for e in reversed(events) if e.kind == SLOT and e.name == "customer"), None)
    flow = _flow(turns, resolved_flow, handoff is not None)
    if handoff is not None:
        outcome = HANDED_OFF
    elif resolved_flow:
        outcome = RESOLVED
    elif flow is not None:
        outcome = ABANDONED
    else:
        outcome = NO_REQUEST
    started, last = events[0].at, events[-1].at
    resolved_at = next((e.at for e in events if e.kind == SLOT and e.name == RESOLVED_FLOW_SLOT and e.value), None)
    bot_end = handoff.created_at if handoff is not None else (resolved_at or last)
    mandatory_asked = any(t.intent in mandatory_intents for t in turns)
    return ConversationFact(
        conversation_id=conversation_id, started_at=started, last_event_at=last,
        channel=next((t.channel for t in turns if t.channel), None), customer_key=customer_key, flow=flow,
        outcome=outcome, resolved_flow=resolved_flow, handoff_reason=handoff.reason if handoff else None,
        queue=handoff.queue if handoff else None, turns=len(turns),
        bot_seconds=max(0.0, (bot_end - started).total_seconds()),
        human_seconds=((handoff.closed_at - handoff.created_at).total_seconds()
                       if handoff is not None and handoff.closed_at else None),
        first_human_response_seconds=((first_reply_at - handoff.created_at).total_seconds()
                                      if handoff is not None and first_reply_at else None),
        sla_seconds=((handoff.first_response_due - handoff.created_at).total_seconds()
                     if handoff is not None else None),
        csat=csat.score if csat else None, csat_after=("agent" if csat.flow is None else "bot") if csat else None,
        model_id=next((t.model_id for t in reversed(turns) if t.model_id), None),
        # A request that must reach a person, answered by a flow without one: what rollback watches.
        mandatory_human_automated=mandatory_asked and handoff is None and resolved_flow is not None,
    )


def refresh_facts(session: Session, conversation_ids: Iterable[str], mandatory_intents: frozenset[str]) -> int:
    """Recomputes the facts of these conversations; returns how many conversations have facts."""
    refreshed = 0
    for conversation_id in sorted(set(conversation_ids)):
        events = session.execute(select(TelemetryEvent).where(TelemetryEvent.conversation_id == conversation_id)
                                 .order_by(TelemetryEvent.at, TelemetryEvent.id)).scalars().all()
        folded = fold_turns(events)
        turns = [turn for turn, _ in folded]
        handoff = session.execute(select(HandoffRow).where(HandoffRow.conversation_id == conversation_id)
                                  .order_by(HandoffRow.id).limit(1)).scalar()
        first_reply = None if handoff is None else session.execute(select(func.min(TicketOutboxRow.created_at)).where(
            TicketOutboxRow.handoff_id == handoff.id, TicketOutboxRow.operation == "reply")).scalar()
        csat = session.execute(select(CsatRow).where(CsatRow.conversation_id == conversation_id)
                               .order_by(CsatRow.id.desc()).limit(1)).scalar()
        conversation = fold_conversation(conversation_id, events, turns, handoff, first_reply, csat, mandatory_intents)
        session.execute(delete(TurnFactRow).where(TurnFactRow.conversation_id == conversation_id))
        session.execute(delete(ConversationFactRow).where(ConversationFactRow.conversation_id == conversation_id))
        if turns:
            session.execute(TurnFactRow.__table__.insert(), [_turn_row(turn) for turn in turns])
        if conversation is not None:
            session.execute(ConversationFactRow.__table__.insert(), [asdict(conversation)])
            refreshed += 1
        # Understood and finished: the customer's words are not kept, even redacted.
        understood = [turn.at for turn, complete in folded if complete and not turn.fallback]
        if understood:
            session.execute(update(TelemetryEvent).where(
                TelemetryEvent.conversation_id == conversation_id, TelemetryEvent.kind == USER,
                TelemetryEvent.at.in_(understood)).values(text_redacted=None))
    return refreshed


def _turn_row(turn: TurnFact) -> dict[str, Any]:
    row = asdict(turn)
    row["entity_types"] = ",".join(turn.entity_types)
    row["actions"] = ",".join(turn.actions)[:500]
    return row


def load_turn_facts(session: Session, start: datetime, end: datetime) -> list[TurnFact]:
    rows = session.execute(select(TurnFactRow).where(TurnFactRow.at >= start, TurnFactRow.at < end)
                           .order_by(TurnFactRow.at)).scalars()
    return [TurnFact(conversation_id=r.conversation_id, turn=r.turn, at=r.at, channel=r.channel, intent=r.intent,
                     confidence=r.confidence, entity_types=tuple(t for t in r.entity_types.split(",") if t),
                     actions=tuple(a for a in r.actions.split(",") if a), fallback=r.fallback, handoff=r.handoff,
                     error=r.error, latency_ms=r.latency_ms, model_id=r.model_id, tokens=r.tokens,
                     oov_tokens=r.oov_tokens, fallback_text=r.fallback_text) for r in rows]


def load_conversation_facts(session: Session, start: datetime, end: datetime) -> list[ConversationFact]:
    fields = [name for name in ConversationFact.__dataclass_fields__]
    rows = session.execute(select(ConversationFactRow).where(ConversationFactRow.started_at >= start,
                                                             ConversationFactRow.started_at < end)
                           .order_by(ConversationFactRow.started_at)).scalars()
    return [ConversationFact(**{name: getattr(row, name) for name in fields}) for row in rows]
