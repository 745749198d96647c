"""An NLU pipeline step that sends a password reset with takeover signals to security.

The classifier reads "someone changed my password, it wasn't me" as a password reset more often
than as a security incident: the words are a reset's words. In the closed beta most of the bot's
false positives were of this kind, a reset link sent where a security agent was needed. After the
FallbackClassifier, this step looks for the phrases in ``frontdesk.password_reset.account_takeover`` in messages
read as a password reset and relabels them as a security incident, so the rules hand them off.

The relabelled message keeps the model's confidence; in the ranking the reset takes the
confidence the model gave security. ``intent_override`` says what happened: the intent it
replaced, the signal labels (never the text) and the handoff reason, for the audit trail.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from frontdesk.password_reset.account_takeover import account_takeover_signals
from frontdesk_rasa.components.relabelling_guard import RelabellingGuard


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class AccountTakeoverGuard(RelabellingGuard):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"guarded_intents": ["request_password_reset"], "security_intent": "report_security_incident"}

    def reading(self, text: str | None) -> tuple[str, list[str], str] | None:
        signals = account_takeover_signals(text)
        return (str(self.config["security_intent"]), signals, "account_takeover_signal") if signals else None
