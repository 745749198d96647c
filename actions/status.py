"""Status updates: where the verified customer's own tickets stand, whether the service is down,
and the greeting that mentions an open incident. The facts and the words come from
``frontdesk.status``; these adapters read the tracker and send them."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SafeAction
from actions.session import proven_customer
from actions.tracker_context import RESOLVED_FLOW_SLOT, decision_context
from frontdesk.bootstrap import get_services
from frontdesk.handoff.clarification import PERSON_BUTTON
from frontdesk.status.replies import (
    incident_notice,
    reference_in,
    service_reply,
    ticket_reply,
    tickets_reply,
    unknown_ticket_reply,
)


class ActionTicketStatus(SafeAction):
    """"What's happening with my ticket?" Only for a verified customer and only their own tickets:
    someone else's reference gets the same reply as one that does not exist."""

    def name(self) -> str:
        return "action_ticket_status"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        customer_id, rebound = await proven_customer(tracker, self.name())
        if not customer_id:
            dispatcher.utter_message(response="utter_ticket_status_sign_in", buttons=[PERSON_BUTTON])
            return rebound
        text = (tracker.latest_message or {}).get("text")
        reference = next(tracker.get_latest_entity_values("ticket_reference"), None) or reference_in(text)
        services, context = get_services(), decision_context(tracker, self.name())

        def look_up(session: Any) -> tuple[str, bool]:
            if reference:
                found = services.ticket_status.status_of(session, customer_id, reference)
                reply = ticket_reply(found) if found else unknown_ticket_reply(reference)
            else:
                found_any = services.ticket_status.latest_for(session, customer_id)
                found, reply = (found_any[0] if found_any else None), tickets_reply(found_any)
            # Whether a ticket was found, never which reference was asked for (it may be another's).
            services.audit.record(session, context, "ticket_status.answered", found=found is not None,
                                  with_reference=reference is not None)
            return reply, found is not None

        reply, found = await services.db.in_worker_thread(look_up)
        dispatcher.utter_message(text=reply, buttons=[] if found else [PERSON_BUTTON])
        return [*rebound, SlotSet(RESOLVED_FLOW_SLOT, "ticket_status")] if found else rebound


class ActionServiceStatus(SafeAction):
    """"Is it down?" From the configured status source; a feed that does not answer gives what it
    said last, with its time, never an error."""

    def name(self) -> str:
        return "action_service_status"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        services, context = get_services(), decision_context(tracker, self.name())

        def look_up(session: Any) -> tuple[str, bool]:
            status = services.status.current()
            services.audit.record(session, context, "service_status.answered", indicator=status.indicator,
                                  stale=status.stale, incidents=len(status.incidents))
            return service_reply(status), status.stale

        reply, stale = await services.db.in_worker_thread(look_up)
        dispatcher.utter_message(text=reply, buttons=[PERSON_BUTTON])
        # Answered from a live status: the bot resolved it (a stale one may need a person).
        return [] if stale else [SlotSet(RESOLVED_FLOW_SLOT, "service_status")]


class ActionGreet(SafeAction):
    """The greeting, and a heads-up while an incident is open."""

    def name(self) -> str:
        return "action_greet"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_greet")
        services = get_services()
        if notice := incident_notice(await asyncio.to_thread(services.status.current)):
            dispatcher.utter_message(text=notice)
        return []
