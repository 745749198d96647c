"""E-mail one-time codes: how a customer without a signed session proves who they are.

The customer gives their account e-mail; if it has an active account, a 6-digit code goes to
that address. The chat answer is the same whether or not the account exists (no enumeration),
and an unknown address gets a pending row too, so that guessing a code fails the same way.
Codes are minted when the e-mail is sent (the outbox holds no secret), valid for 10 minutes from
the request (an unknown address's row expires the same way, so "expired" tells nothing), allow
5 attempts, and are stored only as an HMAC keyed with the server's secret: six digits
are too few to survive a plain hash if the table leaked.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, String, func, select
from sqlalchemy.orm import Session

from frontdesk.accounts.identity import AccountStatus, IdentityProvider, normalise_email
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.ratelimit import EmailRequestLimits
from frontdesk.core.schema import Base, utcnow
from frontdesk.mail.outbox import ComposedEmail, EmailOutbox, OutboxEmailRow, greeting

CODE_EMAIL = "verification_code"
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CODES_PER_CONVERSATION = 3
MAX_CODES_PER_EMAIL_PER_HOUR = 5


class VerificationRow(Base):
    __tablename__ = "verification_codes"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    email_key = Column(String(64), nullable=False, index=True)  # HMAC of the address
    account_id = Column(String(16), nullable=True)  # None: no such account (the row still counts)
    code_hash = Column(String(64), nullable=True)  # set when the e-mail is sent
    requested_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    expires_at = Column(DateTime, nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    status = Column(String(16), nullable=False, default="pending")  # pending|verified|locked|superseded


class CodeRequest(str, enum.Enum):
    SENT = "sent"  # what the customer is told in every non-limited case
    RATE_LIMITED = "rate_limited"


class CodeCheck(str, enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"  # too many wrong attempts: ask for a new code, or a person
    EXPIRED = "expired"
    NOTHING_PENDING = "nothing_pending"


@dataclass(frozen=True)
class CheckResult:
    outcome: CodeCheck
    account_id: str | None = None
    attempts_left: int = 0


class EmailVerification:
    def __init__(
        self, identity: IdentityProvider, outbox: EmailOutbox, secret_key: str, audit: AuditLog,
        clock: Callable[[], datetime] = utcnow, limits: EmailRequestLimits | None = None,
    ) -> None:
        self.identity = identity
        self.outbox = outbox
        self._key = secret_key.encode("utf-8")
        self.audit = audit
        self.clock = clock
        self.limits = limits

    def _hmac(self, *parts: str) -> str:
        return hmac.new(self._key, "\x1f".join(parts).encode("utf-8"), "sha256").hexdigest()

    def request_code(self, session: Session, email: str, context: DecisionContext) -> CodeRequest:
        now = self.clock()
        email_key = self._hmac("email", normalise_email(email))
        by_conversation = session.execute(select(func.count()).select_from(VerificationRow).where(
            VerificationRow.conversation_id == context.conversation_id)).scalar_one()
        by_email = session.execute(select(func.count()).select_from(VerificationRow).where(
            VerificationRow.email_key == email_key, VerificationRow.requested_at > now - timedelta(hours=1),
        )).scalar_one()
        refused = None
        if by_conversation >= MAX_CODES_PER_CONVERSATION:
            refused = "conversation"
        elif by_email >= MAX_CODES_PER_EMAIL_PER_HOUR:
            refused = "email"
        elif self.limits is not None and (limit := self.limits.allow(session, context.client)) is not None:
            refused = "overall" if limit.key == "all" else "client"
        if refused is not None:
            self.audit.record(session, context, "verification.rate_limited", reason=refused)
            return CodeRequest.RATE_LIMITED
        for older in session.execute(select(VerificationRow).where(
                VerificationRow.conversation_id == context.conversation_id,
                VerificationRow.status == "pending")).scalars():
            older.status = "superseded"  # only the newest code counts
        account = self.identity.find_by_email(session, email)
        usable = account is not None and account.status is AccountStatus.ACTIVE
        # Every request expires the same way, known address or not: "expired" must not tell them apart.
        session.add(VerificationRow(conversation_id=context.conversation_id, email_key=email_key,
                                    account_id=account.id if usable else None, requested_at=now,
                                    expires_at=now + CODE_TTL))
        if usable and not self.outbox.enqueue(session, CODE_EMAIL, account.id):
            self.audit.record(session, context, "email.daily_cap_reached", reason=CODE_EMAIL)
        self.audit.record(session, context, "verification.code_requested",
                          reason="queued" if usable else "no_active_account")
        return CodeRequest.SENT

    def check_code(self, session: Session, code: str, context: DecisionContext) -> CheckResult:
        row = session.execute(select(VerificationRow).where(
            VerificationRow.conversation_id == context.conversation_id,
            VerificationRow.status.in_(("pending", "locked"))).order_by(VerificationRow.id.desc())).scalars().first()
        if row is None:
            return CheckResult(CodeCheck.NOTHING_PENDING)
        if row.status == "locked":
            return CheckResult(CodeCheck.LOCKED)
        if row.expires_at is not None and self.clock() > row.expires_at:
            row.status = "superseded"
            self.audit.record(session, context, "verification.failed", reason="expired")
            return CheckResult(CodeCheck.EXPIRED)
        row.attempts += 1
        digits = "".join(ch for ch in code if ch.isdigit())
        expected = row.code_hash
        matches = expected is not None and hmac.compare_digest(expected, self._hmac("code", str(row.id), digits))
        if matches and row.account_id:
            row.status = "verified"
            self.audit.record(session, context, "verification.verified", reason="email_code",
                              customer_id=row.account_id)
            return CheckResult(CodeCheck.VERIFIED, account_id=row.account_id)
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "locked"
            self.audit.record(session, context, "verification.failed", reason="too_many_attempts")
            return CheckResult(CodeCheck.LOCKED)
        self.audit.record(session, context, "verification.failed", reason="wrong_code")
        return CheckResult(CodeCheck.WRONG, attempts_left=MAX_ATTEMPTS - row.attempts)

    # -- the e-mail -----------------------------------------------------------------------------

    def compose(self, session: Session, outbox_row: OutboxEmailRow) -> ComposedEmail | None:
        """Mints the code for the newest pending request of this account and writes the e-mail."""
        row = session.execute(select(VerificationRow).where(
            VerificationRow.account_id == outbox_row.account_id, VerificationRow.status == "pending",
            VerificationRow.code_hash.is_(None)).order_by(VerificationRow.id.desc())).scalars().first()
        account = self.identity.get(session, outbox_row.account_id or "")
        if row is None or account is None:
            return None  # superseded or gone: nothing to send
        now = self.clock()
        if row.expires_at is not None and now >= row.expires_at:
            return None  # the code would arrive dead: the customer asks again
        code = f"{secrets.randbelow(10**6):06d}"
        row.code_hash = self._hmac("code", str(row.id), code)
        minutes = max(1, int(((row.expires_at or now + CODE_TTL) - now).total_seconds() // 60))
        return ComposedEmail(
            to=account.email,
            subject=f"Your Frontdesk verification code: {code}",
            body=f"{greeting(account.full_name)}\n\nYour verification code is {code}.\n\n"
            f"Type it in the chat to see your billing details. It expires in {minutes} minutes.\n"
            "Never share it: our team will never ask you for it.\n\n"
            "If you did not ask for this code, you can ignore this e-mail.\n\nFrontdesk Support",
            secret_id=row.id,
        )

    def discard(self, session: Session, email: ComposedEmail) -> None:
        row = session.get(VerificationRow, email.secret_id)
        if row is not None and row.status == "pending":
            row.code_hash = None  # a failed send leaves no usable code

    def composers(self) -> dict[str, EmailVerification]:
        return {CODE_EMAIL: self}
