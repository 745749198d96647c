"""End to end: retention deletes old conversations from Rasa's own ``events`` table while the real
Rasa and action servers serve ten live conversations; none of them breaks.

Back-dated conversations are written straight into the stack's tracker store. Retention runs as
``frontdesk privacy retention run`` does (``run_retention`` on the stack's settings), in small
batches so that its transactions interleave with Rasa's, on a thread, while ten customers keep
greeting the bot. Afterwards each of them starts a password reset and answers the form's question:
the tracker Rasa replays still has the whole conversation."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import text

from frontdesk.core.db import Database
from frontdesk.core.schema import utcnow
from frontdesk.privacy.retention import RetentionReport, run_retention
from frontdesk.settings import Settings
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.model]

LIVE_CONVERSATIONS = 10
OLD_CONVERSATIONS = 200
EVENTS_PER_OLD_CONVERSATION = 6
BATCH_SIZE = 10  # 20 transactions for the old conversations: many chances to meet Rasa's writes
MAX_GREETINGS = 8  # within the 20 messages a minute one conversation may send
DEADLINE_SECONDS = 45


@dataclass
class Turn:
    started: float
    finished: float
    texts: list[str]


@dataclass
class LiveConversation:
    name: str
    turns: list[Turn] = field(default_factory=list)

    def say(self, stack: Stack, message: str) -> list[str]:
        started = time.monotonic()
        texts = stack.texts(self.name, message)
        self.turns.append(Turn(started, time.monotonic(), texts))
        return texts


def insert_old_conversations(stack: Stack, prefix: str, days_ago: int) -> None:
    """Conversations whose every event is ``days_ago`` days old, as Rasa's SQL tracker store
    writes them (epoch-second timestamps, the event as JSON)."""
    stamp = time.time() - timedelta(days=days_ago).total_seconds()  # Rasa stamps events with time.time()
    rows = []
    for number in range(OLD_CONVERSATIONS):
        for position in range(EVENTS_PER_OLD_CONVERSATION):
            user = position % 2 == 0
            event = {"event": "user", "text": "hello", "parse_data": {"intent": {"name": "greet"}}} if user else {
                "event": "action", "name": "utter_greet"}
            event["timestamp"] = stamp + position
            rows.append({"sender_id": f"{prefix}{number}", "type_name": event["event"],
                         "timestamp": event["timestamp"], "intent_name": "greet" if user else None,
                         "action_name": None if user else "utter_greet", "data": json.dumps(event)})
    with Database(stack.database_url).transaction() as session:
        session.execute(text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                             "VALUES (:sender_id, :type_name, :timestamp, :intent_name, :action_name, :data)"), rows)


def stack_settings(stack: Stack) -> Settings:
    """The settings the stack's processes run with (what `frontdesk privacy retention run` reads)."""
    return Settings.from_env({**os.environ, **stack.env, "FRONTDESK_DATABASE_URL": stack.database_url})


def count_events(stack: Stack, sender_prefix: str) -> int:
    [(count,)] = stack.rows("SELECT count(*) FROM events WHERE sender_id LIKE :prefix", prefix=f"{sender_prefix}%")
    return int(count)


def test_retention_deletes_old_conversations_while_live_ones_continue(stack: Stack):
    settings = stack_settings(stack)
    backend = stack.backend.replace("+", "-")  # the names become e-mail addresses below
    old_prefix = f"retention-old-{backend}-"
    insert_old_conversations(stack, old_prefix, days_ago=settings.privacy.tracker_events_days + 10)
    assert count_events(stack, old_prefix) == OLD_CONVERSATIONS * EVENTS_PER_OLD_CONVERSATION
    live = [LiveConversation(f"retention-live-{backend}-{number}") for number in range(LIVE_CONVERSATIONS)]
    deadline = time.monotonic() + DEADLINE_SECONDS
    everyone_greeted = threading.Barrier(LIVE_CONVERSATIONS + 1, timeout=DEADLINE_SECONDS)
    retention_done = threading.Event()
    retention_window: dict[str, float] = {}

    def talk(conversation: LiveConversation) -> None:
        assert any(text.startswith("Hi! I'm Frontdesk") for text in conversation.say(stack, "hi"))
        everyone_greeted.wait()
        # Keep talking while retention runs (bounded by the message limit and the deadline).
        while not retention_done.is_set() and len(conversation.turns) < MAX_GREETINGS:
            assert time.monotonic() < deadline, "retention took too long"
            assert any(text.startswith("Hi! I'm Frontdesk") for text in conversation.say(stack, "hello"))
        asked = conversation.say(stack, "I forgot my password")
        assert any("email address" in text for text in asked), asked

    def run_retention_job() -> RetentionReport:
        everyone_greeted.wait()
        retention_window["started"] = time.monotonic()
        try:
            return run_retention(Database(stack.database_url), settings, utcnow(), batch_size=BATCH_SIZE)
        finally:
            retention_window["finished"] = time.monotonic()
            retention_done.set()

    with ThreadPoolExecutor(max_workers=LIVE_CONVERSATIONS + 1) as pool:
        job = pool.submit(run_retention_job)
        talkers = [pool.submit(talk, conversation) for conversation in live]
        for talker in talkers:
            talker.result(timeout=max(1.0, deadline - time.monotonic()))
        report = job.result(timeout=max(1.0, deadline - time.monotonic()))

    # The old conversations are gone, in batches, and nothing else was deleted from the events.
    assert count_events(stack, old_prefix) == 0
    assert report.deleted["events"] == OLD_CONVERSATIONS
    assert report.batches >= OLD_CONVERSATIONS // BATCH_SIZE
    # The live conversations really talked while retention ran.
    overlapping = [turn for conversation in live for turn in conversation.turns
                   if turn.started < retention_window["finished"] and turn.finished > retention_window["started"]]
    assert overlapping, "no live message was in flight while retention ran"

    # Each live conversation continues where it was: the password form asked for the address, and
    # the answer is understood as the answer to that question.
    def answer(conversation: LiveConversation) -> list[str]:
        return conversation.say(stack, f"{conversation.name}@example.com")

    with ThreadPoolExecutor(max_workers=LIVE_CONVERSATIONS) as pool:
        answers = list(pool.map(answer, live, timeout=max(1.0, deadline - time.monotonic())))
    for conversation, texts in zip(live, answers, strict=True):
        assert any("If an account exists" in text for text in texts), (conversation.name, texts)
        assert all(turn.texts for turn in conversation.turns), "every message got a reply"
        [(events,)] = stack.rows("SELECT count(*) FROM events WHERE sender_id = :sender",
                                 sender=stack.conversation(conversation.name))
        assert events > 0
