"""The SQLite engine settings from the `make bench` profile (frontdesk/core/db.py): a connection pool
and WAL with synchronous=NORMAL; FRONTDESK_SPEEDUPS=0 restores SQLAlchemy 1.4's defaults."""

from __future__ import annotations

import threading

from sqlalchemy import event, text
from sqlalchemy.pool import NullPool, QueuePool

from frontdesk.core.db import create_sqlite_engine


def pragmas(engine) -> tuple[str, int, int]:
    with engine.connect() as connection:
        return (connection.execute(text("PRAGMA journal_mode")).scalar(),
                connection.execute(text("PRAGMA synchronous")).scalar(),
                connection.execute(text("PRAGMA foreign_keys")).scalar())


def test_sqlite_connections_are_pooled_and_commits_skip_the_fsync(tmp_path, monkeypatch):
    monkeypatch.delenv("FRONTDESK_SPEEDUPS", raising=False)
    engine = create_sqlite_engine(f"sqlite:///{tmp_path / 'app.db'}")
    connects: list[int] = []
    event.listen(engine, "connect", lambda *_: connects.append(1))
    assert isinstance(engine.pool, QueuePool)
    assert pragmas(engine) == ("wal", 1, 1)  # WAL, synchronous=NORMAL, foreign keys on
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    for n in range(5):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": str(n)})
    assert len(connects) <= 1, "a new connection per transaction: the pool is not in use"

    # The web app and the agent API use the database from executor threads.
    errors: list[BaseException] = []

    def in_a_thread() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t (v) VALUES ('thread')"))
        except BaseException as problem:  # pragma: no cover - reported below
            errors.append(problem)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 6
    engine.dispose()


def test_frontdesk_speedups_0_restores_sqlalchemy_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTDESK_SPEEDUPS", "0")
    engine = create_sqlite_engine(f"sqlite:///{tmp_path / 'app.db'}", future=False)
    assert isinstance(engine.pool, NullPool)
    assert pragmas(engine) == ("wal", 2, 1)  # synchronous=FULL
    engine.dispose()
