"""PII redaction, measured (issue 19): recall per entity type, precision, trap survival and the
per-message cost of ``frontdesk.core.privacy.Redactor`` on the project's PII corpus.

The corpus (``tests/privacy/pii_corpus/``) was written for Frontdesk in support-chat style. The parts
``dev.yml``, ``dev-2.yml``, ``heldout.yml`` and ``heldout-2.yml`` have all been seen and tuned on:
they are development material now, whatever their names say. ``heldout-3.yml``, written by someone
who has not seen the redactor, is the blind part of record once it exists; until then it is skipped
(as is any part whose file does not exist).

- **Recall** of a gold span: the redactor's spans cover every character of it, whatever label they
  carry (a leak is what matters). **Label-exact recall** also wants the gold label on every
  covering span (ADDRESS and POSTCODE count as one family: both are the postal address).
- **Precision**: a predicted span is right when it overlaps a gold span. Predicted spans that hit a
  trap (an invoice number, a price, a version …) are also counted on their own.
- **Trap survival**: the share of trap substrings left wholly untouched.
- **Cost**: p50 and p95 milliseconds of ``Redactor.find`` per message, after a warm-up.

``python -m lab.redaction_evaluation`` prints the Markdown and writes ``reports/redaction.json``
and ``reports/redaction.md``; ``--parts dev,dev-2`` measures only the parts named. ``make eval``
calls ``evaluate`` and ``write``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "privacy" / "pii_corpus"
PARTS = {"dev": CORPUS / "dev.yml", "dev-2": CORPUS / "dev-2.yml", "heldout": CORPUS / "heldout.yml",
         "heldout-2": CORPUS / "heldout-2.yml", "heldout-3": CORPUS / "heldout-3.yml"}
# How the Markdown report titles each part.
PART_TITLES = {"dev": "Development part (tuned on)", "dev-2": "Second development part (tuned on)",
               "heldout": "Held-out part (never tuned on) when written; seen and tuned on since",
               "heldout-2": "Second held-out part (seen and tuned on since)",
               "heldout-3": "Blind part (never seen, the result of record)"}
# The company identifier the evaluation configures as sensitive: licence keys.
SENSITIVE_IDENTIFIERS = (r"(?i)\bLIC(?:-[A-Z0-9]{4}){3}\b",)
ENTITY_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON", "ADDRESS",
                "POSTCODE", "PASSWORD", "ONE_TIME_CODE", "API_KEY", "SENSITIVE_ID")
# The recall targets; precision overall must reach PRECISION_TARGET.
RECALL_TARGETS = {"EMAIL_ADDRESS": 0.99, "CREDIT_CARD": 0.99, "IBAN_CODE": 0.99, "PHONE_NUMBER": 0.99,
                  "PERSON": 0.95, "ADDRESS": 0.95, "POSTCODE": 0.95}
PRECISION_TARGET = 0.95
# Labels that name the same thing for label-exact recall.
LABEL_FAMILY = {"POSTCODE": "ADDRESS"}
WARM_UP_MESSAGES = 5

Span = tuple[int, int, str]


@dataclass(frozen=True)
class Sentence:
    text: str
    gold: tuple[Span, ...] = ()
    traps: tuple[tuple[int, int], ...] = field(default_factory=tuple)


def _locate(text: str, needle: str, taken: list[tuple[int, int]], where: str) -> tuple[int, int]:
    """The first occurrence of needle not overlapping one already taken; fails loudly when absent."""
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        if not any(start < e and s < end for s, e in taken):
            taken.append((start, end))
            return start, end
        start = text.find(needle, start + 1)
    raise ValueError(f"{where}: {needle!r} is not in {text!r}")


def parse_sentences(entries: Sequence[dict[str, Any]], source: str = "corpus") -> list[Sentence]:
    sentences = []
    for number, entry in enumerate(entries, 1):
        text = entry["text"]
        where = f"{source}, sentence {number}"
        taken: list[tuple[int, int]] = []
        gold = []
        for kind, needle in entry.get("pii") or []:
            if kind not in ENTITY_TYPES:
                raise ValueError(f"{where}: unknown entity type {kind!r}")
            gold.append((*_locate(text, str(needle), taken, where), kind))
        traps = [_locate(text, str(needle), [], where) for needle in entry.get("keep") or []]
        sentences.append(Sentence(text, tuple(sorted(gold)), tuple(traps)))
    return sentences


def load_corpus(path: Path) -> list[Sentence]:
    return parse_sentences(yaml.safe_load(path.read_text(encoding="utf-8"))["sentences"], path.name)


def _covered(start: int, end: int, spans: Sequence[Span], label: str | None = None) -> bool:
    """Every character of [start, end) lies in some span (of the given label family, if any)."""
    family = LABEL_FAMILY.get(label, label) if label else None
    covering = sorted((s, e) for s, e, kind in spans
                      if s < end and start < e and (family is None or LABEL_FAMILY.get(kind, kind) == family))
    cursor = start
    for s, e in covering:
        if s > cursor:
            return False
        cursor = max(cursor, e)
    return cursor >= end


def _overlaps(start: int, end: int, others: Sequence[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in others)


def score(sentences: Sequence[Sentence], predictions: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Recall per gold type, precision overall and per predicted type, trap survival, and the misses."""
    recall: dict[str, list[int]] = {}  # type -> [support, covered, covered with its label]
    precision: dict[str, list[int]] = {}  # predicted type -> [predicted, right, on a trap]
    traps, traps_kept = 0, 0
    misses, false_positives, trap_hits = [], [], []
    for sentence, predicted in zip(sentences, predictions, strict=True):
        for start, end, kind in sentence.gold:
            counts = recall.setdefault(kind, [0, 0, 0])
            counts[0] += 1
            if _covered(start, end, predicted):
                counts[1] += 1
                counts[2] += _covered(start, end, predicted, kind)
            else:
                misses.append({"type": kind, "value": sentence.text[start:end], "text": sentence.text})
        gold_spans = [(s, e) for s, e, _ in sentence.gold]
        for start, end, kind in predicted:
            counts = precision.setdefault(kind, [0, 0, 0])
            counts[0] += 1
            if _overlaps(start, end, gold_spans):
                counts[1] += 1
            else:
                false_positives.append({"type": kind, "value": sentence.text[start:end], "text": sentence.text})
            if _overlaps(start, end, sentence.traps):
                counts[2] += 1
        for start, end in sentence.traps:
            traps += 1
            if _overlaps(start, end, [(s, e) for s, e, _ in predicted]):
                trap_hits.append({"value": sentence.text[start:end], "text": sentence.text})
            else:
                traps_kept += 1
    predicted_total = sum(c[0] for c in precision.values())
    right_total = sum(c[1] for c in precision.values())
    gold_total = sum(c[0] for c in recall.values())
    return {
        "sentences": len(sentences),
        "sentences_without_pii": sum(1 for s in sentences if not s.gold),
        "recall": {kind: {"support": c[0], "recall": _ratio(c[1], c[0]), "label_exact_recall": _ratio(c[2], c[0]),
                          "target": RECALL_TARGETS.get(kind)}
                   for kind, c in sorted(recall.items())},
        "recall_overall": _ratio(sum(c[1] for c in recall.values()), gold_total),
        "precision": {kind: {"predicted": c[0], "precision": _ratio(c[1], c[0]), "trap_hits": c[2]}
                      for kind, c in sorted(precision.items())},
        "precision_overall": _ratio(right_total, predicted_total),
        "predicted": predicted_total,
        "traps": traps,
        "trap_survival": _ratio(traps_kept, traps),
        "misses": misses,
        "false_positives": false_positives,
        "trap_hits": trap_hits,
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def timed(find: Callable[[str], list[Span]], texts: Sequence[str]) -> tuple[list[list[Span]], dict[str, float]]:
    """Predictions and the per-message cost in milliseconds, after a warm-up (model load, caches)."""
    for text in texts[:WARM_UP_MESSAGES]:
        find(text)
    predictions, costs = [], []
    for text in texts:
        started = time.perf_counter()
        predictions.append(find(text))
        costs.append((time.perf_counter() - started) * 1000)
    costs.sort()
    return predictions, {"p50_ms": round(statistics.median(costs), 2),
                         "p95_ms": round(costs[min(len(costs) - 1, int(0.95 * len(costs)))], 2)}


def meets_targets(part: dict[str, Any]) -> dict[str, bool]:
    checks = {f"recall {kind} ≥ {target}": (part["recall"].get(kind, {}).get("recall") or 0.0) >= target
              for kind, target in RECALL_TARGETS.items() if kind in part["recall"]}
    checks[f"precision overall ≥ {PRECISION_TARGET}"] = (part["precision_overall"] or 0.0) >= PRECISION_TARGET
    return checks


def evaluate(find: Callable[[str], list[Span]] | None = None, parts: Sequence[str] | None = None) -> dict[str, Any]:
    """The corpus's parts (all, or those named) through the redactor (the one ``make eval`` and the
    tickets use, with the licence-key pattern configured as the company's sensitive identifier). A
    part whose file does not exist (the blind part before it is written) is skipped."""
    unknown = set(parts or ()) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown corpus parts: {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})")
    if find is None:
        from frontdesk.core.privacy import Redactor

        find = Redactor(sensitive_identifiers=SENSITIVE_IDENTIFIERS).find
    report: dict[str, Any] = {"sensitive_identifiers": list(SENSITIVE_IDENTIFIERS)}
    for name, path in PARTS.items():
        if (parts is not None and name not in parts) or not path.exists():
            continue
        sentences = load_corpus(path)
        predictions, cost = timed(find, [s.text for s in sentences])
        part = score(sentences, predictions) | cost
        part["targets"] = meets_targets(part)
        report[name] = part
    return report


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def markdown(report: dict[str, Any]) -> str:
    lines = ["# PII redaction", "",
             "Recall: the gold span wholly covered by redaction, whatever the label; label-exact: with its own "
             "label. Every part but the blind one (heldout-3, once it exists) has been tuned on.", ""]
    for name, part in report.items():
        if name not in PART_TITLES and name not in ("dev", "heldout"):
            continue
        title = PART_TITLES.get(name, name)
        lines += [f"## {title}", "",
                  f"{part['sentences']} sentences ({part['sentences_without_pii']} without PII), "
                  f"precision overall {_percent(part['precision_overall'])} of {part['predicted']} predicted spans, "
                  f"recall overall {_percent(part['recall_overall'])}, trap survival "
                  f"{_percent(part['trap_survival'])} of {part['traps']} traps, "
                  f"p50 {part['p50_ms']} ms, p95 {part['p95_ms']} ms per message.", "",
                  "| gold type | support | recall | label-exact recall | target |", "|---|---|---|---|---|"]
        for kind, r in part["recall"].items():
            target = f"≥ {r['target']}" if r["target"] else ""
            lines.append(f"| {kind} | {r['support']} | {_percent(r['recall'])} | "
                         f"{_percent(r['label_exact_recall'])} | {target} |")
        lines += ["", "| predicted type | predicted | precision | on a trap |", "|---|---|---|---|"]
        for kind, p in part["precision"].items():
            lines.append(f"| {kind} | {p['predicted']} | {_percent(p['precision'])} | {p['trap_hits']} |")
        lines += ["", "Targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in part["targets"].items()),
                  ""]
        for label, key in (("Misses", "misses"), ("False positives", "false_positives")):
            if part[key]:
                lines += [f"{label}:", ""]
                lines += [f"- {m['type']} `{m['value']}` in \"{m['text']}\"" for m in part[key]]
                lines.append("")
        if part["trap_hits"]:
            lines += ["Traps hit:", ""]
            lines += [f"- `{m['value']}` in \"{m['text']}\"" for m in part["trap_hits"]]
            lines.append("")
    return "\n".join(lines)


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Every measured part without its lists of misses, for ``make eval``'s eval.json."""
    keep = ("sentences", "recall", "recall_overall", "precision_overall", "trap_survival", "p50_ms", "p95_ms",
            "targets")
    return {name: {k: report[name][k] for k in keep} for name in PARTS if name in report}


def summary_line(part: dict[str, Any]) -> str:
    """One line for ``make eval``'s summary: the part of record against the targets."""
    h = part
    recall = ", ".join(f"{kind} {_percent(h['recall'][kind]['recall'])}" for kind in RECALL_TARGETS
                       if kind in h["recall"])
    missed = [k for k, ok in h["targets"].items() if not ok]
    return (f"PII redaction, blind part ({h['sentences']} sentences): recall {recall}; precision "
            f"{_percent(h['precision_overall'])}, traps kept {_percent(h['trap_survival'])}, p50 {h['p50_ms']} ms; "
            f"targets missed: {', '.join(missed) or 'none'} (reports/redaction.md)")


def write(report: dict[str, Any], reports: Path) -> None:
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "redaction.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (reports / "redaction.md").write_text(markdown(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", default=str(ROOT / "reports"), help="where to write redaction.json/.md")
    parser.add_argument("--parts", default=None,
                        help=f"comma-separated parts to measure (default: all that exist): {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()] if args.parts else None
    report = evaluate(parts=parts)
    write(report, Path(args.reports))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
