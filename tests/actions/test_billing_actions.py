"""The billing actions with real Tracker and CollectingDispatcher objects, on the test database."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.billing import ActionBillingHandoff, ActionBillingLookup, ValidateBillingVerificationForm
from frontdesk.dev.demo_data import load_demo_billing
from frontdesk.handoff.service import HandoffRow

LOOKUPS = ["ask_latest_invoice", "ask_charge_explanation", "ask_payment_history", "ask_plan_details",
           "ask_payment_failed"]


@pytest.fixture
def billing_services(services, monkeypatch):
    with services.db.transaction() as session:
        load_demo_billing(session, today=date(2026, 11, 27))
    for module in ("actions.billing", "actions.handoff", "actions.handing_off"):
        monkeypatch.setattr(f"{module}.get_services", lambda: services)
    return services


def tracker(text: str, intent: str, slots: dict[str, Any] | None = None, sender: str = "bill-1",
            ranking: list[dict[str, Any]] | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.93}, "entities": [],
               "intent_ranking": ranking or [{"name": intent, "confidence": 0.93}]}
    events = [{"event": "user", "text": text, "parse_data": message, "metadata": {"model_id": "m-7"}}]
    return Tracker(sender, slots or {}, message, events, False, None, {}, "action_listen")


async def run(action, t: Tracker) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    return dispatcher, await action.run(dispatcher, t, {})


@pytest.mark.parametrize("intent", LOOKUPS)
async def test_every_lookup_waits_for_verification(billing_services, intent):
    dispatcher, events = await run(ActionBillingLookup(), tracker("a billing question", intent))
    assert dispatcher.messages == []  # the form asks next
    assert {"event": "slot", "timestamp": None, "name": "pending_billing_intent", "value": intent} in events


@pytest.mark.parametrize(("intent", "question", "expected"), [
    ("ask_latest_invoice", "latest invoice please",
     r"invoice INV-2026-0305 of 1 Nov 2026 is £290\.00, overdue since 15 Nov 2026"),
    ("ask_charge_explanation", "what was the £319.00 charge on 1 September", r"paid invoice INV-2026-0303"),
    ("ask_payment_history", "payments in 2026", r"Your payments for 2026:\n- 1 Nov 2026: £290\.00, failed"),
    ("ask_plan_details", "what plan are we on", r"Team plan, billed monthly: 10 seats at £29\.00"),
    ("ask_payment_failed", "why did my card fail", r"failed because the card has expired"),
])
async def test_each_lookup_answers_a_verified_customer(billing_services, intent, question, expected):
    dispatcher, events = await run(ActionBillingLookup(), tracker(question, intent, {"customer_id": "AC-100003"}))
    assert re.search(expected, dispatcher.messages[0]["text"]), dispatcher.messages[0]["text"]
    # Answered without a person: thanks or goodbye will ask for a rating of it (action_wrap_up).
    assert {"event": "slot", "name": "bot_resolved_flow", "value": "billing", "timestamp": None} in events


async def test_the_question_asked_before_verifying_is_answered_after(billing_services):
    asked = tracker("when does our plan renew", "ask_plan_details")
    code = {"text": "123 456", "intent": {"name": "inform_otp_code", "confidence": 0.9}, "entities": []}
    events = [*asked.events, {"event": "user", "text": "123 456", "parse_data": code}]
    after = Tracker("bill-1", {"customer_id": "AC-100002", "pending_billing_intent": "ask_plan_details"}, code,
                    events, False, None, {}, "action_listen")
    dispatcher, _ = await run(ActionBillingLookup(), after)
    assert "renews on 1 Dec 2026" in dispatcher.messages[0]["text"]


async def test_an_unmatched_charge_is_handed_off_triaged(billing_services):
    ranking = [{"name": "ask_charge_explanation", "confidence": 0.9}, {"name": "report_dispute", "confidence": 0.05}]
    t = tracker("what is the £999 charge", "ask_charge_explanation", {"customer_id": "AC-100003"}, ranking=ranking)
    dispatcher, events = await run(ActionBillingLookup(), t)
    assert "couldn't match" in dispatcher.messages[0]["text"] and events[-1]["event"] == "pause"
    assert not any(e.get("name") == "bot_resolved_flow" for e in events)
    with billing_services.db.transaction() as session:
        handoff = session.execute(select(HandoffRow)).scalar_one()
    assert (handoff.reason, handoff.queue, handoff.customer_id) == ("billing_unresolved", "billing", "AC-100003")


async def test_requests_for_a_person_go_to_the_specialist_queue(billing_services):
    ranking = [{"name": "ask_tax_question", "confidence": 0.88}, {"name": "ask_pricing", "confidence": 0.07}]
    _, events = await run(ActionBillingHandoff(), tracker("do you charge VAT to Swiss customers",
                                                          "ask_tax_question", ranking=ranking))
    with billing_services.db.transaction() as session:
        handoff = session.execute(select(HandoffRow)).scalar_one()
    assert (handoff.queue, handoff.category) == ("billing_tax", "tax") and events[-1]["event"] == "pause"


async def test_the_form_rejects_junk_codes_without_counting_them(billing_services):
    form = ValidateBillingVerificationForm()
    dispatcher = CollectingDispatcher()
    t = tracker("my code", "inform_otp_code", {"billing_email": "ada.lovelace@example.com"})
    assert await form.validate_otp_code("I didn't get it", dispatcher, t, {}) == {"otp_code": None}
    assert dispatcher.messages[0]["response"] == "utter_otp_code_format"
    assert await form.validate_billing_email("not an address", dispatcher, t, {}) == {"billing_email": None}


async def test_a_person_is_not_asked_to_act_on_another_customers_invoice(billing_services):
    t = tracker("please re-send INV-2026-0105 with our VAT number", "request_invoice_change",
                {"customer_id": "AC-100003"})
    dispatcher, events = await run(ActionBillingHandoff(), t)
    assert "can't find INV-2026-0105 on your account" in dispatcher.messages[0]["text"] and events == []
    with billing_services.db.transaction() as session:
        assert session.execute(select(HandoffRow)).first() is None
        [denied] = billing_services.audit.list(session, "bill-1", "billing.access_denied", 10)
    assert denied.action == "action_billing_handoff"


async def test_cleared_slots_are_not_complained_about(billing_services):
    form = ValidateBillingVerificationForm()
    dispatcher = CollectingDispatcher()
    t = tracker("how many seats do we have", "ask_plan_details")
    assert await form.validate_billing_email(None, dispatcher, t, {}) == {"billing_email": None}
    assert await form.validate_otp_code(None, dispatcher, t, {}) == {"otp_code": None}
    assert dispatcher.messages == []


@pytest.fixture
def signed_in(billing_services, monkeypatch):
    """A support site whose tokens the chat channel attests (the action server checks them)."""
    from frontdesk.accounts.customer_token import CustomerAttestations, CustomerBinding, CustomerTokenVerifier
    from frontdesk.settings import CustomerTokenSettings

    verifier = CustomerTokenVerifier(CustomerTokenSettings(secret="k" * 40, issuer="site", audience="chat"))
    attestations = CustomerAttestations(verifier, None, billing_services.settings.secret_key)
    monkeypatch.setattr(billing_services, "customer_binding",
                        CustomerBinding(attestations, billing_services.identity, billing_services.audit))
    monkeypatch.setattr("actions.session.get_services", lambda: billing_services)
    return lambda account_id, sender="bill-1": attestations.attest(verifier.mint(account_id), sender)


def page_message(text: str, intent: str, attestation: dict | None, slots: dict[str, Any]) -> Tracker:
    """The latest message as the widget sends it: with what the page says about who is signed in."""
    message = {"text": text, "intent": {"name": intent, "confidence": 0.93}, "entities": [],
               "metadata": {"frontdesk_customer": attestation} if attestation is not None else {}}
    return Tracker("bill-1", slots, message, [{"event": "user", "text": text, "parse_data": message}], False, None,
                   {}, "action_listen")


def slot(events: list[dict[str, Any]], name: str) -> object:
    return next(e["value"] for e in events if e.get("event") == "slot" and e["name"] == name)


async def test_a_token_binding_ends_when_the_page_signs_out(signed_in):
    """A shared browser: the customer signed out, the next person asks for billing details."""
    token_bound = {"customer_id": "AC-100002", "customer_verified_until": 4_102_444_800.0}
    signed_out = {"rejected": "signed_out"}
    dispatcher, events = await run(ActionBillingLookup(), page_message(
        "what plan are we on", "ask_plan_details", signed_out, token_bound))
    assert dispatcher.messages == []  # nothing of the previous customer's account
    assert slot(events, "customer_id") is None and slot(events, "pending_billing_intent") == "ask_plan_details"
    assert {"event": "followup", "name": "billing_verification_form", "timestamp": None} in events


async def test_a_token_binding_ends_with_the_token(signed_in):
    expired = {"customer_id": "AC-100002", "customer_verified_until": 1_000_000_000.0}
    dispatcher, events = await run(ActionBillingLookup(), page_message("what plan", "ask_plan_details", None, expired))
    assert dispatcher.messages == [] and slot(events, "customer_id") is None


async def test_someone_else_signing_in_on_the_page_is_answered_as_themselves(signed_in):
    bound_to_grace = {"customer_id": "AC-100002", "customer_verified_until": 4_102_444_800.0}
    dispatcher, events = await run(ActionBillingLookup(), page_message(
        "what plan are we on", "ask_plan_details", signed_in("AC-100003"), bound_to_grace))
    assert "Team plan" in dispatcher.messages[0]["text"] and slot(events, "customer_id") == "AC-100003"


async def test_a_code_verified_customer_does_not_depend_on_the_page(signed_in):
    by_code = {"customer_id": "AC-100003", "customer_verified_until": None}
    dispatcher, events = await run(ActionBillingLookup(), page_message(
        "what plan are we on", "ask_plan_details", {"rejected": "signed_out"}, by_code))
    assert "Team plan" in dispatcher.messages[0]["text"]
    assert not [e for e in events if e.get("name") == "customer_id"]
