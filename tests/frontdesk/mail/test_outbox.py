"""Both outboxes under stress: workers whose passes outlast the lease, rows that raise, and
failures that never stop. Nothing is delivered twice, nothing stops the rest of a pass, and
nothing retries forever."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from frontdesk.accounts.identity import AccountRow
from frontdesk.core.audit import DecisionContext
from frontdesk.core.db import Database
from frontdesk.handoff.service import MAX_BACKOFF, HandoffRow, TicketOutbox, TicketOutboxRow
from frontdesk.mail.outbox import MAX_ATTEMPTS, ComposedEmail, EmailOutbox, OutboxEmailRow, backoff, greeting
from frontdesk.ticketing.port import TicketDraft, TicketingUnavailable, TicketRef
from frontdesk.ticketing.sql import SqlTicketing, TicketCommentRow
from tests.conftest import FakeClock
from tests.frontdesk.handoff.test_handoff import hand_off, request

PII = "grace.hopper@example.org"


class RowComposer:
    """One message per row, to an address naming the row; rows in ``poison`` cannot be composed."""

    def __init__(self, poison: frozenset[int] = frozenset()) -> None:
        self.poison = poison
        self.discarded: list[int | None] = []

    def compose(self, session: Session, row: OutboxEmailRow) -> ComposedEmail | None:
        if row.id in self.poison:
            raise RuntimeError(f"cannot compose the message for {PII}")
        return ComposedEmail(to=f"row-{row.id}@example.test", subject="Hello", body="Hello", secret_id=row.id)

    def discard(self, session: Session, email: ComposedEmail) -> None:
        self.discarded.append(email.secret_id)


class SlowMailer:
    """Every send takes ``seconds`` of the fake clock; ``during`` runs once, inside send number ``at``."""

    def __init__(self, clock: FakeClock, seconds: float = 0, fails_for: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.seconds = seconds
        self.fails_for = fails_for
        self.sent: list[str] = []
        self.during: Callable[[], None] | None = None
        self.at = 0

    def send(self, email: ComposedEmail) -> None:
        self.clock.advance(seconds=self.seconds)
        if email.to in self.fails_for:
            raise ValueError(f"header injection in {email.to}")
        self.sent.append(email.to)
        if self.during is not None and len(self.sent) == self.at:
            during, self.during = self.during, None
            during()


def enqueue(db: Database, outbox: EmailOutbox, n: int) -> list[int]:
    with db.transaction() as session:
        for _ in range(n):
            outbox.enqueue(session, "test", None)
    with db.transaction() as session:
        return list(session.execute(select(OutboxEmailRow.id).order_by(OutboxEmailRow.id)).scalars())


def email_row(db: Database, row_id: int) -> OutboxEmailRow:
    with db.transaction() as session:
        row = session.get(OutboxEmailRow, row_id)
        session.expunge(row)
        return row


def test_a_pass_slower_than_the_lease_sends_nothing_twice(db, clock):
    composer = RowComposer()
    first = EmailOutbox({"test": composer}, clock=clock, lease=timedelta(minutes=2))
    second = EmailOutbox({"test": composer}, clock=clock, lease=timedelta(minutes=2))
    enqueue(db, first, 6)
    mailer = SlowMailer(clock, seconds=50)  # 6 x 50 s: the first pass takes 2.5 leases
    reports = []
    # While the first worker is on its third message (claimed 100 s into its pass), a second
    # worker starts a pass: with one lease per pass the third message was up for grabs again.
    mailer.during, mailer.at = lambda: reports.append(second.dispatch_due(db, mailer)), 3
    reports.append(first.dispatch_due(db, mailer))

    assert len(mailer.sent) == 6 and len(set(mailer.sent)) == 6, mailer.sent
    assert sum(report.sent for report in reports) == 6
    assert [report.sent for report in reports] == [3, 3]  # the second worker took the rest
    with db.transaction() as session:
        assert set(session.execute(select(OutboxEmailRow.status)).scalars()) == {"sent"}


class SlowBackend:
    """The embedded backend behind a slow network: every create takes ``seconds`` of the clock."""

    def __init__(self, inner: SqlTicketing, clock: FakeClock, seconds: float) -> None:
        self.inner, self.clock, self.seconds = inner, clock, seconds
        self.name = inner.name
        self.creates: list[str] = []
        self.during: Callable[[], None] | None = None
        self.at = 0

    def create_ticket(self, draft: TicketDraft) -> TicketRef:
        self.clock.advance(seconds=self.seconds)
        self.creates.append(draft.idempotency_key)
        if self.during is not None and len(self.creates) == self.at:
            during, self.during = self.during, None
            during()
        return self.inner.create_ticket(draft)

    def add_comment(self, ticket: TicketRef, body: str, public: bool = False, key: str | None = None) -> None:
        self.inner.add_comment(ticket, body, public, key)

    def close_ticket(self, ticket: TicketRef) -> None:
        self.inner.close_ticket(ticket)

    def ticket_status(self, external_id: str) -> str:
        return self.inner.ticket_status(external_id)


def test_a_ticket_pass_slower_than_the_lease_creates_nothing_twice(services, clock):
    for conversation in ("t1", "t2", "t3", "t4", "t5"):
        hand_off(services, request(conversation))
    backend = SlowBackend(SqlTicketing(services.db), clock, seconds=50)
    first = TicketOutbox(backend, clock=clock, lease=timedelta(minutes=2))
    second = TicketOutbox(backend, clock=clock, lease=timedelta(minutes=2))
    counts = []
    backend.during, backend.at = lambda: counts.append(second.dispatch_due(services.db)), 3
    counts.append(first.dispatch_due(services.db))

    assert sorted(backend.creates) == sorted(set(backend.creates)) and len(backend.creates) == 5
    assert sum(c["delivered"] for c in counts) == 5


def test_a_message_that_cannot_be_composed_does_not_stop_the_others(db, clock, caplog):
    caplog.set_level(logging.INFO)
    ids = enqueue(db, EmailOutbox({"test": RowComposer()}, clock=clock), 3)
    poison = ids[1]
    outbox = EmailOutbox({"test": RowComposer(poison=frozenset({poison}))}, clock=clock)
    mailer = SlowMailer(clock)

    report = outbox.dispatch_due(db, mailer)
    assert (report.sent, report.retried, report.failed) == (2, 1, 0)
    assert mailer.sent == [f"row-{ids[0]}@example.test", f"row-{ids[2]}@example.test"]
    row = email_row(db, poison)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "RuntimeError")
    assert row.next_attempt_at == clock.now + backoff(1)
    assert outbox.dispatch_due(db, mailer).retried == 0  # backing off

    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(seconds=backoff(attempt - 1).total_seconds())
        report = outbox.dispatch_due(db, mailer)
        assert (report.retried, report.failed) == ((1, 0) if attempt < MAX_ATTEMPTS else (0, 1))
    row = email_row(db, poison)
    assert (row.status, row.attempts, row.last_error) == ("failed", MAX_ATTEMPTS, "RuntimeError")
    clock.advance(hours=1)
    assert outbox.dispatch_due(db, mailer) == type(report)()  # failed for good: never picked again
    assert PII not in caplog.text


def test_a_send_that_raises_anything_revokes_what_was_minted(db, clock):
    composer = RowComposer()
    outbox = EmailOutbox({"test": composer}, clock=clock)
    ids = enqueue(db, outbox, 3)
    mailer = SlowMailer(clock, fails_for=frozenset({f"row-{ids[0]}@example.test"}))

    report = outbox.dispatch_due(db, mailer)
    assert (report.sent, report.retried) == (2, 1)
    assert composer.discarded == [ids[0]]  # the minted secret of the unsent message is dead
    assert email_row(db, ids[0]).last_error == "ValueError"


def test_an_smtp_refusal_is_recorded_without_the_address(db, clock):
    outbox = EmailOutbox({"test": RowComposer()}, clock=clock)
    [row_id] = enqueue(db, outbox, 1)

    class RefusingMailer:
        def send(self, email: ComposedEmail) -> None:
            raise smtplib.SMTPRecipientsRefused({email.to: (550, f"5.1.1 <{email.to}>: unknown".encode())})

    assert outbox.dispatch_due(db, RefusingMailer()).retried == 1
    assert email_row(db, row_id).last_error == "SMTPRecipientsRefused: SMTP 550"


@pytest.mark.parametrize(("name", "expected"), [
    ("Ada Lovelace", "Hello Ada,"), ("  Grace  ", "Hello Grace,"), ("", "Hello,"), ("   ", "Hello,"), (None, "Hello,"),
])
def test_the_greeting_needs_no_name(name, expected):
    assert greeting(name) == expected


def test_an_account_without_a_name_gets_its_verification_code(services, smtp_sink):
    with services.db.transaction() as session:
        session.execute(update(AccountRow).where(AccountRow.email == "ada.lovelace@example.com").values(full_name=""))
    with services.db.transaction() as session:
        services.verification.request_code(session, "ada.lovelace@example.com", DecisionContext("nameless"))
    assert services.outbox.dispatch_due(services.db, services.mailer).sent == 1
    [message] = smtp_sink.wait_for(1)
    assert message.get_content().splitlines()[0] == "Hello,"


class Faulty:
    """The embedded backend, but ``create_ticket`` raises for the listed conversations (by the
    reference tickets carry) and
    ``add_comment`` applies the comment, then loses the answer the first ``lost_answers`` times."""

    def __init__(self, inner: SqlTicketing, raises: dict[str, Callable[[], Exception]] | None = None,
                 lost_answers: int = 0) -> None:
        self.inner, self.name = inner, inner.name
        self.raises = raises or {}
        self.lost_answers = lost_answers

    def create_ticket(self, draft: TicketDraft) -> TicketRef:
        if draft.conversation_id in self.raises:
            raise self.raises[draft.conversation_id]()
        return self.inner.create_ticket(draft)

    def add_comment(self, ticket: TicketRef, body: str, public: bool = False, key: str | None = None) -> None:
        self.inner.add_comment(ticket, body, public, key)
        if self.lost_answers:
            self.lost_answers -= 1
            raise TicketingUnavailable("Zendesk add comment: timed out")

    def close_ticket(self, ticket: TicketRef) -> None:
        self.inner.close_ticket(ticket)

    def ticket_status(self, external_id: str) -> str:
        return self.inner.ticket_status(external_id)


def create_row(services, conversation: str) -> TicketOutboxRow:
    with services.db.transaction() as session:
        row = session.execute(select(TicketOutboxRow).join(HandoffRow, HandoffRow.id == TicketOutboxRow.handoff_id)
                              .where(HandoffRow.conversation_id == conversation,
                                     TicketOutboxRow.operation == "create")).scalar_one()
        session.expunge(row)
        return row


def test_a_ticket_that_raises_anything_does_not_stop_the_others(services, clock, caplog):
    caplog.set_level(logging.INFO)
    for conversation in ("ok-1", "poison", "ok-2"):
        hand_off(services, request(conversation))
    backend = Faulty(SqlTicketing(services.db),
                     raises={services.handoff.references("poison"): lambda: KeyError(f"{PII} card 4111")})
    outbox = TicketOutbox(backend, clock=clock, max_attempts=3)

    assert outbox.dispatch_due(services.db) == {"delivered": 2, "retried": 1, "failed": 0}
    row = create_row(services, "poison")
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "unexpected KeyError")
    assert row.next_attempt_at > clock.now
    assert outbox.dispatch_due(services.db) == {"delivered": 0, "retried": 0, "failed": 0}  # backing off

    clock.advance(seconds=MAX_BACKOFF.total_seconds())
    assert outbox.dispatch_due(services.db) == {"delivered": 0, "retried": 1, "failed": 0}
    clock.advance(seconds=MAX_BACKOFF.total_seconds())
    assert outbox.dispatch_due(services.db) == {"delivered": 0, "retried": 0, "failed": 1}
    row = create_row(services, "poison")
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "unexpected KeyError")
    assert PII not in caplog.text and "4111" not in caplog.text


def test_a_ticketing_outage_longer_than_the_cap_ends_failed(services, clock):
    hand_off(services, request("down"))
    backend = Faulty(SqlTicketing(services.db),
                     raises={services.handoff.references("down"): lambda: TicketingUnavailable(
                         "Zendesk create ticket: HTTP 503", retry_after=60)})
    outbox = TicketOutbox(backend, clock=clock, max_attempts=4)

    outcomes = []
    for _ in range(6):
        outcomes.append(outbox.dispatch_due(services.db))
        if len(outcomes) == 1:  # Retry-After is a floor under the back-off
            assert create_row(services, "down").next_attempt_at == clock.now + timedelta(seconds=60)
        clock.advance(minutes=10)
    assert [(o["retried"], o["failed"]) for o in outcomes] == [(1, 0), (1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    row = create_row(services, "down")
    assert (row.status, row.attempts, row.last_error) == ("failed", 4, "Zendesk create ticket: HTTP 503")


def test_a_comment_whose_answer_was_lost_is_stored_once(services, clock):
    hand_off(services, request("lost"))
    hand_off(services, request("lost", sequence=3))  # still open: a comment on the same ticket
    outbox = TicketOutbox(Faulty(SqlTicketing(services.db), lost_answers=1), clock=clock)

    assert outbox.dispatch_due(services.db) == {"delivered": 1, "retried": 1, "failed": 0}
    clock.advance(seconds=MAX_BACKOFF.total_seconds())
    assert outbox.dispatch_due(services.db) == {"delivered": 1, "retried": 0, "failed": 0}
    with services.db.transaction() as session:
        [comment] = session.execute(select(TicketCommentRow)).scalars().all()
        [comment_row] = session.execute(
            select(TicketOutboxRow).where(TicketOutboxRow.operation == "comment")).scalars().all()
        assert comment.body.startswith("Customer handed off again")
        assert comment.body.endswith(f"[frontdesk ref fd-op-{comment_row.id}]")
        assert (comment_row.status, comment_row.attempts) == ("done", 2)
