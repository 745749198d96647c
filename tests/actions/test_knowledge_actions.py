"""Help-centre answers in the fallback, "Did that help?", and the ticket after an answer that did
not help: the actions with real Tracker and CollectingDispatcher objects and a real database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from sqlalchemy import select

from actions.handoff import ActionClarify, ActionHandoff, ActionKnowledgeFeedback
from frontdesk.core.audit import AuditRow
from tests.actions.test_actions import handoffs, live_services, names, run  # noqa: F401 - a fixture

SSO = {"article": "sso-saml-okta", "title": "Set up single sign-on with Okta (SAML)",
       "url": "https://help.frontdesk.example/articles/sso-saml-okta"}


@pytest.fixture
def knowledge_services(live_services, monkeypatch):  # noqa: F811 - the fixture imported above
    monkeypatch.setattr("actions.knowledge.get_services", lambda: live_services)
    return live_services


def parse_data(text: str, intent: str, confidence: float, score: float,
               ranking: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    matches = [{**SSO, "score": score}, {"article": "scim-provisioning", "title": "Provision users with SCIM",
                                         "url": "https://help.frontdesk.example/articles/scim-provisioning",
                                         "score": score - 0.2}]
    answer = {**SSO, "text": "Yes: add Frontdesk as a SAML app in Okta.", "score": score} if score >= 0.6 else None
    return {"text": text, "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}], "entities": [],
            "knowledge": {"ranking": matches, "threshold": 0.6, "answer": answer}}


def conversation(sender: str, *turns: tuple[dict[str, Any], list[dict[str, Any]]]) -> Tracker:
    """Customer messages (parse data), each followed by the events the bot added after it."""
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_listen"}]
    for message, after in turns:
        events.append({"event": "user", "text": message["text"], "parse_data": message,
                       "metadata": {"model_id": "m-42"}})
        events.extend(after)
    latest = turns[-1][0]
    return Tracker(sender, {}, latest, events, False, None, {}, "action_listen")


ANSWERED = [{"event": "action", "name": "action_clarify"}, {"event": "slot", "name": "knowledge_article", "value": SSO},
            {"event": "bot", "text": "Yes: add Frontdesk as a SAML app in Okta."},
            {"event": "action", "name": "action_listen"}]
QUESTION = parse_data("can we log in through okta?", "out_of_scope", 0.93, 0.81)


def decisions(services, conversation_id: str) -> list[AuditRow]:
    with services.db.transaction() as session:
        return list(session.execute(select(AuditRow).where(AuditRow.conversation_id == conversation_id)
                                    .order_by(AuditRow.id)).scalars())


async def test_a_question_no_flow_claims_is_answered_with_the_article_and_its_link(knowledge_services):
    dispatcher, events = await run(ActionClarify(), conversation("kb-1", (QUESTION, [])))
    [message] = dispatcher.messages
    assert message["response"] == "utter_knowledge_answer"
    assert (message["answer"], message["title"], message["url"]) == (
        "Yes: add Frontdesk as a SAML app in Okta.", SSO["title"], SSO["url"])
    assert [b["payload"] for b in message["buttons"]] == ["/affirm", "/deny"]
    assert events == [{"event": "slot", "name": "knowledge_article", "value": SSO, "timestamp": None}]
    [audit] = decisions(knowledge_services, "kb-1")
    assert (audit.decision, audit.intent, audit.model_id) == ("knowledge.answered", "out_of_scope", "m-42")
    assert json.loads(audit.details) == {"article": "sso-saml-okta", "score": 0.81}
    assert handoffs(knowledge_services) == []


@pytest.mark.parametrize(("intent", "ranking", "score", "reply"), [
    # Below the threshold: the bot does not know, says so and offers a person.
    ("out_of_scope", None, 0.55, "utter_out_of_scope"),
    # Unsure, and the best guess is a password reset: the clarification offers the reset instead.
    ("nlu_fallback", [{"name": "nlu_fallback", "confidence": 0.7},
                      {"name": "request_password_reset", "confidence": 0.52}], 0.8, "utter_clarify"),
])
async def test_no_answer_below_the_threshold_or_when_a_flow_is_the_best_guess(knowledge_services, intent, ranking,
                                                                              score, reply):
    message = parse_data("cant get in with okta pw", intent, 0.7, score, ranking)
    dispatcher, events = await run(ActionClarify(), conversation("kb-2", (message, [])))
    assert [m["response"] for m in dispatcher.messages] == [reply] and events == []
    assert dispatcher.messages[0]["buttons"][-1]["payload"] == "/request_human"


async def test_a_miss_after_an_answer_is_a_first_miss_not_a_second(knowledge_services):
    unclear = parse_data("hmm and the other thing", "nlu_fallback", 0.7, 0.3,
                         [{"name": "nlu_fallback", "confidence": 0.7}, {"name": "greet", "confidence": 0.2}])
    dispatcher, events = await run(ActionClarify(), conversation("kb-3", (QUESTION, ANSWERED), (unclear, [])))
    assert [m["response"] for m in dispatcher.messages] == ["utter_clarify"] and events == []


async def test_yes_resolves_it_as_the_bot_s_and_no_offers_a_person(knowledge_services):
    yes = parse_data("/affirm", "affirm", 1.0, 0.0)
    dispatcher, events = await run(ActionKnowledgeFeedback(), conversation("kb-4", (QUESTION, ANSWERED), (yes, [])))
    assert [m["response"] for m in dispatcher.messages] == ["utter_knowledge_helped"]
    assert names(events) == [("slot", "bot_resolved_flow")] and events[0]["value"] == "knowledge_base"

    no = parse_data("no", "deny", 0.99, 0.0)
    dispatcher, events = await run(ActionKnowledgeFeedback(), conversation("kb-5", (QUESTION, ANSWERED), (no, [])))
    [message] = dispatcher.messages
    assert message["response"] == "utter_knowledge_not_helped" and events == []
    assert message["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    assert [(a.decision, json.loads(a.details)) for a in decisions(knowledge_services, "kb-4")] == [
        ("knowledge.helped", {"article": "sso-saml-okta"})]
    assert [a.decision for a in decisions(knowledge_services, "kb-5")] == ["knowledge.not_helped"]


async def test_a_yes_that_answers_no_article_is_unclear(knowledge_services):
    yes = parse_data("yes", "affirm", 0.99, 0.0)
    dispatcher, events = await run(ActionKnowledgeFeedback(), conversation("kb-6", (yes, [])))
    assert [m["response"] for m in dispatcher.messages] == ["utter_clarify"] and events == []


async def test_the_ticket_after_an_unhelpful_answer_carries_the_article_and_the_question(knowledge_services):
    no = parse_data("no", "deny", 0.99, 0.0)
    person = parse_data("/request_human", "request_human", 1.0, 0.0)
    person.pop("knowledge")  # a button's payload is not searched
    t = conversation("kb-7", (QUESTION, ANSWERED), (no, [{"event": "action", "name": "action_knowledge_feedback"},
                                                         {"event": "action", "name": "action_listen"}]), (person, []))
    _, events = await run(ActionHandoff(), t)
    assert ("pause", None) in names(events)
    [handoff] = handoffs(knowledge_services)
    draft = json.loads(handoff.draft)
    assert (f'Help-centre answer the bot gave: "{SSO["title"]}" ({SSO["url"]}), '
            'for "can we log in through okta?"') in draft["summary"]
    # The best articles over the conversation, from the same index, in the agent's suggested reply.
    assert (f"These help-centre articles may help:\n- {SSO['title']}: {SSO['url']}\n"
            "- Provision users with SCIM: https://help.frontdesk.example/articles/scim-provisioning") in (
        draft["suggested_reply"])


async def test_answers_switched_off_the_fallback_clarifies_as_before(knowledge_services, monkeypatch):
    from dataclasses import replace

    monkeypatch.setattr(knowledge_services, "settings", replace(knowledge_services.settings, knowledge_answers=False))
    dispatcher, events = await run(ActionClarify(), conversation("kb-8", (QUESTION, [])))
    assert [m["response"] for m in dispatcher.messages] == ["utter_out_of_scope"] and events == []
