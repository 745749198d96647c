"""The rasa-sdk adapters with real Tracker and CollectingDispatcher objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.csat import ActionRecordCsat, ActionWrapUp
from actions.handoff import ActionClarify, ActionHandoff
from actions.password_reset import ActionAskAccountEmail, ActionRequestPasswordReset, ValidatePasswordResetForm
from actions.session import ActionSessionStart
from frontdesk import bootstrap as services_module

DOMAIN: dict[str, Any] = {"forms": {"password_reset_form": {"required_slots": ["account_email"]}}}


@pytest.fixture
def live_services(services, monkeypatch):
    """Make the actions use the test's database, SMTP server and clock."""
    monkeypatch.setattr(services_module, "get_services", lambda: services)
    for module in ("actions.password_reset", "actions.handoff", "actions.handing_off", "actions.csat",
                   "actions.session"):
        monkeypatch.setattr(f"{module}.get_services", lambda: services)
    return services


def tracker(
    sender: str = "conv-1",
    text: str = "ada.lovelace@example.com",
    intent: str = "inform_email",
    confidence: float = 0.98,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": []}
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": message, "metadata": {"model_id": "m-42"}},
    ]
    return Tracker(sender, slots or {}, message, events, False, None, {"name": "password_reset_form"}, "action_listen")


def names(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["event"], e.get("name") or e.get("value")) for e in events]


async def run(action, t: Tracker) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return dispatcher, events


def test_form_reprompts_on_junk_then_accepts_an_address():
    validator = ValidatePasswordResetForm()
    dispatcher = CollectingDispatcher()
    first = validator.validate_account_email("jane at example dot com", dispatcher, tracker(), {})
    assert first == {"account_email": None, "invalid_email_attempts": 1}
    second = validator.validate_account_email(
        "still no", dispatcher, tracker(slots={"invalid_email_attempts": 1}), {}
    )
    assert second["invalid_email_attempts"] == 2
    good = validator.validate_account_email(" It's Ada.Lovelace@EXAMPLE.com ", dispatcher, tracker(), {})
    assert good == {"account_email": "ada.lovelace@example.com", "invalid_email_attempts": 0}
    assert validator.validate_account_email({"junk": 1}, dispatcher, tracker(), {})["account_email"] is None
    assert dispatcher.messages == []  # the re-prompt is the ask action's job


@pytest.mark.parametrize(
    ("misses", "prompt"),
    [(0, "utter_ask_account_email"), (1, "utter_ask_account_email_again"),
     (2, "utter_ask_account_email_last_try"), (7, "utter_ask_account_email_last_try")],
)
async def test_the_email_prompt_says_what_went_wrong(misses, prompt):
    dispatcher, events = await run(ActionAskAccountEmail(), tracker(slots={"invalid_email_attempts": misses}))
    assert [m["response"] for m in dispatcher.messages] == [prompt] and events == []


async def test_known_and_unknown_address_get_identical_replies(live_services, smtp_sink):
    action = ActionRequestPasswordReset()
    known = await run(action, tracker("a", slots={"account_email": "ada.lovelace@example.com"}))
    unknown = await run(action, tracker("b", slots={"account_email": "nobody@example.com"}))
    assert known[0].messages == unknown[0].messages
    assert known[1] == unknown[1]
    assert known[0].messages[0]["response"] == "utter_password_reset_sent"
    assert known[0].messages[0]["ttl_minutes"] == 15
    assert {
        e["name"]: e["value"] for e in known[1] if e["event"] == "slot"
    } == {"account_email": None, "invalid_email_attempts": 0, "bot_resolved_flow": "password_reset"}
    # The token and link never appear in what the bot says.
    assert "token" not in repr(known[0].messages).replace("ttl_minutes", "")


def handoffs(services):
    from sqlalchemy import select

    from frontdesk.handoff.service import HandoffRow

    with services.db.transaction() as session:
        return session.execute(select(HandoffRow).order_by(HandoffRow.id)).scalars().all()


async def test_rate_limited_request_hands_off_and_pauses(live_services):
    action = ActionRequestPasswordReset()
    for _ in range(3):
        _, events = await run(action, tracker("same", slots={"account_email": "ada.lovelace@example.com"}))
        assert ("pause", None) not in names(events)
    dispatcher, events = await run(action, tracker("same", slots={"account_email": "ada.lovelace@example.com"}))
    assert ("pause", None) in names(events)
    [message] = dispatcher.messages
    assert message["response"] == "utter_handoff_rate_limited" and message["reference"].startswith("HO-")
    [handoff] = handoffs(live_services)
    assert (handoff.reason, handoff.queue) == ("reset_rate_limited", "accounts")
    with live_services.db.transaction() as session:
        records = live_services.audit.list(session, conversation_id="same")
    decisions = [r.decision for r in records]
    assert decisions[:2] == ["handoff.created", "password_reset.rate_limited_conversation"]
    reset = records[1]
    assert (reset.intent, reset.confidence, reset.model_id) == ("inform_email", 0.98, "m-42")
    assert reset.action == "action_request_password_reset"


async def test_lost_second_factor_is_a_mandatory_handoff(live_services):
    dispatcher, events = await run(ActionHandoff(), tracker(text="lost my authenticator", intent="report_lost_2fa"))
    assert names(events) == [("pause", None)]
    assert dispatcher.messages[0]["response"] == "utter_handoff_lost_2fa"
    [handoff] = handoffs(live_services)
    assert (handoff.reason, handoff.category, handoff.queue, handoff.priority) == (
        "mandatory_category", "account_recovery", "security", "high")


async def test_a_lookup_relabelled_as_a_dispute_is_a_mandatory_handoff_to_disputes(live_services):
    t = tracker(text="why was I charged twice this month", intent="report_dispute")
    t.latest_message["intent_override"] = {"from": "ask_charge_explanation", "confidence": 0.7,
                                           "signals": ["charged_twice"], "reason": "mandatory_category"}
    await run(ActionHandoff(), t)
    [handoff] = handoffs(live_services)
    assert (handoff.reason, handoff.category, handoff.queue) == ("mandatory_category", "dispute", "disputes")


async def test_a_reset_with_takeover_signals_is_handed_off_as_a_security_incident(live_services):
    t = tracker(text="someone changed my password, it wasn't me", intent="report_security_incident")
    t.latest_message["intent_override"] = {"from": "request_password_reset", "confidence": 0.8,
                                           "signals": ["not_me", "someone_acted"]}
    dispatcher, events = await run(ActionHandoff(), t)
    assert names(events) == [("pause", None)]
    assert dispatcher.messages[0]["response"] == "utter_handoff"
    [handoff] = handoffs(live_services)
    assert (handoff.reason, handoff.category, handoff.queue) == (
        "account_takeover_signal", "security_incident", "security")
    with live_services.db.transaction() as session:
        [record] = live_services.audit.list(session, conversation_id="conv-1", decision="handoff.created")
    assert (record.reason, record.intent) == ("account_takeover_signal", "report_security_incident")
    # What the model read and why it was relabelled stays on record; the text does not.
    assert record.details["intent_override"] == {"from": "request_password_reset", "confidence": 0.8,
                                                 "signals": ["not_me", "someone_acted"]}


async def test_refund_goes_to_a_person_whatever_the_confidence(live_services):
    dispatcher, events = await run(ActionHandoff(), tracker(text="I want a refund", intent="request_refund",
                                                            confidence=0.99))
    assert names(events) == [("pause", None)]
    [handoff] = handoffs(live_services)
    assert (handoff.reason, handoff.category, handoff.queue) == ("mandatory_category", "refund", "billing_refunds")
    assert "expected_reply" in dispatcher.messages[0]


async def test_customer_asks_for_a_person(live_services):
    dispatcher, events = await run(ActionHandoff(), tracker(text="agent please", intent="request_human"))
    assert names(events) == [("pause", None)]
    assert dispatcher.messages[0]["response"] == "utter_handoff"
    assert handoffs(live_services)[0].reason == "customer_asked"


def fallback_tracker(sender: str, text: str, previous_clarify: bool) -> Tracker:
    ranking = [{"name": "nlu_fallback", "confidence": 0.6}, {"name": "request_refund", "confidence": 0.41},
               {"name": "greet", "confidence": 0.3}, {"name": "request_password_reset", "confidence": 0.2}]
    message = {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
    events: list[dict[str, Any]] = []
    if previous_clarify:
        events += [{"event": "user", "text": "blorp", "parse_data": message},
                   {"event": "action", "name": "action_clarify"}, {"event": "bot", "text": "Sorry..."},
                   {"event": "action", "name": "action_listen"}]
    events.append({"event": "user", "text": text, "parse_data": message, "metadata": {"model_id": "m-42"}})
    return Tracker(sender, {}, message, events, False, None, {}, "action_listen")


async def test_first_miss_offers_the_likeliest_topics(live_services):
    dispatcher, events = await run(ActionClarify(), fallback_tracker("f1", "zxq money thing", False))
    assert events == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_clarify"
    assert [b["payload"] for b in message["buttons"]] == ["/request_refund", "/request_password_reset",
                                                          "/request_human"]
    assert handoffs(live_services) == []


async def test_an_unsure_billing_question_is_offered_its_billing_topics(live_services):
    ranking = [{"name": "nlu_fallback", "confidence": 0.55}, {"name": "ask_latest_invoice", "confidence": 0.44},
               {"name": "ask_payment_history", "confidence": 0.31}, {"name": "greet", "confidence": 0.1},
               {"name": "request_refund", "confidence": 0.08}]
    message = {"text": "need the bill thing", "intent": ranking[0], "intent_ranking": ranking, "entities": []}
    t = Tracker("bill", {}, message, [{"event": "user", "text": message["text"], "parse_data": message}],
                False, None, {}, "action_listen")
    dispatcher, _ = await run(ActionClarify(), t)
    assert [(b["payload"], b["title"]) for b in dispatcher.messages[0]["buttons"]] == [
        ("/ask_latest_invoice", "My latest invoice"), ("/ask_payment_history", "My payment history"),
        ("/request_refund", "A refund"), ("/request_human", "Talk to a person")]


async def test_out_of_scope_says_so_and_offers_a_person(live_services):
    message = {"text": "weather in paris?", "intent": {"name": "out_of_scope", "confidence": 0.97},
               "intent_ranking": [{"name": "out_of_scope", "confidence": 0.97}], "entities": []}
    t = Tracker("oos", {}, message, [{"event": "user", "text": "weather in paris?", "parse_data": message}],
                False, None, {}, "action_listen")
    dispatcher, events = await run(ActionClarify(), t)
    assert events == [] and dispatcher.messages[0]["response"] == "utter_out_of_scope"
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/request_password_reset", "/request_human"]


async def test_second_miss_hands_off_with_the_best_guess(live_services):
    dispatcher, events = await run(ActionClarify(), fallback_tracker("f2", "qwzx again", True))
    assert names(events) == [("pause", None)]
    assert dispatcher.messages[0]["response"] == "utter_handoff_unclear"
    [handoff] = handoffs(live_services)
    assert (handoff.reason, handoff.intent, handoff.confidence) == ("low_nlu_confidence", "request_refund", 0.41)


async def test_a_clicked_button_reads_as_its_title_on_the_ticket(live_services):
    t = tracker("clicked", text="/request_refund", intent="request_refund")
    await run(ActionHandoff(), t)
    [handoff] = handoffs(live_services)
    assert "customer: [clicked] A refund" in json.loads(handoff.draft)["transcript"]


async def test_the_same_handoff_twice_makes_one_ticket(live_services):
    t = tracker("twice", text="agent please", intent="request_human")
    first, _ = await run(ActionHandoff(), t)
    second, _ = await run(ActionHandoff(), t)
    assert first.messages[0]["reference"] == second.messages[0]["reference"]
    assert len(handoffs(live_services)) == 1


async def test_a_failing_action_hands_off(live_services, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("identity provider exploded")

    monkeypatch.setattr(live_services.password_reset, "request_password_reset", broken)
    dispatcher, events = await run(
        ActionRequestPasswordReset(), tracker("boom", slots={"account_email": "ada.lovelace@example.com"})
    )
    assert ("pause", None) in names(events)
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff"]
    [handoff] = handoffs(live_services)
    assert (handoff.conversation_id, handoff.reason) == ("boom", "action_failed")


async def test_database_down_gets_a_polite_answer(monkeypatch, tmp_path):
    from frontdesk.bootstrap import build_services
    from frontdesk.settings import Settings

    broken = build_services(Settings(env="development", database_url="postgresql://nobody@127.0.0.1:1/none"))
    monkeypatch.setattr("actions.password_reset.get_services", lambda: broken)
    monkeypatch.setattr("actions.handing_off.get_services", lambda: broken)
    dispatcher, events = await run(
        ActionRequestPasswordReset(), tracker(slots={"account_email": "ada.lovelace@example.com"})
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_technical_problem"]
    assert events == []


@pytest.fixture
def signing_site(live_services, monkeypatch):
    """The support site signs tokens with a shared secret the bot is configured with; the chat
    channel turns them into attestations (what the action server gets)."""
    from frontdesk.accounts.customer_token import CustomerAttestations, CustomerBinding, CustomerTokenVerifier
    from frontdesk.settings import CustomerTokenSettings

    verifier = CustomerTokenVerifier(CustomerTokenSettings(secret="k" * 40, issuer="site", audience="chat"))
    attestations = CustomerAttestations(verifier, None, live_services.settings.secret_key)
    binding = CustomerBinding(attestations, live_services.identity, live_services.audit)
    monkeypatch.setattr(live_services, "customer_binding", binding)
    return lambda account_id, conversation="conv-session": attestations.attest(verifier.mint(account_id), conversation)


def session_tracker(metadata: Any) -> Tracker:
    return Tracker("conv-session", {"session_started_metadata": metadata}, {}, [], False, None, {}, "action_listen")


async def test_a_signed_token_binds_the_session_to_the_customer(signing_site):
    _, events = await run(ActionSessionStart(), session_tracker({"frontdesk_customer": signing_site("AC-100002")}))
    assert names(events) == [("session_started", None), ("slot", "customer_id"), ("slot", "customer_verified_until"),
                             ("action", "action_listen")]
    assert events[1]["value"] == "AC-100002" and events[2]["value"] > 0  # bound until the token expires


@pytest.mark.parametrize("metadata", [
    None, {}, "junk", {"customer_token": "forged"}, {"frontdesk_customer": "forged"},
    {"frontdesk_customer": {"customer_id": "AC-100002", "jti": "j", "expires": 4102444800, "mac": "0" * 64}},
    {"frontdesk_customer": {"rejected": "bad_signature"}},
])
async def test_without_a_valid_attestation_the_session_stays_anonymous(signing_site, metadata):
    _, events = await run(ActionSessionStart(), session_tracker(metadata))
    assert names(events) == [("session_started", None), ("action", "action_listen")]


async def test_an_attestation_made_for_another_conversation_binds_nothing(signing_site):
    moved = {"frontdesk_customer": signing_site("AC-100002", "conv-victim")}
    _, events = await run(ActionSessionStart(), session_tracker(moved))
    assert names(events) == [("session_started", None), ("action", "action_listen")]


async def test_a_bound_customer_s_handoff_carries_their_profile(live_services):
    t = tracker(text="agent please", intent="request_human", slots={"customer_id": "AC-100001"})
    await run(ActionHandoff(), t)
    [handoff] = handoffs(live_services)
    assert (handoff.customer_id, handoff.priority) == ("AC-100001", "high")  # VIP


def csat_tracker(text: str, asked: bool, entities: list | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": "rate_csat", "confidence": 0.95}, "entities": entities or [],
               "intent_ranking": [{"name": "rate_csat", "confidence": 0.95}]}
    events: list[dict[str, Any]] = [{"event": "session_started"}]
    if asked:
        events += [{"event": "resume"}, {"event": "action", "name": "utter_ask_csat"},
                   {"event": "action", "name": "action_listen"}]
    events.append({"event": "user", "text": text, "parse_data": message})
    return Tracker("conv-csat", {}, message, events, False, None, {}, "action_listen")


async def test_a_rating_after_the_question_is_recorded_once(live_services):
    from frontdesk.insights.csat import CsatRow

    button = [{"entity": "csat_score", "value": "4"}]
    dispatcher, _ = await run(ActionRecordCsat(), csat_tracker('/rate_csat{"csat_score": "4"}', True, button))
    assert dispatcher.messages[0]["response"] == "utter_thanks_for_rating"
    typed, _ = await run(ActionRecordCsat(), csat_tracker("solid five", True))
    assert typed.messages[0]["response"] == "utter_thanks_for_rating"
    with live_services.db.transaction() as session:
        assert [r.score for r in session.execute(select(CsatRow)).scalars()] == [4, 5]


@pytest.mark.parametrize(("text", "asked"), [("5", False), ("no idea", True)])
async def test_a_number_out_of_the_blue_is_not_a_rating(live_services, text, asked):
    dispatcher, _ = await run(ActionRecordCsat(), csat_tracker(text, asked))
    assert dispatcher.messages[0]["response"] in {"utter_clarify", "utter_out_of_scope"}


def wrap_up_tracker(intent: str, slots: dict[str, Any], earlier: list[dict[str, Any]] | None = None) -> Tracker:
    message = {"text": intent, "intent": {"name": intent, "confidence": 0.97}, "entities": []}
    events = [{"event": "session_started"}, *(earlier or []), {"event": "action", "name": "action_listen"},
              {"event": "user", "text": intent, "parse_data": message}]
    return Tracker("conv-wrap", slots, message, events, False, None, {}, "action_listen")


async def test_thanks_after_a_flow_the_bot_resolved_asks_for_a_rating_once(live_services):
    from frontdesk.core.audit import AuditRow
    from frontdesk.insights.kpi import kpi_report

    dispatcher, events = await run(ActionWrapUp(), wrap_up_tracker("thank", {"bot_resolved_flow": "password_reset"}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_csat_after_bot"]
    assert names(events) == [("slot", "csat_survey_flow")] and events[0]["value"] == "password_reset"
    # Asked already this session: a plain reply, whatever the customer says.
    asked = {"bot_resolved_flow": "password_reset", "csat_survey_flow": "password_reset"}
    for intent, reply in (("thank", "utter_you_are_welcome"), ("goodbye", "utter_goodbye")):
        dispatcher, events = await run(ActionWrapUp(), wrap_up_tracker(intent, asked))
        assert [m["response"] for m in dispatcher.messages] == [reply] and events == []
    # The answer is a rating of that flow, with no handoff behind it.
    survey = [{"event": "slot", "name": "csat_survey_flow", "value": "password_reset"},
              {"event": "action", "name": "action_listen"}]
    rating = csat_tracker("5", False)
    rating.events[1:1] = survey
    dispatcher, _ = await run(ActionRecordCsat(), rating)
    assert dispatcher.messages[0]["response"] == "utter_thanks_for_rating"
    with live_services.db.transaction() as session:
        from frontdesk.insights.csat import CsatRow

        [row] = session.execute(select(CsatRow)).scalars()
        assert (row.score, row.flow, row.handoff_id) == (5, "password_reset", None)
        [audit] = session.execute(select(AuditRow).where(AuditRow.decision == "csat.requested")).scalars()
        assert (audit.reason, audit.action, audit.conversation_id) == ("password_reset", "action_wrap_up", "conv-wrap")
        report = kpi_report(session, live_services.workspace.feedback)
    assert report["csat"]["after_bot"] == {
        "password_reset": {"responses": 1, "average": 5.0, "satisfied_share": 1.0, "response_rate": 1.0}}
    assert report["csat"]["after_agent"]["responses"] == 0


@pytest.mark.parametrize(("slots", "earlier"), [
    ({}, []),  # nothing resolved: thanks for the chat
    ({"bot_resolved_flow": "billing"}, [{"event": "pause"}]),  # then handed off: the agent's close asks
    ({"bot_resolved_flow": "billing"}, [{"event": "action", "name": "utter_ask_csat"}]),  # rated already
])
async def test_no_rating_is_asked_without_a_flow_the_bot_resolved_alone(live_services, slots, earlier):
    for intent, reply in (("thank", "utter_you_are_welcome"), ("goodbye", "utter_goodbye")):
        dispatcher, events = await run(ActionWrapUp(), wrap_up_tracker(intent, slots, earlier))
        assert [m["response"] for m in dispatcher.messages] == [reply] and events == []


async def test_an_unreadable_answer_leaves_the_question_open_and_a_stored_rating_closes_it(live_services):
    from frontdesk.insights.csat import CsatRow

    unreadable = csat_tracker("pretty good", True)
    dispatcher, events = await run(ActionRecordCsat(), unreadable)
    assert dispatcher.messages[0]["response"] in {"utter_clarify", "utter_out_of_scope"} and not events
    tap = csat_tracker("4", True)
    tap.events[-1:-1] = [*unreadable.events[-1:], {"event": "action", "name": "action_record_csat"},
                         {"event": "action", "name": "action_listen"}]
    dispatcher, events = await run(ActionRecordCsat(), tap)
    assert dispatcher.messages[0]["response"] == "utter_thanks_for_rating"
    assert events[0]["name"] == "csat_answered" and events[0]["value"] is True
    # A second tap on the same question does not count twice.
    double = csat_tracker("5", True)
    double.events[-1:-1] = [{"event": "action", "name": "action_record_csat"}, *events,
                            {"event": "action", "name": "action_listen"}]
    dispatcher, _ = await run(ActionRecordCsat(), double)
    assert dispatcher.messages[0]["response"] in {"utter_clarify", "utter_out_of_scope"}
    with live_services.db.transaction() as session:
        assert [r.score for r in session.execute(select(CsatRow)).scalars()] == [4]


async def test_a_question_from_before_a_restart_is_not_open(live_services):
    after_restart = csat_tracker("5", False)
    after_restart.events[1:1] = [{"event": "slot", "name": "csat_survey_flow", "value": "billing"},
                                 {"event": "restart"}]
    dispatcher, _ = await run(ActionRecordCsat(), after_restart)
    assert dispatcher.messages[0]["response"] in {"utter_clarify", "utter_out_of_scope"}
