"""What a customer's first message leads to, per intent, on sets written by different people.

Accuracy alone hides what a miss costs. A first message can be:
- **right at once**: read as what the customer meant;
- **one click**: unsure, and the clarification's buttons (``frontdesk.handoff.clarification``, the same
  choice the live action makes) offer what they meant — a click away;
- **clarified, not offered**: unsure, and the buttons miss it (rephrase, or a person);
- **to a person**: read as another request that goes to a person (for an automatable request, a
  ticket an agent did not need);
- **wrong flow**: read as another automated request (the worst: the bot acts on a misreading).

Out-of-scope messages are scored by whether they were **kept out** of automated flows.

Three sets (docs/evaluation.md): the held-out set (our team's voice), the blind sets (written by
helpers that had not seen ``data/``), and the public BANKING77 test set's related classes mapped to
our intents (another company's customers; a cross-check, never trained on).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from rasa.core.agent import Agent

from frontdesk.billing.desk import LOOKUP_INTENTS
from frontdesk.billing.triage import BILLING_INTENTS
from frontdesk.handoff.clarification import clarification_choices
from frontdesk.handoff.policy import HandoffPolicy
from lab.evaluation import (
    ANSWERS_ONLY,
    FALLBACK,
    OUT_OF_SCOPE,
    SMALL_TALK,
    Prediction,
    fallback_settings,
    handoff_intents,
    load_examples,
    predict,
)

OUTCOMES = ("right_at_once", "one_click", "clarified_not_offered", "to_a_person", "wrong_flow")
# The requests a customer opens a conversation with (answers to the bot's own questions such as
# an e-mail address, a code or a rating are not first messages).
FIRST_MESSAGE_INTENTS = (
    "request_password_reset", "report_lost_2fa", "ask_latest_invoice", "ask_charge_explanation",
    "ask_payment_history", "ask_plan_details", "ask_payment_failed", "request_invoice_change",
    "request_plan_change", "ask_pricing", "ask_tax_question", "request_refund", "report_dispute",
    "privacy_request", "report_security_incident", "legal_request", "request_human", "ask_ticket_status",
    "ask_service_status", "greet",
    "goodbye", "thank", "bot_challenge", "ask_capabilities",
)
# The small talk a conversation opens with (not the answers yes / no / stop).
OPENING_SMALL_TALK = ("greet", "goodbye", "thank", "bot_challenge", "ask_capabilities")
# Readings the rules answer with the clarification (an answer to a question nobody asked is unclear).
_CLARIFIED = frozenset({FALLBACK, OUT_OF_SCOPE}) | ANSWERS_ONLY
# Readings that never start an automated flow, whatever the message meant.
_NOT_A_FLOW = _CLARIFIED | SMALL_TALK | {"inform_email"}

# BANKING77 classes with a counterpart here (the classes are a bank's; the requests are the same
# kind). Classes about banking operations we do not offer are the out-of-scope cross-check.
BANKING77_RELATED = {
    "passcode_forgotten": "request_password_reset",
    "request_refund": "request_refund",
    "Refund_not_showing_up": "request_refund",
    "transaction_charged_twice": "report_dispute",
    "card_payment_not_recognised": "report_dispute",
    "direct_debit_payment_not_recognised": "report_dispute",
    "declined_card_payment": "ask_payment_failed",
    "extra_charge_on_statement": "ask_charge_explanation",
    "card_payment_fee_charged": "ask_charge_explanation",
    "terminate_account": "privacy_request",
    "compromised_card": "report_security_incident",
}
BANKING77_UNRELATED = (
    "exchange_rate", "atm_support", "card_arrival", "card_delivery_estimate", "top_up_limits",
    "country_support", "fiat_currency_support", "apple_pay_or_google_pay", "getting_virtual_card",
    "visa_or_mastercard", "age_limit", "receiving_money", "get_physical_card", "card_linking",
)


def person_intents(policy: HandoffPolicy) -> set[str]:
    """Intents the bot hands to a person: the mandatory categories, "talk to a person" and the
    billing requests it does not resolve itself (triaged to a billing queue)."""
    return handoff_intents(policy) | (BILLING_INTENTS - LOOKUP_INTENTS)


def outcome(prediction: Prediction, person_intents: set[str]) -> str:
    """One first message's outcome; ``person_intents`` are those the bot hands to a person."""
    expected, read = prediction.expected, prediction.predicted
    if expected == OUT_OF_SCOPE:
        return "kept_out" if read in _NOT_A_FLOW or read in person_intents else "started_a_flow"
    if read == expected:
        return "right_at_once"
    if read in _CLARIFIED:
        ranking = [{"name": name, "confidence": confidence} for name, confidence in prediction.ranking]
        return "one_click" if expected in clarification_choices(read, ranking) else "clarified_not_offered"
    if read in person_intents:
        return "to_a_person"
    return "clarified_not_offered" if read == "inform_email" else "wrong_flow"


def first_turn_report(predictions: Iterable[Prediction], person_intents: set[str]) -> dict[str, Any]:
    """Per intent, the share of each outcome; the served intents' mean at once and within one
    click; out of scope kept out; small talk recognised."""
    by_intent: dict[str, Counter[str]] = {}
    examples: dict[str, list[dict[str, str]]] = {}
    for p in predictions:
        result = outcome(p, person_intents)
        by_intent.setdefault(p.expected, Counter())[result] += 1
        if result not in ("right_at_once", "kept_out"):
            examples.setdefault(p.expected, []).append({"text": p.text, "read_as": p.predicted, "outcome": result})
    per_intent = {}
    for intent, counts in sorted(by_intent.items()):
        n = sum(counts.values())
        per_intent[intent] = {"n": n} | {k: round(v / n, 3) for k, v in sorted(counts.items())}
    served = [per_intent[i] for i in FIRST_MESSAGE_INTENTS if i in per_intent]
    small_talk = [per_intent[i] for i in OPENING_SMALL_TALK if i in per_intent]

    def mean(rows: list[dict[str, Any]], *keys: str) -> float | None:
        return round(sum(sum(r.get(k, 0.0) for k in keys) for r in rows) / len(rows), 3) if rows else None

    oos = per_intent.get(OUT_OF_SCOPE)
    return {
        "served_intents": len(served),
        "served_right_at_once": mean(served, "right_at_once"),
        "served_within_one_click": mean(served, "right_at_once", "one_click"),
        "out_of_scope_kept_out": oos.get("kept_out", 0.0) if oos else None,
        "out_of_scope_messages": oos["n"] if oos else 0,
        "small_talk_recognised": mean(small_talk, "right_at_once"),
        "per_intent": per_intent,
        "misses": {k: v[:15] for k, v in sorted(examples.items())},
    }


def banking77_crosscheck(test_csv: Path) -> list[tuple[str, str]]:
    """The BANKING77 test messages of the related classes, labelled with our intent, and of the
    unrelated ones, labelled out of scope."""
    labelled = []
    with test_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            category = row["category"]
            if category in BANKING77_RELATED:
                labelled.append((row["text"], BANKING77_RELATED[category]))
            elif category in BANKING77_UNRELATED:
                labelled.append((row["text"], OUT_OF_SCOPE))
    return labelled


def markdown(reports: dict[str, dict[str, Any]]) -> str:
    """One table per set, and the headline figures side by side."""
    lines = ["# First message: what it leads to", "",
             "| set | served intents right at once | within one click | out of scope kept out "
             "| small talk recognised |", "|---|---|---|---|---|"]

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    for name, r in reports.items():
        lines.append(f"| {name} | {pct(r['served_right_at_once'])} | {pct(r['served_within_one_click'])} | "
                     f"{pct(r['out_of_scope_kept_out'])} (n={r['out_of_scope_messages']}) | "
                     f"{pct(r['small_talk_recognised'])} |")
    for name, r in reports.items():
        lines += ["", f"## {name}", "", "| intent | n | right at once | one click | clarified, not offered "
                  "| to a person | wrong flow |", "|---|---|---|---|---|---|---|"]
        for intent, row in r["per_intent"].items():
            if intent == OUT_OF_SCOPE:
                lines.append(f"| out_of_scope | {row['n']} | kept out {pct(row.get('kept_out', 0.0))} | | | | "
                             f"started a flow {pct(row.get('started_a_flow', 0.0))} |")
                continue
            lines.append(f"| {intent} | {row['n']} | " + " | ".join(pct(row.get(k, 0.0)) for k in OUTCOMES) + " |")
    return "\n".join(lines) + "\n"


def evaluation_sets(root: Path) -> dict[str, list[tuple[str, str]]]:
    """The held-out set, each blind set, and the BANKING77 cross-check where the benchmark is."""
    sets = {"held-out": [(t, i) for t, i in load_examples(root / "tests" / "nlu" / "heldout.yml")
                         if i in FIRST_MESSAGE_INTENTS or i == OUT_OF_SCOPE]}
    for path in sorted((root / "tests" / "nlu" / "blind").glob("blind_v*.yml")):
        sets[f"blind {path.stem.removeprefix('blind_')}"] = load_examples(path)
    banking77 = root.parent / "shared" / "benchmarks" / "banking77" / "test.csv"
    if banking77.exists():
        sets["BANKING77 cross-check"] = banking77_crosscheck(banking77)
    return sets


def classifier_temperature(config: Path) -> float:
    for component in yaml.safe_load(config.read_text())["pipeline"]:
        if component["name"].endswith("LogisticRegressionIntentClassifier"):
            return float(component.get("temperature", 1.0))
    return 1.0


def evaluate(agent: Any, root: Path, out_dir: Path, person_intents: set[str]) -> dict[str, dict[str, Any]]:
    """Parse every set with ``agent`` (a loaded Rasa Agent); write ``first_turn.md`` / ``.json``
    and the calibration and threshold-cost report ``confidence.md`` / ``.json`` under ``out_dir``."""
    # Imported here: confidence_calibration builds on this module's ``outcome``.
    from lab import confidence_calibration

    predictions = {name: asyncio.run(predict(agent, examples)) for name, examples in evaluation_sets(root).items()}
    reports = {name: first_turn_report(rows, person_intents) for name, rows in predictions.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "first_turn.json").write_text(json.dumps(reports, indent=2))
    (out_dir / "first_turn.md").write_text(markdown(reports))
    _, ambiguity = fallback_settings(root / "config.yml")
    heldout = predictions.pop("held-out")
    confidence = confidence_calibration.calibration_report(
        heldout, predictions, person_intents, ambiguity, classifier_temperature(root / "config.yml"))
    (out_dir / "confidence.json").write_text(json.dumps(confidence, indent=2))
    (out_dir / "confidence.md").write_text(confidence_calibration.markdown(confidence))
    return reports


def main(argv: list[str] | None = None) -> int:

    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(root / "models" / "frontdesk.tar.gz"))
    parser.add_argument("--out", default=str(root / "reports"))
    args = parser.parse_args(argv)
    person = person_intents(HandoffPolicy.load(root / "handoff.yml"))
    reports = evaluate(Agent.load(args.model), root, Path(args.out), person)
    print(markdown(reports).split("\n## ")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
