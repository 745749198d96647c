"""Speed-ups for Rasa 3.6.21's message path, each one found in a profile (``make bench``).

``install()`` applies them once per process, where a Rasa server starts: ``rasa_server.main``
(what ``frontdesk serve`` runs) calls it before Rasa loads the model; importing a module never
does. A bare ``rasa run`` gets none. They are skipped, with one warning, on any Rasa but the
release they were read against (``VERIFIED_RASA_VERSION``); ``FRONTDESK_SPEEDUPS=0`` turns them
all off (the benchmark's "before" numbers). None changes what the assistant answers, stores or
rejects; ``tests/frontdesk_rasa/test_speedups.py`` checks that, and fails when one of them stops
taking effect.

1. ``cached_action_reply_validator``. Rasa checks every reply of the action server with
   ``jsonschema.validate(reply, schema)``, which first validates the schema itself against the
   JSON Schema meta-schema and then builds a new validator: about 16 ms of CPU per custom action
   on an idle core (44 ms on this loaded machine), for a schema that never changes. Measured:
   ``check_schema`` is ~90% of ``validate``. Here the validator is built once, from the same
   schema and the same draft ``validate`` picks; a reply it accepts is accepted; a reply it
   rejects goes to Rasa's own method, so the error and its message are exactly Rasa's.

2. ``pooled_sqlite_tracker_store``. On SQLite, Rasa's SQL tracker store used SQLAlchemy 1.4's
   default for file databases, a new connection per operation (NullPool): two or three a
   message, and closing the last connection to a WAL database checkpoints it and deletes the
   WAL file, which the next connection creates again. In the profile that was ~60% of the
   tracker store's time (``sqlite3.Connection.close`` 4-9 ms, ``commit`` 7-12 ms on this busy
   disk). The tracker store now uses the app's engine settings (``frontdesk.core.db``): a connection
   pool and WAL with ``synchronous=NORMAL``. Same tables, rows and queries; PostgreSQL is
   untouched (Rasa pools there already).

3. ``ner_only_where_needed``. With ``case_sensitive: false`` Rasa runs the whole spaCy pipeline
   twice a message: ``SpacyNLP`` on the lower-cased text (tokens, lemmas, tags, vectors) and
   ``SpacyEntityExtractor`` again on the original text, because NER needs the case. The first
   pass never uses its entities and the second uses nothing but them, so the first now skips
   the ``ner`` component and the second runs only ``ner`` (and a ``tok2vec`` it listens to,
   if any). The tokens, lemmas, tags and vectors and the entities are the same (checked on every
   training, held-out and out-of-scope example, ~5,700 texts); spaCy's time halves (~14 -> ~7 ms
   a message here). The parser stays: lemmas depend on it.

4. ``cached_event_types``. Deserialising an event (``Event.resolve_by_type``) walks all the
   subclasses of ``Event`` recursively to find the class for a type name; a message
   deserialises every event of the conversation from the tracker store and those in each action
   server reply, ~15 walks a message here (4-5 ms). The class found for a type name is now
   remembered; names not found still take Rasa's path (``ValueError``, default or ``None``).

5. ``lean_tracker_store_queries``. With the pool in place SQLite itself is ~1% of the tracker
   store's time; the rest is SQLAlchemy's ORM building and compiling the same queries again on
   every call (2-3 ms for the count ``save`` starts with, ~2 ms for ``retrieve``) and inserting
   the new events one ORM object at a time. ``save`` and ``retrieve`` (the latest session) now
   run the same SQL as prepared Core statements, built once, and insert the new events in one
   ``executemany``: the same rows in the same order, the same events back. ``retrieve`` of all
   sessions keeps Rasa's code. With an event broker, Rasa's ``save`` re-reads and deserialises
   the whole stored tracker to find the new events; the count already says which they are, so
   the broker gets the same events, in the same order, without the re-read.

6. ``remembered_ted_predictions``. TED was the biggest cost left: ~7 ms of CPU a prediction
   (``run_inference`` 5.5 ms, most of it TensorFlow's per-call overhead around a 2 ms graph),
   two predictions a message. Its input is nothing but the featurized dialogue states of the
   last ``max_history`` turns (intents, entity names, slot features, previous action, active
   loop), which repeat across conversations, and inference is deterministic (no dropout). So
   the prediction for a state sequence is remembered (least recently used, 4,096 per model)
   and the next tracker with the same states gets a copy: the same probabilities, to the bit.
   Only when TED sees nothing else: a model with end-to-end (text) features, precomputed
   message features, a subclass of TEDPolicy, or a prediction carrying events takes Rasa's
   path every time. The key is the states Rasa's featurizer builds for TED, so whatever TED
   would see differently gets its own entry.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from frontdesk.settings import speedups_enabled

log = logging.getLogger(__name__)

# Each speed-up replaces a piece of this Rasa release's code, read and profiled line by line: on
# any other release Rasa's own code runs.
VERIFIED_RASA_VERSION = "3.6.21"

_lock = threading.Lock()
_installed: list[str] = []
_done = False


def cached_action_reply_validator() -> None:
    """``RemoteAction._validate_action_result`` with a validator built once (see the module doc)."""
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    rasa_validate = RemoteAction._validate_action_result
    spec = RemoteAction.action_response_format_spec
    schema = spec()
    validator_class = validators.validator_for(schema)  # the draft jsonschema.validate would use
    validator_class.check_schema(schema)  # once, here, instead of on every reply
    validator = validator_class(schema)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        # A subclass with its own schema keeps Rasa's behaviour.
        if type(self).action_response_format_spec is spec and validator.is_valid(result):
            return True
        return rasa_validate(self, result)

    _validate_action_result.__wrapped__ = rasa_validate  # type: ignore[attr-defined]
    _validate_action_result.__doc__ = cached_action_reply_validator.__doc__
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def pooled_sqlite_tracker_store() -> None:
    """SQLTrackerStore on SQLite with a connection pool and WAL + synchronous=NORMAL (see the
    module doc)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy.orm import sessionmaker

    from frontdesk.core.db import create_sqlite_engine

    rasa_init = SQLTrackerStore.__init__

    def __init__(self: SQLTrackerStore, *args: Any, **kwargs: Any) -> None:
        rasa_init(self, *args, **kwargs)  # creates the tables as Rasa does
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in {None, "", ":memory:"}:
            return
        self.engine.dispose()
        self.engine = create_sqlite_engine(url, future=False)
        self.sessionmaker = sessionmaker(bind=self.engine)

    __init__.__wrapped__ = rasa_init  # type: ignore[attr-defined]
    SQLTrackerStore.__init__ = __init__  # type: ignore[method-assign]


def _factories(nlp: Any) -> dict[str, str]:
    return {name: nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}


# Components whose output NER does not read: safe to skip when only entities are wanted.
_NOT_NEEDED_FOR_NER = {"tagger", "parser", "attribute_ruler", "lemmatizer", "morphologizer", "senter",
                       "trainable_lemmatizer", "tok2vec"}


def ner_disabled(nlp: Any) -> list[str]:
    """The components to skip when the entities are not used: the NER components."""
    return [name for name, factory in _factories(nlp).items() if factory == "ner"]


def all_but_ner(nlp: Any) -> list[str] | None:
    """The components to skip when only the entities are used, or None when that is not known
    to be safe for this pipeline (then the whole pipeline runs, as in Rasa)."""
    factories = _factories(nlp)
    if "ner" not in factories.values():
        return None
    needed = {name for name, factory in factories.items() if factory == "ner"}
    for name in list(needed):
        for other, pipe in nlp.pipeline:
            if name in getattr(pipe, "listening_components", ()):
                needed.add(other)  # a shared tok2vec that NER listens to
    skipped = [name for name in nlp.pipe_names if name not in needed]
    if any(factories[name] not in _NOT_NEEDED_FOR_NER for name in skipped):
        return None  # e.g. an entity_ruler: its entities count
    return skipped


def ner_only_where_needed() -> None:
    """SpacyNLP's pass without NER, SpacyEntityExtractor's pass with only NER (module doc)."""
    from rasa.nlu.extractors.spacy_entity_extractor import SpacyEntityExtractor
    from rasa.nlu.utils.spacy_utils import SpacyNLP
    from rasa.shared.nlu.constants import ENTITIES, TEXT

    rasa_doc_for_text = SpacyNLP._doc_for_text
    rasa_process = SpacyEntityExtractor.process

    def _doc_for_text(self: SpacyNLP, model: Any, text: str) -> Any:
        return model(self._preprocess_text(text), disable=ner_disabled(model))

    def process(self: SpacyEntityExtractor, messages: list[Any], model: Any) -> list[Any]:
        skipped = all_but_ner(model.model)
        if skipped is None:
            return rasa_process(self, messages, model)
        for message in messages:  # Rasa's loop, with the pipeline narrowed to NER
            doc = model.model(message.get(TEXT), disable=skipped)
            all_extracted = self.add_extractor_name(self._extract_entities(doc))
            extracted = self.filter_irrelevant_entities(all_extracted, self._config["dimensions"])
            message.set(ENTITIES, message.get(ENTITIES, []) + extracted, add_to_output=True)
        return messages

    _doc_for_text.__wrapped__ = rasa_doc_for_text  # type: ignore[attr-defined]
    process.__wrapped__ = rasa_process  # type: ignore[attr-defined]
    SpacyNLP._doc_for_text = _doc_for_text  # type: ignore[method-assign]
    SpacyEntityExtractor.process = process  # type: ignore[method-assign]


def cached_event_types() -> None:
    """``Event.resolve_by_type`` remembers the class found for each type name (module doc)."""
    from rasa.shared.core.events import Event

    rasa_resolve = Event.resolve_by_type
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        cls = rasa_resolve(type_name, default)
        if cls is not None and cls is not default and getattr(cls, "type_name", None) == type_name:
            found[type_name] = cls
        return cls

    resolve_by_type.__wrapped__ = rasa_resolve  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign,assignment]


def lean_tracker_store_queries() -> None:
    """SQLTrackerStore.save and ._retrieve as prepared Core statements (module doc)."""
    import itertools

    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    events = SQLTrackerStore.SQLEvent.__table__
    sender = sa.bindparam("sender_id")
    # Rasa's _event_query: the events from the latest SessionStarted on (all when there is none).
    session_start = (sa.select(sa.func.max(events.c.timestamp))
                     .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
                     .scalar_subquery())
    latest_session = sa.and_(events.c.sender_id == sender,
                             sa.or_(events.c.timestamp >= session_start, session_start.is_(None)))
    count_stored = sa.select(sa.func.count()).select_from(events).where(latest_session)
    stored_data = sa.select(events.c.data).where(latest_session).order_by(events.c.id)
    insert = events.insert()
    rasa_save, rasa_retrieve = SQLTrackerStore.save, SQLTrackerStore._retrieve

    async def save(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            stored = session.execute(count_stored, {"sender_id": tracker.sender_id}).scalar()
            new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            if self.event_broker is not None:
                # Rasa's stream_events finds the same new events by re-reading and deserialising
                # the whole stored tracker: the count is that difference, without the re-read.
                await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
            rows = []
            for event in new_events:
                data = event.as_dict()
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                })
            if rows:
                session.execute(insert, rows)
            session.commit()

    async def _retrieve(self: SQLTrackerStore, sender_id: str,
                        fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        if fetch_events_from_all_sessions:
            return await rasa_retrieve(self, sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            stored = [json.loads(data) for (data,) in session.execute(stored_data, {"sender_id": sender_id})]
            if self.domain and stored:
                return DialogueStateTracker.from_dict(sender_id, stored, self.domain.slots)
            return None

    save.__wrapped__ = rasa_save  # type: ignore[attr-defined]
    _retrieve.__wrapped__ = rasa_retrieve  # type: ignore[attr-defined]
    SQLTrackerStore.save = save  # type: ignore[method-assign]
    SQLTrackerStore._retrieve = _retrieve  # type: ignore[method-assign]


TED_REMEMBERED_PREDICTIONS = 4096


class PredictionMemory:
    """A bounded, least-recently-used map from a dialogue-state key to TED's probabilities. Every
    ``report_every`` lookups it logs its hit rate, so an operator (and ``make beta``) can see how
    often real conversations repeat a state."""

    def __init__(self, size: int = TED_REMEMBERED_PREDICTIONS, report_every: int = 1000) -> None:
        self.size = size
        self.report_every = report_every
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
            else:
                self._entries.move_to_end(key)
                self.hits += 1
            lookups = self.hits + self.misses
            if lookups % self.report_every == 0:
                log.info("TED prediction memory: %d of %d predictions remembered (%.1f%%), %d states held",
                         self.hits, lookups, 100 * self.hits / lookups, len(self._entries))
            return entry

    def put(self, key: str, entry: tuple[Any, ...]) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def ted_prediction_memory(policy: Any) -> PredictionMemory | None:
    """The memory of one loaded TEDPolicy (None before its first prediction)."""
    return policy.__dict__.get("_frontdesk_prediction_memory")


def remembered_ted_predictions() -> None:
    """TEDPolicy's prediction remembered per featurized state sequence (module doc)."""
    import numpy as np
    from rasa.core.policies.policy import SupportedData
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.shared.nlu.constants import TEXT

    rasa_predict = TEDPolicy.predict_action_probabilities

    def predict_action_probabilities(self: TEDPolicy, tracker: Any, domain: Any,
                                     rule_only_data: dict[str, Any] | None = None,
                                     precomputations: Any | None = None, **kwargs: Any) -> Any:
        # Only where the featurized states are all TED reads (see the module doc).
        if (type(self) is not TEDPolicy or self.model is None or precomputations is not None
                or self.only_e2e or TEXT in self.fake_features):
            return rasa_predict(self, tracker, domain, rule_only_data, precomputations, **kwargs)
        ml_only = self.supported_data() == SupportedData.ML_DATA  # as Policy._featurize_for_prediction
        [states] = self.featurizer.prediction_states(
            [tracker], domain, use_text_for_last_user_input=False, ignore_rule_only_turns=ml_only,
            rule_only_data=rule_only_data, ignore_action_unlikely_intent=ml_only)
        try:
            key = json.dumps(states, sort_keys=True)
        except (TypeError, ValueError):  # a state value JSON cannot spell: no key, Rasa's path
            return rasa_predict(self, tracker, domain, rule_only_data, precomputations, **kwargs)
        memory = self.__dict__.setdefault("_frontdesk_prediction_memory", PredictionMemory())
        entry = memory.get(key)
        if entry is not None:
            probabilities, diagnostic_data = entry
            # A fresh list: the ensemble zeroes a rejected action's probability in place.
            return self._prediction(probabilities.tolist(), diagnostic_data=diagnostic_data)
        prediction = rasa_predict(self, tracker, domain, rule_only_data, precomputations, **kwargs)
        if not (prediction.events or prediction.optional_events or prediction.is_end_to_end_prediction):
            memory.put(key, (np.array(prediction.probabilities, dtype=np.float64), prediction.diagnostic_data))
        return prediction

    predict_action_probabilities.__wrapped__ = rasa_predict  # type: ignore[attr-defined]
    TEDPolicy.predict_action_probabilities = predict_action_probabilities  # type: ignore[method-assign]


SPEEDUPS: dict[str, Callable[[], None]] = {
    "cached_action_reply_validator": cached_action_reply_validator,
    "pooled_sqlite_tracker_store": pooled_sqlite_tracker_store,
    "ner_only_where_needed": ner_only_where_needed,
    "cached_event_types": cached_event_types,
    "lean_tracker_store_queries": lean_tracker_store_queries,
    "remembered_ted_predictions": remembered_ted_predictions,
}


def install(env: Mapping[str, str] | None = None, rasa_version: str | None = None) -> list[str]:
    """Applies every speed-up once per process (unless ``FRONTDESK_SPEEDUPS=0``, or Rasa is not the
    release they were verified against); returns the names of those in effect. Called where a
    Rasa server starts (``rasa_server.main``), never on import. A speed-up that fails to apply is
    logged and skipped: Rasa then runs its own, slower code, never a half-patched one."""
    global _done
    with _lock:
        if _done:
            return list(_installed)
        _done = True
        if not speedups_enabled(env):
            log.info("frontdesk speed-ups are off (FRONTDESK_SPEEDUPS=0)")
            return []
        if rasa_version is None:
            from rasa.version import __version__ as rasa_version
        if rasa_version != VERIFIED_RASA_VERSION:
            log.warning("frontdesk speed-ups skipped: verified on Rasa %s, this is Rasa %s",
                        VERIFIED_RASA_VERSION, rasa_version)
            return []
        for name, apply in SPEEDUPS.items():
            try:
                apply()
            except Exception:
                log.exception("speed-up %s could not be applied; Rasa's own code runs instead", name)
                continue
            _installed.append(name)
        return list(_installed)


def installed() -> list[str]:
    return list(_installed)
