"""An NLU pipeline step that sends a password reset naming a second factor to the 2FA handoff.

The customer-voice training data taught the classifier that a "key" or "code" can be the
password, so "my security key is lost" and "lost access to my authenticator" drift towards a
reset. After the account-takeover guard (a takeover goes to security first), this step relabels a
reset that names a second factor (``frontdesk.password_reset.second_factor``) as a lost second factor.
``intent_override`` records the intent replaced and the signal labels for the audit trail.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from frontdesk.password_reset.second_factor import LOST_SECOND_FACTOR_INTENT, second_factor_signals
from frontdesk_rasa.components.relabelling_guard import RelabellingGuard


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SecondFactorGuard(RelabellingGuard):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"guarded_intents": ["request_password_reset"]}

    def reading(self, text: str | None) -> tuple[str, list[str], str] | None:
        signals = second_factor_signals(text)
        return (LOST_SECOND_FACTOR_INTENT, signals, "mandatory_category") if signals else None
