"""Run a Rasa server or an action server with an on-demand profiler, for ``make bench``
(``lab.speed_bench``).

``python -m lab.profiling --out DIR -- run --model ...`` runs the Rasa CLI in this
process, exactly as ``rasa run ...`` would (``run actions ...``: rasa-sdk's action server). With
``--module frontdesk_rasa.rasa_server`` or ``--module frontdesk_rasa.action_server`` it runs
Frontdesk's own entry point instead, exactly as ``python -m <module> ...`` would (the API's JWT
secret and the action server's shared secret come from the environment, as in ``frontdesk
serve``). Two instruments, which cost nothing until a measurement window is opened:

- span timers: wall-clock totals of the stages of a message (NLU, policies, the action server
  round trip, the tracker store; in an action server, each action), wrapped around Rasa's own
  methods. Under a sequential load they add up to the budget of a message.
- cProfile (the stdlib profiler), for the functions inside those stages.

The benchmark writes ``DIR/control.json`` (``{"command": "start"|"stop", "label": ..., "cprofile":
true|false}``) and sends SIGUSR1; the process answers by writing ``DIR/<label>.<command>.ack``,
and on "stop" ``DIR/<label>.spans.json`` and, with cProfile, ``DIR/<label>.prof``. Nothing here
runs in production: ``frontdesk serve`` never starts Rasa through this module.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import inspect
import json
import runpy
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

# (module, class, method, span name). A stage is timed where Rasa runs it; a method that a
# subclass overrides is wrapped on each class that defines it.
RASA_SERVER_SPANS: tuple[tuple[str, str, str, str], ...] = (
    ("rasa.core.processor", "MessageProcessor", "handle_message", "message"),
    ("rasa.core.processor", "MessageProcessor", "_parse_message_with_graph", "nlu"),
    ("rasa.core.processor", "MessageProcessor", "_predict_next_with_tracker", "policies"),
    ("rasa.core.actions.action", "RemoteAction", "run", "action_server_round_trip"),
    ("rasa.core.actions.action", "RemoteAction", "_action_call_format", "action_request_serialisation"),
    ("rasa.core.actions.action", "RemoteAction", "_validate_action_result", "action_reply_validation"),
    ("rasa.core.tracker_store", "SQLTrackerStore", "retrieve", "tracker_store_retrieve"),
    ("rasa.core.tracker_store", "SQLTrackerStore", "save", "tracker_store_save"),
    ("rasa.core.tracker_store", "InMemoryTrackerStore", "retrieve", "tracker_store_retrieve"),
    ("rasa.core.tracker_store", "InMemoryTrackerStore", "save", "tracker_store_save"),
    # Every component of the model's graph (NLU components, featurizers, policies), by node name.
    ("rasa.engine.graph", "GraphNode", "__call__", "graph_node"),
)
ACTION_SERVER_SPANS: tuple[tuple[str, str, str, str], ...] = (
    ("rasa_sdk.executor", "ActionExecutor", "run", "action"),
)
# Frontdesk's entry points (``python -m``), and whether each is an action server.
MODULES = {"frontdesk_rasa.rasa_server": False, "frontdesk_rasa.action_server": True}


class Recorder:
    """Span totals, counted only while a window is open."""

    def __init__(self) -> None:
        self.active = False
        self.spans: dict[str, list[float]] = {}
        self.per_action: dict[str, list[float]] = {}  # per action, or per graph node
        self.window_started = 0.0
        self.profiler: cProfile.Profile | None = None

    def add(self, name: str, seconds: float, detail: str | None = None) -> None:
        if not self.active:
            return
        total = self.spans.setdefault(name, [0, 0.0])
        total[0] += 1
        total[1] += seconds
        if detail:
            per = self.per_action.setdefault(detail, [0, 0.0])
            per[0] += 1
            per[1] += seconds

    def start(self, with_cprofile: bool) -> None:
        self.spans, self.per_action = {}, {}
        self.window_started = time.perf_counter()
        self.active = True
        if with_cprofile:
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def stop(self, out: Path, label: str) -> None:
        elapsed = time.perf_counter() - self.window_started
        self.active = False
        if self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(str(out / f"{label}.prof"))
            self.profiler = None
        (out / f"{label}.spans.json").write_text(json.dumps({
            "window_seconds": elapsed,
            "spans": {name: {"count": int(c), "seconds": s} for name, (c, s) in self.spans.items()},
            "per_action": {name: {"count": int(c), "seconds": s} for name, (c, s) in self.per_action.items()},
        }, indent=2))


RECORDER = Recorder()


def _action_name(args: tuple[Any, ...]) -> str | None:
    # RemoteAction.run(self, ...) -> self.name(); ActionExecutor.run(self, action_call) -> next_action;
    # GraphNode.__call__(self, ...) -> the node's name.
    target = args[0] if args else None
    if hasattr(target, "_node_name"):
        return f"graph: {target._node_name}"
    if len(args) > 1 and isinstance(args[1], dict):
        return str(args[1].get("next_action"))
    name = getattr(target, "name", None)
    return str(name()) if callable(name) else None


def _timed(original: Callable[..., Any], span: str) -> Callable[..., Any]:
    per_action = span in {"action_server_round_trip", "action", "graph_node"}
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                RECORDER.add(span, time.perf_counter() - started, _action_name(args) if per_action else None)
        return timed_async
    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            RECORDER.add(span, time.perf_counter() - started, _action_name(args) if per_action else None)
    return timed


def install_spans(spans: tuple[tuple[str, str, str, str], ...]) -> None:
    import importlib

    for module_name, class_name, method, span in spans:
        cls = getattr(importlib.import_module(module_name), class_name)
        if method in vars(cls):
            setattr(cls, method, _timed(vars(cls)[method], span))


def time_model_load(out: Path) -> None:
    """Always on: how long ``Agent.load_model`` takes (the model, its graph and components),
    written to ``DIR/model_load.json`` as soon as the model is loaded."""
    from rasa.core.agent import Agent

    original = Agent.load_model

    @functools.wraps(original)
    def load_model(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        original(*args, **kwargs)
        (out / "model_load.json").write_text(json.dumps({"seconds": time.perf_counter() - started}))

    Agent.load_model = load_model  # type: ignore[method-assign]


def _on_signal(out: Path) -> Callable[[int, FrameType | None], None]:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        control = json.loads((out / "control.json").read_text())
        label = str(control["label"])
        if control["command"] == "start":
            RECORDER.start(bool(control.get("cprofile")))
        else:
            RECORDER.stop(out, label)
        (out / f"{label}.{control['command']}.ack").write_text("ok")
    return handle


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for control, spans and profiles")
    parser.add_argument("--speedups", action="store_true",
                        help="install frontdesk_rasa.speedups before the span timers (else rasa_server.main "
                             "installs them after)")
    parser.add_argument("--module", choices=sorted(MODULES),
                        help="run this Frontdesk entry point (as python -m would) instead of the rasa CLI")
    parser.add_argument("rasa_args", nargs=argparse.REMAINDER,
                        help="-- then the rasa command line (or the module's arguments)")
    args = parser.parse_args(argv)
    rasa_args = args.rasa_args[1:] if args.rasa_args[:1] == ["--"] else args.rasa_args
    args.out.mkdir(parents=True, exist_ok=True)
    is_action_server = MODULES[args.module] if args.module else rasa_args[:2] == ["run", "actions"]
    if args.speedups:
        # Installed first so that the timers wrap the methods Rasa will really run (the channel
        # module's own install() is then a no-op).
        from frontdesk_rasa import speedups

        speedups.install()
    install_spans(ACTION_SERVER_SPANS if is_action_server else RASA_SERVER_SPANS)
    if not is_action_server:
        time_model_load(args.out)
    signal.signal(signal.SIGUSR1, _on_signal(args.out))
    if args.module:
        sys.argv = [args.module, *rasa_args]
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        return
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *rasa_args]
    rasa_main()


if __name__ == "__main__":
    main()
