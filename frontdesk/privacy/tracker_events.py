"""Rasa's tracker store table, as retention and data-subject requests read and delete it.

Rasa creates and owns ``events`` (``rasa.core.tracker_store.SQLTrackerStore.SQLEvent``): it is
described here on a metadata of its own, so that Alembic never sees it, and only as far as this
package uses it."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, inspect
from sqlalchemy.engine import Connection

_rasa_metadata = MetaData()
rasa_events = Table(
    "events", _rasa_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),  # the conversation id
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),  # seconds since the epoch, as Rasa stamps its events
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),  # the event as JSON
)


def rasa_events_exist(connection: Connection) -> bool:
    """Rasa creates ``events`` when it first starts: a database it never used has none."""
    return inspect(connection).has_table(rasa_events.name)
