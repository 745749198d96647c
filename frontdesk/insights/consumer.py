"""The one consumer of Rasa's event broker (``frontdesk insights consume``), for both brokers.

A batch is read, recorded (``telemetry.record_events``, once per event key), folded into facts,
committed, and only then acknowledged: deleted from the SQL broker's table, acked to RabbitMQ.
A crash in between redelivers the batch, and the event keys make it count once. The SQL broker's
table holds raw messages: deleting them once recorded keeps raw text in the tracker store only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from frontdesk.core.db import Database
from frontdesk.insights.telemetry import EventReader, record_events, refresh_facts
from frontdesk.settings import RABBITMQ, SQL, BrokerAddress

log = logging.getLogger(__name__)
BATCH = 500

# Rasa's SQL event broker's table (rasa.core.brokers.sql.SQLEventBroker.SQLBrokerEvent).
_broker_metadata = MetaData()
broker_events = Table("events", _broker_metadata, Column("id", Integer, primary_key=True),
                      Column("sender_id", String(255)), Column("data", Text))


# Records a batch (the readable bodies, how many were not) in the app database and says what it did.
Recorder = Callable[[list[dict[str, Any]], int], "ConsumeReport"]


class EventSource(Protocol):
    def process_batch(self, limit: int, record: Recorder) -> ConsumeReport:
        """Takes up to ``limit`` events, has ``record`` commit them, then acknowledges them."""

    def close(self) -> None: ...


def _parsed(raw: str | bytes | None) -> dict[str, Any] | None:
    try:
        body = json.loads(raw or "")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class SqlBrokerSource:
    """Rasa's SQL event broker's table, read in id order and emptied as it is recorded."""

    def __init__(self, address: BrokerAddress, password: str = "") -> None:
        self.engine: Engine = create_engine(address.sqlalchemy_url(password), future=True, **(
            {"connect_args": {"timeout": 30}} if address.dialect == "sqlite" else {"pool_pre_ping": True}))

    def process_batch(self, limit: int, record: Recorder) -> ConsumeReport:
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(select(broker_events.c.id, broker_events.c.data)
                                          .order_by(broker_events.c.id).limit(limit)).all()
        except (OperationalError, ProgrammingError):
            return ConsumeReport()  # Rasa has not created the table yet
        if not rows:
            return ConsumeReport()
        parsed = [_parsed(data) for _, data in rows]
        report = record([body for body in parsed if body is not None], sum(1 for body in parsed if body is None))
        with self.engine.begin() as connection:
            connection.execute(delete(broker_events).where(broker_events.c.id.in_([row_id for row_id, _ in rows])))
        return report

    def close(self) -> None:
        self.engine.dispose()


class RabbitMqSource:
    """The durable queue Rasa's Pika broker publishes to; a message is acked once recorded, so a
    consumer that dies first leaves it to be redelivered."""

    def __init__(self, address: BrokerAddress, password: str, wait_seconds: float = 1.0) -> None:
        self.address, self.password, self.wait_seconds = address, password, wait_seconds

    def process_batch(self, limit: int, record: Recorder) -> ConsumeReport:
        return asyncio.run(self._process_batch(limit, record))

    async def _process_batch(self, limit: int, record: Recorder) -> ConsumeReport:
        import aio_pika

        connection = await aio_pika.connect(host=self.address.host, port=self.address.port,
                                            login=self.address.username or "guest", password=self.password,
                                            timeout=10)
        try:
            channel = await connection.channel()
            # Declared as Rasa declares it, so whichever starts first creates the same queue.
            queue = await channel.declare_queue(self.address.queue, durable=True)
            messages = []
            while len(messages) < limit:
                message = await queue.get(no_ack=False, fail=False, timeout=self.wait_seconds)
                if message is None:
                    break
                messages.append(message)
            if not messages:
                return ConsumeReport()
            parsed = [_parsed(message.body) for message in messages]
            report = record([body for body in parsed if body is not None],
                            sum(1 for body in parsed if body is None))
            for message in messages:
                await message.ack()
            return report
        finally:
            await connection.close()

    def close(self) -> None:
        pass


def event_source(address: BrokerAddress, password: str) -> EventSource | None:
    if address.kind == SQL:
        return SqlBrokerSource(address, password)
    if address.kind == RABBITMQ:
        return RabbitMqSource(address, password)
    return None


@dataclass(frozen=True)
class ConsumeReport:
    read: int = 0
    recorded: int = 0  # new events (the rest were redeliveries or replays)
    unreadable: int = 0
    conversations: int = 0

    def __add__(self, other: ConsumeReport) -> ConsumeReport:
        return ConsumeReport(self.read + other.read, self.recorded + other.recorded,
                             self.unreadable + other.unreadable, self.conversations + other.conversations)


def consume_once(db: Database, source: EventSource, reader: EventReader, mandatory_intents: frozenset[str],
                 limit: int = BATCH) -> ConsumeReport:
    def record(bodies: list[dict[str, Any]], unreadable: int) -> ConsumeReport:
        with db.transaction() as session:
            touched, recorded = record_events(session, bodies, reader)
            refresh_facts(session, touched, mandatory_intents)
        if unreadable:
            log.warning("event broker: %d unreadable messages dropped", unreadable)
        return ConsumeReport(len(bodies), recorded, unreadable, len(touched))

    return source.process_batch(limit, record)


def consume_all(db: Database, source: EventSource, reader: EventReader, mandatory_intents: frozenset[str],
                limit: int = BATCH) -> ConsumeReport:
    """Reads until the broker has nothing more."""
    total = ConsumeReport()
    while True:
        report = consume_once(db, source, reader, mandatory_intents, limit)
        total = total + report
        if report.read + report.unreadable < limit:
            return total


class TelemetryConsumer:
    """The consumer as a service: the broker configured, the app database, how events are read."""

    def __init__(self, db: Database, source: EventSource, reader: Callable[[], EventReader],
                 mandatory_intents: frozenset[str]) -> None:
        self.db, self.source, self._reader, self.mandatory_intents = db, source, reader, mandatory_intents
        self._cached_reader: EventReader | None = None

    @property
    def reader(self) -> EventReader:
        # Built on first use: the training vocabulary and the redactor cost a second, and only the
        # process that consumes needs them.
        if self._cached_reader is None:
            self._cached_reader = self._reader()
        return self._cached_reader

    def consume_once(self, limit: int = BATCH) -> ConsumeReport:
        return consume_once(self.db, self.source, self.reader, self.mandatory_intents, limit)

    def consume_all(self, limit: int = BATCH) -> ConsumeReport:
        return consume_all(self.db, self.source, self.reader, self.mandatory_intents, limit)
