"""Billing: verified lookups, the e-mail code verification form, and triaged handoffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import SafeAction
from actions.handing_off import hand_off
from actions.session import VERIFIED_UNTIL_SLOT, proven_customer
from actions.tracker_context import RESOLVED_FLOW_SLOT, decision_context
from frontdesk.accounts.identity import extract_email
from frontdesk.accounts.verification import CheckResult, CodeCheck, CodeRequest
from frontdesk.billing.desk import LOOKUP_INTENTS
from frontdesk.bootstrap import get_services

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_PENDING = ("pending_billing_intent",)


def _asked(tracker: Tracker, intent: str | None) -> dict[str, Any] | None:
    """The parse data of the latest customer message with this intent: the question itself."""
    # An earlier message's parse data: rasa-sdk's helpers only read the latest one.
    for event in reversed(tracker.events):
        parse = event.get("parse_data") or {}
        if event.get("event") == "user" and (parse.get("intent") or {}).get("name") == intent:
            return {**parse, "text": event.get("text")}
    return None


class ActionBillingLookup(SafeAction):
    """Answers a billing question for a verified customer; asks an unverified one to verify
    first (the question waits in a slot); hands off what it cannot answer, triaged."""

    def name(self) -> str:
        return "action_billing_lookup"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        # Not get_intent_of_latest_message(): it reads intent_ranking[0], not the (relabelled) intent.
        intent = (message.get("intent") or {}).get("name")
        if intent not in LOOKUP_INTENTS:  # back from the verification form: the question asked before
            intent = tracker.get_slot("pending_billing_intent")
            message = _asked(tracker, intent) or message
        question = message.get("text") or ""
        customer_id, rebound = await proven_customer(tracker, self.name())
        clear = [SlotSet(slot, None) for slot in (*_PENDING, "billing_email", "otp_code")]
        if intent not in LOOKUP_INTENTS:
            dispatcher.utter_message(response="utter_ask_how_can_help")
            return [*rebound, *clear]
        if not customer_id:
            if tracker.get_slot("otp_code") == "failed":
                dispatcher.utter_message(response="utter_billing_verification_failed")
                return [*rebound, *clear, *await hand_off(dispatcher, tracker, "not_verified", message=message,
                                                    customer_id=None)]
            # The rules start the verification form next; the question waits in the slot. When the
            # binding ended just now (the turn began verified), the rules took the verified path:
            # the form is started here instead.
            follow = [FollowupAction("billing_verification_form")] if rebound else []
            return [*rebound, SlotSet("pending_billing_intent", intent), *follow]
        services = get_services()
        context = decision_context(tracker, self.name())
        answer = await services.db.in_worker_thread(lambda session: services.billing_desk.answer(
            session, intent, question, customer_id, context))
        dispatcher.utter_message(text=answer.text)
        if not answer.resolved:
            return [*rebound, *clear, *await hand_off(dispatcher, tracker, "billing_unresolved", message=message,
                                                customer_id=customer_id)]
        return [*rebound, *clear, SlotSet(RESOLVED_FLOW_SLOT, "billing")]


class ActionBillingHandoff(SafeAction):
    """Billing requests only a person can do (invoice changes, plan changes, tax, pricing):
    triaged to the specialist queue."""

    def name(self) -> str:
        return "action_billing_handoff"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        customer_id, rebound = await proven_customer(tracker, self.name())
        if customer_id:  # a verified customer cannot get a person to act on someone else's invoice
            services = get_services()
            text, context = (tracker.latest_message or {}).get("text") or "", decision_context(tracker, self.name())
            refusal = await services.db.in_worker_thread(lambda session: services.billing_desk.refuse_foreign_invoice(
                session, text, customer_id, context))
            if refusal is not None:
                dispatcher.utter_message(text=refusal.text)
                return rebound
        return [*rebound, *await hand_off(dispatcher, tracker, "billing_needs_person", customer_id=customer_id)]


class ValidateBillingVerificationForm(FormValidationAction):
    def name(self) -> str:
        return "validate_billing_verification_form"

    async def validate_billing_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
    ) -> dict[str, Any]:
        if value is None:  # the slot was only cleared, nothing typed: no complaint
            return {"billing_email": None}
        email = extract_email(value if isinstance(value, str) else None)
        if email is None:
            dispatcher.utter_message(response="utter_billing_email_invalid")
            return {"billing_email": None}
        services = get_services()
        context = decision_context(tracker, self.name())
        outcome = await services.db.in_worker_thread(lambda session: services.verification.request_code(
            session, email, context))
        if outcome is CodeRequest.RATE_LIMITED:
            dispatcher.utter_message(response="utter_otp_too_many_codes")
        return {"billing_email": email}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
    ) -> dict[str, Any]:
        if value is None:
            return {"otp_code": None}
        digits = "".join(ch for ch in str(value) if ch.isdigit())
        if len(digits) != 6:
            dispatcher.utter_message(response="utter_otp_code_format")  # not counted as an attempt
            return {"otp_code": None}
        services = get_services()
        context = decision_context(tracker, self.name())

        def check(session: Session) -> CheckResult:  # a new code for an expired one: the same transaction
            checked = services.verification.check_code(session, digits, context)
            if checked.outcome is CodeCheck.EXPIRED:
                services.verification.request_code(session, tracker.get_slot("billing_email") or "", context)
            return checked

        result = await services.db.in_worker_thread(check)
        if result.outcome is CodeCheck.VERIFIED:  # verified here: no token's expiry applies
            return {"otp_code": "verified", "customer_id": result.account_id, VERIFIED_UNTIL_SLOT: None}
        if result.outcome is CodeCheck.WRONG:
            dispatcher.utter_message(response="utter_otp_code_wrong", attempts_left=result.attempts_left)
            return {"otp_code": None}
        if result.outcome is CodeCheck.EXPIRED:
            dispatcher.utter_message(response="utter_otp_code_expired")
            return {"otp_code": None}
        return {"otp_code": "failed"}  # locked after too many tries, or nothing pending
