"""Session start: when the support site vouches for a logged-in customer, bind the conversation
to that customer for this session (tickets then carry their profile)."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_context import decision_context
from frontdesk.services import get_services

log = logging.getLogger(__name__)

# The key the widget (socket.io customData) or a REST client ("metadata") uses for the token.
CUSTOMER_TOKEN_KEY = "customer_token"  # noqa: S105 - a metadata key, not a secret


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata") or {}
        token = metadata.get(CUSTOMER_TOKEN_KEY) if isinstance(metadata, dict) else None
        if token is not None:
            services = get_services()
            try:
                with services.db.transaction() as session:
                    customer_id = services.customer_binding.bind(
                        session, token, decision_context(tracker, self.name()))
            except Exception:
                # The conversation goes on anonymously: nothing the bot shows needs the binding.
                log.exception("binding the customer token failed")
                customer_id = None
            if customer_id:
                events.append(SlotSet("customer_id", customer_id))
        events.append(ActionExecuted("action_listen"))
        return events
