"""``frontdesk audit verify | checkpoint | explain``: the tamper-evident audit trail (issue 19).

``cli.build_parser`` wires these into its ``audit`` domain with ``add_audit_commands``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from frontdesk.settings import Settings

CommandHelper = Callable[..., argparse.ArgumentParser]


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.audit import verify_trail
    from frontdesk.core.db import Database

    verification = verify_trail(Database(settings.database_url), settings)
    print(json.dumps(verification.as_dict(), indent=2) if args.json else verification.describe())
    return 0 if verification.ok else 1


def cmd_audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.audit import write_checkpoint
    from frontdesk.core.db import Database

    checkpoint = write_checkpoint(Database(settings.database_url), settings)
    path = settings.privacy.audit_checkpoint_file
    if args.json:
        print(json.dumps({**checkpoint.as_dict(), "file": str(path)}, indent=2))
    else:
        print(f"audit chain head #{checkpoint.sequence} {checkpoint.record_hash[:16]}… checkpointed in {path}")
    return 0


def cmd_audit_explain(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.audit import AuditLog, explain_conversation
    from frontdesk.core.db import Database

    with Database(settings.database_url).transaction() as session:
        conversation_id = args.conversation
        records = AuditLog().conversation(session, conversation_id)
        if not records and (handed_off := _handoff_conversation(session, args.conversation)):
            conversation_id = handed_off
            records = AuditLog().conversation(session, conversation_id)
    if not records:
        print(f"no audit records for conversation {args.conversation}")
        return 1
    turns = explain_conversation(records)
    if args.json:
        print(json.dumps({"conversation_id": conversation_id, "turns": [t.as_dict() for t in turns]}, indent=2))
        return 0
    print(f"Conversation {conversation_id}: {len(records)} decisions in {len(turns)} turns, "
          f"{records[0].recorded_at:%Y-%m-%d %H:%M:%S} to {records[-1].recorded_at:%H:%M:%S} UTC.")
    for turn in turns:
        print(turn.sentence())
    return 0


def _handoff_conversation(session: Any, reference: str) -> str | None:
    """The conversation of a handoff reference (``HO-00042``), what agents and tickets quote."""
    from frontdesk.handoff.service import HandoffRow

    number = reference.upper().removeprefix("HO-")
    if not number.isdigit():
        return None
    row = session.get(HandoffRow, int(number))
    return row.conversation_id if row else None


def add_audit_commands(audit_group: argparse._SubParsersAction, command: CommandHelper) -> None:
    """Adds verify, checkpoint and explain to the ``audit`` domain (``command`` is build_parser's helper)."""
    verify = command(audit_group, "verify", cmd_audit_verify,
                     "check the hash chain and the checkpoints; name the first bad record (exit 1)")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    checkpoint = command(audit_group, "checkpoint", cmd_audit_checkpoint,
                         "write the signed chain head to the checkpoint file (FRONTDESK_AUDIT_CHECKPOINT_FILE)")
    checkpoint.add_argument("--json", action="store_true", help="machine-readable output")
    explain = command(audit_group, "explain", cmd_audit_explain,
                      "what the bot decided in a conversation and why, turn by turn")
    explain.add_argument("--conversation", required=True, metavar="REF",
                         help="a conversation id, or a handoff reference (HO-00042)")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
