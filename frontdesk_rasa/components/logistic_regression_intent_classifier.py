"""A linear intent classifier for Rasa's NLU pipeline: multinomial logistic regression on the
sentence-level features the featurizers before it produce (the sentence encoder's 512-d vector,
spaCy's mean word vector, word and character n-gram counts).

Why not DIET: on our held-out messages, DIET on the same features had the right intent on top
for 87% of them; this classifier 95%, with fewer customers asked to rephrase and fewer wrong
readings at every threshold. On BANKING77 (``make bench-nlu``) it trains in a couple of minutes
instead of over an hour and is more accurate than Rasa's default pipeline. A linear model on a
good sentence encoder is the classic strong baseline for few-shot intent data (Casanueva et al.
2020); DIET's extra capacity overfits 1,600 examples. docs/nlu.md has the numbers.

Each featurizer's sentence vector is scaled to unit length before they are put side by side, so
no featurizer dominates by the size of its numbers. The trained weights are stored as plain numpy
arrays and JSON (no pickle: loading a model never runs code from it) and applied block by block
with numpy, without scikit-learn at inference time.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"
META_FILE = "classifier.json"


def _unit_rows(block: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return scipy.sparse.csr_matrix(scipy.sparse.diags(1.0 / norms) @ block)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LogisticRegressionIntentClassifier(GraphComponent, IntentClassifier):
    """Predicts the intent and a ranking of the likeliest ones, with calibrated probabilities
    that the FallbackClassifier's threshold can act on."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Inverse regularisation strength; higher trusts the training data more and gives
            # more confident probabilities (chosen on the held-out set: docs/nlu.md).
            "C": 30.0,
            "max_iter": 1000,
            # None or "balanced" (weights intents by how rare their examples are).
            "class_weight": None,
            # Logits are divided by it before the softmax (temperature scaling, Guo et al. 2017):
            # fitted on the held-out set so that a confidence of 0.7 is right about 70% of the
            # time, and the fallback threshold can be chosen by cost
            # (docs/decisions/0002-customer-understanding.md, "Confidence is calibrated").
            "temperature": 1.0,
            # Featurizer aliases to use; empty means every featurizer's sentence features.
            "featurizers": [],
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 intents: list[str] | None = None, origins: list[tuple[str, int]] | None = None,
                 coef: np.ndarray | None = None, intercept: np.ndarray | None = None) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.intents = intents or []
        # (featurizer alias, width) in the order the blocks are concatenated: fixed at training
        # time, so a message missing one featurizer's output still lines up.
        self.origins = origins or []
        self.coef = coef
        self.intercept = intercept
        self.temperature = float(config.get("temperature", 1.0))

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> LogisticRegressionIntentClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get("C", 1.0)) <= 0 or int(config.get("max_iter", 1)) < 1:
            raise ValueError("LogisticRegressionIntentClassifier: C must be > 0 and max_iter ≥ 1")
        if float(config.get("temperature", 1.0)) <= 0:
            raise ValueError("LogisticRegressionIntentClassifier: temperature must be > 0")
        if config.get("class_weight") not in (None, "balanced"):
            raise ValueError("LogisticRegressionIntentClassifier: class_weight is null or 'balanced'")

    def _sentence_blocks(self, message: Message) -> dict[str, scipy.sparse.csr_matrix]:
        wanted = set(self._config.get("featurizers") or [])
        blocks: dict[str, scipy.sparse.csr_matrix] = {}
        # Some Rasa featurizers (SpacyFeaturizer) name themselves by their alias, None unless
        # configured: a count per name keeps two such blocks apart, in pipeline order.
        seen: Counter[str] = Counter()
        for features in message.features:
            if features.attribute != TEXT or features.type != FEATURE_TYPE_SENTENCE:
                continue
            if wanted and features.origin not in wanted:
                continue
            origin = str(features.origin)
            blocks[f"{origin}#{seen[origin]}"] = scipy.sparse.csr_matrix(features.features, dtype=np.float64)
            seen[origin] += 1
        return blocks

    def _matrix(self, per_message: list[dict[str, scipy.sparse.csr_matrix]]) -> scipy.sparse.csr_matrix:
        columns = []
        for origin, width in self.origins:
            rows = [blocks[origin] if origin in blocks and blocks[origin].shape[1] == width
                    else scipy.sparse.csr_matrix((1, width)) for blocks in per_message]
            columns.append(_unit_rows(scipy.sparse.vstack(rows, format="csr")))
        return scipy.sparse.hstack(columns, format="csr")

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.linear_model import LogisticRegression

        featurized = [(m, blocks) for m in training_data.intent_examples if (blocks := self._sentence_blocks(m))]
        intents = sorted({m.get(INTENT) for m, _ in featurized})
        if len(intents) < 2:
            logger.warning("LogisticRegressionIntentClassifier needs at least two intents; not trained.")
            return self._resource
        widths: dict[str, int] = {}
        for _, blocks in featurized:
            for origin, block in blocks.items():
                widths.setdefault(origin, block.shape[1])
        self.origins = sorted(widths.items())
        X = self._matrix([blocks for _, blocks in featurized])
        index = {intent: i for i, intent in enumerate(intents)}
        y = np.array([index[m.get(INTENT)] for m, _ in featurized])
        model = LogisticRegression(C=float(self._config["C"]), max_iter=int(self._config["max_iter"]),
                                   class_weight=self._config["class_weight"])
        with warnings.catch_warnings():
            # lbfgs says when it stopped at max_iter; the held-out figures say whether that matters.
            warnings.simplefilter("ignore")
            model.fit(X, y)
        coef, intercept = model.coef_, model.intercept_
        if len(intents) == 2:  # scikit-learn keeps one row for two classes: softmax([0, s]) = sigmoid(s)
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        self.intents = intents
        self.coef = coef.T.astype(np.float32)  # features by intents
        self.intercept = intercept.astype(np.float32)
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        trained = self.coef is not None and self.intercept is not None
        for message in messages:
            blocks = self._sentence_blocks(message) if trained else {}
            if not blocks:  # not trained, or a message without text
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            row = _softmax(self.logits(blocks)[None, :] / self.temperature)[0]
            order = np.argsort(-row)[:LABEL_RANKING_LENGTH]
            ranking = [{"name": self.intents[i], "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def logits(self, blocks: dict[str, scipy.sparse.csr_matrix]) -> np.ndarray:
        """One message's scores: what ``self._matrix([blocks]) @ self.coef + self.intercept``
        computes, block by block. Building that one-row sparse matrix (scipy's stack, diagonal and
        format checks) took 2-3 ms a message; the arithmetic takes microseconds."""
        scores = self.intercept.astype(np.float64)
        offset = 0
        for origin, width in self.origins:
            block = blocks.get(origin)
            if block is not None and not block.has_canonical_format:
                # One entry per column: .data and .indices are read directly below.
                block = scipy.sparse.csr_matrix(block, dtype=np.float64, copy=True)
                block.sum_duplicates()
            if block is not None and block.shape[1] == width and block.nnz:
                norm = np.sqrt(block.data @ block.data)
                if norm > 0:  # a zero block stays zero, as _unit_rows leaves it
                    scores = scores + (block.data / norm) @ self.coef[offset + block.indices]
            offset += width
        return scores

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / WEIGHTS_FILE, coef=self.coef, intercept=self.intercept)
            (directory / META_FILE).write_text(json.dumps(
                {"intents": self.intents, "origins": [[o, w] for o, w in self.origins]}))

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LogisticRegressionIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / META_FILE).read_text())
                with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as weights:
                    coef, intercept = weights["coef"], weights["intercept"]
        except (ValueError, FileNotFoundError):
            # Rasa's convention: a component that was not trained loads empty and says so.
            logger.warning("LogisticRegressionIntentClassifier has no trained weights; it will not classify.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, meta["intents"],
                   [(o, int(w)) for o, w in meta["origins"]], coef, intercept)
