"""Customer satisfaction: the 1-5 rating the bot asks for when an agent hands the conversation back."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String, select
from sqlalchemy.orm import Session

from frontdesk.handoff import HandoffRow
from frontdesk.schema import Base, utcnow

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
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class CsatSurvey:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    def record(self, session: Session, conversation_id: str, score: int) -> bool:
        """Stores the rating of the latest closed handoff of the conversation; one per handoff."""
        if not 1 <= score <= 5:
            raise ValueError("a CSAT score is 1-5")
        handoff_id = session.execute(
            select(HandoffRow.id).where(HandoffRow.conversation_id == conversation_id, HandoffRow.status == "closed")
            .order_by(HandoffRow.id.desc())
        ).scalars().first()
        if handoff_id is not None and session.execute(
            select(CsatRow.id).where(CsatRow.handoff_id == handoff_id)
        ).first():
            return False  # already rated: a double click does not count twice
        session.add(CsatRow(conversation_id=conversation_id, handoff_id=handoff_id, score=score,
                            created_at=self.clock()))
        return True
