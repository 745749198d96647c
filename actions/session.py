"""The customer a conversation is bound to: set at session start when the support site vouches for
a logged-in customer (tickets then carry their profile, billing questions are answered), and
re-checked whenever it is used.

The chat channel has already checked the customer token and stored only its attestation
(frontdesk/accounts/customer_token.py); here the attestation's MAC, conversation and expiry are checked
and the account looked up. A binding from a signed token lasts only while it is proven
(``proven_customer``): until the token expires, and not after a later message's page says
nobody, or someone else, is signed in."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_context import decision_context
from frontdesk.accounts.customer_token import ATTESTATION_KEY, Proof
from frontdesk.bootstrap import get_services

log = logging.getLogger(__name__)

# Until when (unix seconds) the signed token behind ``customer_id`` vouches for it; empty when
# the customer was verified in the conversation itself (an e-mail code).
VERIFIED_UNTIL_SLOT = "customer_verified_until"


def _attestation(metadata: object) -> object:
    return metadata.get(ATTESTATION_KEY) if isinstance(metadata, dict) else None


def binding_events(proof: Proof) -> list[EventType]:
    return [SlotSet("customer_id", proof.customer_id), SlotSet(VERIFIED_UNTIL_SLOT, proof.valid_until)]


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        attestation = _attestation(tracker.get_slot("session_started_metadata"))
        if attestation is not None:
            services = get_services()
            try:
                context = decision_context(tracker, self.name())
                proof = await services.db.in_worker_thread(lambda session: services.customer_binding.bind(
                    session, attestation, context))
            except Exception:
                # The conversation goes on anonymously: nothing the bot shows needs the binding.
                log.exception("binding the customer failed")
                proof = Proof(None)
            if proof.customer_id:
                events += binding_events(proof)
        events.append(ActionExecuted("action_listen"))
        return events


async def proven_customer(tracker: Tracker, action: str) -> tuple[str | None, list[EventType]]:
    """The verified customer for the latest message, and the slot events when that changed (the
    token expired, the page signed out or signed in as someone else)."""
    customer_id = tracker.get_slot("customer_id")
    if not customer_id:
        return None, []  # a binding starts with the session (or an e-mail code), not mid-way
    until = tracker.get_slot(VERIFIED_UNTIL_SLOT)
    current = Proof(customer_id, float(until) if isinstance(until, int | float) else None)
    attestation = _attestation((tracker.latest_message or {}).get("metadata"))  # no rasa-sdk helper for metadata
    if attestation is None and current.valid_until is None:
        return customer_id, []  # verified by a code in this conversation: nothing to re-check
    services = get_services()
    context = decision_context(tracker, action)
    proof = await services.db.in_worker_thread(lambda session: services.customer_binding.recheck(
        session, current, attestation, context))
    return proof.customer_id, ([] if proof == current else binding_events(proof))
