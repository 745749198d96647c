"""``make bench-nlu``: NLU pipelines on the public BANKING77 intent data set.

Each pipeline is trained with ``rasa train nlu`` on the 10,003 training examples (a fresh, empty
Rasa cache, so nothing is reused between pipelines or runs) and tested on the 3,080 test examples
one message at a time, as a live assistant sees them. Reported: accuracy and macro-F1 of the
classifier's top intent (the FallbackClassifier's ``nlu_fallback`` set aside, because the two
pipelines use different thresholds; the share it would catch is reported separately), training
time, and inference time per message. Rasa's default pipeline (the one ``rasa init`` trains) is
trained and tested in the same run, so the ratio holds whatever the machine is doing.

    python -m lab.nlu_benchmark [--pipelines frontdesk rasa-default ...]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "banking77"
RASA = str(Path(sys.executable).parent / "rasa")
SEED = 20261127
FALLBACK = "nlu_fallback"

# Published reference points on the same split.
PUBLISHED = [
    ("BERT-Large, fine-tuned (Casanueva et al. 2020)", 0.9366),
    ("USE + ConveRT (Casanueva et al. 2020)", 0.9336),
    ("best published", 0.949),
]


def rasa_default_pipeline() -> list[dict[str, Any]]:
    """The pipeline ``rasa init`` trains: Rasa's own default config, read from the installed
    package so that it is exactly what this Rasa version uses."""
    import rasa.engine.recipes

    path = Path(rasa.engine.recipes.__file__).parent / "config_files" / "default_config.yml"
    return yaml.safe_load(path.read_text())["pipeline"]


def _pipeline_in(path: Path) -> Callable[[], list[dict[str, Any]]]:
    return lambda: yaml.safe_load(path.read_text())["pipeline"]


def pipelines(config: Path) -> dict[str, Callable[[], list[dict[str, Any]]]]:
    candidates = {"frontdesk": _pipeline_in(config), "rasa-default": rasa_default_pipeline}
    for extra in sorted((ROOT / "benchmarks" / "nlu").glob("*.yml")):
        candidates[extra.stem] = _pipeline_in(extra)
    return candidates


def seeded(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same pipeline with fixed seeds where a component takes one, so reruns repeat."""
    trainable = {"DIETClassifier", "ResponseSelector"}
    return [{**c, "random_seed": c.get("random_seed", SEED)} if c["name"] in trainable else c
            for c in pipeline]


def read_split(name: str) -> list[tuple[str, str]]:
    with (DATA / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


def write_training_data(examples: list[tuple[str, str]], path: Path) -> None:
    # Rasa's JSON format: texts are taken literally (YAML's [text](entity) markup could misread
    # a customer's brackets).
    rows = [{"text": text, "intent": intent, "entities": []} for text, intent in examples]
    path.write_text(json.dumps({"rasa_nlu_data": {"common_examples": rows}}, ensure_ascii=False))


@dataclass
class PipelineResult:
    name: str
    components: list[str]
    train_seconds: float
    train_cpu_seconds: float
    load_seconds: float
    accuracy: float
    macro_f1: float
    would_fall_back: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_mean: float
    model_mb: float


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(name: str, pipeline: list[dict[str, Any]], data: Path, work: Path) -> tuple[Path, float, float]:
    """Trains in a child process; returns the model, wall-clock seconds and CPU seconds. CPU time
    is reported beside wall time because it holds when something else shares the machine."""
    config = work / f"{name}.yml"
    config.write_text(yaml.safe_dump({"recipe": "default.v1", "language": "en", "assistant_id": f"bench-{name}",
                                      "pipeline": seeded(pipeline), "policies": []}))
    cache = work / f"cache-{name}"
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache), "PYTHONHASHSEED": "0",
           "RASA_TELEMETRY_ENABLED": "false"}
    started, cpu_before = time.perf_counter(), _children_cpu_seconds()
    run = subprocess.run([RASA, "train", "nlu", "--config", str(config), "--nlu", str(data),  # noqa: S603
                          "--out", str(work), "--fixed-model-name", name],
                         cwd=work, env=env, capture_output=True, text=True)
    seconds, cpu_seconds = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
    model = work / f"{name}.tar.gz"
    if run.returncode != 0 or not model.exists():
        raise RuntimeError(f"training {name} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return model, seconds, cpu_seconds


async def _parse_all(agent: Any, texts: list[str]) -> tuple[list[tuple[str, bool]], list[float]]:
    outcomes, latencies = [], []
    for text in texts:
        started = time.perf_counter()
        parsed = await agent.parse_message(text)
        latencies.append((time.perf_counter() - started) * 1000)
        ranking = [r for r in parsed.get("intent_ranking", []) if r["name"] != FALLBACK]
        top = ranking[0]["name"] if ranking else parsed["intent"]["name"]
        outcomes.append((top, parsed["intent"]["name"] == FALLBACK))
    return outcomes, latencies


def evaluate(name: str, components: list[str], model: Path, train_seconds: float, train_cpu_seconds: float,
             test: list[tuple[str, str]]) -> PipelineResult:
    from rasa.core.agent import Agent
    from sklearn.metrics import accuracy_score, f1_score

    started = time.perf_counter()
    agent = Agent.load(str(model))
    load_seconds = time.perf_counter() - started
    outcomes, latencies = asyncio.run(_parse_all(agent, [text for text, _ in test]))
    expected = [intent for _, intent in test]
    predicted = [top for top, _ in outcomes]
    cuts = statistics.quantiles(latencies, n=100)
    return PipelineResult(
        name=name, components=components, train_seconds=round(train_seconds, 1),
        train_cpu_seconds=round(train_cpu_seconds, 1),
        load_seconds=round(load_seconds, 1),
        accuracy=round(float(accuracy_score(expected, predicted)), 4),
        macro_f1=round(float(f1_score(expected, predicted, average="macro")), 4),
        would_fall_back=round(sum(1 for _, fell in outcomes if fell) / len(outcomes), 4),
        latency_ms_p50=round(cuts[49], 1), latency_ms_p95=round(cuts[94], 1),
        latency_ms_mean=round(statistics.fmean(latencies), 1),
        model_mb=round(model.stat().st_size / 1e6, 1),
    )


def markdown(results: list[PipelineResult], train_n: int, test_n: int) -> str:
    lines = ["# NLU pipeline benchmark: BANKING77", "",
             f"{train_n:,} training and {test_n:,} test examples, 77 intents; one run of "
             "`make bench-nlu` on this machine (the pipelines ran one after the other).", "",
             "| pipeline | accuracy | macro-F1 | training (CPU time) | per message p50 / p95 | model load | "
             "below its fallback threshold |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.accuracy:.2%} | {r.macro_f1:.3f} | "
                     f"{r.train_seconds / 60:.1f} min ({r.train_cpu_seconds / 60:.1f} min) | "
                     f"{r.latency_ms_p50:.0f} / {r.latency_ms_p95:.0f} ms | {r.load_seconds:.0f} s | "
                     f"{r.would_fall_back:.1%} |")
    lines += ["", "Published on the same split: " + "; ".join(f"{n} {a:.2%}" for n, a in PUBLISHED) + ".", ""]
    for r in results:
        lines.append(f"- **{r.name}**: " + " → ".join(r.components))
    return "\n".join(lines) + "\n"


def write_reports(results: list[PipelineResult], train_n: int, test_n: int, out: Path) -> str:
    """Written after every pipeline, so a failure late in a long run loses nothing measured."""
    out.mkdir(parents=True, exist_ok=True)
    report = markdown(results, train_n, test_n)
    (out / "bench-nlu.md").write_text(report)
    (out / "bench-nlu.json").write_text(json.dumps(
        {"train_examples": train_n, "test_examples": test_n, "published": PUBLISHED,
         "results": [asdict(r) for r in results]}, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", nargs="*", help="which pipelines (default: frontdesk and rasa-default)")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--limit", type=int, default=0, help="test on a seeded sample of N messages (a smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)

    available = pipelines(args.config)
    chosen = args.pipelines or ["frontdesk", "rasa-default"]
    unknown = [p for p in chosen if p not in available]
    if unknown:
        parser.error(f"unknown pipelines {unknown}; known: {sorted(available)}")
    train_examples, test = read_split("train"), read_split("test")
    if args.limit:  # the file is sorted by intent: sample across all of them
        test = random.Random(SEED).sample(test, min(args.limit, len(test)))  # noqa: S311 - not security
    results: list[PipelineResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as tmp:
        work = Path(tmp)
        data = work / "banking77_train.json"
        write_training_data(train_examples, data)
        for name in chosen:
            print(f"[bench-nlu] training {name} …", flush=True)
            pipeline = available[name]()  # read now: a long run uses the file as it is at this step
            try:
                model, seconds, cpu_seconds = train(name, pipeline, data, work)
            except RuntimeError as failed:  # keep what the earlier pipelines measured
                print(f"[bench-nlu] {failed}", file=sys.stderr, flush=True)
                return 1
            print(f"[bench-nlu] {name}: trained in {seconds / 60:.1f} min ({cpu_seconds / 60:.1f} CPU min); "
                  "testing …", flush=True)
            components = [c["name"] for c in pipeline]
            results.append(evaluate(name, components, model, seconds, cpu_seconds, test))
            print(f"[bench-nlu] {name}: accuracy {results[-1].accuracy:.2%}", flush=True)
            report = write_reports(results, len(train_examples), len(test), args.out)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
