"""An NLU pipeline step that sends a password reset with takeover signals to security.

The classifier reads "someone changed my password, it wasn't me" as a password reset more often
than as a security incident: the words are a reset's words. In the closed beta most of the bot's
false positives were of this kind, a reset link sent where a security agent was needed. After the
FallbackClassifier, this step looks for the phrases in ``frontdesk.account_takeover`` in messages
read as a password reset and relabels them as a security incident, so the rules hand them off.

The relabelled message keeps the model's confidence; in the ranking the reset takes the
confidence the model gave security. ``intent_override`` says what happened: the intent it
replaced and the signal labels (never the text), for the audit trail.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from frontdesk.account_takeover import INTENT_OVERRIDE_KEY, account_takeover_signals


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class AccountTakeoverGuard(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"guarded_intents": ["request_password_reset"], "security_intent": "report_security_incident"}

    def __init__(self, config: dict[str, Any]) -> None:
        self.guarded = frozenset(config["guarded_intents"])
        self.security_intent = str(config["security_intent"])

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> AccountTakeoverGuard:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get("name") not in self.guarded:
                continue
            signals = account_takeover_signals(message.get(TEXT))
            if not signals:
                continue
            guarded, confidence = intent.get("name"), intent.get("confidence")
            ranking = message.get(INTENT_RANKING_KEY) or []
            security = next((r.get("confidence") for r in ranking if r.get("name") == self.security_intent), 0.0)
            # The two readings swap confidences, so the ranking stays a ranking: the runner-up
            # is what the model gave security, not a tie that reads as ambiguous.
            others = [{**r, "confidence": security} if r.get("name") == guarded else r
                      for r in ranking if r.get("name") != self.security_intent]
            others.sort(key=lambda r: -(r.get("confidence") or 0.0))
            relabelled = {"name": self.security_intent, "confidence": confidence}
            message.set(INTENT, relabelled, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [relabelled, *others], add_to_output=True)
            message.set(INTENT_OVERRIDE_KEY, {"from": guarded, "confidence": confidence,
                                              "signals": signals}, add_to_output=True)
        return messages
