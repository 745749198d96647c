"""The customer's rating after an agent hands the conversation back to the bot."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.handoff import ActionClarify
from frontdesk.csat import parse_rating
from frontdesk.services import get_services


def _survey_pending(tracker: Tracker) -> bool:
    """True when the bot asked for a rating and none has been recorded since."""
    for event in reversed(tracker.events):
        if event.get("event") == "action" and event.get("name") == "action_record_csat":
            return False
        if event.get("event") == "action" and event.get("name") == "utter_ask_csat":
            return True
        if event.get("event") == "session_started":
            return False
    return False


class ActionRecordCsat(SafeAction):
    def name(self) -> str:
        return "action_record_csat"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        entity = next((e.get("value") for e in latest.get("entities") or [] if e.get("entity") == "csat_score"), None)
        score = parse_rating(str(entity)) if entity is not None else parse_rating(latest.get("text"))
        if not _survey_pending(tracker) or score is None:
            # A number out of the blue is not a rating: treat it like any unclear message.
            return await ActionClarify().act(dispatcher, tracker, domain)
        services = get_services()
        with services.db.transaction() as session:
            services.csat.record(session, tracker.sender_id, score)
        dispatcher.utter_message(response="utter_thanks_for_rating")
        return []
