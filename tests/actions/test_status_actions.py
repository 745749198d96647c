"""Status updates in the chat: a verified customer's own tickets, someone else's reference told
apart from nothing, the service status with an open incident, and the incident in the greeting,
in every handoff and on the tickets about it. Real Tracker and dispatcher, a real database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.handoff import ActionHandoff
from actions.status import ActionGreet, ActionServiceStatus, ActionTicketStatus
from frontdesk.handoff.service import HandoffRequest, Turn
from tests.actions.test_actions import handoffs, live_services, run  # noqa: F401 - a fixture


@pytest.fixture
def status_services(live_services, monkeypatch):  # noqa: F811 - the fixture imported above
    monkeypatch.setattr("actions.status.get_services", lambda: live_services)
    return live_services


def said(sender: str, text: str, intent: str, slots: dict[str, Any] | None = None,
         entities: list[dict[str, Any]] | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.97}, "entities": entities or [],
               "intent_ranking": [{"name": intent, "confidence": 0.97}]}
    events = [{"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": message, "metadata": {"model_id": "m-42"}}]
    return Tracker(sender, slots or {}, message, events, False, None, {}, "action_listen")


def open_ticket(services, customer_id: str | None, conversation: str) -> str:
    request = HandoffRequest(conversation_id=conversation, sequence=1, reason="customer_asked", channel="rest",
                             intent="request_human", confidence=0.99, model_id="m-42",
                             turns=[Turn("customer", "agent please")], customer_id=customer_id)
    with services.db.transaction() as session:
        return services.handoff.hand_off(session, request).reference


async def test_a_verified_customer_hears_where_their_own_request_stands(status_services):
    reference = open_ticket(status_services, "AC-100001", "mine")
    for text, entities in ((f"any news on {reference}?", [{"entity": "ticket_reference", "value": reference}]),
                           (f"status of {reference.lower().replace('-', ' ')} pls", []),
                           ("what's happening with my ticket", [])):
        dispatcher, events = await run(ActionTicketStatus(), said("s1", text, "ask_ticket_status",
                                                                  {"customer_id": "AC-100001"}, entities))
        [message] = dispatcher.messages
        assert message["text"].startswith(f"{reference} ") and "team" in message["text"], message
        assert "aim to reply within" in message["text"]
        assert ("slot", "bot_resolved_flow") in [(e["event"], e.get("name")) for e in events]


async def test_someone_else_s_reference_gets_the_same_reply_as_one_that_does_not_exist(status_services):
    theirs = open_ticket(status_services, "AC-100002", "theirs")
    unknown = "HO-99999"
    replies = []
    for reference in (theirs, unknown):
        dispatcher, events = await run(ActionTicketStatus(), said("s2", f"update on {reference}?", "ask_ticket_status",
                                                                  {"customer_id": "AC-100001"}))
        replies.append((dispatcher.messages[0]["text"].replace(reference, "REF"),
                        dispatcher.messages[0]["buttons"], events))
    assert replies[0] == replies[1]
    assert "can't find a request REF on your account" in replies[0][0]


async def test_an_unverified_customer_is_asked_to_sign_in_and_told_nothing(status_services):
    reference = open_ticket(status_services, "AC-100001", "mine-2")
    dispatcher, events = await run(ActionTicketStatus(), said("s3", f"status of {reference}", "ask_ticket_status"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_status_sign_in"] and events == []


async def test_an_open_incident_is_in_the_status_the_greeting_every_handoff_and_its_tickets(status_services):
    dispatcher, events = await run(ActionServiceStatus(), said("s4", "is it down?", "ask_service_status"))
    assert dispatcher.messages[0]["text"].startswith("All systems are operational")
    assert events == [SlotSet("bot_resolved_flow", "service_status")]  # resolved by the bot, for the KPIs
    dispatcher, _ = await run(ActionGreet(), said("s4", "hi", "greet"))
    assert [m.get("response") for m in dispatcher.messages] == ["utter_greet"]

    with status_services.db.transaction() as session:
        incident = status_services.status.incidents.open(
            session, "Webhooks delayed", "Webhooks", "major", "Deliveries are running about 20 minutes late.")
    dispatcher, _ = await run(ActionServiceStatus(), said("s5", "is it down?", "ask_service_status"))
    text = dispatcher.messages[0]["text"]
    assert "Webhooks delayed (investigating" in text and "20 minutes late" in text, text
    dispatcher, _ = await run(ActionGreet(), said("s5", "hi", "greet"))
    assert dispatcher.messages[1]["text"] == ("Heads-up: we're working on an incident right now: "
                                              "Webhooks delayed (investigating).")
    # A handoff mentions it; a ticket about the affected component carries the incident's tag.
    dispatcher, _ = await run(ActionHandoff(), said("s6", "our webhooks stopped arriving, agent please",
                                                    "request_human"))
    assert dispatcher.messages[-1]["text"].startswith("Heads-up")
    dispatcher, _ = await run(ActionHandoff(), said("s7", "agent please, my invoice is wrong", "request_human"))
    assert dispatcher.messages[-1]["text"].startswith("Heads-up")
    labels = {h.conversation_id: json.loads(h.draft)["labels"] for h in handoffs(status_services)}
    assert f"incident-{incident.id}" in labels["s6"]
    assert not any(label.startswith("incident-") for label in labels["s7"])
