"""``frontdesk privacy retention run [--dry-run] [--json] [--batch-size N]``: deletes what is past
its retention period (frontdesk/privacy/retention.py says what that means per kind), or with
``--dry-run`` shows what it would delete. Wired into ``build_parser()`` by
``add_retention_commands``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from frontdesk.settings import Settings

CommandHelper = Callable[..., argparse.ArgumentParser]  # cli.build_parser's ``command``


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_retention_commands(privacy_group: argparse._SubParsersAction, command: CommandHelper) -> None:
    """Adds ``retention run`` under the ``privacy`` domain's sub-commands."""
    retention = privacy_group.add_parser("retention", help="delete what is past its retention period")
    group = retention.add_subparsers(dest="retention_cmd", required=True)
    run = command(group, "run", cmd_retention_run,
                  "delete (or with --dry-run list) conversations and records past their period")
    run.add_argument("--dry-run", action="store_true", help="change nothing; show what would be deleted")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    run.add_argument("--batch-size", type=_positive_int, default=None,
                     help="conversations or rows deleted per transaction (default 500)")


def cmd_retention_run(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.db import Database
    from frontdesk.core.schema import utcnow
    from frontdesk.privacy.retention import DEFAULT_BATCH_SIZE, run_retention

    report = run_retention(Database(settings.database_url), settings, utcnow(),
                           batch_size=args.batch_size or DEFAULT_BATCH_SIZE, dry_run=args.dry_run)
    rows = report.rows()
    if args.json:
        print(json.dumps({"dry_run": report.dry_run, "now": report.plan.now.isoformat(sep=" "),
                          "batches": report.batches, "items": rows}, indent=2))
        return 0
    if report.dry_run:
        print("Dry run: nothing is changed.")
    print("\n".join(retention_table(rows)))
    return 0


def retention_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The report as aligned lines, one per table retention looks after."""
    done = "would_delete" if rows and "would_delete" in rows[0] else "deleted"
    columns = ["kind", "target", "period", "cutoff", "due", "unit", done, "action"]
    cells = [["-" if row.get(name) is None else str(row[name]) for name in columns] for row in rows]
    widths = [max([len(name), *(len(cell[i]) for cell in cells)]) for i, name in enumerate(columns)]
    header = "  ".join(name.upper().replace("_", " ").ljust(width) for name, width in zip(columns, widths, strict=True))
    body = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    return [header.rstrip(), *body]
