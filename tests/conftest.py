"""Shared fixtures: databases (SQLite and the local PostgreSQL), a real SMTP server, a clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from frontdesk.cli import main as frontdesk_cli
from frontdesk.db import Database, dispose_engines
from frontdesk.services import Services, build_services
from frontdesk.settings import ResetPolicy, Settings, SmtpSettings
from frontdesk_rasa.local_stack import free_port

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class FakeClock:
    """A clock the test moves by hand, for expiry and rate-limit windows."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 9, 0, 0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.messages) >= count, f"expected {count} e-mails, got {len(self.messages)}"
        return self.messages


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, future=True)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: a SQLite file, and a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'frontdesk.db'}"
        yield _migrated(url)
        dispose_engines()
        return
    url = create_postgres_database(f"frontdesk_test_{uuid.uuid4().hex[:12]}")
    try:
        yield _migrated(url)
    finally:
        dispose_engines()
        drop_postgres_database(url)


def create_postgres_database(name: str) -> str:
    """A new, empty database on the local PostgreSQL server; returns its URL."""
    if not _postgres_available():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (it should be running on this machine)")
    admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrated(url: str) -> str:
    import os

    previous = os.environ.get("FRONTDESK_DATABASE_URL")
    os.environ["FRONTDESK_DATABASE_URL"] = url
    try:
        assert frontdesk_cli(["db", "upgrade"]) == 0
    finally:
        if previous is None:
            os.environ.pop("FRONTDESK_DATABASE_URL", None)
        else:
            os.environ["FRONTDESK_DATABASE_URL"] = previous
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, smtp_sink: SmtpSink) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="http://reset.test",
        smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
        reset=ResetPolicy(),
    )


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Services:
    services = build_services(settings, clock=clock)
    from frontdesk.demo_data import load_demo_customers

    with services.db.transaction() as session:
        load_demo_customers(session)
    return services


@pytest.fixture
def db(services: Services) -> Database:
    return services.db
