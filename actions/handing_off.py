"""Hand the conversation to a person: a ticket ready to work, the customer told what happens
next, and the bot paused. Shared by every action that hands off, ``SafeAction``'s failure path
included (this module imports no action, so none of them imports back)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import shown_article
from actions.session import proven_customer
from actions.tracker_context import client_key, decision_context, model_id
from frontdesk.bootstrap import get_services
from frontdesk.handoff.clarification import title
from frontdesk.handoff.service import HandoffRateLimited, HandoffRequest, HandoffResult, Turn
from frontdesk.knowledge.answering import citations
from frontdesk.password_reset.account_takeover import INTENT_OVERRIDE_KEY
from frontdesk.status.replies import incident_notice, incident_tags

# Slots worth showing an agent; the rest are dialogue bookkeeping.
_AGENT_SLOTS = ("account_email",)


def _customer_text(text: str) -> str:
    # A clicked button arrives as its payload ("/request_refund"): show the agent what was clicked.
    if text.startswith("/"):
        intent = text[1:].split("{", 1)[0]
        return f"[clicked] {title(intent)}"
    return text


# The transcript and what the bot tried walk every event of the tracker, before restarts and
# undone turns included (applied_events() would drop those): rasa-sdk has no helper for them.
def _turns(tracker: Tracker) -> list[Turn]:
    turns = []
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            turns.append(Turn("customer", _customer_text(event["text"])))
        elif event.get("event") == "bot" and event.get("text"):
            turns.append(Turn("bot", event["text"]))
    return turns


def _bot_tried(tracker: Tracker) -> list[str]:
    tried: list[str] = []
    for event in tracker.events:
        name = event.get("name") if event.get("event") in ("action", "active_loop") else None
        if name and name not in tried and not name.startswith(("action_listen", "utter_", "action_session")):
            tried.append(name)
    return tried


def handoff_request(tracker: Tracker, reason: str, message: dict[str, Any] | None = None,
                    customer_id: str | None = None) -> HandoffRequest:
    """``message``: the parse data of the customer message the handoff is about; the latest
    message by default (a billing question asked before verification is an earlier one)."""
    # Raw parse data: the (guard-relabelled) intent, its confidence, the ranking and every entity,
    # which rasa-sdk's helpers do not return as such (they read the ranking, filter by role).
    latest = message or tracker.latest_message or {}
    intent = latest.get("intent") or {}
    ranking = [r for r in latest.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    # After a fallback the "intent" is nlu_fallback: the agent wants the best real guess.
    best = intent if intent.get("name") != "nlu_fallback" or not ranking else ranking[0]
    # The ticket's retry-safety key: every user event in tracker.events (not applied_events()).
    sequence = sum(1 for e in tracker.events if e.get("event") == "user")
    return HandoffRequest(
        conversation_id=tracker.sender_id,
        sequence=sequence,
        reason=reason,
        channel=tracker.get_latest_input_channel() or "unknown",
        intent=best.get("name"),
        confidence=float(best["confidence"]) if best.get("confidence") is not None else None,
        model_id=model_id(tracker),
        turns=_turns(tracker),
        collected={s: str(v) for s in _AGENT_SLOTS if (v := tracker.get_slot(s))},
        entities=[(e.get("entity", "?"), str(e.get("value", ""))) for e in latest.get("entities") or []],
        bot_tried=_bot_tried(tracker),
        customer_id=customer_id,
        ranking=[(str(r["name"]), float(r.get("confidence") or 0.0)) for r in ranking if r.get("name")],
        intent_override=latest.get(INTENT_OVERRIDE_KEY),
        client=client_key(tracker),
        article_shown=shown_article(tracker),
        citations=citations(e.get("parse_data") or {} for e in tracker.events if e.get("event") == "user"),
    )


class _Unchecked:
    """The verified customer has not been re-checked yet: ``hand_off`` does it."""


UNCHECKED = _Unchecked()


async def hand_off(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, response: str = "utter_handoff",
    message: dict[str, Any] | None = None, customer_id: str | _Unchecked | None = UNCHECKED,
) -> list[EventType]:
    """``customer_id``: the verified customer when the caller has already re-checked it (the
    ticket carries the proven customer's profile, never a stale one)."""
    rebound: list[EventType] = []
    if isinstance(customer_id, _Unchecked):
        customer_id, rebound = await proven_customer(tracker, "action_handoff")
    services = get_services()
    request = handoff_request(tracker, reason, message, customer_id)
    # While an incident is open the customer hears of it, and a ticket about it carries its tag.
    status = await asyncio.to_thread(services.status.current)  # a feed may take its timeout
    about_the_service = (request.intent == "ask_service_status")
    request = replace(request, labels=(*request.labels, *incident_tags(
        status, about_the_service, (t.text for t in request.turns if t.speaker == "customer"))))
    try:  # the ticket, its redaction (Presidio) and its audit record: on a worker thread
        result: HandoffResult = await services.db.in_worker_thread(lambda session: services.handoff.hand_off(
            session, request))
    except HandoffRateLimited as refused:
        context, limit = decision_context(tracker, "action_handoff"), refused.limit
        # The refusal's own record (the attempt rolled back).
        await services.db.in_worker_thread(lambda session: services.audit.record(
            session, context, "handoff.rate_limited", reason=limit, handoff_reason=reason))
        dispatcher.utter_message(response="utter_handoff_busy")
        return rebound  # not paused: nobody is coming, the bot goes on
    dispatcher.utter_message(response=response, reference=result.reference, expected_reply=result.expected_reply)
    if notice := incident_notice(status):
        dispatcher.utter_message(text=notice)
    return [*rebound, ConversationPaused()]
