"""The actions that hand the conversation to a person (the handoff itself is in
``actions.handing_off``): on request, the two-stage fallback and the dialogue policy's fallback."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.handing_off import hand_off
from frontdesk.bootstrap import get_services
from frontdesk.handoff.clarification import OUT_OF_SCOPE, clarification_choices, title
from frontdesk.password_reset.account_takeover import INTENT_OVERRIDE_KEY

_RESPONSE_BY_INTENT = {"report_lost_2fa": "utter_handoff_lost_2fa"}


class ActionHandoff(SafeAction):
    def name(self) -> str:
        return "action_handoff"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        # Not get_intent_of_latest_message(): it reads intent_ranking[0], not the guard-relabelled intent.
        intent = (latest.get("intent") or {}).get("name")
        policy = get_services().handoff.policy
        if override := latest.get(INTENT_OVERRIDE_KEY):  # relabelled by a guard: a takeover or a money request
            reason = str(override.get("reason") or "account_takeover_signal")
        else:
            reason = "mandatory_category" if policy.is_mandatory(intent) else "customer_asked"
        return await hand_off(dispatcher, tracker, reason, _RESPONSE_BY_INTENT.get(intent or "", "utter_handoff"))


def _previous_turn_was_unclear(tracker: Tracker) -> bool:
    # Walk back past the current message to the bot's previous reply. The raw events, as Rasa sent
    # them: get_last_event_for() works on applied_events() and cannot stop at the previous message.
    seen_current = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_current:
                return False
            seen_current = True
        elif seen_current and event.get("event") == "action" and event.get("name") == "action_clarify":
            return True
    return False


async def clarify(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """The two-stage fallback (``ActionClarify``), also the answer to anything else the bot cannot
    read, such as a rating nobody asked for: the same events and messages wherever it runs."""
    if _previous_turn_was_unclear(tracker):
        return await hand_off(dispatcher, tracker, "low_nlu_confidence", "utter_handoff_unclear")
    latest = tracker.latest_message or {}
    # The classified intent and the whole ranking: get_intent_of_latest_message() gives neither.
    intent = (latest.get("intent") or {}).get("name")
    buttons = [{"title": title(choice), "payload": f"/{choice}"}
               for choice in clarification_choices(intent, latest.get("intent_ranking") or [])]
    dispatcher.utter_message(response="utter_out_of_scope" if intent == OUT_OF_SCOPE else "utter_clarify",
                             buttons=buttons)
    return []


class ActionClarify(SafeAction):
    """Two-stage fallback for every miss, a low-confidence reading or an out-of-scope request:
    the first miss says so and offers the likeliest topics and a person; a second miss in a row
    hands off, so nobody is stuck in a loop with a bot that does not understand them."""

    def name(self) -> str:
        return "action_clarify"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return await clarify(dispatcher, tracker)


class ActionDefaultFallback(SafeAction):
    """The dialogue policy is unsure what to do next: a person takes over."""

    def name(self) -> str:
        return "action_default_fallback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return await hand_off(dispatcher, tracker, "policy_unsure")
