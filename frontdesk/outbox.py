"""A transactional e-mail outbox, drained by a worker that sends over SMTP.

Business code only *enqueues* (in the same transaction as its own writes), so a request never
waits on, or fails because of, the mail server; the worker retries with back-off, so an SMTP
outage delays mail and loses none. Secrets (reset tokens, one-time codes) are never stored in
the outbox: a composer mints them at send time and revokes them if the send fails.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, Integer, String, Text, and_, func, select, update
from sqlalchemy.orm import Session

from frontdesk.db import Database
from frontdesk.schema import Base, utcnow
from frontdesk.settings import SmtpSettings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A claimed row is leased for this long: a worker that dies mid-send loses the lease, and the
# message is retried by the next worker instead of being stuck.
LEASE = timedelta(minutes=2)


def claimed_due_rows(db: Database, model: type[Any], now: datetime, limit: int = 50) -> Iterator[int]:
    """Ids of due outbox rows, each leased to this worker before it is yielded.

    Shared by every outbox table (columns ``status``, ``attempts``, ``next_attempt_at``). The
    conditional update is the lease: of several workers, exactly one gets each row, and a row
    whose worker dies becomes due again when the lease ends.
    """
    with db.transaction() as session:
        due = session.execute(
            select(model.id).where(model.status == "pending", model.next_attempt_at <= now)
            .order_by(model.id).limit(limit)
        ).scalars().all()
    for row_id in due:
        with db.transaction() as session:
            claimed = session.execute(
                update(model)
                .where(and_(model.id == row_id, model.status == "pending", model.next_attempt_at <= now))
                .values(attempts=model.attempts + 1, next_attempt_at=now + LEASE)
            )
        if claimed.rowcount == 1:
            yield row_id


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 1800))


class DeliveryColumns:
    """The columns every outbox table shares, which ``claimed_due_rows`` works on."""

    status = Column(String(16), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_error = Column(Text, nullable=True)


class OutboxEmailRow(DeliveryColumns, Base):
    __tablename__ = "outbox_emails"

    id = Column(Integer, primary_key=True, autoincrement=True)
    kind = Column(String(40), nullable=False)
    account_id = Column(String(16), nullable=True, index=True)
    sent_at = Column(DateTime, nullable=True)


@dataclass(frozen=True)
class ComposedEmail:
    to: str
    subject: str
    body: str
    # What the composer minted for this message (a token id), revoked if sending fails.
    secret_id: int | None = None


class EmailComposer(Protocol):
    def compose(self, session: Session, row: OutboxEmailRow) -> ComposedEmail | None:
        """The message to send, or None when it should no longer be sent."""

    def discard(self, session: Session, email: ComposedEmail) -> None:
        """Sending failed: make whatever compose() minted useless."""


class Mailer(Protocol):
    def send(self, email: ComposedEmail) -> None: ...


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, email: ComposedEmail) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message.set_content(email.body)
        with smtplib.SMTP(
            self.settings.host, self.settings.port, timeout=self.settings.timeout_seconds
        ) as smtp:
            if self.settings.starttls:
                smtp.starttls()
            if self.settings.username and self.settings.password:
                smtp.login(self.settings.username, self.settings.password)
            smtp.send_message(message)


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dropped: int = 0
    failed: int = 0


class EmailOutbox:
    def __init__(
        self,
        composers: Mapping[str, EmailComposer],
        max_age: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.composers = composers
        self.max_age = max_age
        self.clock = clock

    def enqueue(self, session: Session, kind: str, account_id: str | None) -> None:
        if kind not in self.composers:
            raise ValueError(f"no composer for e-mail kind {kind!r}")
        now = self.clock()
        session.add(OutboxEmailRow(kind=kind, account_id=account_id, created_at=now, next_attempt_at=now))

    def pending_count(self, session: Session) -> int:
        query = select(func.count()).select_from(OutboxEmailRow).where(OutboxEmailRow.status == "pending")
        return int(session.execute(query).scalar_one())

    def dispatch_due(self, db: Database, mailer: Mailer, limit: int = 50) -> DispatchReport:
        sent = retried = dropped = failed = 0
        for row_id in claimed_due_rows(db, OutboxEmailRow, self.clock(), limit):
            with db.transaction() as session:
                row = session.get(OutboxEmailRow, row_id)
                assert row is not None
                if self.clock() - row.created_at > self.max_age:
                    row.status, row.last_error = "expired", "undelivered past its maximum age"
                    dropped += 1
                    continue
                email = self.composers[row.kind].compose(session, row)
                if email is None:
                    row.status = "dropped"
                    dropped += 1
                    continue
            try:
                mailer.send(email)
            except (OSError, smtplib.SMTPException) as exc:
                with db.transaction() as session:
                    row = session.get(OutboxEmailRow, row_id)
                    assert row is not None
                    self.composers[row.kind].discard(session, email)
                    row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = "failed"
                        failed += 1
                    else:
                        row.next_attempt_at = self.clock() + backoff(row.attempts)
                        retried += 1
                log.warning("outbox e-mail %s not sent (attempt %s): %s", row_id, row.attempts, exc)
                continue
            with db.transaction() as session:
                row = session.get(OutboxEmailRow, row_id)
                assert row is not None
                row.status, row.sent_at, row.last_error = "sent", self.clock(), None
            sent += 1
        return DispatchReport(sent=sent, retried=retried, dropped=dropped, failed=failed)
