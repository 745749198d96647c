"""Test helpers shared by fixtures and tests: a real SMTP server's sink and throw-away
PostgreSQL databases on the local server."""

from __future__ import annotations

import functools
import subprocess
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from frontdesk_rasa.local_stack import free_port

__all__ = ["LOOPBACK", "POSTGRES_ADMIN_URL", "SmtpSink", "create_postgres_database", "drop_postgres_database",
           "free_port", "listening_addresses", "wait_until_answering"]

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


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


def wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path | None = None) -> None:
    """Polls ``url`` until it answers 200, with a deadline; fails at once, with the end of the
    server's log, if the server exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()[-5000:] if log else f"the server of {url} exited"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f} s"
        time.sleep(0.3)
