"""An NLU pipeline step that sends a billing lookup with dispute or refund signals to a person.

"I was charged twice, why?" reads like "explain this charge": the classifier's neighbours share
the words. After the FallbackClassifier (and the account-takeover guard), this step looks for the
phrases in ``frontdesk.money_requests`` in messages read as a billing lookup and relabels them as
a dispute or a refund, the seed's mandatory human categories, so the rules hand them off to their
queues. ``intent_override`` records the intent replaced and the signal labels for the audit trail.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from frontdesk.billing_desk import LOOKUP_INTENTS
from frontdesk.money_requests import money_request
from frontdesk_rasa.account_takeover_guard import relabel


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class MoneyRequestGuard(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"guarded_intents": sorted(LOOKUP_INTENTS)}

    def __init__(self, config: dict[str, Any]) -> None:
        self.guarded = frozenset(config["guarded_intents"])

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> MoneyRequestGuard:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if (message.get(INTENT) or {}).get("name") not in self.guarded:
                continue
            found = money_request(message.get(TEXT))
            if found:
                intent, signals = found
                relabel(message, intent, signals, "mandatory_category")
        return messages
