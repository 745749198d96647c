"""The consumer on Rasa's own brokers: the SQL broker's table (SQLite) and RabbitMQ (the local
server). Each event is counted once, whether replayed or redelivered after a consumer died
between recording a batch and acknowledging it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import func, select

from frontdesk.insights.consumer import ConsumeReport, RabbitMqSource, SqlBrokerSource, consume_all, consume_once
from frontdesk.insights.telemetry import TelemetryEvent, TurnFactRow, record_events, refresh_facts
from frontdesk.settings import parse_broker_url
from frontdesk_rasa.event_broker import GuardedEventBroker
from lab.stack import delete_rabbitmq_queue
from tests.frontdesk.insights.test_telemetry import MANDATORY, READER, password_reset


class ConsumerDied(RuntimeError):
    pass


def events_recorded(db) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(TelemetryEvent)).scalar()


def dies_after_recording(db, source) -> None:
    """A consumer that records a batch and dies before acknowledging it."""
    def record(bodies, unreadable):
        with db.transaction() as session:
            refresh_facts(session, record_events(session, bodies, READER)[0], MANDATORY)
        raise ConsumerDied

    with pytest.raises(ConsumerDied):
        source.process_batch(500, record)


async def publish(url: str, bodies: list[dict]) -> None:
    """Through Rasa's own broker, as the Rasa server publishes."""
    broker = await GuardedEventBroker.from_endpoint_config(EndpointConfig(url=url))
    assert broker is not None
    for body in bodies:
        broker.publish(body)
    await asyncio.sleep(0.5)  # Pika publishes on background tasks
    await broker.close()


async def test_rasas_sql_broker_to_facts_once_each_even_after_a_crash(db, tmp_path):
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    await publish(url, password_reset())
    source = SqlBrokerSource(parse_broker_url(url))
    dies_after_recording(db, source)
    assert events_recorded(db) == 13
    # The batch was not acknowledged: it is read again, and counted once.
    assert consume_all(db, source, READER, MANDATORY) == ConsumeReport(read=13, recorded=0, unreadable=0,
                                                                         conversations=0)
    assert source.process_batch(500, lambda *_: pytest.fail("the broker's table should be empty")) == ConsumeReport()
    # A replay (the same events published again) is read and not counted.
    await publish(url, password_reset()[:4])
    assert consume_once(db, source, READER, MANDATORY).recorded == 0
    assert events_recorded(db) == 13
    with db.transaction() as session:
        assert len(session.execute(select(TurnFactRow)).scalars().all()) == 2
    source.close()


async def test_rabbitmq_redelivery_counts_once(db, monkeypatch):
    monkeypatch.setenv("FRONTDESK_EVENT_BROKER_PASSWORD", "guest")
    queue, exchange = f"frontdesk_test_{uuid.uuid4().hex[:8]}", f"frontdesk_test_{uuid.uuid4().hex[:8]}"
    url = f"amqp://guest@127.0.0.1:5672/?queue={queue}&exchange={exchange}"
    try:
        await publish(url, password_reset())
        source = RabbitMqSource(parse_broker_url(url), "guest", wait_seconds=0.5)
        await asyncio.to_thread(dies_after_recording, db, source)
        assert events_recorded(db) == 13
        # Unacknowledged when the consumer died: RabbitMQ redelivers, and the keys count it once.
        report = await asyncio.to_thread(consume_all, db, source, READER, MANDATORY)
        assert (report.read, report.recorded) == (13, 0)
        report = await asyncio.to_thread(consume_all, db, source, READER, MANDATORY)
        assert report == ConsumeReport()  # acknowledged this time
    finally:
        await asyncio.to_thread(delete_rabbitmq_queue, queue, exchange)
