"""Agents teach the bot: on a handed-off ticket they mark whether the bot read the customer right.

Every review becomes a labelled training candidate: the customer's message (PII redacted when
it was stored, and again on export with the redactor of the day), the intent the model
predicted with its confidence, and the intent the agent chose. ``training_export`` gives them
to an ML engineer de-duplicated, least confident first, with the intents too rare to learn from
flagged for synthetic examples (``frontdesk data export-training``). A person reviews them
before anything is trained on them; nothing here changes the model by itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Session

from frontdesk.core.schema import Base, utcnow
from frontdesk.handoff.service import HandoffRow
from frontdesk.settings import PROJECT_ROOT

# An intent with fewer reviewed examples than this in an export is flagged: too few to learn a
# new phrasing from, so the ML engineer writes synthetic variants of them (docs/privacy.md).
RARE_INTENT_EXAMPLES = 5


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

    def training_export(self, session: Session, redact: Callable[[str], str],
                        rare_below: int = RARE_INTENT_EXAMPLES) -> TrainingExport:
        """Every reviewed message once per (text, label), least confident prediction first.

        The same text labelled two ways by different agents is kept under both labels and marked
        ``conflicting``: a person settles it before training. ``redact`` runs again on every text,
        so an export made after the redactor improved carries nothing it has since learned to find."""
        query = (select(FeedbackRow, HandoffRow.confidence)
                 .join(HandoffRow, HandoffRow.id == FeedbackRow.handoff_id).order_by(FeedbackRow.id))
        merged: dict[tuple[str, str], TrainingCandidate] = {}
        labels_of_text: dict[str, set[str]] = defaultdict(set)
        for row, confidence in session.execute(query).all():
            text = " ".join(redact(row.example_text).split())
            label = row.correct_intent or row.predicted_intent
            if not text or not label:
                continue
            key = (text.casefold(), label)
            labels_of_text[key[0]].add(label)
            seen = merged.get(key)
            if seen is None:
                merged[key] = TrainingCandidate(text, label, row.predicted_intent, confidence,
                                                not row.intent_correct, 1, False)
            else:  # the lowest confidence seen: the hardest case is the one to learn from
                lowest = min((c for c in (seen.confidence, confidence) if c is not None), default=None)
                merged[key] = TrainingCandidate(seen.text, label, seen.predicted_intent, lowest,
                                                seen.corrected or not row.intent_correct, seen.times + 1, False)
        candidates = [TrainingCandidate(c.text, c.intent, c.predicted_intent, c.confidence, c.corrected, c.times,
                                        len(labels_of_text[c.text.casefold()]) > 1) for c in merged.values()]
        candidates.sort(key=lambda c: (-1.0 if c.confidence is None else c.confidence, c.intent, c.text))
        per_intent: dict[str, int] = defaultdict(int)
        for candidate in candidates:
            per_intent[candidate.intent] += 1
        intents = [IntentExamples(intent, count, count < rare_below) for intent, count in sorted(per_intent.items())]
        return TrainingExport(candidates, intents)


@dataclass(frozen=True)
class TrainingCandidate:
    text: str  # redacted
    intent: str  # what the agent says it is (the prediction, when the agent confirmed it)
    predicted_intent: str | None
    confidence: float | None  # the model's, when it handed the conversation over
    corrected: bool  # an agent said the prediction was wrong
    times: int  # how many reviews gave this text this label
    conflicting: bool  # the same text also carries another label


@dataclass(frozen=True)
class IntentExamples:
    intent: str
    examples: int
    rare: bool  # needs synthetic examples before it teaches the model anything


@dataclass(frozen=True)
class TrainingExport:
    candidates: list[TrainingCandidate]
    intents: list[IntentExamples]

    def as_dict(self) -> dict:
        return {"candidates": [asdict(c) for c in self.candidates], "intents": [asdict(i) for i in self.intents],
                "rare_intents": [i.intent for i in self.intents if i.rare]}

    def as_rasa_nlu(self) -> str:
        """Rasa NLU YAML (``version: "3.1"``) for review, grouped by label; conflicting texts left
        out (they need a person first)."""
        by_intent: dict[str, list[str]] = defaultdict(list)
        for candidate in self.candidates:
            if not candidate.conflicting:
                by_intent[candidate.intent].append(candidate.text)
        nlu = [{"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
               for intent, texts in sorted(by_intent.items())]
        return yaml.safe_dump({"version": "3.1", "nlu": nlu}, sort_keys=False, allow_unicode=True)
