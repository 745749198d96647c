"""The knowledge-base retriever on its own: trained on a small help centre with the real sentence
encoders, it ranks the article that answers a question, stores and reloads its index, retrains
when an article changes, and refuses a broken article by file and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from frontdesk.knowledge.answering import KNOWLEDGE_KEY
from frontdesk.knowledge.articles import ArticleError
from frontdesk_rasa.components.knowledge_base_retriever import KnowledgeBaseRetriever
from frontdesk_rasa.components.minilm_featurizer import MiniLMFeaturizer
from frontdesk_rasa.components.universal_sentence_encoder_featurizer import UniversalSentenceEncoderFeaturizer

CONTEXT = ExecutionContext(GraphSchema({}), node_name="test")
ARTICLES = {
    "export-data": ("How do I export my data?", "Admins export every record from Settings → Data → Export, as CSV "
                    "or JSON files.", "## Large exports\n\nExports over 1 GB arrive as a zip file by e-mail."),
    "mobile-app": ("Is there a mobile app?", "Yes: Frontdesk for iPhone and Android, free in the App Store and on "
                   "Google Play.", "## Offline\n\nRecent records stay available without a connection."),
    "api-rate-limits": ("What are the API rate limits?", "Each API key may make 100 requests per second; above "
                        "that the API answers 429 Too Many Requests.", "## Raising the limit\n\nEnterprise plans "
                        "can ask for more."),
}


def write_kb(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for article_id, (title, answer, body) in ARTICLES.items():
        (directory / f"{article_id}.md").write_text(
            f"---\nid: {article_id}\ntitle: {title}\nurl: https://help.frontdesk.example/articles/{article_id}\n"
            f"tags: [test]\nupdated: 2026-11-30\naudience: everyone\n---\n{answer}\n\n{body}\n", encoding="utf-8")
    return directory


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    return write_kb(tmp_path / "kb")


def retriever(storage: LocalModelStorage, kb: Path, **config: object) -> KnowledgeBaseRetriever:
    return KnowledgeBaseRetriever.create({**KnowledgeBaseRetriever.get_default_config(), "kb_dir": str(kb),
                                          "threshold": 0.2, **config}, storage, Resource("kb"), CONTEXT)


def found(component: KnowledgeBaseRetriever, text: str, featurized: bool = False) -> dict | None:
    message = Message(data={TEXT: text})
    if featurized:  # as in the pipeline: the featurizers' vectors, named after their nodes
        for featurizer in (UniversalSentenceEncoderFeaturizer, MiniLMFeaturizer):
            featurizer({**featurizer.get_default_config(), "alias": None}, f"run_{featurizer.__name__}2").process(
                [message])
    component.process([message])
    return message.get(KNOWLEDGE_KEY)


def test_the_article_that_answers_ranks_first_and_is_the_answer_above_the_threshold(tmp_path, kb):
    (tmp_path / "model").mkdir()
    storage = LocalModelStorage(tmp_path / "model")
    component = retriever(storage, kb)
    resource = component.train(TrainingData())
    cases = {"can i get all our records out as a spreadsheet?": "export-data",
             "do you have an app for my phone": "mobile-app",
             "we keep getting error 429 from your endpoints": "api-rate-limits"}
    for question, article in cases.items():
        result = found(component, question)
        assert result["ranking"][0]["article"] == article
        assert result["answer"]["article"] == article and result["answer"]["url"].endswith(article)
        assert result["answer"]["text"] == ARTICLES[article][1]
        assert result["threshold"] == 0.2
        # The featurizers' vectors give the same scores as encoding the message afresh.
        assert found(component, question, featurized=True)["ranking"] == pytest.approx(result["ranking"])
    weak = found(component, "what's the weather like in lisbon tomorrow")
    assert weak["answer"] is None and weak["ranking"][0]["score"] < 0.2
    assert found(component, "/affirm") is None and found(component, "   ") is None  # a button, nothing

    loaded = KnowledgeBaseRetriever.load({**component._config}, storage, resource, CONTEXT)
    assert found(loaded, "do you have an app for my phone") == found(component, "do you have an app for my phone")
    with storage.read_from(resource) as directory, np.load(directory / "passages.npz", allow_pickle=False) as stored:
        assert set(stored.files) == {"passage_article", "UniversalSentenceEncoderFeaturizer", "MiniLMFeaturizer"}


def test_an_untrained_retriever_loads_empty_and_answers_nothing(tmp_path, kb):
    (tmp_path / "model").mkdir()
    storage = LocalModelStorage(tmp_path / "model")
    empty = KnowledgeBaseRetriever.load(KnowledgeBaseRetriever.get_default_config(), storage, Resource("none"), CONTEXT)
    assert found(empty, "is there a mobile app?") is None


def test_editing_an_article_changes_the_fingerprint_so_training_runs_again(kb, tmp_path):
    config = {"kb_dir": str(kb)}
    before = KnowledgeBaseRetriever.fingerprint_addon(config)
    assert KnowledgeBaseRetriever.fingerprint_addon(config) == before
    path = kb / "mobile-app.md"
    path.write_text(path.read_text().replace("free", "free of charge"))
    assert KnowledgeBaseRetriever.fingerprint_addon(config) != before
    assert KnowledgeBaseRetriever.fingerprint_addon({"kb_dir": str(tmp_path / "nowhere")}) == "missing"


def test_a_broken_article_stops_training_naming_its_file_and_field(tmp_path, kb):
    path = kb / "mobile-app.md"
    path.write_text(path.read_text().replace("url: https://", "url: http://"))
    with pytest.raises(ArticleError) as refused:
        retriever(LocalModelStorage(tmp_path), kb).train(TrainingData())
    assert (refused.value.path, refused.value.field) == (path, "url")


@pytest.mark.parametrize("bad", [{"encoders": ["Word2Vec"]}, {"encoders": []}, {"threshold": 0}, {"threshold": 1.5}])
def test_a_bad_configuration_is_refused(bad):
    with pytest.raises(ValueError):
        KnowledgeBaseRetriever.validate_config({**KnowledgeBaseRetriever.get_default_config(), **bad})
