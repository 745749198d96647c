"""The declarative base every app table hangs off, and the clock the domain uses.

Timestamps are stored as naive UTC: SQLite drops time zones, so one convention everywhere.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import declarative_base

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
