"""Escalations that happen out of band: a person must follow up by e-mail, not in the chat.

Used where pausing the chat would leak something (an SSO or security-locked account asking for
a password reset must look like any other address). In-chat handoffs are ``frontdesk.handoff``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String, select
from sqlalchemy.orm import Session

from frontdesk.schema import Base, utcnow


class EscalationReason(str, enum.Enum):
    RESET_RATE_LIMITED = "reset_rate_limited"  # handed off in the chat, as a ticket
    SSO_ACCOUNT = "sso_account"
    SECURITY_LOCKED = "security_locked"


class EscalationRow(Base):
    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    # Set when the escalation is about a known account (out-of-band follow-up by e-mail).
    account_id = Column(String(16), nullable=True)
    reason = Column(String(40), nullable=False)
    status = Column(String(16), nullable=False, default="open")
    created_at = Column(DateTime, nullable=False, default=utcnow)


@dataclass(frozen=True)
class Escalation:
    id: int
    conversation_id: str
    account_id: str | None
    reason: EscalationReason
    status: str
    created_at: datetime


class Escalations:
    def open(
        self,
        session: Session,
        conversation_id: str,
        reason: EscalationReason,
        account_id: str | None = None,
    ) -> int:
        row = EscalationRow(conversation_id=conversation_id, reason=reason.value, account_id=account_id)
        session.add(row)
        session.flush()
        return int(row.id)

    def list(self, session: Session, status: str | None = "open", limit: int = 100) -> list[Escalation]:
        query = select(EscalationRow).order_by(EscalationRow.id.desc()).limit(limit)
        if status:
            query = query.where(EscalationRow.status == status)
        return [
            Escalation(
                id=row.id,
                conversation_id=row.conversation_id,
                account_id=row.account_id,
                reason=EscalationReason(row.reason),
                status=row.status,
                created_at=row.created_at,
            )
            for row in session.execute(query).scalars()
        ]
