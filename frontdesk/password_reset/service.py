"""Password reset: request a link by e-mail, then set a new password with the link's token.

Rules this module enforces, whatever the caller:
- the caller's answer never depends on whether the address has an account (no enumeration);
- at most N requests per e-mail address per hour and per conversation, counted for every
  address, known or not, so the limit itself reveals nothing;
- tokens are 32 random bytes, stored only as SHA-256 hashes, single use, valid for minutes;
- every decision writes an audit record in the same transaction as its effect.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, String, func, select, update
from sqlalchemy.orm import Session

from frontdesk.accounts.identity import Account, AccountStatus, AuthMethod, IdentityProvider, normalise_email
from frontdesk.accounts.passwords import check_password_policy
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.ratelimit import EmailRequestLimits
from frontdesk.core.schema import Base, utcnow
from frontdesk.handoff.escalation import EscalationReason, EscalationRow, FollowUp, FollowUps
from frontdesk.mail.outbox import ComposedEmail, EmailOutbox, OutboxEmailRow, greeting
from frontdesk.settings import ResetPolicy

TOKEN_BYTES = 32

RESET_EMAIL = "password_reset"
SSO_NOTICE_EMAIL = "password_reset_sso_notice"
LOCKED_NOTICE_EMAIL = "password_reset_locked_notice"


class ResetRequestRow(Base):
    __tablename__ = "password_reset_requests"

    id = Column(Integer, primary_key=True, autoincrement=True)
    # HMAC of the normalised address: counts requests without keeping the address.
    email_key = Column(String(64), nullable=False, index=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    requested_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    outcome = Column(String(32), nullable=False)


class ResetTokenRow(Base):
    __tablename__ = "password_reset_tokens"

    id = Column(Integer, primary_key=True, autoincrement=True)
    account_id = Column(String(16), nullable=False, index=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime, nullable=True)
    revoked_at = Column(DateTime, nullable=True)


class ResetOutcome(str, enum.Enum):
    QUEUED = "queued"
    NO_ACCOUNT = "no_account"
    SSO_ACCOUNT = "sso_account"
    SECURITY_LOCKED = "security_locked"
    RATE_LIMITED_EMAIL = "rate_limited_email"
    RATE_LIMITED_CONVERSATION = "rate_limited_conversation"
    RATE_LIMITED_CLIENT = "rate_limited_client"  # this client address, whatever conversation or address
    RATE_LIMITED_OVERALL = "rate_limited_overall"  # every client together


@dataclass(frozen=True)
class ResetDecision:
    outcome: ResetOutcome
    # Set when the conversation must go to a person now. Account-specific cases (SSO, locked)
    # become out-of-band follow-ups (a ticket answered by e-mail), so the chat answer stays the
    # same for everyone.
    escalation_reason: EscalationReason | None = None

    @property
    def escalate_conversation(self) -> bool:
        return self.escalation_reason is not None


class TokenProblem(str, enum.Enum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class InvalidResetToken(Exception):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def hash_token(raw_token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


class PasswordResetService:
    def __init__(
        self,
        identity: IdentityProvider,
        outbox: EmailOutbox,
        policy: ResetPolicy,
        secret_key: str,
        follow_ups: FollowUps,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        limits: EmailRequestLimits | None = None,
    ) -> None:
        self.identity = identity
        self.outbox = outbox
        self.policy = policy
        self._secret_key = secret_key.encode("utf-8")
        self.follow_ups = follow_ups
        self.audit = audit or AuditLog()
        self.clock = clock
        self.limits = limits

    def email_key(self, email: str) -> str:
        return hmac.new(self._secret_key, normalise_email(email).encode("utf-8"), "sha256").hexdigest()

    def _count(self, session: Session, *conditions: object) -> int:
        query = select(func.count()).select_from(ResetRequestRow).where(*conditions)  # type: ignore[arg-type]
        return int(session.execute(query).scalar_one())

    def request_password_reset(
        self, session: Session, email: str, context: DecisionContext
    ) -> ResetDecision:
        now = self.clock()
        email_key = self.email_key(email)
        per_conversation = self._count(session, ResetRequestRow.conversation_id == context.conversation_id)
        per_email = self._count(
            session,
            ResetRequestRow.email_key == email_key,
            ResetRequestRow.requested_at >= now - timedelta(hours=1),
        )
        account = None
        if per_conversation >= self.policy.max_requests_per_conversation:
            outcome = ResetOutcome.RATE_LIMITED_CONVERSATION
        elif per_email >= self.policy.max_requests_per_email_per_hour:
            outcome = ResetOutcome.RATE_LIMITED_EMAIL
        elif self.limits is not None and (refused := self.limits.allow(session, context.client)) is not None:
            # Rotating conversations and addresses does not help: the client itself is counted.
            outcome = (ResetOutcome.RATE_LIMITED_OVERALL if refused.key == "all"
                       else ResetOutcome.RATE_LIMITED_CLIENT)
        else:
            account = self.identity.find_by_email(session, email)
            outcome = self._outcome_for(account)
        session.add(
            ResetRequestRow(
                email_key=email_key,
                conversation_id=context.conversation_id,
                requested_at=now,
                outcome=outcome.value,
            )
        )
        decision = self._act_on(session, outcome, account, context)
        self.audit.record(
            session,
            context,
            decision=f"password_reset.{outcome.value}",
            reason=decision.escalation_reason.value if decision.escalation_reason else None,
            escalated=decision.escalate_conversation,
        )
        return decision

    @staticmethod
    def _outcome_for(account: Account | None) -> ResetOutcome:
        if account is None:
            return ResetOutcome.NO_ACCOUNT
        if account.status is AccountStatus.SECURITY_LOCKED:
            return ResetOutcome.SECURITY_LOCKED
        if account.auth_method is AuthMethod.SSO:
            return ResetOutcome.SSO_ACCOUNT
        return ResetOutcome.QUEUED

    def _act_on(
        self, session: Session, outcome: ResetOutcome, account: Account | None, context: DecisionContext
    ) -> ResetDecision:
        if outcome.value.startswith("rate_limited"):
            # The caller hands the conversation to a person (a ticket, and the bot paused).
            return ResetDecision(outcome, EscalationReason.RESET_RATE_LIMITED)
        if account is None:
            return ResetDecision(outcome)
        if outcome is ResetOutcome.QUEUED:
            self._send(session, RESET_EMAIL, account, context)
            return ResetDecision(outcome)
        # SSO or security lock: the owner gets an e-mail saying what happens next, and an agent
        # gets a ticket to follow up by e-mail; the chat answer is the generic one.
        reason = (
            EscalationReason.SSO_ACCOUNT if outcome is ResetOutcome.SSO_ACCOUNT else EscalationReason.SECURITY_LOCKED
        )
        self._send(session, _NOTICE_EMAIL[reason], account, context)
        self.follow_ups.open_follow_up(session, context, _follow_up(account, reason))
        return ResetDecision(outcome)

    def adopt_legacy_escalations(self, session: Session) -> int:
        """Open follow-up tickets for the SSO and security-locked requests that earlier versions
        only wrote to the ``escalations`` table, where no agent looked; marks them ``ticketed``."""
        adopted = 0
        for row in session.execute(select(EscalationRow).where(EscalationRow.status == "open")).scalars():
            reason = EscalationReason(row.reason)
            account = self.identity.get(session, row.account_id or "")
            if reason in _NOTICE_EMAIL and account is not None:
                context = DecisionContext(row.conversation_id, action="db_upgrade")
                self.follow_ups.open_follow_up(session, context, _follow_up(account, reason))
                adopted += 1
            row.status = "ticketed"
        return adopted

    def _send(self, session: Session, kind: str, account: Account, context: DecisionContext) -> None:
        if not self.outbox.enqueue(session, kind, account.id):
            self.audit.record(session, context, "email.daily_cap_reached", reason=kind)

    # --- tokens -------------------------------------------------------------------------

    def mint_token(self, session: Session, account_id: str) -> tuple[int, str]:
        raw = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        row = ResetTokenRow(
            account_id=account_id,
            token_hash=hash_token(raw),
            created_at=now,
            expires_at=now + timedelta(minutes=self.policy.token_ttl_minutes),
        )
        session.add(row)
        session.flush()
        return int(row.id), raw

    def revoke_token(self, session: Session, token_id: int) -> None:
        session.execute(
            update(ResetTokenRow).where(ResetTokenRow.id == token_id).values(revoked_at=self.clock())
        )

    def _valid_token(self, session: Session, raw_token: str) -> ResetTokenRow:
        row = session.execute(
            select(ResetTokenRow).where(ResetTokenRow.token_hash == hash_token(raw_token))
        ).scalar_one_or_none()
        if row is None:
            raise InvalidResetToken(TokenProblem.UNKNOWN)
        if row.used_at is not None or row.revoked_at is not None:
            raise InvalidResetToken(TokenProblem.USED)
        if self.clock() >= row.expires_at:
            raise InvalidResetToken(TokenProblem.EXPIRED)
        return row

    def check_token(self, session: Session, raw_token: str) -> Account:
        """The account a still-valid token belongs to; raises InvalidResetToken otherwise."""
        row = self._valid_token(session, raw_token)
        account = self.identity.get(session, row.account_id)
        if account is None:
            raise InvalidResetToken(TokenProblem.UNKNOWN)
        return account

    def complete_password_reset(self, session: Session, raw_token: str, new_password: str) -> Account:
        """Set the new password and consume the token. Raises InvalidResetToken or
        PasswordPolicyError; a policy error leaves the token usable for another try."""
        account = self.check_token(session, raw_token)
        check_password_policy(new_password, account.email)
        now = self.clock()
        # Consume first, conditionally: of two simultaneous submissions only one wins.
        consumed = session.execute(
            update(ResetTokenRow)
            .where(ResetTokenRow.token_hash == hash_token(raw_token), ResetTokenRow.used_at.is_(None))
            .values(used_at=now)
        )
        if consumed.rowcount != 1:
            raise InvalidResetToken(TokenProblem.USED)
        # Any other link still in flight for this account dies with this reset.
        session.execute(
            update(ResetTokenRow)
            .where(
                ResetTokenRow.account_id == account.id,
                ResetTokenRow.used_at.is_(None),
                ResetTokenRow.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        self.identity.set_password(session, account.id, new_password)
        self.audit.record(
            session, DecisionContext(conversation_id=""), decision="password_reset.completed"
        )
        return account


_NOTICE_EMAIL = {EscalationReason.SSO_ACCOUNT: SSO_NOTICE_EMAIL, EscalationReason.SECURITY_LOCKED: LOCKED_NOTICE_EMAIL}

# What the agent reads on the follow-up ticket: (topic, what happened, category).
_FOLLOW_UPS = {
    EscalationReason.SSO_ACCOUNT: (
        "password reset for an SSO account",
        "Someone asked the assistant for a password reset for this account, which signs in through "
        "its company's single sign-on, so there is no password for us to reset.",
        None,
    ),
    EscalationReason.SECURITY_LOCKED: (
        "password reset for a security-locked account",
        "Someone asked the assistant for a password reset for this account, which is locked by "
        "the security team, so it cannot be reset automatically.",
        "account_recovery",
    ),
}
_FOLLOW_UP_NOTE = (
    " The account's owner was e-mailed a notice saying that support has been told. In the chat, "
    "the requester got the same answer as for any address (so they learnt nothing about the "
    "account), and the person chatting may not be the owner: do not reply in the chat. Verify the "
    "owner's identity before acting, and answer by e-mail to the address on the account."
)
_FOLLOW_UP_REPLIES = {
    EscalationReason.SSO_ACCOUNT: "Hello, we received a password-reset request for your account. Your account "
    "signs in through your company's single sign-on, so its password is managed by your IT team: please use "
    "the 'Continue with SSO' button. If you did not ask for this, or still cannot sign in, reply to this "
    "e-mail and we will help.",
    EscalationReason.SECURITY_LOCKED: "Hello, we received a password-reset request for your account, which "
    "our security team is currently protecting. Before we can restore access we need to verify your "
    "identity: please reply to this e-mail and we will take you through the next steps. If you did not ask "
    "for this, let us know as well.",
}


def _follow_up(account: Account, reason: EscalationReason) -> FollowUp:
    topic, happened, category = _FOLLOW_UPS[reason]
    return FollowUp(account_id=account.id, reason=reason, topic=topic, summary=happened + _FOLLOW_UP_NOTE,
                    suggested_reply=_FOLLOW_UP_REPLIES[reason], category=category)


# What the owner of an account that cannot be reset automatically is told, by e-mail only.
_NOTICES = {
    SSO_NOTICE_EMAIL: "Your account signs in through your company's single sign-on, so its password is "
    "managed by your IT team, not by us. Sign in with the 'Continue with SSO' button. A member of our "
    "support team has been notified and will reply to this address if you need more help.",
    LOCKED_NOTICE_EMAIL: "The account is currently protected by our security team, so it cannot be reset "
    "automatically. A member of our support team will contact you at this address to verify your "
    "identity and restore access.",
}


class PasswordResetEmails:
    """Composes the three e-mails of the flow; the reset link's token is minted here."""

    def __init__(self, service: PasswordResetService, public_url: str) -> None:
        self.service = service
        self.public_url = public_url.rstrip("/")

    def composers(self) -> dict[str, PasswordResetEmails]:
        return {RESET_EMAIL: self, SSO_NOTICE_EMAIL: self, LOCKED_NOTICE_EMAIL: self}

    def compose(self, session: Session, row: OutboxEmailRow) -> ComposedEmail | None:
        account = self.service.identity.get(session, row.account_id or "")
        if account is None:
            return None
        hello = greeting(account.full_name)
        if row.kind in _NOTICES:
            return ComposedEmail(
                to=account.email,
                subject="About your password reset request",
                body=f"{hello}\n\nSomeone (hopefully you) asked to reset the password of this account. "
                f"{_NOTICES[row.kind]}\n\nFrontdesk Support",
            )
        if account.status is not AccountStatus.ACTIVE or account.auth_method is not AuthMethod.PASSWORD:
            return None  # the account changed since the request
        token_id, raw = self.service.mint_token(session, account.id)
        minutes = self.service.policy.token_ttl_minutes
        return ComposedEmail(
            to=account.email,
            subject="Reset your password",
            body=f"{hello}\n\nUse this link to choose a new password. It works once and "
            f"expires in {minutes} minutes:\n\n{self.public_url}/reset-password?token={raw}\n\n"
            "If you did not ask for this, ignore this e-mail: your password stays the same.\n\n"
            "Frontdesk Support",
            secret_id=token_id,
        )

    def discard(self, session: Session, email: ComposedEmail) -> None:
        if email.secret_id is not None:
            self.service.revoke_token(session, email.secret_id)
