"""``frontdesk insights consume [--once] [--json]``: the event consumer (issue 20).

``cli.build_parser`` wires these into an ``insights`` domain with ``add_insights_commands``.
``frontdesk serve``'s web worker consumes every few seconds already; this is for a separate worker
(FRONTDESK_CONSUME_EVERY_SECONDS=0 on the web app) or to catch up by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

from frontdesk.settings import Settings

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
