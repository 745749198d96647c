"""A transactional e-mail outbox, drained by a worker that sends over SMTP.

Business code only *enqueues* (in the same transaction as its own writes), so a request never
waits on, or fails because of, the mail server; the worker retries with back-off, so an SMTP
outage delays mail and loses none. Every attempt counts, whatever went wrong, and a message that
still fails after ``MAX_ATTEMPTS`` ends ``failed`` with its ``last_error``; one bad row never stops
the rest of a pass. Secrets (reset tokens, one-time codes) are never stored in
the outbox: a composer mints them at send time and revokes them if the send fails.
"""

from __future__ import annotations

import errno
import logging
import smtplib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, Integer, String, Text, and_, func, select, update
from sqlalchemy.orm import Session

from frontdesk.core.db import Database
from frontdesk.core.schema import Base, utcnow
from frontdesk.settings import SmtpSettings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A claimed row is leased for this long, counted from the moment *it* is claimed: a worker that
# dies mid-send loses the lease and the next worker retries the row instead of leaving it stuck.
# Well above the slowest single delivery (a few 10 s SMTP/HTTP timeouts in a row).
LEASE = timedelta(minutes=5)

Clock = Callable[[], datetime]


def claimed_due_rows(
    db: Database, model: type[Any], clock: Clock, limit: int = 50, lease: timedelta = LEASE
) -> Iterator[int]:
    """Ids of due outbox rows, each leased to this worker before it is yielded.

    Shared by every outbox table (columns ``status``, ``attempts``, ``next_attempt_at``). The
    conditional update is the claim: of several workers, exactly one gets each row, and a row
    whose worker dies becomes due again when the lease ends. The clock is read again for every
    claim, so each lease starts when its row is claimed; with one ``now`` per pass, a pass slower
    than the lease handed out leases that had already ended, and a second worker sent those rows
    again. What remains: a single row whose delivery outlasts ``lease`` can be claimed by another
    worker while the first is still on it (the ticket backends then deduplicate by key).
    """
    with db.transaction() as session:
        due = session.execute(
            select(model.id).where(model.status == "pending", model.next_attempt_at <= clock())
            .order_by(model.id).limit(limit)
        ).scalars().all()
    for row_id in due:
        now = clock()
        with db.transaction() as session:
            claimed = session.execute(
                update(model)
                .where(and_(model.id == row_id, model.status == "pending", model.next_attempt_at <= now))
                .values(attempts=model.attempts + 1, next_attempt_at=now + lease)
            )
        if claimed.rowcount == 1:
            yield row_id


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 1800))


def record_failure(row: Any, error: str, retry_at: datetime, max_attempts: int) -> bool:
    """Notes a failed attempt on an outbox row: retried at ``retry_at``, or ``failed`` (returns
    True) once it has had ``max_attempts``. ``error`` must not quote message or ticket contents."""
    row.last_error = error[:500]
    if row.attempts >= max_attempts:
        row.status = "failed"
        return True
    row.next_attempt_at = retry_at
    return False


def describe_failure(problem: BaseException) -> str:
    """The exception class and, where it cannot quote personal data, a short reason.

    Exception messages are not safe to store or log as they are: an SMTP refusal names the
    recipient's address, and an unexpected error can quote whatever the code was handling.
    """
    name = type(problem).__name__
    if isinstance(problem, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in problem.recipients.values()})
        return f"{name}: SMTP {', '.join(codes)}"
    if isinstance(problem, smtplib.SMTPResponseException):
        return f"{name}: SMTP {problem.smtp_code}"  # the server's text can echo the address
    if isinstance(problem, OSError) and problem.errno in errno.errorcode:
        return f"{name}: {errno.errorcode[problem.errno]}"  # e.g. ECONNREFUSED
    return name


def greeting(full_name: str | None) -> str:
    """The e-mail's first line: the first name when the account has one, else a plain "Hello,"."""
    names = (full_name or "").split()
    return f"Hello {names[0]}," if names else "Hello,"


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
        clock: Clock = utcnow,
        max_attempts: int = MAX_ATTEMPTS,
        lease: timedelta = LEASE,
        per_address_per_day: int | None = None,
    ) -> None:
        self.composers = composers
        self.max_age = max_age
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease = lease
        self.per_address_per_day = per_address_per_day

    def enqueue(self, session: Session, kind: str, account_id: str | None) -> bool:
        """Queues an e-mail to the account's address; False when the address already got its
        daily share (whatever asked, in whichever conversation): nothing is queued then, and
        the caller answers the chat exactly as if it had been."""
        if kind not in self.composers:
            raise ValueError(f"no composer for e-mail kind {kind!r}")
        now = self.clock()
        if self.per_address_per_day is not None and account_id is not None:
            today = session.execute(select(func.count()).select_from(OutboxEmailRow).where(
                OutboxEmailRow.account_id == account_id,
                OutboxEmailRow.created_at > now - timedelta(days=1))).scalar_one()
            if today >= self.per_address_per_day:
                return False
        session.add(OutboxEmailRow(kind=kind, account_id=account_id, created_at=now, next_attempt_at=now))
        return True

    def pending_count(self, session: Session) -> int:
        query = select(func.count()).select_from(OutboxEmailRow).where(OutboxEmailRow.status == "pending")
        return int(session.execute(query).scalar_one())

    def dispatch_due(self, db: Database, mailer: Mailer, limit: int = 50) -> DispatchReport:
        counts = {"sent": 0, "retried": 0, "dropped": 0, "failed": 0}
        for row_id in claimed_due_rows(db, OutboxEmailRow, self.clock, limit, self.lease):
            try:
                outcome = self._deliver(db, mailer, row_id)
            except Exception as problem:  # whatever breaks one message must not hold up the others
                outcome = self._attempt_failed(db, row_id, problem)
            counts[outcome] += 1
        return DispatchReport(**counts)

    def _deliver(self, db: Database, mailer: Mailer, row_id: int) -> str:
        with db.transaction() as session:
            row = session.get(OutboxEmailRow, row_id)
            if row is None:
                return "dropped"
            if self.clock() - row.created_at > self.max_age:
                row.status, row.last_error = "expired", "undelivered past its maximum age"
                return "dropped"
            kind = row.kind
            # A composer that raises rolls this transaction back: nothing it minted survives.
            email = self.composers[kind].compose(session, row)
            if email is None:
                row.status = "dropped"
                return "dropped"
        try:
            mailer.send(email)
        except Exception:
            with db.transaction() as session:
                self.composers[kind].discard(session, email)  # no live link or code for an unsent mail
            raise
        with db.transaction() as session:
            row = session.get(OutboxEmailRow, row_id)
            if row is not None:
                row.status, row.sent_at, row.last_error = "sent", self.clock(), None
        return "sent"

    def _attempt_failed(self, db: Database, row_id: int, problem: Exception) -> str:
        error = describe_failure(problem)
        with db.transaction() as session:
            row = session.get(OutboxEmailRow, row_id)
            if row is None:
                return "dropped"
            attempts = row.attempts
            failed = record_failure(row, error, self.clock() + backoff(attempts), self.max_attempts)
        # The id and the exception class only: the message could quote the recipient.
        if failed:
            log.error("outbox e-mail %s failed for good after %s attempts: %s", row_id, attempts, error)
            return "failed"
        log.warning("outbox e-mail %s not sent (attempt %s): %s", row_id, attempts, error)
        return "retried"
