"""Agents teach the bot: on a handed-off ticket they mark whether the bot read the customer right.

A correction becomes a labelled training candidate (the customer's message, PII redacted, with
the intent the agent chose). Candidates are exported as Rasa NLU YAML for a person to review
before anything is trained on them; nothing here changes the model by itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Session

from frontdesk.core.schema import Base, utcnow
from frontdesk.settings import PROJECT_ROOT


class FeedbackRow(Base):
    __tablename__ = "agent_feedback"

    id = Column(Integer, primary_key=True, autoincrement=True)
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=False, unique=True)  # latest wins
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False)
    predicted_intent = Column(String(64), nullable=True)
    intent_correct = Column(Boolean, nullable=False)
    correct_intent = Column(String(64), nullable=True)
    example_text = Column(Text, nullable=False)  # the customer's message, redacted
    created_at = Column(DateTime, nullable=False, default=utcnow)


def known_intents(domain_file: Path = PROJECT_ROOT / "domain.yml") -> frozenset[str]:
    return frozenset(str(i) for i in yaml.safe_load(domain_file.read_text())["intents"])


@dataclass(frozen=True)
class IntentCorrectionRate:
    intent: str
    reviewed: int
    corrected: int

    @property
    def rate(self) -> float:
        return self.corrected / self.reviewed if self.reviewed else 0.0


class AgentFeedback:
    def __init__(self, intents: frozenset[str], clock: Callable[[], datetime] = utcnow) -> None:
        self.intents = intents
        self.clock = clock

    def record(
        self, session: Session, handoff_id: int, agent_id: int, predicted_intent: str | None,
        intent_correct: bool, correct_intent: str | None, example_text: str,
    ) -> None:
        if intent_correct:
            correct_intent = predicted_intent
        elif correct_intent not in self.intents:
            raise ValueError(f"unknown intent {correct_intent!r}")
        row = session.execute(select(FeedbackRow).where(FeedbackRow.handoff_id == handoff_id)).scalar_one_or_none()
        if row is None:
            row = FeedbackRow(handoff_id=handoff_id)
            session.add(row)
        row.agent_id, row.predicted_intent, row.intent_correct = agent_id, predicted_intent, intent_correct
        row.correct_intent, row.example_text, row.created_at = correct_intent, example_text, self.clock()

    def correction_rates(self, session: Session) -> list[IntentCorrectionRate]:
        reviewed: dict[str, int] = defaultdict(int)
        corrected: dict[str, int] = defaultdict(int)
        for row in session.execute(select(FeedbackRow)).scalars():
            intent = row.predicted_intent or "(none)"
            reviewed[intent] += 1
            corrected[intent] += 0 if row.intent_correct else 1
        return [IntentCorrectionRate(i, reviewed[i], corrected[i]) for i in sorted(reviewed)]

    def training_candidates(self, session: Session) -> str:
        """Corrections as Rasa NLU YAML (``version: "3.1"``), grouped by the agent's intent."""
        by_intent: dict[str, list[str]] = defaultdict(list)
        query = select(FeedbackRow).where(FeedbackRow.intent_correct.is_(False)).order_by(FeedbackRow.id)
        for row in session.execute(query).scalars():
            text = " ".join(row.example_text.split())
            if text and text not in by_intent[row.correct_intent]:
                by_intent[row.correct_intent].append(text)
        nlu = [{"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
               for intent, texts in sorted(by_intent.items())]
        return yaml.safe_dump({"version": "3.1", "nlu": nlu}, sort_keys=False, allow_unicode=True)
