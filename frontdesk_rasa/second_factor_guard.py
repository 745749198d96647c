"""An NLU pipeline step that sends a password reset naming a second factor to the 2FA handoff.

The customer-voice training data taught the classifier that a "key" or "code" can be the
password, so "my security key is lost" and "lost access to my authenticator" drift towards a
reset. After the account-takeover guard (a takeover goes to security first), this step relabels a
reset that names a second factor (``frontdesk.second_factor``) as a lost second factor.
``intent_override`` records the intent replaced and the signal labels for the audit trail.
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

from frontdesk.second_factor import LOST_SECOND_FACTOR_INTENT, second_factor_signals
from frontdesk_rasa.account_takeover_guard import relabel


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SecondFactorGuard(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"guarded_intents": ["request_password_reset"]}

    def __init__(self, config: dict[str, Any]) -> None:
        self.guarded = frozenset(config["guarded_intents"])

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SecondFactorGuard:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if (message.get(INTENT) or {}).get("name") not in self.guarded:
                continue
            signals = second_factor_signals(message.get(TEXT))
            if signals:
                relabel(message, LOST_SECOND_FACTOR_INTENT, signals, "mandatory_category")
        return messages
