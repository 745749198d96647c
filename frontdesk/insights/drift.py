"""Drift: has live traffic moved away from what the model was trained and tuned on?

Four measures compare a baseline window of turns with the current one (thresholds in
``monitoring.yml``):

- ``psi_intent_mix``: the population stability index of the intent distribution;
- ``psi_confidence``: the PSI of the NLU confidence over 10 fixed bins of width 0.1 (fixed rather
  than quantile bins, so that reports of different weeks compare);
- ``oov_rate_increase``: ``sum(oov_tokens) / sum(tokens)``, current minus baseline;
- ``fallback_rate_increase``: fallback turns / turns, current minus baseline.

PSI = sum of (current share - baseline share) * ln(current share / baseline share) over the
categories of either side; a share of 0 (a category seen on one side only) counts as ``epsilon``, which keeps
the logarithm finite while still charging a new or vanished category heavily. It reads: below 0.1
no real change, 0.1-0.25 a moderate shift, above 0.25 a major one.

A measure is *above* its threshold when strictly greater. Without data on either side (no turns,
no tokens) its value is ``None`` and it is not above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from frontdesk.insights.facts import TurnFact
from frontdesk.insights.goals import DriftThresholds
from frontdesk.insights.measures import confidence_histogram, fallback_rate, intent_counts

DEFAULT_EPSILON = 1e-4
# Rounding noise (0.07 - 0.02 is 0.05000000000000001) must not put a change exactly at its threshold above it.
_TOLERANCE = 1e-9
Category = TypeVar("Category")  # an intent name, a confidence bin …


def psi(baseline_counts: Mapping[Category, int], current_counts: Mapping[Category, int],
        epsilon: float = DEFAULT_EPSILON) -> float | None:
    """The population stability index of two categorical distributions given as counts; None when
    either side is empty (there is no distribution to compare)."""
    baseline_total, current_total = sum(baseline_counts.values()), sum(current_counts.values())
    if baseline_total <= 0 or current_total <= 0:
        return None
    index = 0.0
    for category in set(baseline_counts) | set(current_counts):
        expected = max(baseline_counts.get(category, 0) / baseline_total, epsilon)
        actual = max(current_counts.get(category, 0) / current_total, epsilon)
        index += (actual - expected) * math.log(actual / expected)
    return index


def _bins(histogram: Sequence[int]) -> dict[int, int]:
    return dict(enumerate(histogram))


def confidence_psi(baseline_turns: Sequence[TurnFact], current_turns: Sequence[TurnFact],
                   epsilon: float = DEFAULT_EPSILON) -> float | None:
    return psi(_bins(confidence_histogram(baseline_turns)), _bins(confidence_histogram(current_turns)), epsilon)


def oov_rate(turns: Sequence[TurnFact]) -> float | None:
    tokens = sum(turn.tokens for turn in turns)
    return sum(turn.oov_tokens for turn in turns) / tokens if tokens else None


def _increase(baseline: float | None, current: float | None) -> float | None:
    return None if baseline is None or current is None else current - baseline


@dataclass(frozen=True)
class DriftMeasure:
    name: str
    value: float | None
    threshold: float
    baseline: float | None = None  # for the rate changes: the two rates the change is between
    current: float | None = None

    @property
    def above(self) -> bool:
        return self.value is not None and self.value > self.threshold + _TOLERANCE

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "threshold": self.threshold, "above": self.above,
                "baseline": self.baseline, "current": self.current}


@dataclass(frozen=True)
class DriftReport:
    baseline_turns: int
    current_turns: int
    measures: tuple[DriftMeasure, ...]

    @property
    def above(self) -> tuple[DriftMeasure, ...]:
        return tuple(measure for measure in self.measures if measure.above)

    @property
    def drifted(self) -> bool:
        return bool(self.above)

    def measure(self, name: str) -> DriftMeasure:
        return next(measure for measure in self.measures if measure.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {"baseline_turns": self.baseline_turns, "current_turns": self.current_turns,
                "drifted": self.drifted, "measures": [measure.as_dict() for measure in self.measures]}


def drift_report(baseline_turns: Sequence[TurnFact], current_turns: Sequence[TurnFact],
                 thresholds: DriftThresholds) -> DriftReport:
    oov_before, oov_now = oov_rate(baseline_turns), oov_rate(current_turns)
    fallback_before, fallback_now = fallback_rate(baseline_turns), fallback_rate(current_turns)
    measures = (
        DriftMeasure("psi_intent_mix", psi(intent_counts(baseline_turns), intent_counts(current_turns)),
                     thresholds.psi_intent_mix),
        DriftMeasure("psi_confidence", confidence_psi(baseline_turns, current_turns), thresholds.psi_confidence),
        DriftMeasure("oov_rate_increase", _increase(oov_before, oov_now), thresholds.oov_rate_increase,
                     oov_before, oov_now),
        DriftMeasure("fallback_rate_increase", _increase(fallback_before, fallback_now),
                     thresholds.fallback_rate_increase, fallback_before, fallback_now),
    )
    return DriftReport(baseline_turns=len(baseline_turns), current_turns=len(current_turns), measures=measures)
