"""The actions that hand the conversation to a person (the handoff itself is in
``actions.handing_off``): on request, the two-stage fallback (which answers from the help centre
first when an article fits, ``actions.knowledge``), the customer's verdict on that answer, and
the dialogue policy's fallback."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.handing_off import hand_off
from actions.knowledge import RESOLVED_FLOW, answer_with_article, answered_in_previous_turn, article_for, previous_turn
from actions.tracker_context import RESOLVED_FLOW_SLOT, decision_context
from frontdesk.bootstrap import get_services
from frontdesk.handoff.clarification import OUT_OF_SCOPE, PERSON_BUTTON, clarification_choices, title
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
    # The bot's reply to the previous message was a clarification; an article it answered with
    # (the same action) was an answer, not a miss.
    clarified = any(e.get("event") == "action" and e.get("name") == "action_clarify" for e in previous_turn(tracker))
    return clarified and answered_in_previous_turn(tracker) is None


async def clarify(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """The two-stage fallback (``ActionClarify``), also the answer to anything else the bot cannot
    read, such as a rating nobody asked for: the same events and messages wherever it runs."""
    if _previous_turn_was_unclear(tracker):
        return await hand_off(dispatcher, tracker, "low_nlu_confidence", "utter_handoff_unclear")
    if answer := article_for(tracker):
        return await answer_with_article(dispatcher, tracker, answer)
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


class ActionKnowledgeFeedback(SafeAction):
    """The customer's yes or no to "Did that help?". Yes: the bot resolved it (the rating asked
    after a resolved flow then applies). No: a person is offered, and the ticket will carry the
    article and the question. A yes or no that answers no article is as unclear as any message."""

    def name(self) -> str:
        return "action_knowledge_feedback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        shown = answered_in_previous_turn(tracker)
        if shown is None:
            return await clarify(dispatcher, tracker)
        helped = (tracker.latest_message or {}).get("intent", {}).get("name") == "affirm"
        services, context = get_services(), decision_context(tracker, self.name())
        await services.db.in_worker_thread(lambda session: services.audit.record(
            session, context, "knowledge.helped" if helped else "knowledge.not_helped", article=shown.get("article")))
        if helped:
            dispatcher.utter_message(response="utter_knowledge_helped")
            return [SlotSet(RESOLVED_FLOW_SLOT, RESOLVED_FLOW)]
        dispatcher.utter_message(response="utter_knowledge_not_helped", buttons=[PERSON_BUTTON])
        return []


class ActionDefaultFallback(SafeAction):
    """The dialogue policy is unsure what to do next: a person takes over."""

    def name(self) -> str:
        return "action_default_fallback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return await hand_off(dispatcher, tracker, "policy_unsure")
