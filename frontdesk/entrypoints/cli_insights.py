"""The measurement commands (issue 20), wired into ``cli.build_parser`` by ``add_insights_commands``:

- ``frontdesk insights consume [--once] [--json]``: the event consumer. ``frontdesk serve``'s web
  worker consumes every few seconds already; this is for a separate worker
  (FRONTDESK_CONSUME_EVERY_SECONDS=0 on the web app) or to catch up by hand.
- ``frontdesk kpi report [--from DAY] [--to DAY] [--json] [--html FILE]`` and ``frontdesk kpi check``:
  the KPIs against their targets, drift, and PASS or ROLLBACK (``frontdesk/insights/report.py``).
- ``frontdesk model register|scores|list|rollback``: the model registry
  (``frontdesk/insights/models.py``).
- ``frontdesk release check [--json]``: the ABTM release gate (``frontdesk/insights/release.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frontdesk.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from frontdesk.insights.models import ModelRegistry

CommandHelper = Callable[..., argparse.ArgumentParser]


def add_insights_commands(domains: argparse._SubParsersAction, command: CommandHelper) -> None:
    insights = domains.add_parser("insights", help="telemetry from Rasa's event broker (docs/measurement.md)")
    group = insights.add_subparsers(dest="cmd", required=True)
    consume = command(group, "consume", cmd_insights_consume,
                      "record the broker's events as redacted facts; runs until stopped unless --once")
    consume.add_argument("--once", action="store_true", help="read until the broker is empty, then stop")
    consume.add_argument("--json", action="store_true", help="print what was read as JSON")
    consume.add_argument("--every", type=float, default=None,
                         help="seconds between reads when running (default FRONTDESK_CONSUME_EVERY_SECONDS or 5)")


def _day(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a day like 2026-11-30 (or 2026-11-30T12:00), got {raw!r}") from None


def add_kpi_commands(domains: argparse._SubParsersAction, command: CommandHelper) -> None:
    kpi = domains.add_parser("kpi", help="KPIs against their targets, drift and rollback (docs/measurement.md)")
    group = kpi.add_subparsers(dest="cmd", required=True)
    report = command(group, "report", cmd_kpi_report,
                     "the KPIs of a window against goals.yml, weekly trends, drift, handoffs, CSAT, corrections")
    report.add_argument("--from", dest="start", type=_day, help="first day (UTC; default: --to minus 35 days)")
    report.add_argument("--to", dest="end", type=_day, help="the day after the last (UTC; default: now)")
    report.add_argument("--json", action="store_true")
    report.add_argument("--html", type=Path, help="also write the self-contained HTML report here")
    verdict = command(group, "check", cmd_kpi_check,
                      "PASS or ROLLBACK: the current window against the baseline (monitoring.yml); exit 1 on ROLLBACK")
    verdict.add_argument("--to", dest="end", type=_day, help="the end of the current window (default: now)")
    verdict.add_argument("--json", action="store_true")


def _goals_and_monitoring(settings: Settings) -> tuple[Any, Any]:
    from frontdesk.insights.goals import load_goals, load_monitoring

    return load_goals(settings.insights.goals_file), load_monitoring(settings.insights.monitoring_file)


def cmd_kpi_report(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services
    from frontdesk.core.schema import utcnow
    from frontdesk.insights.report import Period, kpi_window_report, text_report

    goals, monitoring = _goals_and_monitoring(settings)
    now = utcnow()
    period = Period.ending(args.end or now, monitoring, args.start)
    if period.start >= period.end:
        print("error: --from must be before --to", file=sys.stderr)
        return 2
    services = build_services(settings)
    with services.db.transaction() as session:
        report = kpi_window_report(session, services.workspace.feedback, goals, monitoring, period, now)
    if args.html:
        from frontdesk.insights.report_html import render

        args.html.write_text(render(report), encoding="utf-8")
    print(json.dumps(report, indent=2, default=str) if args.json else text_report(report))
    return 0


def cmd_kpi_check(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.db import Database
    from frontdesk.core.schema import utcnow
    from frontdesk.insights.report import Period, rollback_check

    goals, monitoring = _goals_and_monitoring(settings)
    now = utcnow()
    with Database(settings.database_url).transaction() as session:
        verdict, evidence = rollback_check(session, goals, monitoring, Period.ending(args.end or now, monitoring), now)
    if args.json:
        print(json.dumps({**verdict.as_dict(), **evidence}, indent=2, default=str))
    else:
        print(verdict.decision)
        for item in verdict.checks:
            print(f"  {item.status:<8} {item.criterion}: {item.evidence}")
    return 1 if verdict.decision != "PASS" else 0


def add_release_commands(domains: argparse._SubParsersAction, command: CommandHelper) -> None:
    release = domains.add_parser("release", help="the ABTM release gate (docs/measurement.md)")
    group = release.add_subparsers(dest="cmd", required=True)
    gate = command(group, "check", cmd_release_check,
                   "walk ALIGN, BUILD, TEST, MEASURE against the project: each item met or not, with evidence")
    gate.add_argument("--json", action="store_true")


def cmd_release_check(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.insights.release import ReleaseCheck

    items = ReleaseCheck(settings, PROJECT_ROOT).run()
    passed = all(item.met for item in items)
    if args.json:
        print(json.dumps({"passed": passed, "items": [item.as_dict() for item in items]}, indent=2))
    else:
        for item in items:
            print(f"{'met    ' if item.met else 'NOT MET'}  {item.stage:<8} {item.name}: {item.evidence}")
        print("release gate: PASSED" if passed else
              f"release gate: FAILED ({sum(1 for item in items if not item.met)} of {len(items)} not met)")
    return 0 if passed else 1


def add_model_commands(domains: argparse._SubParsersAction, command: CommandHelper) -> None:
    model = domains.add_parser("model", help="the model registry and rollback (docs/measurement.md)")
    group = model.add_subparsers(dest="cmd", required=True)
    register = command(group, "register", cmd_model_register,
                       "record a trained model: its id, fingerprints of data and config, a kept copy")
    register.add_argument("archive", type=Path, nargs="?", default=None,
                          help="the trained model (default: models/frontdesk.tar.gz)")
    register.add_argument("--json", action="store_true")
    scores = command(group, "scores", cmd_model_scores, "attach make eval's scores to the model they are for")
    scores.add_argument("--eval", type=Path, required=True, help="reports/eval.json of `make eval`")
    command(group, "list", cmd_model_list, "the registered models, newest first, with the live one marked",
            listing=True)
    rollback = command(group, "rollback", cmd_model_rollback,
                       "make the running Rasa server load the model before the live one (or --to)")
    rollback.add_argument("--reason", required=True, help="why, for the audit trail")
    rollback.add_argument("--to", help="the model id to load (default: the one registered before the live one)")
    rollback.add_argument("--json", action="store_true")


def _registry(settings: Settings) -> ModelRegistry:
    from frontdesk.insights.models import ModelRegistry

    return ModelRegistry(settings.insights.model_dir)


def cmd_model_register(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.insights.models import RegistryError

    archive = args.archive or settings.insights.model_dir / "frontdesk.tar.gz"
    try:
        model = _registry(settings).register(archive, PROJECT_ROOT)
    except RegistryError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(json.dumps(model.as_dict(), indent=2) if args.json else
          f"registered {model.model_id} (trained {model.trained_at}; data {model.data_fingerprint[:12]}, "
          f"config {model.config_fingerprint[:12]})")
    return 0


def cmd_model_scores(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.insights.models import RegistryError

    try:
        scores = json.loads(args.eval.read_text(encoding="utf-8"))
        model = _registry(settings).attach_scores(str(scores.get("model_id") or ""), scores)
    except (OSError, ValueError, RegistryError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(f"scores of {args.eval} attached to {model.model_id}")
    return 0


def _live_model(settings: Settings) -> str | None:
    from frontdesk.insights.models import RasaModelApi, RegistryError

    try:
        return RasaModelApi(settings.rasa_url, settings.rasa_jwt_secret).live_model_id() or None
    except RegistryError:
        return None  # no server running: nothing is live


def cmd_model_list(settings: Settings, args: argparse.Namespace) -> int:
    models = list(reversed(_registry(settings).models()))
    live = _live_model(settings) if settings.rasa_jwt_secret else None
    rows = [{"model_id": m.model_id, "live": m.model_id == live, "trained_at": m.trained_at,
             "data": m.data_fingerprint[:12], "config": m.config_fingerprint[:12],
             "evaluated": m.eval is not None} for m in models]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no model registered yet: `make train` registers each one")
    for row in rows:
        print(f"{'*' if row['live'] else ' '} {row['model_id']}  trained {row['trained_at'][:19]}  "
              f"data {row['data']}  config {row['config']}  {'evaluated' if row['evaluated'] else 'not evaluated'}")
    return 0


def cmd_model_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.audit import AuditLog, DecisionContext
    from frontdesk.core.db import Database
    from frontdesk.core.privacy import default_redactor
    from frontdesk.insights.models import RasaModelApi, RegistryError

    if not settings.rasa_jwt_secret:
        print("error: `frontdesk model rollback` calls the Rasa server's HTTP API: set RASA_JWT_SECRET to the "
              "secret the server was started with", file=sys.stderr)
        return 2
    registry, api = _registry(settings), RasaModelApi(settings.rasa_url, settings.rasa_jwt_secret)
    try:
        live = api.live_model_id()
        target = registry.get(args.to) if args.to else registry.previous(live)
        if target.model_id == live:
            raise RegistryError(f"{live} is already the live model")
        api.load(registry.path_of(target))
        now_live = api.live_model_id()
    except RegistryError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    operator = args.operator.name if args.operator is not None else "unknown"
    # The reason is an operator's free text: redacted like everything the trail keeps.
    why = default_redactor(settings.privacy.sensitive_identifiers).redact(args.reason[:500])
    with Database(settings.database_url).transaction() as session:
        AuditLog().record(session, DecisionContext(conversation_id=None, model_id=now_live), "model.rollback",
                          reason="operator", previous_model=live, loaded_model=target.model_id, by=operator,
                          why=why)
    result = {"previous": live, "loaded": target.model_id, "live": now_live, "by": operator}
    print(json.dumps(result) if args.json else f"{operator} rolled the live model back: {live} -> {now_live}")
    return 0 if now_live == target.model_id else 1


def cmd_insights_consume(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services

    telemetry = build_services(settings).telemetry
    if telemetry is None:
        print("FRONTDESK_EVENT_BROKER_URL is off: there is nothing to consume.", file=sys.stderr)
        return 2
    if args.once:
        report = telemetry.consume_all()
        print(json.dumps(asdict(report)) if args.json else
              f"read {report.read} events: {report.recorded} new, {report.read - report.recorded} seen before, "
              f"{report.unreadable} unreadable; {report.conversations} conversations refreshed")
        return 0
    every = args.every or settings.insights.consume_every_seconds or 5
    while True:  # a worker: stopped by its supervisor (Ctrl-C, SIGTERM)
        report = telemetry.consume_all()
        if report.read:
            print(json.dumps(asdict(report)) if args.json else f"read {report.read}, new {report.recorded}",
                  flush=True)
        time.sleep(every)
