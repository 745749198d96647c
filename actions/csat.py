"""Customer satisfaction: the rating asked for when an agent hands the conversation back, and
once after a flow the bot resolved on its own (when the customer says thanks or goodbye)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.handoff import clarify
from actions.tracker_context import RESOLVED_FLOW_SLOT, decision_context
from frontdesk.bootstrap import get_services
from frontdesk.insights.csat import parse_rating

# The flow the bot asked the customer to rate, once a session.
SURVEY_SLOT = "csat_survey_flow"
# Set when a rating is stored: the question is answered (an unreadable answer leaves it open).
ANSWERED_SLOT = "csat_answered"
AGENT_SURVEY = "utter_ask_csat"


def _this_session(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """The session's events, newest first (a restart starts afresh too: it clears the slots)."""
    # Not events_after_latest_restart(): a session start ends the walk too.
    for event in reversed(tracker.events):
        if event.get("event") in ("session_started", "restart"):
            return
        yield event


def survey_pending(tracker: Tracker) -> tuple[bool, str | None]:
    """Whether a rating question is open and, when it followed a flow the bot resolved, which
    flow (None: the rating of an agent's handoff)."""
    for event in _this_session(tracker):
        kind, name = event.get("event"), event.get("name")
        if kind == "slot" and name == ANSWERED_SLOT and event.get("value"):
            return False, None
        if kind == "action" and name == AGENT_SURVEY:
            return True, None
        if kind == "slot" and name == SURVEY_SLOT and event.get("value"):
            return True, str(event["value"])
    return False, None


class ActionRecordCsat(SafeAction):
    def name(self) -> str:
        return "action_record_csat"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # csat_score only comes from the rating buttons' payloads, which carry no role or group.
        entity = next(tracker.get_latest_entity_values("csat_score"), None)
        score = parse_rating(str(entity)) if entity is not None else parse_rating(
            (tracker.latest_message or {}).get("text"))
        pending, flow = survey_pending(tracker)
        if not pending or score is None:
            # A number out of the blue is not a rating: treat it like any unclear message.
            return await clarify(dispatcher, tracker)
        services = get_services()
        await services.db.in_worker_thread(lambda session: services.csat.record(
            session, tracker.sender_id, score, flow=flow))
        dispatcher.utter_message(response="utter_thanks_for_rating")
        return [SlotSet(ANSWERED_SLOT, True)]


class ActionWrapUp(SafeAction):
    """Thanks or goodbye. When the bot resolved a flow on its own in this session, with no
    handoff and no rating asked yet, the reply asks for a rating too: deflected contacts get
    rated, not only those an agent handled, so deflection can be checked against CSAT."""

    def name(self) -> str:
        return "action_wrap_up"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        flow = tracker.get_slot(RESOLVED_FLOW_SLOT)
        handed_off_or_asked = any(
            event.get("event") == "pause" or (event.get("event") == "action" and event.get("name") == AGENT_SURVEY)
            for event in _this_session(tracker))
        if flow and not tracker.get_slot(SURVEY_SLOT) and not handed_off_or_asked:
            services = get_services()
            context = decision_context(tracker, self.name())
            await services.db.in_worker_thread(lambda session: services.csat.ask_after_bot(session, context, str(flow)))
            dispatcher.utter_message(response="utter_ask_csat_after_bot")
            return [SlotSet(SURVEY_SLOT, flow)]
        # The classified intent: get_intent_of_latest_message() reads the ranking and skips nlu_fallback.
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        dispatcher.utter_message(response="utter_goodbye" if intent == "goodbye" else "utter_you_are_welcome")
        return []
