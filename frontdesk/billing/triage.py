"""Billing triage: every billing inquiry the bot does not resolve gets a category, a confidence
and the specialist queue for that category, so it reaches the right team first time.

The category comes from the NLU intent ranking: each billing intent belongs to one category,
and a category's confidence is the sum of its intents' confidences. A low top confidence, or two
categories within a margin, is ambiguous: a person triages it (the triage queue) instead of the
bot guessing. Refunds and disputes always go to a person anyway (mandatory human categories).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CATEGORY_BY_INTENT = {
    "request_refund": "refund",
    "report_dispute": "dispute",
    "ask_latest_invoice": "invoice",
    "request_invoice_change": "invoice",
    "ask_payment_failed": "payment_failure",
    "ask_plan_details": "plan_change",
    "request_plan_change": "plan_change",
    "ask_tax_question": "tax",
    "ask_pricing": "pricing",
    "ask_charge_explanation": "other",
    "ask_payment_history": "other",
}
CATEGORIES = ("refund", "dispute", "invoice", "payment_failure", "plan_change", "tax", "pricing", "other")
BILLING_INTENTS = frozenset(CATEGORY_BY_INTENT)


@dataclass(frozen=True)
class TriageResult:
    category: str
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    ambiguous: bool
    queue: str

    @property
    def description(self) -> str:
        """For the agent: "invoice (0.91; runner-up tax 0.04)"."""
        runner_up = f"; runner-up {self.runner_up} {self.runner_up_confidence:.2f}" if self.runner_up else ""
        ambiguous = "; ambiguous, please route" if self.ambiguous else ""
        return f"{self.category} ({self.confidence:.2f}{runner_up}{ambiguous})"

    @property
    def labels(self) -> tuple[str, ...]:
        return (f"triage:{self.category}", f"triage_confidence:{self.confidence:.2f}",
                *(("triage:ambiguous",) if self.ambiguous else ()))


@dataclass(frozen=True)
class BillingTriage:
    queues: Mapping[str, str]  # category -> specialist queue
    triage_queue: str  # where ambiguous inquiries go, for a person to route
    min_confidence: float = 0.5
    margin: float = 0.15

    @classmethod
    def from_config(cls, raw: Mapping[str, object]) -> BillingTriage:
        queues = dict(raw["queues"])  # type: ignore[call-overload]
        missing = set(CATEGORIES) - set(queues)
        if missing:
            raise ValueError(f"billing_triage.queues lacks categories: {sorted(missing)}")
        return cls(queues=queues, triage_queue=str(raw["triage_queue"]),
                   min_confidence=float(raw.get("min_confidence", 0.5)),  # type: ignore[arg-type]
                   margin=float(raw.get("margin", 0.15)))  # type: ignore[arg-type]

    def classify(self, ranking: Iterable[tuple[str, float]]) -> TriageResult:
        """``ranking``: (intent, confidence) pairs, as the NLU ranks them."""
        scores: dict[str, float] = defaultdict(float)
        for intent, confidence in ranking:
            if intent in CATEGORY_BY_INTENT:
                scores[CATEGORY_BY_INTENT[intent]] += confidence
        ordered = sorted(scores.items(), key=lambda item: -item[1]) or [("other", 0.0)]
        category, confidence = ordered[0]
        runner_up, second = ordered[1] if len(ordered) > 1 else (None, 0.0)
        ambiguous = confidence < self.min_confidence or confidence - second < self.margin
        queue = self.triage_queue if ambiguous else self.queues[category]
        return TriageResult(category, round(confidence, 4), runner_up, round(second, 4), ambiguous, queue)
