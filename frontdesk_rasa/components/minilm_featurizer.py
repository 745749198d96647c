"""all-MiniLM-L6-v2 as a Rasa featurizer (the encoder itself: ``minilm``)."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from frontdesk_rasa.components import minilm
from frontdesk_rasa.components.sentence_encoder_featurizer import SentenceEncoderFeaturizer


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(SentenceEncoderFeaturizer):
    """all-MiniLM-L6-v2 (frontdesk_rasa.components.minilm): a 384-d vector per message."""

    SIZE = minilm.EMBEDDING_SIZE

    @staticmethod
    def load_encoder(threads: int) -> Any:
        return minilm.MiniLMEncoder(threads=threads)
