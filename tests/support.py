"""Test helpers shared by fixtures and tests: a real SMTP server's sink, waiting with a deadline
(``wait_until``) and for a bounded time (``assert_nothing_within``), and throw-away PostgreSQL
databases on the local server. Servers are started through ``lab.stack``, which the end-to-end
tests, the closed beta and the benchmark share."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lab.stack import DeadlineExceeded, Mailbox, free_port, wait_until, wait_until_answering

__all__ = ["LOOPBACK", "POSTGRES_ADMIN_URL", "DeadlineExceeded", "Mailbox", "assert_nothing_within",
           "create_postgres_database", "drop_postgres_database", "free_port", "listening_addresses", "wait_until",
           "wait_until_answering"]

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def assert_nothing_within(seconds: float, probe: Callable[[], object], what: str = "something") -> None:
    """Asserts that ``probe`` stays falsy (e.g. no extra e-mail, no Slack post) for ``seconds``.

    Polling with a deadline proves that something happened, never that it did not: an absence
    can only be watched for a bounded time, so this takes the whole ``seconds`` (choose them
    longer than the thing would take if it did happen). It fails as soon as the probe finds
    something, showing what."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        assert not found, f"{what} happened within {seconds:g} s: {found!r}"
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.2, left))


@functools.lru_cache(maxsize=1)
def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, future=True)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def create_postgres_database(name: str, template: str | None = None) -> str:
    """A new database on the local PostgreSQL server, empty or a copy of ``template``; its URL."""
    if not _postgres_available():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (it should be running on this machine)")
    admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1, as the kernel writes them


def listening_addresses(port: int) -> set[str]:
    """The local addresses that listen on ``port``, from the kernel's socket tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            host, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(host)
    return found
