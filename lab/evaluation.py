"""NLU evaluation on the held-out examples: accuracy per intent and the fallback thresholds' effect.

The trained model is loaded once; every example is parsed once, and the thresholds are then
replayed on the classifier's own ranking, so a threshold sweep costs no extra inference.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.loading import load_data

from frontdesk.handoff.policy import HandoffPolicy

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
# Intents that only mean something as the answer to the bot's own question (the code it e-mailed,
# the rating it asked for); anywhere else the rules treat them as an unclear message (clarify).
ANSWERS_ONLY = frozenset({"inform_otp_code", "rate_csat"})
SMALL_TALK = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "stop", "bot_challenge", "ask_capabilities"})


@dataclass(frozen=True)
class Prediction:
    text: str
    expected: str
    predicted: str  # after the FallbackClassifier
    top1: str
    top1_confidence: float
    top2_confidence: float
    # The full ranking as Rasa returns it (nlu_fallback first when it fired): what the
    # clarification's buttons are chosen from.
    ranking: tuple[tuple[str, float], ...] = ()


def fallback_settings(config: Path) -> tuple[float, float]:
    """The FallbackClassifier's (threshold, ambiguity_threshold) in a Rasa config file."""
    [fallback] = [c for c in yaml.safe_load(config.read_text())["pipeline"] if c["name"] == "FallbackClassifier"]
    return float(fallback["threshold"]), float(fallback["ambiguity_threshold"])


def handoff_intents(policy: HandoffPolicy) -> set[str]:
    """Intents the bot hands to a person at once: the mandatory categories and "talk to a person"."""
    return set(policy.mandatory_human) | {"request_human"}


def load_examples(path: Path) -> list[tuple[str, str]]:
    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


async def predict(agent: Agent, examples: list[tuple[str, str]]) -> list[Prediction]:
    predictions = []
    for text, expected in examples:
        parsed = await agent.parse_message(text)
        ranking = [r for r in parsed.get("intent_ranking", []) if r["name"] != FALLBACK]
        top2 = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
        predictions.append(
            Prediction(text, expected, parsed["intent"]["name"], ranking[0]["name"],
                       float(ranking[0]["confidence"]), float(top2),
                       tuple((r["name"], float(r["confidence"])) for r in parsed.get("intent_ranking", [])))
        )
    return predictions


def predict_file(model: Path, path: Path) -> list[Prediction]:
    agent = Agent.load(str(model))
    return asyncio.run(predict(agent, load_examples(path)))


def apply_thresholds(p: Prediction, threshold: float, ambiguity: float) -> str:
    if p.top1_confidence < threshold or p.top1_confidence - p.top2_confidence < ambiguity:
        return FALLBACK
    return p.top1


def per_intent_report(predictions: list[Prediction]) -> dict[str, dict[str, float]]:
    support: Counter[str] = Counter(p.expected for p in predictions)
    correct: Counter[str] = Counter(p.expected for p in predictions if p.predicted == p.expected)
    predicted: Counter[str] = Counter(p.predicted for p in predictions)
    report = {}
    for intent in sorted(support):
        precision = correct[intent] / predicted[intent] if predicted[intent] else 0.0
        recall = correct[intent] / support[intent]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        fallback = sum(1 for p in predictions if p.expected == intent and p.predicted == FALLBACK)
        report[intent] = {"support": support[intent], "precision": round(precision, 3),
                          "recall": round(recall, 3), "f1": round(f1, 3),
                          "to_fallback": fallback}
    return report


@dataclass(frozen=True)
class ThresholdEffect:
    threshold: float
    ambiguity: float
    in_scope_to_fallback: float  # in-scope messages the bot would not act on
    in_scope_wrong_intent: float  # in-scope messages acted on with the wrong intent
    out_of_scope_automated: float  # out-of-scope messages that would start or steer a flow
    accuracy: float


def threshold_effect(predictions: list[Prediction], threshold: float, ambiguity: float) -> ThresholdEffect:
    in_scope = [p for p in predictions if p.expected != OUT_OF_SCOPE]
    out_scope = [p for p in predictions if p.expected == OUT_OF_SCOPE]
    decided = {id(p): apply_thresholds(p, threshold, ambiguity) for p in predictions}
    to_fallback = sum(decided[id(p)] == FALLBACK for p in in_scope)
    wrong = sum(decided[id(p)] not in (FALLBACK, p.expected) for p in in_scope)
    automated = sum(decided[id(p)] not in (FALLBACK, OUT_OF_SCOPE) for p in out_scope)
    accurate = sum(decided[id(p)] == p.expected or (p.expected == OUT_OF_SCOPE and decided[id(p)] == FALLBACK)
                   for p in predictions)
    return ThresholdEffect(
        threshold, ambiguity,
        round(to_fallback / max(len(in_scope), 1), 3),
        round(wrong / max(len(in_scope), 1), 3),
        round(automated / max(len(out_scope), 1), 3),
        round(accurate / max(len(predictions), 1), 3),
    )


@dataclass(frozen=True)
class HandoffEffect:
    """What the handoff policy does with the held-out messages at the configured thresholds."""

    threshold: float
    ambiguity: float
    in_scope_wrongly_handed_off: float  # an automatable request sent to a person at once
    in_scope_to_clarify: float  # asked to rephrase / pick a topic (a second miss hands off)
    mandatory_to_human: float  # refund, dispute, legal, privacy, security, 2FA: reached a person at once
    out_of_scope_automated: float  # an out-of-scope message that started or steered a flow
    out_of_scope_handed_off: float  # sent to a person at once (a ticket an agent closes quickly)


def handoff_effect(
    predictions: list[Prediction], threshold: float, ambiguity: float, handoff_intents: set[str]
) -> HandoffEffect:
    decided = [(p, apply_thresholds(p, threshold, ambiguity)) for p in predictions]
    misses = {FALLBACK, OUT_OF_SCOPE}
    in_scope = [(p, d) for p, d in decided if p.expected != OUT_OF_SCOPE]
    automatable = [(p, d) for p, d in in_scope if p.expected not in handoff_intents]
    mandatory = [(p, d) for p, d in in_scope if p.expected in handoff_intents]
    out_scope = [(p, d) for p, d in decided if p.expected == OUT_OF_SCOPE]

    def share(rows: list, condition: Callable[[Prediction, str], bool]) -> float:
        return round(sum(condition(p, d) for p, d in rows) / max(len(rows), 1), 3)

    return HandoffEffect(
        threshold, ambiguity,
        in_scope_wrongly_handed_off=share(automatable, lambda p, d: d in handoff_intents),
        in_scope_to_clarify=share(in_scope, lambda p, d: d in misses),
        mandatory_to_human=share(mandatory, lambda p, d: d in handoff_intents),
        out_of_scope_automated=share(out_scope, lambda p, d: d not in misses and d not in handoff_intents),
        out_of_scope_handed_off=share(out_scope, lambda p, d: d in handoff_intents),
    )


def threshold_sweep(predictions: list[Prediction]) -> list[ThresholdEffect]:
    return [
        threshold_effect(predictions, threshold, ambiguity)
        for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
        for ambiguity in (0.0, 0.1, 0.2)
    ]


def confusions(predictions: list[Prediction], top: int = 10) -> list[tuple[str, str, int]]:
    pairs = Counter((p.expected, p.predicted) for p in predictions if p.expected != p.predicted)
    return [(a, b, n) for (a, b), n in pairs.most_common(top)]


def write_report(
    predictions: list[Prediction], out_dir: Path, name: str = "nlu_heldout",
    handoff: HandoffEffect | None = None,
) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    accuracy = sum(p.predicted == p.expected for p in predictions) / len(predictions)
    report = {
        "examples": len(predictions),
        "accuracy": round(accuracy, 3),
        "macro_f1": round(sum(r["f1"] for r in per_intent_report(predictions).values())
                          / len(per_intent_report(predictions)), 3),
        "per_intent": per_intent_report(predictions),
        "confusions": confusions(predictions),
        "threshold_sweep": [asdict(e) for e in threshold_sweep(predictions)],
        "handoff": asdict(handoff) if handoff else None,
        "errors": [asdict(p) for p in predictions if p.predicted != p.expected],
    }
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2))
    (out_dir / f"{name}.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Held-out NLU: {report['examples']} examples, accuracy {report['accuracy']:.1%}, "
             f"macro-F1 {report['macro_f1']:.3f}", "",
             "| intent | n | precision | recall | F1 | to fallback |", "|---|---|---|---|---|---|"]
    for intent, r in report["per_intent"].items():
        lines.append(f"| {intent} | {r['support']} | {r['precision']:.2f} | {r['recall']:.2f} | "
                     f"{r['f1']:.2f} | {r['to_fallback']} |")
    lines += ["", "| threshold | ambiguity | in-scope → fallback | in-scope wrong intent | "
              "out-of-scope automated | accuracy |", "|---|---|---|---|---|---|"]
    for e in report["threshold_sweep"]:
        lines.append(f"| {e['threshold']} | {e['ambiguity']} | {e['in_scope_to_fallback']:.1%} | "
                     f"{e['in_scope_wrong_intent']:.1%} | {e['out_of_scope_automated']:.1%} | {e['accuracy']:.1%} |")
    if report.get("handoff"):
        h = report["handoff"]
        lines += ["", f"Handoff policy at threshold {h['threshold']} / ambiguity {h['ambiguity']}:", "",
                  "| in-scope wrongly handed off | in-scope asked to clarify | mandatory categories to a person "
                  "| out-of-scope automated | out-of-scope handed off |", "|---|---|---|---|---|",
                  f"| {h['in_scope_wrongly_handed_off']:.1%} | {h['in_scope_to_clarify']:.1%} | "
                  f"{h['mandatory_to_human']:.1%} | {h['out_of_scope_automated']:.1%} | "
                  f"{h['out_of_scope_handed_off']:.1%} |"]
    lines += ["", "Most frequent confusions (expected → predicted):", ""]
    lines += [f"- {a} → {b}: {n}" for a, b, n in report["confusions"]]
    return "\n".join(lines) + "\n"
