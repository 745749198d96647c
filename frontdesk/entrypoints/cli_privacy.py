"""``frontdesk privacy``: data-subject requests (GDPR Art. 15 export, Art. 17 erasure).

``add_privacy_commands`` adds the ``privacy`` group to the CLI's parser (``cli.build_parser``) and
returns it, so other modules (retention) can add their commands to the same group. Handlers take
``(settings, args)`` and return the exit status, like every command of ``cli.py``:

- ``export CUSTOMER [--output FILE]``: the JSON document on stdout, or in FILE (mode 0600).
- ``erase CUSTOMER --requested-by NAME [--yes]``: without ``--yes`` it only says what it would
  erase (exit 2: scripts never get a prompt); with it, erases and prints what it did.

Exit status: 0 done; 1 nothing is held about CUSTOMER (unknown, or erased already); 2 usage (no
``--yes``); 3 the database is unreachable or not migrated (``cli.main``); 4 the erasure is
incomplete -- the ticketing backend failed, and the output says exactly what is still there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from frontdesk.settings import Settings

EXIT_INCOMPLETE = 4

CommandHelper = Callable[..., argparse.ArgumentParser]


def _unknown(customer: str) -> int:
    print(f"nothing is held about {customer!r}: no account, conversation, ticket or record under that "
          "account id or address (never a customer, or erased already)", file=sys.stderr)
    return 1


def _subject_requests(settings: Settings) -> Any:
    from frontdesk.bootstrap import build_services
    from frontdesk.privacy.subject_requests import subject_requests

    return subject_requests(build_services(settings))


def cmd_privacy_export(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.privacy.subject_requests import UnknownCustomer

    operator = args.operator.name if getattr(args, "operator", None) else "unknown operator"
    requested_by = f"{operator}, for {args.requested_by}" if args.requested_by else operator
    try:
        document = _subject_requests(settings).export(args.customer, requested_by)
    except UnknownCustomer:
        return _unknown(args.customer)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    # Personal data: readable by the operator only, from the moment the file exists.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"exported {document['total']} records to {path}", file=sys.stderr)
    return 0


def _print_counts(title: str, counts: dict[str, int]) -> None:
    from frontdesk.privacy.subject_requests import ANONYMISED_KINDS

    print(title)
    for kind, count in sorted(counts.items()):
        if count:
            print(f"  {kind}: {count}" + (" (anonymised, kept)" if kind in ANONYMISED_KINDS else ""))


def cmd_privacy_erase(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.privacy.subject_requests import UnknownCustomer

    requests = _subject_requests(settings)
    if not args.yes:
        try:
            counts = requests.preview(args.customer)
        except UnknownCustomer:
            return _unknown(args.customer)
        _print_counts(f"would erase, for {args.customer}:", counts)
        if requests.ticketing.name != "embedded":
            print(f"  and, in {requests.ticketing.name}, the end user with the customer's address and their tickets")
        print("nothing was changed: run again with --yes to erase", file=sys.stderr)
        return 2
    try:
        # Who ran it is the authenticated operator (docs/roles.md); on whose request, what they say.
        operator = args.operator.name if getattr(args, "operator", None) else "unknown operator"
        report = requests.erase(args.customer, f"{operator}, for {args.requested_by}")
    except ValueError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    if report.found_nothing:
        print(f"(erasure request {report.request_id} recorded)", file=sys.stderr)
        return _unknown(args.customer)
    if not args.json and (report.complete or report.erased):
        title = "erased" if report.complete else "erased before the failure"
        _print_counts(f"{title} (request {report.request_id}):", report.erased)
        if report.other_customers_conversations:
            print(f"  not erased: {report.other_customers_conversations} conversation(s) of other customers "
                  "mention this customer; review them by hand")
    if not report.complete:
        print(f"ERASURE INCOMPLETE: {report.problem}", file=sys.stderr)
        for kind, count in sorted(report.not_erased.items()):
            print(f"  NOT erased: {kind}: {count}", file=sys.stderr)
        print("the app database was left as it is so the erasure can finish: run the same command again "
              "when the ticketing backend is reachable", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def add_privacy_commands(domains: argparse._SubParsersAction, command: CommandHelper) -> argparse._SubParsersAction:
    """Adds ``frontdesk privacy export|erase`` and returns the ``privacy`` group for more commands."""
    privacy = domains.add_parser(
        "privacy", help="data-subject requests (GDPR Art. 15 and 17) and retention",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="cmd", required=True)
    export = command(privacy, "export", cmd_privacy_export,
                     "everything held about a customer, as one JSON document (GDPR Art. 15)")
    export.add_argument("customer", metavar="CUSTOMER", help="an account id (AC-100004) or e-mail address")
    export.add_argument("--output", "-o", metavar="FILE", help="write the document here (mode 0600), not to stdout")
    export.add_argument("--requested-by", metavar="REFERENCE",
                        help="whose request this is, e.g. the request's ticket (recorded with the operator)")
    erase = command(privacy, "erase", cmd_privacy_erase,
                    "erase everything held about a customer, here and in the ticketing backend (GDPR Art. 17)")
    erase.add_argument("customer", metavar="CUSTOMER", help="an account id (AC-100004) or e-mail address")
    erase.add_argument("--requested-by", required=True, metavar="REFERENCE",
                       help="whose request this is, e.g. the request's ticket (recorded with the operator who ran "
                            "it; the customer is not)")
    erase.add_argument("--yes", action="store_true", help="erase; without it, only show what would be erased")
    erase.add_argument("--json", action="store_true", help="the report as JSON")
    return privacy
