"""Password reset: the form's e-mail validation and the action that requests the reset."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import SafeAction
from actions.handing_off import hand_off
from actions.tracker_context import RESOLVED_FLOW_SLOT, decision_context
from frontdesk.accounts.identity import extract_email
from frontdesk.bootstrap import get_services


class ActionAskAccountEmail(Action):
    """Asks for the address, and says what was wrong when asking again after a miss."""

    def name(self) -> str:
        return "action_ask_account_email"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        misses = int(tracker.get_slot("invalid_email_attempts") or 0)
        prompts = ("utter_ask_account_email", "utter_ask_account_email_again", "utter_ask_account_email_last_try")
        dispatcher.utter_message(response=prompts[min(misses, 2)])
        return []


class ValidatePasswordResetForm(FormValidationAction):
    def name(self) -> str:
        return "validate_password_reset_form"

    def validate_account_email(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        email = extract_email(value if isinstance(value, str) else None)
        if email:
            return {"account_email": email, "invalid_email_attempts": 0}
        # The form asks again; action_ask_account_email words the prompt by the number of misses.
        attempts = int(tracker.get_slot("invalid_email_attempts") or 0) + 1
        return {"account_email": None, "invalid_email_attempts": attempts}


class ActionRequestPasswordReset(SafeAction):
    def name(self) -> str:
        return "action_request_password_reset"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        email = extract_email(tracker.get_slot("account_email"))
        # The address is spent: clear it so a second request asks again instead of reusing it.
        events: list[EventType] = [SlotSet("account_email", None), SlotSet("invalid_email_attempts", 0)]
        if email is None:  # only reachable with a tampered slot; the form validates the address
            dispatcher.utter_message(response="utter_ask_account_email_again")
            return events
        services = get_services()
        context = decision_context(tracker, self.name())
        decision = await services.db.in_worker_thread(lambda session: services.password_reset.request_password_reset(
            session, email, context))
        if decision.escalate_conversation:
            return [*events, *await hand_off(dispatcher, tracker, "reset_rate_limited", "utter_handoff_rate_limited")]
        dispatcher.utter_message(
            response="utter_password_reset_sent", ttl_minutes=services.settings.reset.token_ttl_minutes
        )
        return [*events, SlotSet(RESOLVED_FLOW_SLOT, "password_reset")]
