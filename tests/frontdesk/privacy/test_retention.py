"""Retention on both databases: each kind seeded just past and just within its period (the
defaults of ``PrivacySettings``); a dry run changes nothing and counts what is due; a run deletes
exactly that, in batches; a conversation is deleted whole or not at all. Rasa's ``events`` table is
created by Rasa's own SQL tracker store and filled with trackers it saves."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from frontdesk.accounts.customer_token import TokenUseRow
from frontdesk.accounts.verification import VerificationRow
from frontdesk.agents.directory import AgentRow
from frontdesk.agents.feedback import FeedbackRow
from frontdesk.core.audit import AuditLog, DecisionContext, verify_trail
from frontdesk.core.db import Database
from frontdesk.core.ratelimit import RateLimitHitRow
from frontdesk.entrypoints.cli_retention import add_retention_commands
from frontdesk.handoff.escalation import EscalationRow
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.csat import CsatRow
from frontdesk.insights.telemetry import ConversationFactRow, TelemetryEvent, TurnFactRow
from frontdesk.mail.outbox import OutboxEmailRow
from frontdesk.password_reset.service import ResetRequestRow, ResetTokenRow
from frontdesk.privacy import retention
from frontdesk.privacy.retention import (
    RetentionScheduler,
    plan_retention,
    retention_loop,
    run_retention,
)
from frontdesk.settings import PrivacySettings, Settings
from frontdesk.ticketing.sql import TicketCommentRow, TicketRow

DAY = timedelta(days=1)
PRIVACY = PrivacySettings()


# -- seeding --------------------------------------------------------------------------------------


def save_conversation(database_url: str, sender_id: str, *event_times: datetime) -> None:
    """A conversation as Rasa stores it: one user message and the bot's listen per time given,
    saved by Rasa's SQL tracker store (which creates the ``events`` table as Rasa does)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = []
    for when in event_times:
        stamp = when.replace(tzinfo=timezone.utc).timestamp()
        events += [UserUttered("hello", {"name": "greet", "confidence": 1.0}, timestamp=stamp),
                   ActionExecuted("action_listen", timestamp=stamp)]
    store = SQLTrackerStore(host=database_url)
    try:
        asyncio.run(store.save(DialogueStateTracker.from_events(sender_id, events)))
    finally:
        store.engine.dispose()


def create_rasa_events_table(database_url: str) -> None:
    from rasa.core.tracker_store import SQLTrackerStore

    SQLTrackerStore(host=database_url).engine.dispose()


def event_counts(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        return dict(session.execute(text("SELECT sender_id, count(*) FROM events GROUP BY sender_id")).all())


def handoff(conversation_id: str, status: str, created_at: datetime, closed_at: datetime | None) -> HandoffRow:
    return HandoffRow(idempotency_key=f"handoff-{conversation_id}", conversation_id=conversation_id, channel="rest",
                      reason="customer_request", queue="general", priority="normal", status=status,
                      created_at=created_at, first_response_due=created_at + timedelta(hours=1), draft="{}",
                      closed_at=closed_at)


def ticket(key: str, status: str, created_at: datetime) -> TicketRow:
    return TicketRow(external_key=key, conversation_id=f"conv-{key}", channel="rest", subject="Help", queue="general",
                     priority="normal", summary="s", suggested_reply="r", transcript="t", status=status,
                     created_at=created_at)


def seed_app_rows(db: Database, now: datetime) -> None:
    """For every table, a row just past its period ("old-…") and one just within it ("new-…"),
    plus the rows that must stay whatever their age (open, pending, unexpired)."""
    tickets_old, tickets_new = now - (PRIVACY.tickets_days + 1) * DAY, now - (PRIVACY.tickets_days - 1) * DAY
    telemetry_old = now - (PRIVACY.telemetry_days + 1) * DAY
    telemetry_new = now - (PRIVACY.telemetry_days - 1) * DAY
    mail_old, mail_new = now - (PRIVACY.mail_outbox_days + 1) * DAY, now - (PRIVACY.mail_outbox_days - 1) * DAY
    verify_old = now - (PRIVACY.verification_days + 1) * DAY
    verify_new = now - (PRIVACY.verification_days - 1) * DAY
    with db.transaction() as session:
        agent = AgentRow(name="Grace", created_at=tickets_old)
        closed_old = handoff("old-closed", "closed", tickets_old - DAY, tickets_old)
        closed_new = handoff("new-closed", "closed", tickets_old, tickets_new)  # opened long ago, closed lately
        open_old = handoff("old-open", "open", tickets_old, None)
        closed_pending = handoff("old-closed-pending", "closed", tickets_old, tickets_old)
        session.add_all([agent, closed_old, closed_new, open_old, closed_pending])
        session.flush()
        session.add_all([
            TicketOutboxRow(handoff_id=closed_old.id, operation="close", status="done", created_at=tickets_old),
            TicketOutboxRow(handoff_id=closed_pending.id, operation="close", status="pending", created_at=tickets_old),
            # Feedback on a handoff that goes: it goes with it, whatever its own age.
            FeedbackRow(handoff_id=closed_old.id, agent_id=agent.id, intent_correct=True, example_text="x",
                        created_at=telemetry_new),
            FeedbackRow(handoff_id=closed_new.id, agent_id=agent.id, intent_correct=True, example_text="x",
                        created_at=telemetry_old),
            FeedbackRow(handoff_id=open_old.id, agent_id=agent.id, intent_correct=False, example_text="x",
                        created_at=telemetry_new),
        ])
        solved_old, solved_commented = ticket("old-solved", "solved", tickets_old), ticket("new-comment", "solved",
                                                                                            tickets_old)
        open_ticket, solved_new = ticket("old-open", "open", tickets_old), ticket("new-solved", "solved", tickets_new)
        session.add_all([solved_old, solved_commented, open_ticket, solved_new])
        session.flush()
        session.add_all([TicketCommentRow(ticket_id=solved_old.id, body="b", created_at=tickets_old),
                         TicketCommentRow(ticket_id=solved_commented.id, body="b", created_at=tickets_new)])
        session.add_all([
            EscalationRow(conversation_id="old-ticketed", reason="r", status="ticketed", created_at=tickets_old),
            EscalationRow(conversation_id="old-open", reason="r", status="open", created_at=tickets_old),
            EscalationRow(conversation_id="new-ticketed", reason="r", status="ticketed", created_at=tickets_new),
            CsatRow(conversation_id="old", score=5, created_at=telemetry_old),
            CsatRow(conversation_id="new", score=4, created_at=telemetry_new),
            *(TelemetryEvent(event_key=f"{age}-key", conversation_id=age, at=at, kind="user")
              for age, at in (("old", telemetry_old), ("new", telemetry_new))),
            *(TurnFactRow(conversation_id=age, turn=1, at=at) for age, at in (("old", telemetry_old),
                                                                             ("new", telemetry_new))),
            *(ConversationFactRow(conversation_id=age, started_at=at, last_event_at=at, outcome="no_request",
                                  turns=1, bot_seconds=0) for age, at in (("old", telemetry_old),
                                                                          ("new", telemetry_new))),
            RateLimitHitRow(bucket="b", key="old", at=now - 3 * DAY),
            RateLimitHitRow(bucket="b", key="new", at=now - timedelta(hours=20)),
            TokenUseRow(jti_hash="old", conversation_id="c", expires_at=now - timedelta(minutes=1)),
            TokenUseRow(jti_hash="new", conversation_id="c", expires_at=now + timedelta(hours=1)),
            OutboxEmailRow(kind="password_reset", status="sent", created_at=mail_old, sent_at=mail_old),
            OutboxEmailRow(kind="password_reset", status="dropped", created_at=mail_old),
            OutboxEmailRow(kind="password_reset", status="failed", created_at=mail_old),
            OutboxEmailRow(kind="password_reset", status="pending", created_at=mail_old),  # never deleted
            OutboxEmailRow(kind="password_reset", status="sent", created_at=mail_old, sent_at=mail_new),
            OutboxEmailRow(kind="password_reset", status="sent", created_at=mail_new, sent_at=mail_new),
            VerificationRow(conversation_id="old", email_key="k", requested_at=verify_old,
                            expires_at=verify_old + timedelta(minutes=10), status="verified"),
            VerificationRow(conversation_id="old-unsent", email_key="k", requested_at=verify_old, status="pending"),
            VerificationRow(conversation_id="new", email_key="k", requested_at=verify_new,
                            expires_at=verify_new + timedelta(minutes=10), status="pending"),
            ResetRequestRow(email_key="k", conversation_id="old", requested_at=verify_old, outcome="queued"),
            ResetRequestRow(email_key="k", conversation_id="new", requested_at=verify_new, outcome="queued"),
            ResetTokenRow(account_id="AC-100001", token_hash="old", created_at=verify_old,
                          expires_at=verify_old + timedelta(minutes=15)),
            ResetTokenRow(account_id="AC-100001", token_hash="new", created_at=verify_new,
                          expires_at=verify_new + timedelta(minutes=15)),
        ])
    # Through AuditLog, so they are links of the chain, written at the times retention reads.
    for at, decision in ((now - (PRIVACY.audit_days + 2) * DAY, "older.decision"),
                         (now - (PRIVACY.audit_days + 1) * DAY, "old.decision"), (now - DAY, "new.decision")):
        with db.transaction() as session:
            AuditLog(clock=lambda at=at: at).record(session, DecisionContext("audited"), decision)


# What the seed makes due: target -> conversations or rows.
DUE = {"events": 2, "handoffs+ticket_outbox+agent_feedback": 1, "tickets+ticket_comments": 1, "escalations": 1,
       "csat_responses": 1, "agent_feedback": 1, "rate_limit_hits": 1, "customer_token_uses": 1,
       "outbox_emails": 3, "verification_codes": 2, "password_reset_requests": 1, "password_reset_tokens": 1,
       "audit_records": 2, "telemetry_events": 1, "turn_facts": 1, "conversation_facts": 1}


def table_counts(db: Database) -> dict[str, int]:
    names = ["handoffs", "ticket_outbox", "agent_feedback", "tickets", "ticket_comments", "escalations",
             "csat_responses", "rate_limit_hits", "customer_token_uses", "outbox_emails", "verification_codes",
             "password_reset_requests", "password_reset_tokens", "audit_records", "events"]
    with db.transaction() as session:
        return {name: session.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()  # fixed names, no input
                for name in names}


@pytest.fixture
def seeded(database_url: str, settings: Settings, clock: Callable[[], datetime]) -> Database:
    db = Database(database_url)
    now = clock()
    old = now - (PRIVACY.tracker_events_days + 1) * DAY
    save_conversation(database_url, "old-1", old - 3 * DAY, old)
    save_conversation(database_url, "old-2", old)
    save_conversation(database_url, "live", now - DAY, now - timedelta(minutes=5))
    seed_app_rows(db, now)
    return db


# -- tests ----------------------------------------------------------------------------------------


def test_dry_run_counts_what_is_due_and_changes_nothing(seeded: Database, settings: Settings, clock):
    before = table_counts(seeded)

    report = run_retention(seeded, settings, clock(), dry_run=True)

    assert table_counts(seeded) == before
    assert {item.target: item.due for item in report.plan.items} == DUE
    rows = {row["target"]: row for row in report.rows()}
    assert rows["events"]["would_delete"] == 2 and rows["events"]["unit"] == "conversations"
    assert rows["outbox_emails"]["would_delete"] == 3
    assert rows["audit_records"]["would_delete"] == 2 and rows["audit_records"]["action"] == "delete"
    assert rows["events"]["cutoff"] == "2026-08-29 09:00:00"  # 90 days before the clock
    assert report.deleted == {} and report.batches == 0


def test_run_deletes_exactly_what_is_past_its_period(seeded: Database, settings: Settings, clock):
    before = table_counts(seeded)

    report = run_retention(seeded, settings, clock())

    assert report.deleted == DUE
    after = table_counts(seeded)
    assert before["events"] - after["events"] == 6  # old-1 had 4 events, old-2 two
    assert event_counts(seeded) == {"live": 4}
    with seeded.transaction() as session:
        assert set(session.execute(select(HandoffRow.conversation_id)).scalars()) == {
            "new-closed", "old-open", "old-closed-pending"}
        assert session.execute(select(func.count()).select_from(TicketOutboxRow)).scalar_one() == 1  # the pending one
        # The handoff's feedback went with it; the old feedback on a kept handoff went by its own period.
        assert [row.handoff_id for row in session.execute(select(FeedbackRow)).scalars()] == [
            session.execute(select(HandoffRow.id).where(HandoffRow.conversation_id == "old-open")).scalar_one()]
        assert set(session.execute(select(TicketRow.external_key)).scalars()) == {"new-comment", "old-open",
                                                                                   "new-solved"}
        assert session.execute(select(func.count()).select_from(TicketCommentRow)).scalar_one() == 1
        assert set(session.execute(select(EscalationRow.conversation_id)).scalars()) == {"old-open", "new-ticketed"}
        assert list(session.execute(select(CsatRow.conversation_id)).scalars()) == ["new"]
        for row in (TelemetryEvent, TurnFactRow, ConversationFactRow):
            assert list(session.execute(select(row.conversation_id)).scalars()) == ["new"]
        assert list(session.execute(select(RateLimitHitRow.key)).scalars()) == ["new"]
        assert list(session.execute(select(TokenUseRow.jti_hash)).scalars()) == ["new"]
        outbox = sorted(session.execute(select(OutboxEmailRow.status, OutboxEmailRow.sent_at)).all(), key=str)
        assert [status for status, _ in outbox] == ["pending", "sent", "sent"]  # old pending kept
        assert list(session.execute(select(VerificationRow.conversation_id)).scalars()) == ["new"]
        assert list(session.execute(select(ResetRequestRow.conversation_id)).scalars()) == ["new"]
        assert list(session.execute(select(ResetTokenRow.token_hash)).scalars()) == ["new"]
        assert list(session.execute(text("SELECT sequence, decision FROM audit_records")).all()) == [
            (3, "new.decision")]
    # The chain's start went, vouched for by the checkpoint written before it did: it still verifies.
    verification = verify_trail(seeded, settings)
    assert verification.ok and verification.first_sequence == 3, verification.describe()
    # A second run finds nothing more.
    assert all(item.due == 0 for item in plan_retention(seeded, settings, clock()).items)


def test_conversations_are_deleted_in_batches(database_url: str, settings: Settings, clock):
    db = Database(database_url)
    old = clock() - (PRIVACY.tracker_events_days + 10) * DAY
    for number in range(5):
        save_conversation(database_url, f"old-{number}", old - number * DAY, old)
    save_conversation(database_url, "recent", clock() - DAY)

    report = run_retention(db, settings, clock(), batch_size=2)

    assert report.deleted["events"] == 5
    assert report.batches == 3  # 2 + 2 + 1 conversations
    assert event_counts(db) == {"recent": 2}


def test_a_conversation_with_a_recent_last_event_is_kept_whole(database_url: str, settings: Settings, clock):
    db = Database(database_url)
    long_ago = clock() - 400 * DAY
    save_conversation(database_url, "came-back", long_ago, long_ago + DAY, clock() - timedelta(hours=1))

    report = run_retention(db, settings, clock(), batch_size=1)

    assert report.plan.item("events").due == 0
    assert event_counts(db) == {"came-back": 6}


def test_a_period_of_zero_keeps_that_kind_forever(seeded: Database, settings: Settings, clock):
    forever = replace(settings, privacy=replace(PRIVACY, tracker_events_days=0, mail_outbox_days=0))

    report = run_retention(seeded, forever, clock())

    assert report.plan.item("events").action == "keep forever" and "events" not in report.deleted
    assert report.plan.item("outbox_emails").action == "keep forever"
    assert set(event_counts(seeded)) == {"old-1", "old-2", "live"}
    assert table_counts(seeded)["outbox_emails"] == 6
    assert report.deleted["csat_responses"] == 1  # the other kinds as configured


def test_without_rasas_events_table_tracker_events_are_skipped(database_url: str, settings: Settings, clock):
    report = run_retention(Database(database_url), settings, clock())

    item = report.plan.item("events")
    assert item.action.startswith("skip: Rasa's events table does not exist") and item.due == 0
    assert "events" not in report.deleted


def run_cli(settings: Settings, *argv: str) -> int:
    """``frontdesk privacy retention …`` through a parser wired as cli.build_parser wires it."""
    parser = argparse.ArgumentParser(prog="frontdesk")
    domains = parser.add_subparsers(dest="domain", required=True)

    def command(group: argparse._SubParsersAction, name: str, handler: Callable[..., int], help_text: str,
                listing: bool = False) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        return sub

    privacy = domains.add_parser("privacy").add_subparsers(dest="cmd", required=True)
    add_retention_commands(privacy, command)
    args = parser.parse_args(["privacy", "retention", *argv])
    return int(args.handler(settings, args))


def test_the_command_prints_a_table_and_json(database_url: str, settings: Settings, capsys):
    db = Database(database_url)
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # the command runs on the real clock
    create_rasa_events_table(database_url)
    with db.transaction() as session:
        session.add(CsatRow(conversation_id="old", score=5, created_at=now - (PRIVACY.telemetry_days + 1) * DAY))

    assert run_cli(settings, "run", "--dry-run") == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Dry run: nothing is changed.")
    lines = printed.splitlines()
    assert lines[1].split()[:8] == ["KIND", "TARGET", "PERIOD", "CUTOFF", "DUE", "UNIT", "WOULD", "DELETE"]
    [csat_line] = [line for line in lines if " csat_responses " in line]
    assert csat_line.split()[:3] == ["telemetry", "csat_responses", "400"]
    assert any(line.startswith("audit") and line.rstrip().endswith("delete") for line in lines)
    assert table_counts(db)["csat_responses"] == 1

    assert run_cli(settings, "run", "--json", "--batch-size", "10") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dry_run"] is False
    [csat] = [item for item in result["items"] if item["target"] == "csat_responses"]
    assert csat["due"] == 1 and csat["deleted"] == 1
    assert table_counts(db)["csat_responses"] == 0

    with pytest.raises(SystemExit):
        run_cli(settings, "run", "--batch-size", "0")


def test_the_daily_loop_logs_counts_and_survives_a_failed_run(settings: Settings, monkeypatch, caplog):
    runs: list[datetime] = []
    stop = threading.Event()
    real_run = retention.run_retention

    def flaky_run(db: Database, settings_: Settings, now: datetime, **kwargs: object) -> retention.RetentionReport:
        runs.append(now)
        if len(runs) == 1:
            raise ConnectionError("database unreachable, customer ada@example.com")
        if len(runs) >= 2:
            stop.set()
        return real_run(db, settings_, now, **kwargs)

    monkeypatch.setattr(retention, "run_retention", flaky_run)
    caplog.set_level(logging.INFO, logger="frontdesk.privacy.retention")
    worker = threading.Thread(target=retention_loop, args=(settings, stop, 0.0, 0.01))
    worker.start()
    worker.join(timeout=30)

    assert not worker.is_alive() and len(runs) == 2
    messages = [record.getMessage() for record in caplog.records]
    assert any("retention run failed (ConnectionError)" in message for message in messages)
    assert any(message.startswith("retention deleted: events=0") or "csat_responses=0" in message
               for message in messages)
    assert not any("ada@example.com" in message for message in messages)  # counts only


def test_the_scheduler_thread_stops_with_the_servers(settings: Settings):
    scheduler = RetentionScheduler(settings, first_run_after=3600).start()
    assert scheduler.running

    scheduler.stop()

    assert not scheduler.running
