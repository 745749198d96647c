"""Session start: when the support site vouches for a logged-in customer, bind the conversation
to that customer for this session (tickets then carry their profile).

The chat channel has already checked the customer token and stored only its attestation
(frontdesk/customer_token.py); here the attestation's MAC, conversation and expiry are checked
and the account looked up."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_context import decision_context
from frontdesk.customer_token import ATTESTATION_KEY
from frontdesk.services import get_services

log = logging.getLogger(__name__)


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata") or {}
        attestation = metadata.get(ATTESTATION_KEY) if isinstance(metadata, dict) else None
        if attestation is not None:
            services = get_services()
            try:
                with services.db.transaction() as session:
                    customer_id = services.customer_binding.bind(
                        session, attestation, decision_context(tracker, self.name()))
            except Exception:
                # The conversation goes on anonymously: nothing the bot shows needs the binding.
                log.exception("binding the customer failed")
                customer_id = None
            if customer_id:
                events.append(SlotSet("customer_id", customer_id))
        events.append(ActionExecuted("action_listen"))
        return events
