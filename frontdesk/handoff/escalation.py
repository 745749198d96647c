"""Escalations that happen out of band: a person must follow up by e-mail, not in the chat.

Used where pausing the chat would leak something (an SSO or security-locked account asking for
a password reset must look like any other address). The case becomes a ticket like every other
handoff (``HandoffService.open_follow_up`` in ``frontdesk.handoff.service``), through the small
``FollowUps`` port here, so that callers do not depend on the handoff machinery.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Column, DateTime, Integer, String
from sqlalchemy.orm import Session

from frontdesk.core.audit import DecisionContext
from frontdesk.core.schema import Base, utcnow


class EscalationReason(str, enum.Enum):
    RESET_RATE_LIMITED = "reset_rate_limited"  # handed off in the chat, as a ticket
    SSO_ACCOUNT = "sso_account"
    SECURITY_LOCKED = "security_locked"


@dataclass(frozen=True)
class FollowUp:
    """What an agent needs to take a case up with the owner of a known account, by e-mail.

    ``summary`` and ``suggested_reply`` go on the ticket: say what happened and what the owner
    was already told, never quote the requester."""

    account_id: str
    reason: EscalationReason
    topic: str  # the ticket subject's topic, e.g. "password reset for an SSO account"
    summary: str
    suggested_reply: str
    category: str | None = None  # a handoff category (handoff.yml), which sets the priority


class FollowUps(Protocol):
    def open_follow_up(self, session: Session, context: DecisionContext, follow_up: FollowUp) -> object:
        """Files the follow-up in the same transaction as the caller's writes; the chat is untouched."""


# -- legacy ---------------------------------------------------------------------------------------
# Out-of-band cases used to be rows in the ``escalations`` table, where no agent looked. Nothing
# writes there any more; ``frontdesk db upgrade`` turns the open ones into follow-up tickets
# (``PasswordResetService.adopt_legacy_escalations``). The table goes in a later migration.


class EscalationRow(Base):
    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    # Set when the escalation is about a known account (out-of-band follow-up by e-mail).
    account_id = Column(String(16), nullable=True)
    reason = Column(String(40), nullable=False)
    status = Column(String(16), nullable=False, default="open")
    created_at = Column(DateTime, nullable=False, default=utcnow)
