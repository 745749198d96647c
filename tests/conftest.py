"""Shared fixtures: databases (SQLite and the local PostgreSQL), a real SMTP server, a clock, and
the running stack the end-to-end and security suites share (started once per configuration)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from frontdesk.bootstrap import Services, build_services
from frontdesk.core.db import Database, dispose_engines
from frontdesk.entrypoints.cli import main as frontdesk_cli
from frontdesk.settings import InsightsSettings, PrivacySettings, ResetPolicy, Settings, SmtpSettings
from lab.stack import delete_rabbitmq_queue
from tests.stack import PRODUCTION_SECRETS, Stack, running_stack
from tests.support import Mailbox, create_postgres_database, drop_postgres_database


def pytest_configure(config: pytest.Config) -> None:
    # The CLI and services the tests call in-process read the environment: development, unless a
    # test says otherwise (an unset FRONTDESK_ENV means production, which needs real secrets).
    os.environ.setdefault("FRONTDESK_ENV", "development")


@dataclass
class FakeClock:
    """A clock the test moves by hand, for expiry and rate-limit windows."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 9, 0, 0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def smtp_sink() -> Iterator[Mailbox]:
    with Mailbox().serving() as sink:
        yield sink


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One database per backend migrated once per session (``frontdesk db upgrade``, the real
    command); each test gets a copy, which takes milliseconds instead of the migrations' half
    second. PostgreSQL's copy is a ``CREATE DATABASE … TEMPLATE``."""
    templates: dict[str, str] = {}

    def template(backend: str) -> str:
        if backend not in templates:
            if backend == "sqlite":
                templates[backend] = _migrated(f"sqlite:///{tmp_path_factory.mktemp('template') / 'frontdesk.db'}")
            else:
                templates[backend] = _migrated(create_postgres_database(f"frontdesk_tpl_{uuid.uuid4().hex[:12]}"))
            dispose_engines()  # a template must have no open connections to be copied
        return templates[backend]

    yield template  # type: ignore[misc]
    if "postgresql" in templates:
        drop_postgres_database(templates["postgresql"])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_templates) -> Iterator[str]:
    """An empty, migrated database: a SQLite file, and a throw-away PostgreSQL database."""
    template = migrated_templates(request.param)
    if request.param == "sqlite":
        path = tmp_path / "frontdesk.db"
        shutil.copyfile(template.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        dispose_engines()
        return
    url = create_postgres_database(f"frontdesk_test_{uuid.uuid4().hex[:12]}", template=template.rsplit("/", 1)[1])
    try:
        yield url
    finally:
        dispose_engines()
        drop_postgres_database(url)


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
def settings(database_url: str, smtp_sink: Mailbox, tmp_path: Path) -> Settings:
    return Settings(
        env="development",
        database_url=database_url,
        public_url="http://reset.test",
        smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
        reset=ResetPolicy(),
        # The test's own checkpoints, never the checkout's var/ file.
        privacy=PrivacySettings(audit_checkpoint_file=tmp_path / "audit-checkpoints.jsonl"),
        insights=InsightsSettings(event_broker_url=f"sqlite:///{tmp_path / 'event-broker.db'}"),
    )


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Services:
    services = build_services(settings, clock=clock)
    from frontdesk.dev.demo_data import load_demo_customers

    with services.db.transaction() as session:
        load_demo_customers(session)
    return services


@pytest.fixture
def db(services: Services) -> Database:
    return services.db


@pytest.fixture(scope="session", params=["embedded", pytest.param("postgres+redis", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded defaults in development (SQLite, in-memory lock store, Rasa's SQL event broker),
    then what production runs (FRONTDESK_ENV=production and its secrets, PostgreSQL tracker store
    and app database, Redis lock store, Rasa's RabbitMQ event broker)."""
    workdir = tmp_path_factory.mktemp("e2e")
    extra_env: dict[str, str] = {}
    if request.param == "postgres+redis":
        extra_env.update(PRODUCTION_SECRETS)
        extra_env["FRONTDESK_DATABASE_URL"] = create_postgres_database(f"frontdesk_e2e_{uuid.uuid4().hex[:12]}")
        extra_env["FRONTDESK_REDIS_URL"] = "redis://127.0.0.1:6379/1"
        # Rasa's RabbitMQ broker, on a queue and exchange of this session's own.
        broker = f"frontdesk_e2e_{uuid.uuid4().hex[:12]}"
        extra_env["FRONTDESK_EVENT_BROKER_URL"] = f"amqp://guest@127.0.0.1:5672/?queue={broker}&exchange={broker}"
        extra_env["FRONTDESK_EVENT_BROKER_PASSWORD"] = "guest"
    try:
        with running_stack(request.param, workdir, extra_env) as stack:
            yield stack
    finally:
        if "FRONTDESK_DATABASE_URL" in extra_env:
            drop_postgres_database(extra_env["FRONTDESK_DATABASE_URL"])
        if "FRONTDESK_EVENT_BROKER_URL" in extra_env:
            delete_rabbitmq_queue(broker, exchange=broker)
