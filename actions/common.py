"""Behaviour every custom action shares: a failure is answered, logged and never shown raw."""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.handing_off import hand_off

log = logging.getLogger(__name__)


class SafeAction(Action, abc.ABC):
    """An action whose unexpected errors hand the customer to a person.

    Without this, an exception in the action server makes Rasa log a stack trace and the
    customer sees nothing at all. When even the handoff fails (the database is down), the
    customer gets a polite message saying to try again.
    """

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            return await self.act(dispatcher, tracker, domain)
        except Exception:
            log.exception("action %s failed", self.name())
        dispatcher.messages.clear()
        try:
            return await hand_off(dispatcher, tracker, "action_failed")
        except Exception:
            log.exception("handoff after the failure of %s failed too", self.name())
            dispatcher.messages.clear()
            dispatcher.utter_message(response="utter_technical_problem")
            return []
