"""Rasa's own event brokers, chosen by FRONTDESK_EVENT_BROKER_URL (frontdesk/insights/broker.py).

``endpoints.yml`` names this class as the event broker. It builds Rasa's SQL event broker
(embedded default: a SQLite file beside the app database) or Rasa's RabbitMQ (Pika) broker
(production), with the password from FRONTDESK_EVENT_BROKER_PASSWORD, and returns None for
``off``. Analytics must never cost a customer an answer: a publish that fails is logged and
counted, never raised into Rasa's message handling (the tracker store keeps the conversation,
and the KPI report says when telemetry has gaps).
"""

from __future__ import annotations

import logging
import os
from asyncio import AbstractEventLoop
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.orm import sessionmaker

from frontdesk.core.db import create_sqlite_engine
from frontdesk.settings import OFF, RABBITMQ, BrokerAddress, parse_broker_url

log = logging.getLogger(__name__)
PASSWORD_VARIABLE = "FRONTDESK_EVENT_BROKER_PASSWORD"  # noqa: S105 - the variable's name


class GuardedEventBroker(EventBroker):
    """One of Rasa's brokers, whose failures stay out of the conversation."""

    def __init__(self, broker: EventBroker) -> None:
        self.broker = broker
        self.failures = 0

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig,
                                   event_loop: AbstractEventLoop | None = None) -> EventBroker | None:
        address = parse_broker_url(broker_config.url or "")
        if address.kind == OFF:
            return None
        return cls(await _rasa_broker(address, os.environ.get(PASSWORD_VARIABLE, ""), event_loop))

    def publish(self, event: dict[str, Any]) -> None:
        try:
            self.broker.publish(event)
        except Exception:
            self.failures += 1
            log.exception("event broker: publishing a %s event failed (%d so far)", event.get("event"),
                          self.failures)

    def is_ready(self) -> bool:
        return self.broker.is_ready()

    async def close(self) -> None:
        await self.broker.close()


async def _rasa_broker(address: BrokerAddress, password: str, event_loop: AbstractEventLoop | None) -> EventBroker:
    if address.kind == RABBITMQ:
        from rasa.core.brokers.pika import PikaEventBroker

        broker = PikaEventBroker(address.host or "localhost", address.username or "guest", password,
                                 port=address.port or 5672, queues=[address.queue], exchange_name=address.exchange,
                                 event_loop=event_loop,
                                 connection_attempts=3, retry_delay_in_seconds=2)
        await broker.connect()
        return broker
    from rasa.core.brokers.sql import SQLEventBroker

    if address.dialect == "sqlite":
        Path(address.database).parent.mkdir(parents=True, exist_ok=True)
        broker = SQLEventBroker(dialect="sqlite", db=address.database)
        # Rasa's engine opens a connection and waits for an fsync per event (about ten a message);
        # the app's SQLite settings (frontdesk.core.db) pool connections, and WAL lets the consumer
        # read and delete while Rasa writes, as for the tracker store (frontdesk_rasa.speedups).
        broker.engine.dispose()
        broker.engine = create_sqlite_engine(broker.engine.url, future=False)
        broker.sessionmaker = sessionmaker(bind=broker.engine)
        return broker
    return SQLEventBroker(dialect="postgresql", host=address.host, port=address.port, db=address.database,
                          username=address.username, password=password or None)
