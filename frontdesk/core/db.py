"""Database engine and sessions, created once per process from settings (never at import).

The same URL serves Rasa's tracker store and the app tables. SQLite is the embedded default;
PostgreSQL is what production runs. SQLAlchemy 1.4 is used in its 2.0 style (``future=True``).

SQLite settings, from the profile in ``make bench`` (frontdesk_rasa/speedups.py uses the same
engine for Rasa's tracker store):

- A connection pool, as SQLAlchemy 2.0 does for file databases (1.4 opened a new connection per
  transaction). Closing the last connection to a WAL database checkpoints it and deletes the
  WAL file, and the next connection creates it again: 4-9 ms a transaction on a busy disk.
  Connections move between threads only through the pool (``check_same_thread=False``).
- WAL with ``synchronous=NORMAL``: a commit no longer waits for an fsync (7-12 ms each on a busy
  disk; the WAL is synced at checkpoints). The database cannot be corrupted and nothing is lost
  when a process crashes; a power cut or OS crash can roll back the last commits. PostgreSQL,
  what production runs, is unaffected.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from frontdesk.settings import speedups_enabled

T = TypeVar("T")

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def _configure_sqlite(dbapi_connection: Any, _record: Any, synchronous_normal: bool = True) -> None:
    # Several processes (Rasa, the action server, the web app) share the file: WAL lets readers
    # and one writer work at once, and the busy timeout turns lock contention into a short wait.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    if synchronous_normal:
        cursor.execute("PRAGMA synchronous=NORMAL")  # see the module doc
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_sqlite_engine(url: str | URL, future: bool = True) -> Engine:
    """An engine for a SQLite database with the settings above (``future=False`` for Rasa's
    tracker store, which uses SQLAlchemy's 1.x API). ``FRONTDESK_SPEEDUPS=0``: SQLAlchemy 1.4's
    defaults instead (a connection per transaction, ``synchronous=FULL``)."""
    parsed = make_url(url)
    tuned = speedups_enabled()
    if not parsed.database or parsed.database == ":memory:":
        engine = create_engine(parsed, future=future, hide_parameters=True, connect_args={"timeout": 10})
    else:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        pooling: dict[str, Any] = (
            {"poolclass": QueuePool, "pool_size": 5, "max_overflow": 10,
             "connect_args": {"timeout": 10, "check_same_thread": False}}
            if tuned else {"connect_args": {"timeout": 10}})
        engine = create_engine(parsed, future=future, hide_parameters=True, **pooling)
    event.listen(engine, "connect", functools.partial(_configure_sqlite, synchronous_normal=tuned))
    return engine


def create_database_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        return create_sqlite_engine(url)
    # hide_parameters: a database error logged with its statement must not carry what customers
    # typed (addresses, message text in Rasa's events).
    return create_engine(url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


def get_engine(url: str) -> Engine:
    """One engine per URL per process, shared by every caller."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_database_engine(url)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


class Database:
    """A unit-of-work factory: ``with db.transaction() as session: ...`` commits or rolls back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = get_engine(url)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    async def in_worker_thread(self, work: Callable[[Session], T]) -> T:
        """``work`` in one transaction on a worker thread, for async servers: a query (or a
        Presidio pass, or scrypt) run on the event loop would stall every conversation. The
        session, and the rows it loads, never leave that thread; what ``work`` raises is raised
        here, the transaction rolled back."""

        def unit() -> T:
            with self.transaction() as session:
                return work(session)

        return await asyncio.to_thread(unit)
