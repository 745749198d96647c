"""The declarative base every app table hangs off, and the clock the domain uses.

Timestamps are stored as naive UTC: SQLite drops time zones, so one convention everywhere.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import declarative_base

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_utc(value: object) -> datetime | None:
    """An ISO 8601 time from another service's JSON (``2026-11-27T09:00:00Z``,
    ``…09:00:00.000-05:00``) as naive UTC, the way the app stores times; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when
