"""Hand the conversation to a person: a ticket ready to work, the customer told what happens
next, and the bot paused. Also the two-stage fallback and the dialogue policy's fallback."""

from __future__ import annotations

import threading
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.session import proven_customer
from actions.tracker_context import client_key, decision_context, model_id
from frontdesk.account_takeover import INTENT_OVERRIDE_KEY
from frontdesk.clarification import OUT_OF_SCOPE, clarification_choices, title
from frontdesk.handoff import HandoffRateLimited, HandoffRequest, Turn
from frontdesk.privacy import default_redactor
from frontdesk.services import get_services

# Presidio and spaCy take seconds to load: do it now, not in the first customer's handoff.
threading.Thread(target=lambda: default_redactor().redact("warm up"), daemon=True).start()

# Slots worth showing an agent; the rest are dialogue bookkeeping.
_AGENT_SLOTS = ("account_email",)
_RESPONSE_BY_INTENT = {"report_lost_2fa": "utter_handoff_lost_2fa"}


def _customer_text(text: str) -> str:
    # A clicked button arrives as its payload ("/request_refund"): show the agent what was clicked.
    if text.startswith("/"):
        intent = text[1:].split("{", 1)[0]
        return f"[clicked] {title(intent)}"
    return text


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
    latest = message or tracker.latest_message or {}
    intent = latest.get("intent") or {}
    ranking = [r for r in latest.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    # After a fallback the "intent" is nlu_fallback: the agent wants the best real guess.
    best = intent if intent.get("name") != "nlu_fallback" or not ranking else ranking[0]
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
    )


class _Unchecked:
    """The verified customer has not been re-checked yet: ``hand_off`` does it."""


UNCHECKED = _Unchecked()


def hand_off(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, response: str = "utter_handoff",
    message: dict[str, Any] | None = None, customer_id: str | _Unchecked | None = UNCHECKED,
) -> list[EventType]:
    """``customer_id``: the verified customer when the caller has already re-checked it (the
    ticket carries the proven customer's profile, never a stale one)."""
    rebound: list[EventType] = []
    if isinstance(customer_id, _Unchecked):
        customer_id, rebound = proven_customer(tracker, "action_handoff")
    services = get_services()
    try:
        with services.db.transaction() as session:
            result = services.handoff.hand_off(
                session, handoff_request(tracker, reason, message, customer_id))
    except HandoffRateLimited as refused:
        with services.db.transaction() as session:  # the refusal's own record (the attempt rolled back)
            services.audit.record(session, decision_context(tracker, "action_handoff"), "handoff.rate_limited",
                                  reason=refused.limit, handoff_reason=reason)
        dispatcher.utter_message(response="utter_handoff_busy")
        return rebound  # not paused: nobody is coming, the bot goes on
    dispatcher.utter_message(response=response, reference=result.reference, expected_reply=result.expected_reply)
    return [*rebound, ConversationPaused()]


class ActionHandoff(SafeAction):
    def name(self) -> str:
        return "action_handoff"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        intent = (latest.get("intent") or {}).get("name")
        policy = get_services().handoff.policy
        if override := latest.get(INTENT_OVERRIDE_KEY):  # relabelled by a guard: a takeover or a money request
            reason = str(override.get("reason") or "account_takeover_signal")
        else:
            reason = "mandatory_category" if policy.is_mandatory(intent) else "customer_asked"
        return hand_off(dispatcher, tracker, reason, _RESPONSE_BY_INTENT.get(intent or "", "utter_handoff"))


class ActionClarify(SafeAction):
    """Two-stage fallback for every miss, a low-confidence reading or an out-of-scope request:
    the first miss says so and offers the likeliest topics and a person; a second miss in a row
    hands off, so nobody is stuck in a loop with a bot that does not understand them."""

    def name(self) -> str:
        return "action_clarify"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if self._previous_turn_was_unclear(tracker):
            return hand_off(dispatcher, tracker, "low_nlu_confidence", "utter_handoff_unclear")
        latest = tracker.latest_message or {}
        intent = (latest.get("intent") or {}).get("name")
        buttons = [{"title": title(choice), "payload": f"/{choice}"}
                   for choice in clarification_choices(intent, latest.get("intent_ranking") or [])]
        dispatcher.utter_message(response="utter_out_of_scope" if intent == OUT_OF_SCOPE else "utter_clarify",
                                 buttons=buttons)
        return []

    @staticmethod
    def _previous_turn_was_unclear(tracker: Tracker) -> bool:
        # Walk back past the current message to the bot's previous reply.
        seen_current = False
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                if seen_current:
                    return False
                seen_current = True
            elif seen_current and event.get("event") == "action" and event.get("name") == "action_clarify":
                return True
        return False


class ActionDefaultFallback(SafeAction):
    """The dialogue policy is unsure what to do next: a person takes over."""

    def name(self) -> str:
        return "action_default_fallback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return hand_off(dispatcher, tracker, "policy_unsure")


