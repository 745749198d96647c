"""Billing triage quality on the held-out triage set, and the seed's month of billing traffic
replayed with and without triage.

Every inquiry is parsed once by the trained model; triage (``frontdesk.billing.triage``) runs
on the model's intent ranking, so a sweep over its thresholds costs no extra inference.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rasa.core.agent import Agent

from frontdesk.billing.triage import CATEGORIES, BillingTriage
from frontdesk.handoff.policy import HandoffPolicy

SEED = 20261127
UNTRIAGED_QUEUE = "billing"  # before triage: every billing ticket lands in the one billing queue


@dataclass(frozen=True)
class TriageCase:
    text: str
    category: str
    ranking: tuple[tuple[str, float], ...]


def load_triage_set(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text())
    return [(line[2:].strip(), block["category"]) for block in data["triage"]
            for line in block["examples"].splitlines() if line.startswith("- ")]


def parse_cases(agent: Agent, examples: list[tuple[str, str]]) -> list[TriageCase]:
    """Parses every inquiry once with an already loaded model (loading one takes ~20 s)."""

    async def parse_all() -> list[TriageCase]:
        cases = []
        for text, category in examples:
            parsed = await agent.parse_message(text)
            ranking = tuple((r["name"], float(r["confidence"])) for r in parsed.get("intent_ranking", [])
                            if r["name"] != "nlu_fallback")
            cases.append(TriageCase(text, category, ranking))
        return cases

    return asyncio.run(parse_all())


def triage_quality(cases: list[TriageCase], triage: BillingTriage) -> dict[str, Any]:
    results = [(case, triage.classify(case.ranking)) for case in cases]
    per_category = {}
    for category in CATEGORIES:
        support = sum(1 for c, _ in results if c.category == category)
        predicted = sum(1 for _, r in results if r.category == category)
        correct = sum(1 for c, r in results if c.category == category == r.category)
        precision = correct / predicted if predicted else 0.0
        recall = correct / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_category[category] = {"support": support, "precision": round(precision, 3), "recall": round(recall, 3),
                                  "f1": round(f1, 3)}
    n = len(results)
    confident = [(c, r) for c, r in results if not r.ambiguous]
    misrouted = [(c, r) for c, r in confident if r.queue != triage.queues[c.category]]
    confusions = Counter((c.category, r.category) for c, r in results if c.category != r.category)
    return {
        "examples": n,
        "accuracy": round(sum(1 for c, r in results if c.category == r.category) / n, 3),
        "macro_f1": round(sum(v["f1"] for v in per_category.values()) / len(per_category), 3),
        "to_human_triage": round((n - len(confident)) / n, 3),
        "right_queue_first_time": round((len(confident) - len(misrouted)) / n, 3),
        "misroute_rate": round(len(misrouted) / n, 3),
        "per_category": per_category,
        "confusions": [{"expected": e, "predicted": p, "count": k} for (e, p), k in confusions.most_common(10)],
        "misrouted_examples": [{"text": c.text, "expected": c.category, "predicted": r.category,
                                "confidence": r.confidence} for c, r in misrouted[:15]],
    }


def threshold_sweep(cases: list[TriageCase], triage: BillingTriage) -> list[dict[str, float]]:
    rows = []
    for min_confidence in (0.3, 0.4, 0.5, 0.6, 0.7):
        for margin in (0.0, 0.1, 0.15, 0.25):
            variant = BillingTriage(triage.queues, triage.triage_queue, min_confidence, margin)
            quality = triage_quality(cases, variant)
            rows.append({"min_confidence": min_confidence, "margin": margin,
                         "right_queue_first_time": quality["right_queue_first_time"],
                         "misroute_rate": quality["misroute_rate"], "to_human_triage": quality["to_human_triage"]})
    return rows


def replay_month(cases: list[TriageCase], triage: BillingTriage, policy: HandoffPolicy,
                 conversations: int = 420) -> dict[str, Any]:
    """A month of billing conversations drawn (seeded) from the held-out inquiries, whose category
    mix follows the seed company's traffic. The model of time to the first correct queue: a ticket
    waits half its queue's first-response target before someone looks at it; a ticket in the
    wrong queue (or the general or triage queue) is then forwarded, and waits again there."""
    sample = random.Random(SEED).choices(cases, k=conversations)  # noqa: S311 - a reproducible sample

    def wait(queue: str) -> float:
        return policy.queues[queue].first_response_minutes / 2

    def outcome(case: TriageCase, first_queue: str) -> tuple[bool, float]:
        right = triage.queues[case.category]
        if first_queue == right:
            return True, 0.0
        return False, wait(first_queue)  # looked at in the wrong place, then forwarded to the right one

    with_triage = [outcome(c, triage.classify(c.ranking).queue) for c in sample]
    without = [outcome(c, UNTRIAGED_QUEUE) for c in sample]
    right_wait = {c.category: wait(triage.queues[c.category]) for c in sample}

    def summary(outcomes: list[tuple[bool, float]]) -> dict[str, float]:
        extra = [minutes for _, minutes in outcomes]
        to_correct = [m + right_wait[c.category] for c, m in zip(sample, extra, strict=True)]
        return {"right_queue_first_time": round(sum(1 for ok, _ in outcomes if ok) / len(outcomes), 3),
                "mean_minutes_to_correct_queue_pickup": round(sum(to_correct) / len(to_correct), 1),
                "mean_minutes_lost_in_wrong_queues": round(sum(extra) / len(extra), 1)}

    triaged, untriaged = summary(with_triage), summary(without)
    saving = 1 - triaged["mean_minutes_to_correct_queue_pickup"] / untriaged["mean_minutes_to_correct_queue_pickup"]
    return {"conversations": conversations, "mix": dict(Counter(c.category for c in sample)),
            "with_triage": triaged, "without_triage": untriaged, "time_saved_share": round(saving, 3)}


def write_triage_report(out: Path, quality: dict[str, Any], sweep: list[dict[str, float]],
                        replay: dict[str, Any], triage: BillingTriage) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "billing_triage.json").write_text(json.dumps(
        {"quality": quality, "sweep": sweep, "replay": replay,
         "settings": {"min_confidence": triage.min_confidence, "margin": triage.margin}}, indent=2))
    lines = [f"# Billing triage: {quality['examples']} held-out inquiries",
             f"min_confidence {triage.min_confidence}, margin {triage.margin}", "",
             f"- category accuracy {quality['accuracy']:.1%}, macro-F1 {quality['macro_f1']:.3f}",
             f"- right specialist queue first time {quality['right_queue_first_time']:.1%}",
             f"- misrouted with confidence {quality['misroute_rate']:.1%}",
             f"- sent to human triage (ambiguous) {quality['to_human_triage']:.1%}", "",
             "| category | n | precision | recall | F1 |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['support']} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} |"
              for k, v in quality["per_category"].items()]
    lines += ["", "## Replay of a month of billing traffic", "",
              "| | right queue first time | mean minutes to pickup in the right queue |", "|---|---|---|",
              f"| without triage | {replay['without_triage']['right_queue_first_time']:.1%} | "
              f"{replay['without_triage']['mean_minutes_to_correct_queue_pickup']} |",
              f"| with triage | {replay['with_triage']['right_queue_first_time']:.1%} | "
              f"{replay['with_triage']['mean_minutes_to_correct_queue_pickup']} |",
              "", f"time saved: {replay['time_saved_share']:.1%}"]
    (out / "billing_triage.md").write_text("\n".join(lines) + "\n")
