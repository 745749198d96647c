"""An NLU pipeline step that sends a billing lookup with dispute or refund signals to a person.

"I was charged twice, why?" reads like "explain this charge": the classifier's neighbours share
the words. After the FallbackClassifier (and the account-takeover guard), this step looks for the
phrases in ``frontdesk.billing.money_requests`` in messages read as a billing lookup and relabels them as
a dispute or a refund, the seed's mandatory human categories, so the rules hand them off to their
queues. ``intent_override`` records the intent replaced and the signal labels for the audit trail.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from frontdesk.billing.desk import LOOKUP_INTENTS
from frontdesk.billing.money_requests import money_request
from frontdesk_rasa.components.relabelling_guard import RelabellingGuard


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class MoneyRequestGuard(RelabellingGuard):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"guarded_intents": sorted(LOOKUP_INTENTS)}

    def reading(self, text: str | None) -> tuple[str, list[str], str] | None:
        found = money_request(text)
        return (found[0], found[1], "mandatory_category") if found else None
