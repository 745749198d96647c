"""Customer satisfaction: the 1-5 rating the bot asks for when an agent hands the conversation
back, and after a flow the bot resolved on its own (asked once, when the customer says thanks or
goodbye), so deflected contacts are rated too."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String, select
from sqlalchemy.orm import Session

from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.schema import Base, utcnow
from frontdesk.handoff.service import FOLLOW_UP_CHANNEL, HandoffRow

_WORDS = {"one": 1, "two": 2, "three": 3, "thre": 3, "four": 4, "five": 5, "fiv": 5}
# "4/5", "4 out of 5", "4 outta 5": the first number is the score.
_SCORE = re.compile(r"(?<![\d.])([1-5])(?![\d.])")
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b")


def parse_rating(text: str | None) -> int | None:
    """The 1-5 score in what the customer typed, or None when there is no clear one."""
    if not text:
        return None
    lowered = text.lower()
    digits = _SCORE.findall(lowered)
    if digits:
        return int(digits[0])
    words = _WORD.findall(lowered)
    return _WORDS[words[0]] if words else None


class CsatRow(Base):
    __tablename__ = "csat_responses"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    handoff_id = Column(Integer, nullable=True, index=True)
    score = Column(Integer, nullable=False)
    # The flow the bot resolved on its own ("password_reset", "billing"); None after a handoff.
    flow = Column(String(32), nullable=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


# The decision in the audit trail when the bot asks for a rating after resolving a flow itself:
# the denominator of that rating's response rate.
ASKED_AFTER_BOT = "csat.requested"


class CsatSurvey:
    def __init__(self, audit: AuditLog, clock: Callable[[], datetime] = utcnow) -> None:
        self.audit = audit
        self.clock = clock

    def ask_after_bot(self, session: Session, context: DecisionContext, flow: str) -> None:
        """Notes that the bot asked for a rating of a flow it resolved (audited)."""
        self.audit.record(session, context, ASKED_AFTER_BOT, reason=flow)

    def record(self, session: Session, conversation_id: str, score: int, flow: str | None = None) -> bool:
        """Stores a rating: of the flow the bot resolved when ``flow`` is given, else of the
        conversation's latest closed handoff, one per handoff (a double click counts once; the
        bot's survey is answered once per question, which the action checks)."""
        if not 1 <= score <= 5:
            raise ValueError("a CSAT score is 1-5")
        if flow is not None:
            session.add(CsatRow(conversation_id=conversation_id, handoff_id=None, score=score, flow=flow,
                                created_at=self.clock()))
            return True
        handoff_id = session.execute(
            select(HandoffRow.id).where(HandoffRow.conversation_id == conversation_id, HandoffRow.status == "closed",
                                        # an e-mail follow-up is not rated in the chat
                                        HandoffRow.channel != FOLLOW_UP_CHANNEL)
            .order_by(HandoffRow.id.desc())
        ).scalars().first()
        if handoff_id is not None and session.execute(
            select(CsatRow.id).where(CsatRow.handoff_id == handoff_id)
        ).first():
            return False  # already rated: a double click does not count twice
        session.add(CsatRow(conversation_id=conversation_id, handoff_id=handoff_id, score=score,
                            created_at=self.clock()))
        return True
