"""The event log and the facts folded from it, on hand-built Rasa event bodies with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from frontdesk.core.privacy import default_redactor
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.facts import ABANDONED, HANDED_OFF, NO_REQUEST, RESOLVED
from frontdesk.insights.telemetry import (
    ConversationFactRow,
    EventReader,
    TelemetryEvent,
    TurnFactRow,
    customer_pseudonym,
    record_events,
    refresh_facts,
)

T0 = datetime(2026, 11, 2, 9, 0, 0).timestamp() - datetime(1970, 1, 1).timestamp()  # naive UTC 09:00
READER = EventReader(default_redactor().redact, frozenset(["i", "forgot", "my", "password", "hi", "hello"]),
                     customer_pseudonym("test-secret"))
MANDATORY = frozenset({"request_refund"})


def body(sender: str, seconds: float, event: str, **fields) -> dict:
    return {"sender_id": sender, "event": event, "timestamp": T0 + seconds, **fields}


def user(sender: str, seconds: float, text: str, intent: str, confidence: float, entities=()) -> dict:
    return body(sender, seconds, "user", text=text, input_channel="rest",
                parse_data={"intent": {"name": intent, "confidence": confidence},
                            "entities": [{"entity": e, "value": "x"} for e in entities]},
                metadata={"model_id": "m-1"})


def action(sender: str, seconds: float, name: str) -> dict:
    return body(sender, seconds, "action", name=name, policy="RulePolicy", confidence=1.0)


def bot(sender: str, seconds: float, text: str = "ok") -> dict:
    return body(sender, seconds, "bot", text=text, data={}, metadata={})


def slot(sender: str, seconds: float, name: str, value: str) -> dict:
    return body(sender, seconds, "slot", name=name, value=value)


def password_reset(sender: str = "c-reset") -> list[dict]:
    return [
        body(sender, 0, "session_started"), action(sender, 0, "action_session_start"),
        action(sender, 0, "action_listen"),
        user(sender, 1, "hi", "greet", 0.99), action(sender, 1.1, "utter_greet"), bot(sender, 1.2, "Hi!"),
        action(sender, 1.25, "action_listen"),
        user(sender, 10, "i forgot my password, ana.lima@example.com", "request_password_reset", 0.93, ["email"]),
        action(sender, 10.2, "action_request_password_reset"), bot(sender, 10.4, "Sent."),
        slot(sender, 10.4, "account_email", "Ana.Lima@example.com"),
        slot(sender, 10.4, "bot_resolved_flow", "password_reset"), action(sender, 10.5, "action_listen"),
    ]


def test_a_resolved_password_reset_becomes_two_turns_and_a_resolved_conversation(db):
    with db.transaction() as session:
        touched, recorded = record_events(session, password_reset(), READER)
        assert (touched, recorded) == ({"c-reset"}, 13)
        assert refresh_facts(session, touched, MANDATORY) == 1
    with db.transaction() as session:
        turns = session.execute(select(TurnFactRow).order_by(TurnFactRow.turn)).scalars().all()
        conversation = session.execute(select(ConversationFactRow)).scalar_one()
        texts = session.execute(select(TelemetryEvent.text_redacted).where(TelemetryEvent.kind == "user")).scalars()
        assert [t.intent for t in turns] == ["greet", "request_password_reset"]
        assert turns[1].confidence == 0.93 and turns[1].entity_types == "email"
        assert turns[1].actions == "action_request_password_reset" and not turns[1].fallback
        assert turns[1].latency_ms == 400.0  # the bot's last word 0.4 s after the message (action_listen excluded)
        # i forgot my password ana lima example com: the last four are not in the vocabulary.
        assert (turns[1].tokens, turns[1].oov_tokens) == (8, 4)
        assert turns[0].model_id == "m-1" and turns[0].channel == "rest"
        assert conversation.outcome == RESOLVED and conversation.flow == "password_reset"
        assert conversation.resolved_flow == "password_reset" and conversation.turns == 2
        assert conversation.bot_seconds == 10.4  # start to the flow's resolution
        # Who the customer is, as a keyed pseudonym of the address, case-insensitive.
        assert conversation.customer_key == customer_pseudonym("test-secret")("ana.lima@example.com")
        # Both turns were understood: their words are not kept, even redacted.
        assert list(texts) == [None, None]


def test_a_redelivered_event_counts_once_and_the_facts_do_not_change(db):
    events = password_reset()
    with db.transaction() as session:
        touched, _ = record_events(session, events, READER)
        refresh_facts(session, touched, MANDATORY)
    with db.transaction() as session:
        touched, recorded = record_events(session, [*events[3:6], *events], READER)
        assert recorded == 0 and touched == set()
        refresh_facts(session, {"c-reset"}, MANDATORY)
        assert session.execute(select(TelemetryEvent)).scalars().all().__len__() == 13
        assert len(session.execute(select(TurnFactRow)).scalars().all()) == 2


def test_what_the_bot_could_not_answer_is_kept_redacted(db):
    sender = "c-fallback"
    events = [user(sender, 0, "my fridge is broken, call me on +44 7700 900123", "nlu_fallback", 0.31),
              action(sender, 0.2, "action_default_fallback"), bot(sender, 0.3, "Sorry?"),
              action(sender, 0.35, "action_listen")]
    with db.transaction() as session:
        touched, _ = record_events(session, events, READER)
        refresh_facts(session, touched, MANDATORY)
    with db.transaction() as session:
        turn = session.execute(select(TurnFactRow)).scalar_one()
        conversation = session.execute(select(ConversationFactRow)).scalar_one()
        assert turn.fallback and turn.fallback_text.startswith("my fridge is broken")
        assert "7700" not in turn.fallback_text
        assert conversation.outcome == ABANDONED and conversation.flow == "unclassified"


def test_small_talk_alone_is_no_request(db):
    sender = "c-hello"
    with db.transaction() as session:
        touched, _ = record_events(session, [user(sender, 0, "hello", "greet", 0.99), bot(sender, 0.1),
                                             action(sender, 0.2, "action_listen")], READER)
        refresh_facts(session, touched, MANDATORY)
    with db.transaction() as session:
        assert session.execute(select(ConversationFactRow.outcome)).scalar_one() == NO_REQUEST


def test_a_handoff_carries_its_queue_sla_and_first_human_response(db):
    sender = "c-refund"
    started = datetime(2026, 11, 2, 9, 0, 0)
    with db.transaction() as session:
        handoff = HandoffRow(idempotency_key="k1", conversation_id=sender, channel="rest", reason="mandatory",
                             category="refund", intent="request_refund", confidence=0.9, queue="billing",
                             priority="normal", created_at=started + timedelta(seconds=5),
                             first_response_due=started + timedelta(seconds=5, hours=4), draft="{}",
                             closed_at=started + timedelta(hours=2))
        session.add(handoff)
        session.flush()
        session.add(TicketOutboxRow(handoff_id=handoff.id, operation="reply", body="…",
                                    created_at=started + timedelta(minutes=30, seconds=5)))
        touched, _ = record_events(session, [
            user(sender, 0, "i want a refund", "request_refund", 0.9), action(sender, 5, "action_handoff"),
            bot(sender, 5.1), action(sender, 5.2, "action_listen")], READER)
        refresh_facts(session, touched, MANDATORY)
    with db.transaction() as session:
        conversation = session.execute(select(ConversationFactRow)).scalar_one()
        turn = session.execute(select(TurnFactRow)).scalar_one()
        assert turn.handoff and conversation.outcome == HANDED_OFF and conversation.flow == "refund"
        assert (conversation.queue, conversation.handoff_reason) == ("billing", "mandatory")
        assert conversation.sla_seconds == 4 * 3600 and conversation.first_human_response_seconds == 30 * 60
        assert conversation.human_seconds == 2 * 3600 - 5 and conversation.bot_seconds == 5
        assert not conversation.mandatory_human_automated


def test_a_turn_split_across_batches_is_completed_by_the_next(db):
    sender = "c-split"
    first = [user(sender, 0, "hi", "greet", 0.99), action(sender, 0.1, "utter_greet")]
    rest = [bot(sender, 0.25), action(sender, 0.3, "action_listen")]
    with db.transaction() as session:
        refresh_facts(session, record_events(session, first, READER)[0], MANDATORY)
        assert session.execute(select(TurnFactRow.latency_ms)).scalar_one() is None
        refresh_facts(session, record_events(session, rest, READER)[0], MANDATORY)
        assert session.execute(select(TurnFactRow.latency_ms)).scalar_one() == 250.0


def test_a_mandatory_human_request_resolved_by_a_flow_is_flagged(db):
    sender = "c-wrong"
    with db.transaction() as session:
        touched, _ = record_events(session, [
            user(sender, 0, "refund me", "request_refund", 0.6), action(sender, 0.1, "action_billing_lookup"),
            bot(sender, 0.2), slot(sender, 0.2, "bot_resolved_flow", "billing"),
            action(sender, 0.3, "action_listen")], READER)
        refresh_facts(session, touched, MANDATORY)
    with db.transaction() as session:
        assert session.execute(select(ConversationFactRow.mandatory_human_automated)).scalar_one()


def test_junk_bodies_are_skipped(db):
    with db.transaction() as session:
        touched, recorded = record_events(session, [{"event": "user"}, {"sender_id": "x", "event": "nonsense",
                                                                         "timestamp": T0}], READER)
    assert (touched, recorded) == (set(), 0)


def test_messages_written_while_a_person_has_the_conversation_are_waiting_turns(db):
    sender = "c-paused"
    with db.transaction() as session:
        touched, _ = record_events(session, [
            user(sender, 0, "a person please", "request_human", 0.95), action(sender, 0.1, "action_handoff"),
            bot(sender, 0.2), body(sender, 0.2, "pause"), user(sender, 30, "hello?", "greet", 0.5)], READER)
        refresh_facts(session, touched, MANDATORY)
    with db.transaction() as session:
        turns = session.execute(select(TurnFactRow).order_by(TurnFactRow.turn)).scalars().all()
        assert [(t.handoff, t.latency_ms, t.error) for t in turns] == [(True, 200.0, False), (False, None, False)]


def test_only_messages_the_bot_could_not_answer_are_redacted_at_all(db):
    redacted: list[str] = []
    counting = EventReader(lambda text: redacted.append(text) or "[redacted]", READER.vocabulary, READER.pseudonym)
    sender = "c-mixed"
    with db.transaction() as session:
        record_events(session, [
            *password_reset(sender),
            user(sender, 20, "what about my fridge", "out_of_scope", 0.4), action(sender, 20.1, "action_clarify"),
            bot(sender, 20.2), action(sender, 20.3, "action_listen"),
            user(sender, 30, "and my car", "greet", 0.3)], counting)  # its turn is not over yet
    assert redacted == ["what about my fridge", "and my car"]
