"""The tamper-evident audit trail (issue 19), on SQLite and PostgreSQL: records hash-chained in a
gap-free sequence; `verify` passes, then names the first record that was edited, deleted or
re-ordered; signed checkpoints outside the database catch truncation and a rewritten chain;
concurrent writers keep the chain linear; erasure keeps it verifiable; `explain` tells a
conversation turn by turn; the migration chains records written before it."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from alembic import command as alembic
from sqlalchemy import select, text

from frontdesk.core.audit import (
    ERASED_CONVERSATION,
    ERASURE_DECISION,
    AuditLog,
    AuditRow,
    DecisionContext,
    Verification,
    content_digest,
    explain_conversation,
    link_hash,
    prune_before,
    verify_trail,
    write_checkpoint,
)
from frontdesk.core.db import Database
from frontdesk.entrypoints import cli_audit
from frontdesk.entrypoints.cli import _alembic_config
from frontdesk.handoff.service import HandoffRow, handoff_reference
from frontdesk.settings import PROJECT_ROOT, Settings

FRONTDESK = PROJECT_ROOT / ".venv" / "bin" / "frontdesk"


@pytest.fixture
def audited(settings: Settings, tmp_path: Path) -> Settings:
    """The test's settings with a checkpoint file of its own."""
    return replace(settings, privacy=replace(settings.privacy, audit_checkpoint_file=tmp_path / "checkpoints.jsonl"))


def context(conversation: str, intent: str | None = "request_password_reset", confidence: float | None = 0.93,
            action: str = "action_reset_password", model_id: str | None = "20261204-101500") -> DecisionContext:
    return DecisionContext(conversation, intent, confidence, action, model_id)


def record_some(db: Database, count: int = 5, conversation: str = "conv-1") -> None:
    """``count`` decisions, two to a transaction (a transaction's records chain among themselves)."""
    audit = AuditLog()
    for start in range(0, count, 2):
        with db.transaction() as session:
            for n in range(start, min(start + 2, count)):
                audit.record(session, context(conversation), "password_reset.queued", reason=None,
                             escalated=False, step=n)


def execute(db: Database, sql: str, **params: object) -> None:
    with db.transaction() as session:
        session.execute(text(sql), params)


def row_id(db: Database, sequence: int) -> int:
    with db.transaction() as session:
        return session.execute(select(AuditRow.id).where(AuditRow.sequence == sequence)).scalar_one()


def verify(db: Database, settings: Settings) -> Verification:
    return verify_trail(db, settings)


def test_records_chain_and_verify_passes(db: Database, audited: Settings):
    record_some(db, 5)
    with db.transaction() as session:
        rows = session.execute(select(AuditRow).order_by(AuditRow.sequence)).scalars().all()
    assert [r.sequence for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].previous_hash == "0" * 64
    for before, after in pairwise(rows):
        assert after.previous_hash == before.record_hash
    for row in rows:
        assert row.content_digest == content_digest(row)
        assert row.record_hash == link_hash(row.sequence, row.previous_hash, row.content_digest)

    result = verify(db, audited)
    assert result.ok and (result.records, result.head_sequence, result.checkpoints) == (5, 5, 0)
    assert result.describe() == f"audit trail verified: 5 records, chain head #5 {rows[-1].record_hash[:16]}…, " \
                                "0 checkpoints"


def test_an_empty_trail_verifies(db: Database, audited: Settings):
    assert verify(db, audited).describe() == f"audit trail verified: 0 records, chain head #0 {'0' * 16}…, " \
                                             "0 checkpoints"


@pytest.mark.parametrize("edit", [
    "UPDATE audit_records SET reason = 'sso_account' WHERE sequence = 3",
    "UPDATE audit_records SET details = '{\"escalated\": true, \"step\": 2}' WHERE sequence = 3",
    "UPDATE audit_records SET confidence = 0.99 WHERE sequence = 3",
])
def test_a_hand_edited_record_is_named(db: Database, audited: Settings, edit: str):
    record_some(db, 5)
    assert verify(db, audited).ok
    execute(db, edit)
    result = verify(db, audited)
    assert not result.ok
    assert result.describe() == (f"audit trail broken at record #3 (id {row_id(db, 3)}): edited "
                                 "(its content no longer matches its digest)")
    assert (result.records, result.head_sequence) == (2, 2)  # what verified before the break


def test_an_edit_with_its_digest_recomputed_still_breaks_the_hash(db: Database, audited: Settings):
    record_some(db, 4)
    with db.transaction() as session:
        row = session.execute(select(AuditRow).where(AuditRow.sequence == 2)).scalar_one()
        row.reason = "edited"
        row.content_digest = content_digest(row)
    broken = verify(db, audited).broken
    assert broken and (broken.kind, broken.sequence) == ("edited", 2)


def test_a_deleted_record_is_named(db: Database, audited: Settings):
    record_some(db, 5)
    following = row_id(db, 4)
    execute(db, "DELETE FROM audit_records WHERE sequence = 3")
    result = verify(db, audited)
    assert result.describe() == (f"audit trail broken at record #3 (missing): deleted (the chain goes from #2 to #4 "
                                 f"(id {following}))")


def test_a_deleted_record_with_the_chain_renumbered_is_named(db: Database, audited: Settings):
    record_some(db, 5)
    execute(db, "DELETE FROM audit_records WHERE sequence = 3")
    for sequence in (4, 5):
        execute(db, "UPDATE audit_records SET sequence = :new WHERE sequence = :old", new=sequence - 1, old=sequence)
    broken = verify(db, audited).broken
    assert broken and (broken.kind, broken.sequence, broken.record_id) == ("deleted", 3, row_id(db, 3))


def test_a_reordered_pair_is_named(db: Database, audited: Settings):
    record_some(db, 5)
    second, third = row_id(db, 2), row_id(db, 3)
    # Swapped through a free number: the sequence is unique.
    execute(db, "UPDATE audit_records SET sequence = -1 WHERE sequence = 2")
    execute(db, "UPDATE audit_records SET sequence = 2 WHERE sequence = 3")
    execute(db, "UPDATE audit_records SET sequence = 3 WHERE sequence = -1")
    result = verify(db, audited)
    assert result.describe() == (f"audit trail broken at record #2 (id {third}): re-ordered "
                                 f"(it links to #3 (id {second}), placed after it)")


def test_a_record_written_around_the_log_is_reported(db: Database, audited: Settings):
    record_some(db, 2)
    with db.transaction() as session:
        session.add(AuditRow(conversation_id="conv-1", decision="billing.answered", details="{}"))
    result = verify(db, audited)
    assert result.broken and result.broken.kind == "outside the chain"
    assert result.describe().startswith("audit trail broken at record id ")


def test_checkpoints_catch_truncation_and_a_rewritten_chain(db: Database, audited: Settings):
    record_some(db, 5)
    checkpoint = write_checkpoint(db, audited)
    assert (checkpoint.sequence, checkpoint.record_hash) == (5, verify(db, audited).head_hash)
    write_checkpoint(db, audited)  # the head has not moved: no second line
    lines = audited.privacy.audit_checkpoint_file.read_text().splitlines()
    assert len(lines) == 1 and set(json.loads(lines[0])) == {"sequence", "record_hash", "time", "hmac"}
    record_some(db, 2)
    write_checkpoint(db, audited)
    assert verify(db, audited).describe().endswith("2 checkpoints")

    # The last two records deleted: the chain itself is intact, the checkpoint is not.
    execute(db, "DELETE FROM audit_records WHERE sequence >= 6")
    assert verify(db, replace(audited, privacy=replace(
        audited.privacy, audit_checkpoint_file=audited.privacy.audit_checkpoint_file.with_name("none")))).ok
    result = verify(db, audited)
    assert result.broken and (result.broken.kind, result.broken.sequence) == ("truncated", 6)
    assert result.describe().startswith("audit trail broken at record #6 (missing): truncated (the checkpoint of ")
    assert result.describe().endswith("vouches for #7, the chain ends at #5)")


def test_a_consistently_rewritten_chain_is_caught_by_its_checkpoint(db: Database, audited: Settings):
    record_some(db, 5)
    write_checkpoint(db, audited)
    # Whoever owns the database edits record 2 and recomputes every hash after it.
    with db.transaction() as session:
        rows = session.execute(select(AuditRow).order_by(AuditRow.sequence)).scalars().all()
        rows[1].reason = "sso_account"
        for before, row in pairwise(rows):
            row.previous_hash = before.record_hash
            row.content_digest = content_digest(row)
            row.record_hash = link_hash(row.sequence, row.previous_hash, row.content_digest)
    hidden = replace(audited, privacy=replace(audited.privacy, audit_checkpoint_file=Path("/nonexistent/none")))
    assert verify(db, hidden).ok
    broken = verify(db, audited).broken
    assert broken and (broken.kind, broken.sequence) == ("rewritten", 5)


def test_a_pruned_start_verifies_only_from_a_checkpoint(db: Database, audited: Settings):
    """Retention may delete the oldest records, up to a checkpointed one: the checkpoint vouches
    for what the first remaining record links to."""
    record_some(db, 2)
    write_checkpoint(db, audited)
    record_some(db, 3)
    execute(db, "DELETE FROM audit_records WHERE sequence <= 2")
    result = verify(db, audited)
    assert result.ok and (result.records, result.first_sequence, result.head_sequence) == (3, 3, 5)
    assert result.describe().startswith("audit trail verified: 3 records (from #3; earlier records vouched for by a "
                                        "checkpoint), chain head #5 ")
    execute(db, "DELETE FROM audit_records WHERE sequence = 3")
    broken = verify(db, audited).broken
    assert broken and (broken.kind, broken.sequence) == ("deleted", 1)


def test_pruning_the_oldest_records_checkpoints_each_batch_first(db: Database, audited: Settings):
    """Retention's audit pruning (prune_before): the oldest stretch before the cutoff, a batch at a
    time, each vouched for by a checkpoint written before it goes; one interrupted between batches
    still verifies, and a record in its period stops the stretch even if an older one follows it."""
    day = timedelta(days=1)
    base = datetime(2026, 1, 1)
    times = [base, base + day, base + 2 * day, base + 10 * day, base + 3 * day, base + 11 * day]
    for at in times:  # the fifth is older than the fourth: a writer whose clock was behind
        with db.transaction() as session:
            AuditLog(clock=lambda at=at: at).record(session, context("conv-old"), "password_reset.queued")
    cutoff = base + 5 * day
    # Interrupted after its first batch: what is left verifies from the checkpoint.
    assert prune_before(db, audited, base + 1.5 * day, batch_size=1) == (2, 2)
    assert verify(db, audited).ok and verify(db, audited).first_sequence == 3
    assert prune_before(db, audited, cutoff, batch_size=2) == (1, 1)  # #3; #5 waits behind #4
    result = verify(db, audited)
    assert result.ok and (result.first_sequence, result.records) == (4, 3), result.describe()
    assert prune_before(db, audited, cutoff, batch_size=2) == (0, 0)  # nothing more until #4 is due


def test_a_forged_checkpoint_line_is_reported(db: Database, audited: Settings):
    record_some(db, 3)
    write_checkpoint(db, audited)
    path = audited.privacy.audit_checkpoint_file
    forged = {**json.loads(path.read_text()), "sequence": 2}
    path.write_text(path.read_text() + json.dumps(forged) + "\n")
    assert verify(db, audited).describe().startswith("audit trail broken at checkpoint line 2: bad checkpoint")
    other_key = replace(audited, secret_key="another-secret-key-" + "x" * 32)
    assert verify(db, other_key).broken.checkpoint_line == 1


def test_concurrent_writers_keep_one_linear_chain(db: Database, audited: Settings):
    audit, writers, per_writer, failures = AuditLog(), 8, 15, []

    def write(writer: int) -> None:
        try:
            for n in range(per_writer):
                with db.transaction() as session:
                    audit.record(session, context(f"conv-{writer}"), "knowledge.answered", article="a", score=n)
        except Exception as problem:  # reported by the assertion below
            failures.append(problem)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with db.transaction() as session:
        sequences = session.execute(select(AuditRow.sequence).order_by(AuditRow.sequence)).scalars().all()
    assert sequences == list(range(1, writers * per_writer + 1))
    result = verify(db, audited)
    assert result.ok and result.records == writers * per_writer


def test_erasure_keeps_the_chain_verifiable(db: Database, audited: Settings):
    audit = AuditLog()
    with db.transaction() as session:
        audit.record(session, context("conv-erase"), "billing.answered", reason="ask_invoice", customer_id="AC-100001")
        audit.record(session, context("conv-keep"), "billing.answered", reason="ask_invoice", customer_id="AC-100002")
        audit.record(session, context("conv-erase", "human_handoff", 0.97, "action_handoff"), "handoff.created",
                     reason="customer_asked", handoff_id=7, queue="billing", priority="normal")
    write_checkpoint(db, audited)
    with db.transaction() as session:
        assert audit.anonymise_conversations(session, ["conv-erase", "conv-nobody"], "dsr-1") == 2
    with db.transaction() as session:
        rows = session.execute(select(AuditRow).order_by(AuditRow.sequence)).scalars().all()
    erased = [r for r in rows if r.erased_by == "dsr-1"]
    assert [(r.sequence, r.conversation_id) for r in erased] == [(1, ERASED_CONVERSATION), (3, ERASED_CONVERSATION)]
    assert [json.loads(r.details) for r in erased] == [{}, {"priority": "normal", "queue": "billing"}]
    erasure = rows[-1]
    assert (erasure.sequence, erasure.decision, erasure.conversation_id) == (4, ERASURE_DECISION, None)
    assert json.loads(erasure.details)["records"] == 2 and json.loads(erasure.details)["request_id"] == "dsr-1"
    assert "conv-erase" not in erasure.details and "AC-100001" not in " ".join(r.details for r in rows)
    result = verify(db, audited)
    assert result.ok and result.records == 4

    # An erased record changed afterwards.
    execute(db, "UPDATE audit_records SET reason = 'other' WHERE sequence = 3")
    assert verify(db, audited).describe() == (f"audit trail broken at record #3 (id {row_id(db, 3)}): edited "
                                              "(changed after request dsr-1 erased it)")


@pytest.mark.parametrize("request_id", ["dsr-forged", "dsr-1"])
def test_an_erased_flag_without_an_erasure_record_for_it_fails(db: Database, audited: Settings, request_id: str):
    audit = AuditLog()
    with db.transaction() as session:
        audit.record(session, context("conv-a"), "billing.answered", reason="ask_invoice", customer_id="AC-100001")
        audit.record(session, context("conv-b"), "billing.answered", reason="ask_invoice", customer_id="AC-100002")
        audit.anonymise_conversations(session, ["conv-a"], "dsr-1")
    assert verify(db, audited).ok
    # Record 2 "erased" by hand: by a request that never ran, or by one that did not cover it.
    execute(db, "UPDATE audit_records SET conversation_id = :tombstone, details = '{}', erased_by = :request "
                "WHERE sequence = 2", tombstone=ERASED_CONVERSATION, request=request_id)
    result = verify(db, audited)
    assert result.describe() == (f"audit trail broken at record #2 (id {row_id(db, 2)}): edited "
                                 f"(marked erased by request {request_id}, but no erasure record for it follows)")


def test_explain_tells_the_conversation_turn_by_turn(db: Database, audited: Settings, capsys):
    audit = AuditLog()
    with db.transaction() as session:
        audit.record(session, context("conv-explain"), "password_reset.queued", reason=None, escalated=False)
    with db.transaction() as session:
        audit.record(session, context("conv-explain", "ask_invoice", 0.88, "action_billing"), "billing.answered",
                     reason="ask_invoice", customer_id="AC-100001")
    with db.transaction() as session:
        audit.record(session, context("conv-explain", "human_handoff", 0.97, "action_handoff"), "handoff.created",
                     reason="customer_asked", handoff_id=7, queue="billing", priority="normal")
        audit.record(session, context("other"), "knowledge.answered", article="sso-saml-okta", score=0.81)
    with db.transaction() as session:
        turns = explain_conversation(audit.conversation(session, "conv-explain"))
    sentences = [re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", turn.sentence()) for turn in turns]
    assert sentences == [
        "Turn 1, HH:MM:SS UTC: read the message as `request_password_reset` (confidence 0.93, model "
        "20261204-101500); started the password reset; issued a reset link by e-mail.",
        "Turn 2, HH:MM:SS UTC: read the message as `ask_invoice` (confidence 0.88, model 20261204-101500); "
        "showed the verified customer's billing data (question: `ask_invoice`).",
        "Turn 3, HH:MM:SS UTC: read the message as `human_handoff` (confidence 0.97, model 20261204-101500); "
        "handed the conversation to a person (reason: customer asked), queue billing, priority normal.",
    ]

    args = argparse.Namespace(conversation="conv-explain", json=False)
    assert cli_audit.cmd_audit_explain(audited, args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Conversation conv-explain: 3 decisions in 3 turns, ")
    assert "AC-100001" not in out and "Turn 3, " in out
    assert cli_audit.cmd_audit_explain(audited, argparse.Namespace(conversation="conv-explain", json=True)) == 0
    explained = json.loads(capsys.readouterr().out)
    assert [t["intent"] for t in explained["turns"]] == ["request_password_reset", "ask_invoice", "human_handoff"]
    assert explained["turns"][2]["decisions"][0]["decision"] == "handoff.created"
    assert cli_audit.cmd_audit_explain(audited, argparse.Namespace(conversation="nobody", json=False)) == 1
    assert capsys.readouterr().out == "no audit records for conversation nobody\n"

    # A handoff reference, as agents and tickets quote it, names its conversation.
    with db.transaction() as session:
        handoff = HandoffRow(idempotency_key="k-explain", conversation_id="conv-explain", channel="rest",
                             reason="customer_asked", queue="billing", priority="normal",
                             first_response_due=datetime(2026, 12, 4, 12, 0), draft="{}")
        session.add(handoff)
        session.flush()
        reference = handoff_reference(handoff.id)
    assert cli_audit.cmd_audit_explain(audited, argparse.Namespace(conversation=reference, json=False)) == 0
    assert capsys.readouterr().out.startswith("Conversation conv-explain: 3 decisions in 3 turns, ")


def test_the_cli_handlers(db: Database, audited: Settings, capsys):
    record_some(db, 3)
    parser = argparse.ArgumentParser()
    audit_group = parser.add_subparsers(dest="cmd", required=True)

    def command(group: argparse._SubParsersAction, name: str, handler, help_text: str,
                listing: bool = False) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        return sub

    cli_audit.add_audit_commands(audit_group, command)

    def run(*argv: str) -> tuple[int, str]:
        args = parser.parse_args(argv)
        code = args.handler(audited, args)
        return code, capsys.readouterr().out

    code, out = run("checkpoint", "--json")
    assert code == 0 and json.loads(out)["sequence"] == 3
    code, out = run("verify", "--json")
    assert code == 0 and json.loads(out)["ok"] and json.loads(out)["checkpoints"] == 1
    execute(db, "UPDATE audit_records SET details = '{}' WHERE sequence = 2")
    code, out = run("verify")
    assert code == 1 and out.startswith(f"audit trail broken at record #2 (id {row_id(db, 2)}): edited")
    code, out = run("verify", "--json")
    assert code == 1 and json.loads(out)["broken"]["sequence"] == 2


def test_frontdesk_audit_verify_passes_then_fails_on_a_hand_edited_record(db: Database, audited: Settings,
                                                                            tmp_path: Path):
    record_some(db, 4)
    env = {**os.environ, "FRONTDESK_ENV": "development", "FRONTDESK_DATABASE_URL": audited.database_url,
           "FRONTDESK_AUDIT_CHECKPOINT_FILE": str(tmp_path / "cli-checkpoints.jsonl")}

    def frontdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(FRONTDESK), *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=120)

    assert frontdesk("audit", "checkpoint").returncode == 0
    passed = frontdesk("audit", "verify")
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("audit trail verified: 4 records, chain head #4 ")
    assert passed.stdout.rstrip().endswith(", 1 checkpoints")

    execute(db, "UPDATE audit_records SET reason = 'security_locked' WHERE sequence = 2")
    failed = frontdesk("audit", "verify")
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.strip() == (f"audit trail broken at record #2 (id {row_id(db, 2)}): edited "
                                     "(its content no longer matches its digest)")


def test_the_migration_chains_the_records_written_before_it(database_url: str, audited: Settings):
    config = _alembic_config(audited)
    alembic.downgrade(config, "0007")
    db = Database(database_url)
    with db.transaction() as session:
        for n, (conversation, decision) in enumerate([("old-1", "handoff.created"), ("old-2", "billing.answered"),
                                                      ("old-1", "csat.requested")]):
            session.execute(text(
                "INSERT INTO audit_records (recorded_at, conversation_id, decision, intent, confidence, action, "
                "model_id, reason, details) VALUES (:at, :conversation, :decision, 'greet', :confidence, 'a', 'm', "
                "NULL, :details)"),
                {"at": f"2026-11-2{n} 09:00:0{n}", "conversation": conversation, "decision": decision,
                 "confidence": 0.5 + n / 10, "details": json.dumps({"n": n})})
    alembic.upgrade(config, "head")
    result = verify(db, audited)
    assert result.ok and result.records == 3
    with db.transaction() as session:
        AuditLog().record(session, context("new"), "knowledge.answered", article="a", score=1.0)
    assert verify(db, audited).records == 4
