"""Retention: what is past its period (``settings.privacy``, docs/privacy.md) is deleted, in short
batches, while the assistant keeps serving. ``frontdesk privacy retention run [--dry-run]`` runs it
once; ``frontdesk serve`` runs it daily (``RetentionScheduler``). A period of 0 days keeps a kind
forever.

What "past its period" means, kind by kind, and why it is deleted rather than redacted:

- **Tracker events** (Rasa's own ``events`` table): a conversation whose *last* event is older
  than the period goes, every event of it. Never some of its events: Rasa rebuilds a tracker by
  replaying them (from the last ``session_started``) and counts the stored ones to know which to
  save next, so a conversation cut in the middle would replay wrong or be saved twice. Deleted
  ``batch_size`` conversations a transaction, so Rasa's writes wait for a lock only briefly; the
  delete re-checks that no event newer than the cutoff has arrived (a customer coming back just
  then keeps the whole conversation). Even a message committed while the delete statement runs
  is safe: after that much silence Rasa starts a new session (``session_expiration_time``, 60
  minutes, no slots carried over) and replays only from the last ``session_started``, which is
  among the new events. Redacting events in place would keep the conversation's shape for
  nothing: handoff transcripts are on the tickets already, redacted.
- **Tickets** (the embedded backend): a *closed* handoff whose closing (or creation, for rows
  from before ``closed_at``) is older than the period is deleted, with its ``ticket_outbox`` rows
  and its agent feedback, which refer to it by foreign key. Not while a ticket operation is still
  pending for it. The feedback cannot outlive its handoff: it quotes the customer's message of
  that ticket (redacted), and a shorter ticket period is the stricter choice. With the defaults
  (feedback 400 days, tickets 730) feedback has gone long before. A *solved* ticket whose last
  change (its newest comment, else its creation) is older than the period goes with its comments,
  unless an open handoff still points at it. Legacy ``escalations`` past the period go unless
  still open. Nothing needs to stay: audit records name conversations, not these rows.
- **Audit records**: the chain's oldest stretch written before the cutoff, from its first record
  on (never one in the middle: that would break the chain). The trail is a hash chain, so before
  each batch goes a signed checkpoint of its last record is written outside the database
  (``frontdesk.core.audit.prune_before``); ``frontdesk audit verify`` accepts the shortened chain
  on that checkpoint's word, even after a run interrupted between batches.
- **Telemetry**: CSAT answers, agent feedback and analytics' event log and facts
  (``telemetry_events``, ``turn_facts``, ``conversation_facts``) older than the period are
  deleted (the insights read counts over a window shorter than any sensible period). Two kinds have a short fixed
  period whatever the setting, as the web app's housekeeping already has: rate-limit hits after
  two days (the longest window is a day; the hits are pseudonyms, useless after), and customer
  token uses once the token has expired (until then they are what stops a replay).
- **Mail outbox**: sent, failed, expired or dropped e-mails older than the period (sent ones
  counted from when they were sent). Never a pending one, however old: it is still to be
  delivered or dropped by the outbox itself.
- **Verification**: e-mail codes, password-reset requests and reset tokens older than the period,
  and never a code or token that has not yet expired (a period of a day or more covers their
  minutes-long lifetimes anyway). The requests only feed rate limits counted by the hour.

Everything runs in SQLAlchemy Core on SQLite and PostgreSQL. Reports hold counts only, no
personal data, so they can be logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    Column,
    String,
    Table,
    and_,
    cast,
    column,
    delete,
    exists,
    func,
    inspect,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from frontdesk.accounts.customer_token import TokenUseRow
from frontdesk.accounts.verification import VerificationRow
from frontdesk.agents.feedback import FeedbackRow
from frontdesk.core.audit import prune_before
from frontdesk.core.db import Database
from frontdesk.core.ratelimit import RateLimitHitRow
from frontdesk.core.schema import utcnow
from frontdesk.handoff.escalation import EscalationRow
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.csat import CsatRow
from frontdesk.insights.telemetry import ConversationFactRow, TelemetryEvent, TurnFactRow
from frontdesk.mail.outbox import OutboxEmailRow
from frontdesk.password_reset.service import ResetRequestRow, ResetTokenRow
from frontdesk.privacy.tracker_events import rasa_events, rasa_events_exist
from frontdesk.settings import Settings
from frontdesk.ticketing.sql import TicketCommentRow, TicketRow

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
# As the web app's housekeeping (SqlRateLimiter.purge): longer than the longest limit window (a day).
RATE_LIMIT_HITS_KEPT = timedelta(days=2)
# Audit records are small and pruned from the chain's start: bigger batches, one checkpoint each.
AUDIT_BATCH_SIZE = 5000

# The audit trail: only the column retention counts by (its rows are never deleted here).
_audit_records = table("audit_records", column("recorded_at"))

tickets = TicketRow.__table__
ticket_comments = TicketCommentRow.__table__
handoffs = HandoffRow.__table__
ticket_outbox = TicketOutboxRow.__table__
escalations = EscalationRow.__table__
csat_responses = CsatRow.__table__
agent_feedback = FeedbackRow.__table__
telemetry_events = TelemetryEvent.__table__
turn_facts = TurnFactRow.__table__
conversation_facts = ConversationFactRow.__table__
rate_limit_hits = RateLimitHitRow.__table__
customer_token_uses = TokenUseRow.__table__
outbox_emails = OutboxEmailRow.__table__
verification_codes = VerificationRow.__table__
password_reset_requests = ResetRequestRow.__table__
password_reset_tokens = ResetTokenRow.__table__


@dataclass(frozen=True)
class PlanItem:
    """One thing retention looks after: what, for how long, and how much is due now."""

    kind: str  # the setting's data kind: tracker_events, tickets, audit, telemetry, mail_outbox, verification
    target: str  # the table (and, after "+", the tables whose rows go with it)
    period: str  # for people: "90 days", "forever", "2 days (fixed)", "until the token expires"
    period_days: int | None  # the configured days; None for a fixed period
    cutoff: datetime | None  # naive UTC; older than this is due; None when nothing ever is
    due: int
    unit: str  # conversations | rows
    action: str  # delete | keep forever | a reason it is kept or skipped

    @property
    def deletes(self) -> bool:
        return self.action == "delete"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "period": self.period, "period_days": self.period_days,
                "cutoff": self.cutoff.isoformat(sep=" ", timespec="seconds") if self.cutoff else None, "due": self.due,
                "unit": self.unit, "action": self.action}


@dataclass(frozen=True)
class RetentionPlan:
    now: datetime
    items: tuple[PlanItem, ...]

    def item(self, target: str) -> PlanItem:
        return next(item for item in self.items if item.target.split("+")[0] == target)


@dataclass
class RetentionReport:
    plan: RetentionPlan
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)  # target -> conversations or rows deleted
    batches: int = 0  # transactions that deleted something

    def rows(self) -> list[dict[str, Any]]:
        """One row per target, for a table or JSON: the plan and what was (or would be) deleted."""
        result = []
        for item in self.plan.items:
            done = self.deleted.get(item.target, 0)
            result.append({**item.as_dict(), "would_delete" if self.dry_run else "deleted":
                           (item.due if item.deletes else 0) if self.dry_run else done})
        return result

    def summary(self) -> str:
        """Counts only (no ids, no contents): safe to log."""
        verb = "would delete" if self.dry_run else "deleted"
        counts = ", ".join(f"{row['target'].split('+')[0]}={row['would_delete' if self.dry_run else 'deleted']}"
                           for row in self.rows())
        return f"retention {verb}: {counts} ({self.batches} batches)"


# -- rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowRule:
    """Rows of ``parent`` that are due, deleted with the rows of other tables pointing at them."""

    kind: str
    parent: Table
    key: Column
    due: Callable[[datetime, datetime], ColumnElement]  # (cutoff, now) -> the WHERE clause
    children: tuple[Column, ...] = ()  # foreign-key columns of rows deleted with their parent
    fixed_period: timedelta | None = None  # None: the kind's configured period
    fixed_period_text: str = ""

    @property
    def target(self) -> str:
        return "+".join([self.parent.name, *(child.table.name for child in self.children)])


def _closed_handoff_due(cutoff: datetime, _now: datetime) -> ColumnElement:
    pending_operation = exists().where(ticket_outbox.c.handoff_id == handoffs.c.id,
                                       ticket_outbox.c.status == "pending")
    return and_(handoffs.c.status == "closed",
                func.coalesce(handoffs.c.closed_at, handoffs.c.created_at) < cutoff,
                not_(pending_operation))


def _solved_ticket_due(cutoff: datetime, _now: datetime) -> ColumnElement:
    # The row has no update time: a comment after the cutoff is a change after it.
    recent_comment = exists().where(ticket_comments.c.ticket_id == tickets.c.id,
                                    ticket_comments.c.created_at >= cutoff)
    open_handoff = exists().where(handoffs.c.status == "open", handoffs.c.ticket_backend == "embedded",
                                  handoffs.c.ticket_external_id == cast(tickets.c.id, String))
    return and_(tickets.c.status == "solved", tickets.c.created_at < cutoff,
                not_(recent_comment), not_(open_handoff))


def _rules() -> tuple[RowRule, ...]:
    return (
        RowRule("tickets", handoffs, handoffs.c.id, _closed_handoff_due,
                children=(ticket_outbox.c.handoff_id, agent_feedback.c.handoff_id)),
        RowRule("tickets", tickets, tickets.c.id, _solved_ticket_due, children=(ticket_comments.c.ticket_id,)),
        RowRule("tickets", escalations, escalations.c.id,
                lambda cutoff, _now: and_(escalations.c.status != "open", escalations.c.created_at < cutoff)),
        RowRule("telemetry", csat_responses, csat_responses.c.id,
                lambda cutoff, _now: csat_responses.c.created_at < cutoff),
        RowRule("telemetry", agent_feedback, agent_feedback.c.id,
                lambda cutoff, _now: agent_feedback.c.created_at < cutoff),
        RowRule("telemetry", telemetry_events, telemetry_events.c.id,
                lambda cutoff, _now: telemetry_events.c.at < cutoff),
        RowRule("telemetry", turn_facts, turn_facts.c.id, lambda cutoff, _now: turn_facts.c.at < cutoff),
        RowRule("telemetry", conversation_facts, conversation_facts.c.id,
                lambda cutoff, _now: conversation_facts.c.last_event_at < cutoff),
        RowRule("telemetry", rate_limit_hits, rate_limit_hits.c.id,
                lambda cutoff, _now: rate_limit_hits.c.at < cutoff,
                fixed_period=RATE_LIMIT_HITS_KEPT, fixed_period_text="2 days (fixed: the longest limit window)"),
        RowRule("telemetry", customer_token_uses, customer_token_uses.c.jti_hash,
                lambda _cutoff, now: customer_token_uses.c.expires_at < now,
                fixed_period=timedelta(0), fixed_period_text="until the token expires (fixed)"),
        RowRule("mail_outbox", outbox_emails, outbox_emails.c.id,
                lambda cutoff, _now: and_(outbox_emails.c.status != "pending",
                                          func.coalesce(outbox_emails.c.sent_at, outbox_emails.c.created_at)
                                          < cutoff)),
        RowRule("verification", verification_codes, verification_codes.c.id,
                lambda cutoff, now: and_(verification_codes.c.requested_at < cutoff,
                                         or_(verification_codes.c.expires_at.is_(None),
                                             verification_codes.c.expires_at < now))),
        RowRule("verification", password_reset_requests, password_reset_requests.c.id,
                lambda cutoff, _now: password_reset_requests.c.requested_at < cutoff),
        RowRule("verification", password_reset_tokens, password_reset_tokens.c.id,
                lambda cutoff, now: and_(password_reset_tokens.c.created_at < cutoff,
                                         password_reset_tokens.c.expires_at < now)),
    )


def _configured_days(settings: Settings, kind: str) -> int:
    return int(getattr(settings.privacy, f"{kind}_days"))


def _period_text(days: int) -> str:
    return "forever" if days == 0 else f"{days} day{'s' if days != 1 else ''}"


def _epoch_seconds(when: datetime) -> float:
    """Rasa's event timestamps are epoch seconds; the app's times are naive UTC."""
    return when.replace(tzinfo=timezone.utc).timestamp()


def _stale_conversations(cutoff: datetime) -> Any:
    """Sender ids whose last event is older than ``cutoff``."""
    return (select(rasa_events.c.sender_id).group_by(rasa_events.c.sender_id)
            .having(func.max(rasa_events.c.timestamp) < _epoch_seconds(cutoff)))


# -- plan -----------------------------------------------------------------------------------------


def plan_retention(db: Database, settings: Settings, now: datetime) -> RetentionPlan:
    """What retention would do at ``now`` (naive UTC): per target its period, cutoff and how many
    conversations or rows are due. Reads only."""
    items: list[PlanItem] = []
    with db.engine.connect() as connection:
        items.append(_tracker_events_item(connection, settings, now))
        for rule in _rules():
            items.append(_row_item(connection, settings, rule, now))
        items.append(_audit_item(connection, settings, now))
    # The order of the settings, so a table reads kind by kind.
    order = ["tracker_events", "tickets", "audit", "telemetry", "mail_outbox", "verification"]
    items.sort(key=lambda item: order.index(item.kind))
    return RetentionPlan(now, tuple(items))


def _tracker_events_item(connection: Connection, settings: Settings, now: datetime) -> PlanItem:
    days = settings.privacy.tracker_events_days
    base = {"kind": "tracker_events", "target": rasa_events.name, "period": _period_text(days),
            "period_days": days, "unit": "conversations"}
    if not rasa_events_exist(connection):
        return PlanItem(**base, cutoff=None, due=0, action="skip: Rasa's events table does not exist yet")
    if days == 0:
        return PlanItem(**base, cutoff=None, due=0, action="keep forever")
    cutoff = now - timedelta(days=days)
    due = connection.execute(select(func.count()).select_from(_stale_conversations(cutoff).subquery())).scalar_one()
    return PlanItem(**base, cutoff=cutoff, due=int(due), action="delete")


def _row_item(connection: Connection, settings: Settings, rule: RowRule, now: datetime) -> PlanItem:
    if rule.fixed_period is not None:
        days, period, cutoff = None, rule.fixed_period_text, now - rule.fixed_period
    else:
        days = _configured_days(settings, rule.kind)
        period, cutoff = _period_text(days), (now - timedelta(days=days) if days else None)
    base = {"kind": rule.kind, "target": rule.target, "period": period, "period_days": days, "unit": "rows"}
    if cutoff is None:
        return PlanItem(**base, cutoff=None, due=0, action="keep forever")
    due = connection.execute(select(func.count()).select_from(rule.parent).where(rule.due(cutoff, now))).scalar_one()
    return PlanItem(**base, cutoff=cutoff, due=int(due), action="delete")


def _audit_item(connection: Connection, settings: Settings, now: datetime) -> PlanItem:
    days = settings.privacy.audit_days
    cutoff = now - timedelta(days=days) if days else None
    due = 0
    if cutoff is not None and inspect(connection).has_table(_audit_records.name):
        due = int(connection.execute(select(func.count()).select_from(_audit_records)
                                     .where(_audit_records.c.recorded_at < cutoff)).scalar_one())
    return PlanItem("audit", _audit_records.name, _period_text(days), days, cutoff, due, "rows",
                    "delete" if days else "keep forever")


# -- run ------------------------------------------------------------------------------------------


def run_retention(db: Database, settings: Settings, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE,
                  dry_run: bool = False) -> RetentionReport:
    """Deletes what the plan at ``now`` says is due, ``batch_size`` conversations or rows per
    transaction (each with the rows that go with it); ``dry_run`` only plans."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    plan = plan_retention(db, settings, now)
    report = RetentionReport(plan, dry_run)
    if dry_run:
        return report
    for item in plan.items:
        if not item.deletes or item.cutoff is None:
            continue
        if item.kind == "tracker_events":
            deleted, batches = _delete_stale_conversations(db, item.cutoff, batch_size)
        elif item.kind == "audit":
            deleted, batches = prune_before(db, settings, item.cutoff, max(batch_size, AUDIT_BATCH_SIZE), now)
        else:
            rule = next(rule for rule in _rules() if rule.target == item.target)
            deleted, batches = _delete_rows(db, rule, item.cutoff, now, batch_size)
        report.deleted[item.target] = deleted
        report.batches += batches
    return report


def _delete_stale_conversations(db: Database, cutoff: datetime, batch_size: int) -> tuple[int, int]:
    deleted = batches = 0
    newer_event = select(rasa_events.c.sender_id).where(rasa_events.c.timestamp >= _epoch_seconds(cutoff))
    while True:
        with db.engine.begin() as connection:
            senders = list(connection.execute(_stale_conversations(cutoff).limit(batch_size)).scalars())
            if not senders:
                break
            # Re-checked in the same statement: an event that arrived since the select keeps the
            # whole conversation.
            result = connection.execute(delete(rasa_events).where(
                rasa_events.c.sender_id.in_(senders),
                rasa_events.c.sender_id.not_in(newer_event.where(rasa_events.c.sender_id.in_(senders)))))
            if not result.rowcount:
                break  # every one came back to life: the next select would find none either
            removed = len(senders) - len(set(connection.execute(
                select(rasa_events.c.sender_id).where(rasa_events.c.sender_id.in_(senders))).scalars()))
        deleted += removed
        batches += 1
    return deleted, batches


def _delete_rows(db: Database, rule: RowRule, cutoff: datetime, now: datetime, batch_size: int) -> tuple[int, int]:
    deleted = batches = 0
    while True:
        with db.engine.begin() as connection:
            keys = list(connection.execute(select(rule.key).where(rule.due(cutoff, now)).limit(batch_size)).scalars())
            if not keys:
                break
            # Children first: both databases enforce the foreign keys. Only children of parents
            # still due (re-checked) go: a parent that changed since the select stays whole.
            still_due = select(rule.key).where(rule.key.in_(keys), rule.due(cutoff, now))
            for child in rule.children:
                connection.execute(delete(child.table).where(child.in_(still_due)))
            result = connection.execute(delete(rule.parent).where(rule.key.in_(keys), rule.due(cutoff, now)))
        if not result.rowcount:
            break
        deleted += int(result.rowcount)
        batches += 1
    return deleted, batches


# -- the daily job --------------------------------------------------------------------------------


def retention_loop(settings: Settings, stop: threading.Event, first_run_after: float = 60.0,
                   interval: float = 24 * 3600.0, clock: Callable[[], datetime] = utcnow,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> None:
    """Runs retention ``first_run_after`` seconds after it starts (the servers are up by then),
    then every ``interval`` seconds, until ``stop`` is set. Logs counts only. A failure (the
    database down, say) is logged and the next run tries again: it never ends the loop."""
    delay = first_run_after
    while not stop.wait(delay):
        delay = interval
        try:
            report = run_retention(Database(settings.database_url), settings, clock(), batch_size=batch_size)
        except Exception as problem:  # the loop must outlive any one failure
            # The class only: a database error's message can quote values.
            log.error("retention run failed (%s); next attempt in %.0f h", type(problem).__name__, interval / 3600)
            continue
        log.info("%s", report.summary())


@dataclass
class RetentionScheduler:
    """``retention_loop`` on a daemon thread: ``start()`` with the servers, ``stop()`` with them."""

    settings: Settings
    first_run_after: float = 60.0
    interval: float = 24 * 3600.0
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> RetentionScheduler:
        self._thread = threading.Thread(
            target=retention_loop, name="frontdesk-retention", daemon=True,
            args=(self.settings, self._stop, self.first_run_after, self.interval))
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Asks the loop to end and waits up to ``timeout`` s. A run in progress finishes first, or
        ends with the process (the thread is a daemon): each batch is its own transaction, so an
        interrupted run leaves nothing half deleted."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

