"""Hand the conversation to a person: record why, tell the customer, pause the bot."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.tracker_context import decision_context
from frontdesk.escalation import EscalationReason
from frontdesk.services import get_services

_REASON_BY_INTENT = {"report_lost_2fa": EscalationReason.LOST_SECOND_FACTOR}
_RESPONSE_BY_REASON = {EscalationReason.LOST_SECOND_FACTOR: "utter_handoff_lost_2fa"}


class ActionHandoff(SafeAction):
    def name(self) -> str:
        return "action_handoff"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        context = decision_context(tracker, self.name())
        reason = _REASON_BY_INTENT.get(context.intent or "", EscalationReason.CUSTOMER_ASKED)
        services = get_services()
        with services.db.transaction() as session:
            escalation_id = services.escalations.open(session, tracker.sender_id, reason)
            services.audit.record(
                session, context, "handoff.escalated", reason=reason.value, escalation_id=escalation_id
            )
        dispatcher.utter_message(response=_RESPONSE_BY_REASON.get(reason, "utter_handoff"))
        return [ConversationPaused()]
