"""Confidence that means something, and a fallback threshold chosen by what a mistake costs.

- **Calibration**: one temperature ``T`` divides the classifier's logits (``temperature`` in
  config.yml). It is fitted here on the held-out set by the likelihood of the right intent,
  from the ranking the model already returns: ``softmax(log p / T)`` over the top ten equals
  ``softmax(z / T)`` up to the tiny mass outside them. The reliability table shows, per band of
  confidence, how often the reading was right, before and after.
- **Cost**: every first-message outcome (``first_turn_evaluation.outcome``) has a cost — right
  0, a click 1, a clarification that does not offer the topic 2, a ticket a person did not need
  3, a wrong automated flow 5, an out-of-scope message that starts a flow 5 (docs/decisions/
  0002). The threshold sweep prints the mean cost per message at each fallback threshold. The
  one to configure is the held-out set's cheapest or, among thresholds within ``COST_TIE`` of
  it, the highest: within the noise of a few hundred messages, asking beats guessing. The blind
  sets show whether it holds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from lab.evaluation import FALLBACK, Prediction, apply_thresholds
from lab.first_turn_evaluation import outcome

COSTS = {"right_at_once": 0.0, "kept_out": 0.0, "one_click": 1.0, "clarified_not_offered": 2.0,
         "to_a_person": 3.0, "wrong_flow": 5.0, "started_a_flow": 5.0}
TEMPERATURES = tuple(round(0.4 + 0.05 * i, 2) for i in range(53))  # 0.4 … 3.0
THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(15))  # 0.2 … 0.9
# About three clicks in the held-out set's 580 first messages: differences below it are noise.
COST_TIE = 0.005
_FLOOR = 1e-4  # the right intent outside the top ten: a small probability, not zero


def with_temperature(p: Prediction, temperature: float) -> Prediction:
    """The prediction as a model with its logits divided by ``temperature`` would make it."""
    scores = [(name, math.log(max(conf, 1e-12)) / temperature) for name, conf in p.ranking if name != FALLBACK]
    if not scores:
        return p
    top = max(s for _, s in scores)
    total = sum(math.exp(s - top) for _, s in scores)
    ranking = tuple(sorted(((name, math.exp(s - top) / total) for name, s in scores), key=lambda r: -r[1]))
    second = ranking[1][1] if len(ranking) > 1 else 0.0
    return replace(p, top1=ranking[0][0], top1_confidence=ranking[0][1], top2_confidence=second, ranking=ranking)


def negative_log_likelihood(predictions: Sequence[Prediction]) -> float:
    total = 0.0
    for p in predictions:
        confidence = dict(p.ranking).get(p.expected, 0.0)
        total -= math.log(max(confidence, _FLOOR))
    return total / max(len(predictions), 1)


def fit_temperature(predictions: Sequence[Prediction]) -> float:
    """The temperature with the lowest negative log-likelihood of the labels (a grid: one
    parameter, a few hundred messages; nothing to gain from an optimiser)."""
    return min(TEMPERATURES, key=lambda t: negative_log_likelihood([with_temperature(p, t) for p in predictions]))


def reliability(predictions: Iterable[Prediction], bands: int = 10) -> dict[str, Any]:
    """Per band of top confidence: messages, mean confidence, share right; and the expected
    calibration error (the gap, weighted by messages)."""
    rows: dict[int, list[tuple[float, bool]]] = {}
    for p in predictions:
        band = min(int(p.top1_confidence * bands), bands - 1)
        rows.setdefault(band, []).append((p.top1_confidence, p.top1 == p.expected))
    n = sum(len(r) for r in rows.values())
    table, gap = [], 0.0
    for band in sorted(rows):
        confidences = [c for c, _ in rows[band]]
        right = sum(ok for _, ok in rows[band]) / len(rows[band])
        mean = sum(confidences) / len(confidences)
        gap += len(rows[band]) / n * abs(mean - right)
        table.append({"band": f"{band / bands:.1f}-{(band + 1) / bands:.1f}", "n": len(rows[band]),
                      "mean_confidence": round(mean, 3), "right": round(right, 3)})
    return {"bands": table, "expected_calibration_error": round(gap, 3)}


def _at_threshold(p: Prediction, threshold: float, ambiguity: float) -> Prediction:
    if apply_thresholds(p, threshold, ambiguity) == FALLBACK:
        return replace(p, predicted=FALLBACK)
    # A guard may have relabelled a confident reading: keep what it decided.
    return replace(p, predicted=p.predicted if p.predicted not in (FALLBACK, p.top1) else p.top1)


def threshold_costs(predictions: Sequence[Prediction], person_intents: set[str], ambiguity: float,
                    thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, Any]]:
    """Per fallback threshold: the share of each outcome and the mean cost per message."""
    rows = []
    for threshold in thresholds:
        counts: Counter[str] = Counter(outcome(_at_threshold(p, threshold, ambiguity), person_intents)
                                       for p in predictions)
        n = max(len(predictions), 1)
        rows.append({"threshold": threshold, "cost": round(sum(COSTS[k] * v for k, v in counts.items()) / n, 3)}
                    | {k: round(v / n, 3) for k, v in sorted(counts.items())})
    return rows


def recommended_threshold(curve: Sequence[dict[str, Any]]) -> float:
    cheapest = min(row["cost"] for row in curve)
    return max(row["threshold"] for row in curve if row["cost"] <= cheapest + COST_TIE)


def calibration_report(heldout: Sequence[Prediction], others: dict[str, Sequence[Prediction]],
                       person_intents: set[str], ambiguity: float, temperature: float) -> dict[str, Any]:
    """Fit on the held-out set; show the fit, the reliability before and after, and the cost
    curve for every set (the model's own temperature is ``temperature``: the fit is relative)."""
    fitted = fit_temperature(heldout)
    report: dict[str, Any] = {"configured_temperature": temperature, "fitted_relative_temperature": fitted,
                              "recommended_threshold": recommended_threshold(
                                  threshold_costs(heldout, person_intents, ambiguity)),
                              "sets": {}}
    for name, predictions in {"held-out": heldout, **others}.items():
        scaled = [with_temperature(p, fitted) for p in predictions]
        curve = threshold_costs(predictions, person_intents, ambiguity)
        report["sets"][name] = {
            "reliability_as_served": reliability(predictions),
            "reliability_after_fit": reliability(scaled),
            "threshold_costs": curve,
            "cheapest_threshold": min(curve, key=lambda r: r["cost"])["threshold"],
        }
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Confidence: calibration and the cost of each threshold", "",
             f"Temperature in config.yml: {report['configured_temperature']}; the held-out set's best fit on top "
             f"of it: {report['fitted_relative_temperature']} (1.0 means already calibrated).", "",
             f"Recommended fallback threshold (the held-out set's cheapest, or the highest within {COST_TIE} of "
             f"it): {report['recommended_threshold']}.", ""]
    for name, r in report["sets"].items():
        before, after = r["reliability_as_served"], r["reliability_after_fit"]
        lines += [f"## {name}", "",
                  f"Expected calibration error: {before['expected_calibration_error']:.3f} as served, "
                  f"{after['expected_calibration_error']:.3f} with the held-out fit.", "",
                  "| confidence | n | right (as served) |", "|---|---|---|"]
        lines += [f"| {b['band']} | {b['n']} | {b['right']:.0%} (mean conf. {b['mean_confidence']:.2f}) |"
                  for b in before["bands"]]
        lines += ["", f"Cost per message by fallback threshold (cheapest: {r['cheapest_threshold']}):", "",
                  "| threshold | cost | right | one click | clarified, not offered | to a person | wrong flow "
                  "| OOS kept out | OOS started a flow |", "|---|---|---|---|---|---|---|---|---|"]
        for row in r["threshold_costs"]:
            lines.append(f"| {row['threshold']} | {row['cost']:.3f} | " + " | ".join(
                f"{row.get(k, 0.0):.1%}" for k in ("right_at_once", "one_click", "clarified_not_offered",
                                                    "to_a_person", "wrong_flow", "kept_out", "started_a_flow"))
                + " |")
        lines.append("")
    return "\n".join(lines)
