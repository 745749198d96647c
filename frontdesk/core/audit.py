"""The audit trail: one row for every automated decision the assistant takes.

A row says what was decided, on what evidence (intent, confidence, model id) and by which
action, so a reviewer can reconstruct why a customer got an answer or a handoff. Rows carry
no PII: e-mail addresses and free text never go in ``details``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import Session

from frontdesk.core.schema import Base, utcnow


class AuditRow(Base):
    __tablename__ = "audit_records"

    id = Column(Integer, primary_key=True, autoincrement=True)
    recorded_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    conversation_id = Column(String(128), nullable=True, index=True)
    decision = Column(String(64), nullable=False, index=True)
    intent = Column(String(64), nullable=True)
    confidence = Column(Float, nullable=True)
    action = Column(String(64), nullable=True)
    model_id = Column(String(64), nullable=True)
    reason = Column(String(64), nullable=True)
    details = Column(Text, nullable=False, default="{}")


@dataclass(frozen=True)
class DecisionContext:
    """The evidence behind a decision, as the dialogue engine saw it."""

    conversation_id: str
    intent: str | None = None
    confidence: float | None = None
    action: str | None = None
    model_id: str | None = None
    # The pseudonym of the client's address (the chat channel's, never the address itself): what
    # rate limits count by when a client rotates conversations. Not part of the audit record.
    client: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    recorded_at: datetime
    conversation_id: str | None
    decision: str
    intent: str | None
    confidence: float | None
    action: str | None
    model_id: str | None
    reason: str | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recorded_at": self.recorded_at.isoformat() + "Z",
            "conversation_id": self.conversation_id,
            "decision": self.decision,
            "intent": self.intent,
            "confidence": self.confidence,
            "action": self.action,
            "model_id": self.model_id,
            "reason": self.reason,
            "details": self.details,
        }


class AuditLog:
    def record(
        self,
        session: Session,
        context: DecisionContext,
        decision: str,
        reason: str | None = None,
        **details: Any,
    ) -> None:
        session.add(
            AuditRow(
                conversation_id=context.conversation_id,
                decision=decision,
                intent=context.intent,
                confidence=context.confidence,
                action=context.action,
                model_id=context.model_id,
                reason=reason,
                details=json.dumps(details, sort_keys=True, default=str),
            )
        )

    def list(
        self,
        session: Session,
        conversation_id: str | None = None,
        decision: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if conversation_id:
            query = query.where(AuditRow.conversation_id == conversation_id)
        if decision:
            query = query.where(AuditRow.decision == decision)
        return [
            AuditRecord(
                id=row.id,
                recorded_at=row.recorded_at,
                conversation_id=row.conversation_id,
                decision=row.decision,
                intent=row.intent,
                confidence=row.confidence,
                action=row.action,
                model_id=row.model_id,
                reason=row.reason,
                details=json.loads(row.details or "{}"),
            )
            for row in session.execute(query).scalars()
        ]
