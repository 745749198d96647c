"""The embedded ticketing backend: tickets in the app database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.core.db import Database
from frontdesk.core.schema import Base, utcnow
from frontdesk.ticketing.port import TicketDraft, TicketErasure, TicketRef, TicketSnapshot, keyed_body


class TicketRow(Base):
    __tablename__ = "tickets"

    id = Column(Integer, primary_key=True, autoincrement=True)
    external_key = Column(String(160), nullable=False, unique=True)  # the idempotency key
    conversation_id = Column(String(128), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    subject = Column(String(200), nullable=False)
    queue = Column(String(40), nullable=False, index=True)
    priority = Column(String(10), nullable=False)
    labels = Column(Text, nullable=False, default="[]")
    customer_id = Column(String(16), nullable=True, index=True)
    profile = Column(Text, nullable=False, default="{}")
    summary = Column(Text, nullable=False)
    suggested_reply = Column(Text, nullable=False)
    transcript = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="open", index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class TicketCommentRow(Base):
    __tablename__ = "ticket_comments"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False, index=True)
    body = Column(Text, nullable=False)
    public = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


def reference_for(ticket_id: int) -> str:
    return f"FD-{ticket_id:05d}"


class SqlTicketing:
    name = "embedded"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _find(self, key: str) -> TicketRef | None:
        with self.db.transaction() as session:
            ticket_id = session.execute(select(TicketRow.id).where(TicketRow.external_key == key)).scalar()
        return TicketRef(self.name, str(ticket_id), reference_for(ticket_id)) if ticket_id else None

    def create_ticket(self, draft: TicketDraft) -> TicketRef:
        existing = self._find(draft.idempotency_key)
        if existing:
            return existing
        try:
            with self.db.transaction() as session:
                row = TicketRow(
                    external_key=draft.idempotency_key, conversation_id=draft.conversation_id,
                    channel=draft.channel, subject=draft.subject, queue=draft.queue, priority=draft.priority,
                    labels=json.dumps(list(draft.labels)), customer_id=draft.customer_id,
                    profile=json.dumps(draft.profile), summary=draft.summary,
                    suggested_reply=draft.suggested_reply, transcript=draft.transcript,
                )
                session.add(row)
                session.flush()
                ticket_id = int(row.id)
        except IntegrityError:  # a concurrent create with the same key won the race
            found = self._find(draft.idempotency_key)
            assert found is not None
            return found
        return TicketRef(self.name, str(ticket_id), reference_for(ticket_id))

    def add_comment(self, ticket: TicketRef, body: str, public: bool = False, key: str | None = None) -> None:
        """With ``key`` the stored body ends with the key's reference line, as in Zendesk; a
        comment already stored with it is not added again (the table has no column for the key)."""
        ticket_id = int(ticket.external_id)
        stored = keyed_body(body, key) if key else body
        with self.db.transaction() as session:
            if key and session.execute(select(TicketCommentRow.id).where(
                    TicketCommentRow.ticket_id == ticket_id, TicketCommentRow.body == stored)).first():
                return
            session.add(TicketCommentRow(ticket_id=ticket_id, body=stored, public=public))

    def close_ticket(self, ticket: TicketRef) -> None:
        with self.db.transaction() as session:
            row = session.get(TicketRow, int(ticket.external_id))
            if row is not None:
                row.status = "solved"

    def ticket_status(self, external_id: str) -> str:
        return self.ticket_snapshot(external_id).status

    def ticket_snapshot(self, external_id: str) -> TicketSnapshot:
        """The row has no update time of its own: its newest comment is the last change we know of."""
        with self.db.transaction() as session:
            row = session.get(TicketRow, int(external_id))
            if row is None:
                return TicketSnapshot("missing", None)
            last_comment = session.execute(select(func.max(TicketCommentRow.created_at)).where(
                TicketCommentRow.ticket_id == row.id)).scalar()
            return TicketSnapshot(row.status, max(filter(None, (row.created_at, last_comment))))

    def erase_requester_data(self, external_ids: Sequence[str], requester_email: str | None,
                             session: Session | None = None) -> TicketErasure:
        """Deletes these tickets and their comments. Tickets here keep no requester record (they
        name the customer by account id, which the erasure finds by itself), so the address is
        not needed. With ``session`` the deletion joins the caller's transaction: the erasure of
        the app database is all or nothing."""
        if session is None:
            with self.db.transaction() as own:
                return self.erase_requester_data(external_ids, requester_email, own)
        ticket_ids = sorted({int(external_id) for external_id in external_ids if external_id.isdigit()})
        if not ticket_ids:
            return TicketErasure()
        session.execute(delete(TicketCommentRow).where(TicketCommentRow.ticket_id.in_(ticket_ids)))
        erased = session.execute(delete(TicketRow).where(TicketRow.id.in_(ticket_ids))).rowcount
        return TicketErasure(tickets_erased=int(erased or 0))
