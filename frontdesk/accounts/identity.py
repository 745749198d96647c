"""The identity port: who the customers are and how their passwords are stored.

``IdentityProvider`` is what the password-reset flow needs from an identity system. The
embedded default keeps accounts in the app database; a company's identity provider (Okta,
Auth0, Keycloak...) plugs in by implementing the same four methods.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Column, DateTime, String, select
from sqlalchemy.orm import Session

from frontdesk.accounts.passwords import hash_password, verify_password
from frontdesk.core.schema import Base, utcnow


class AuthMethod(str, enum.Enum):
    PASSWORD = "password"  # noqa: S105 - a sign-in method, not a secret
    SSO = "sso"


class AccountStatus(str, enum.Enum):
    ACTIVE = "active"
    # Locked by the security team (suspected takeover): only a human may unlock it.
    SECURITY_LOCKED = "security_locked"


class AccountRow(Base):
    __tablename__ = "accounts"

    id = Column(String(16), primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    full_name = Column(String(200), nullable=False)
    company = Column(String(200), nullable=True)
    plan = Column(String(40), nullable=False, default="team")
    tier = Column(String(20), nullable=False, default="standard")
    language = Column(String(10), nullable=False, default="en")
    timezone = Column(String(64), nullable=False, default="UTC")
    auth_method = Column(String(16), nullable=False, default=AuthMethod.PASSWORD.value)
    status = Column(String(24), nullable=False, default=AccountStatus.ACTIVE.value)
    password_hash = Column(String(200), nullable=True)
    password_changed_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    full_name: str
    auth_method: AuthMethod
    status: AccountStatus
    password_changed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: AccountRow) -> Account:
        return cls(
            id=row.id,
            email=row.email,
            full_name=row.full_name,
            auth_method=AuthMethod(row.auth_method),
            status=AccountStatus(row.status),
            password_changed_at=row.password_changed_at,
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()


class IdentityProvider(Protocol):
    def find_by_email(self, session: Session, email: str) -> Account | None: ...

    def get(self, session: Session, account_id: str) -> Account | None: ...

    def set_password(self, session: Session, account_id: str, password: str) -> None: ...

    def check_password(self, session: Session, account_id: str, password: str) -> bool: ...


class SqlIdentityProvider:
    """Accounts in the app database (the embedded default)."""

    def find_by_email(self, session: Session, email: str) -> Account | None:
        row = session.execute(
            select(AccountRow).where(AccountRow.email == normalise_email(email))
        ).scalar_one_or_none()
        return Account.from_row(row) if row else None

    def get(self, session: Session, account_id: str) -> Account | None:
        row = session.get(AccountRow, account_id)
        return Account.from_row(row) if row else None

    def set_password(self, session: Session, account_id: str, password: str) -> None:
        row = session.get(AccountRow, account_id)
        if row is None:
            raise LookupError(account_id)
        row.password_hash = hash_password(password)
        row.password_changed_at = utcnow()

    def check_password(self, session: Session, account_id: str, password: str) -> bool:
        row = session.get(AccountRow, account_id)
        return verify_password(password, row.password_hash if row else None)


_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def extract_email(text: str | None) -> str | None:
    """The one e-mail address in a customer's message, normalised, or None.

    Two different addresses in one message are ambiguous, so they count as none.
    """
    if not text or len(text) > 1000:
        return None
    found = {normalise_email(match) for match in _EMAIL.findall(text)}
    if len(found) != 1:
        return None
    email = found.pop().strip(".")
    local, _, domain = email.partition("@")
    if len(email) > 254 or len(local) > 64 or ".." in email or not domain:
        return None
    return email
