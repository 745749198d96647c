"""What every guard shares: an NLU pipeline step after the classifier that relabels a message
whose text shows it is something else, and says so for the audit trail."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from frontdesk.password_reset.account_takeover import INTENT_OVERRIDE_KEY


class RelabellingGuard(GraphComponent, IntentClassifier):
    """The shape every guard shares: a message read as one of ``guarded_intents`` whose text
    ``reading`` finds signals in is relabelled (``relabel``). Subclasses say what they look for."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.guarded = frozenset(config["guarded_intents"])

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> RelabellingGuard:
        return cls(config)

    def reading(self, text: str | None) -> tuple[str, list[str], str] | None:
        """(the intent it really is, the signal labels, the handoff reason), or None."""
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if (message.get(INTENT) or {}).get("name") not in self.guarded:
                continue
            if found := self.reading(message.get(TEXT)):
                relabel(message, *found)
        return messages


def relabel(message: Message, intent: str, signals: list[str], reason: str) -> None:
    """Give ``message`` the reading ``intent``, with the model's confidence, and say so in
    ``INTENT_OVERRIDE_KEY`` (the intent replaced, the signal labels and the handoff reason)."""
    current = message.get(INTENT) or {}
    guarded, confidence = current.get("name"), current.get("confidence")
    ranking = message.get(INTENT_RANKING_KEY) or []
    replaced = next((r.get("confidence") for r in ranking if r.get("name") == intent), 0.0)
    # The two readings swap confidences, so the ranking stays a ranking: the runner-up is what
    # the model gave the new reading, not a tie that reads as ambiguous.
    others = [{**r, "confidence": replaced} if r.get("name") == guarded else r
              for r in ranking if r.get("name") != intent]
    others.sort(key=lambda r: -(r.get("confidence") or 0.0))
    relabelled = {"name": intent, "confidence": confidence}
    message.set(INTENT, relabelled, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [relabelled, *others], add_to_output=True)
    message.set(INTENT_OVERRIDE_KEY, {"from": guarded, "confidence": confidence, "signals": signals,
                                      "reason": reason}, add_to_output=True)
