"""The password-reset domain service against SQLite and PostgreSQL, with a real SMTP server."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text, update

from frontdesk.accounts.identity import AccountRow
from frontdesk.accounts.passwords import PasswordPolicyError
from frontdesk.core.audit import DecisionContext
from frontdesk.handoff.escalation import EscalationReason
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.mail.outbox import OutboxEmailRow
from frontdesk.password_reset.service import (
    InvalidResetToken,
    ResetOutcome,
    ResetTokenRow,
    TokenProblem,
    hash_token,
)
from frontdesk.ticketing.sql import TicketRow

KNOWN = "ada.lovelace@example.com"
SSO = "margaret.hamilton@example.net"
LOCKED = "edsger.dijkstra@example.com"
NEW_PASSWORD = "correct horse battery staple"


def ctx(conversation: str = "c1") -> DecisionContext:
    return DecisionContext(conversation, "inform_email", 0.97, "action_request_password_reset", "model-1")


def request(services, email, conversation="c1"):
    with services.db.transaction() as session:
        return services.password_reset.request_password_reset(session, email, ctx(conversation))


def deliver(services):
    return services.outbox.dispatch_due(services.db, services.mailer)


def token_from(message) -> str:
    match = re.search(r"/reset-password\?token=([A-Za-z0-9_\-]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def complete(services, token, password=NEW_PASSWORD):
    with services.db.transaction() as session:
        return services.password_reset.complete_password_reset(session, token, password)


def test_known_and_unknown_addresses_get_the_same_decision(services, smtp_sink):
    known, unknown = request(services, KNOWN, "c1"), request(services, "nobody@example.com", "c2")
    assert known.escalate_conversation is unknown.escalate_conversation is False
    assert (known.outcome, unknown.outcome) == (ResetOutcome.QUEUED, ResetOutcome.NO_ACCOUNT)
    deliver(services)
    assert [m["To"] for m in smtp_sink.messages] == [KNOWN]


def test_reset_link_sets_a_new_password_once(services, smtp_sink):
    request(services, KNOWN)
    assert deliver(services).sent == 1
    message = smtp_sink.wait_for(1)[0]
    assert message["Subject"] == "Reset your password"
    token = token_from(message)
    assert len(token) >= 43  # 32 random bytes, URL-safe base64

    account = complete(services, token)
    with services.db.transaction() as session:
        assert services.identity.check_password(session, account.id, NEW_PASSWORD)
    with pytest.raises(InvalidResetToken) as second_use:
        complete(services, token, "another long passphrase here")
    assert second_use.value.problem is TokenProblem.USED


def test_tokens_are_stored_only_as_hashes(services, smtp_sink):
    request(services, KNOWN)
    deliver(services)
    token = token_from(smtp_sink.wait_for(1)[0])
    with services.db.transaction() as session:
        stored = session.execute(select(ResetTokenRow.token_hash)).scalars().all()
        assert stored == [hash_token(token)]
        for table in ("password_reset_tokens", "outbox_emails", "audit_records", "password_reset_requests"):
            rows = session.execute(text(f"SELECT * FROM {table}")).all()
            assert token not in repr(rows)
        # The requested address is kept only as a keyed hash.
        assert KNOWN not in repr(session.execute(text("SELECT * FROM password_reset_requests")).all())


def test_token_expires_after_fifteen_minutes(services, smtp_sink, clock):
    request(services, KNOWN)
    deliver(services)
    token = token_from(smtp_sink.wait_for(1)[0])
    clock.advance(minutes=15)
    with pytest.raises(InvalidResetToken) as expired:
        complete(services, token)
    assert expired.value.problem is TokenProblem.EXPIRED


def test_unknown_token_is_refused(services):
    with pytest.raises(InvalidResetToken) as unknown:
        complete(services, "not-a-token")
    assert unknown.value.problem is TokenProblem.UNKNOWN


def test_weak_password_keeps_the_token_usable(services, smtp_sink):
    request(services, KNOWN)
    deliver(services)
    token = token_from(smtp_sink.wait_for(1)[0])
    with pytest.raises(PasswordPolicyError):
        complete(services, token, "short")
    complete(services, token)  # still valid


def test_completing_a_reset_revokes_other_links(services, smtp_sink, clock):
    request(services, KNOWN, "c1")
    request(services, KNOWN, "c2")
    deliver(services)
    first, second = (token_from(m) for m in smtp_sink.wait_for(2))
    complete(services, second)
    with pytest.raises(InvalidResetToken):
        complete(services, first)


def test_fourth_request_for_an_address_within_an_hour_escalates(services, clock):
    for conversation in ("a", "b", "c"):
        assert not request(services, KNOWN, conversation).escalate_conversation
    fourth = request(services, KNOWN, "d")
    assert fourth.outcome is ResetOutcome.RATE_LIMITED_EMAIL
    assert fourth.escalation_reason is EscalationReason.RESET_RATE_LIMITED
    clock.advance(minutes=61)
    assert not request(services, KNOWN, "e").escalate_conversation


def test_rate_limit_does_not_reveal_whether_an_account_exists(services):
    outcomes = [request(services, "ghost@example.org", c).escalate_conversation for c in "abcd"]
    assert outcomes == [False, False, False, True]


def test_fourth_request_in_one_conversation_escalates(services):
    emails = ["a1@example.com", "a2@example.com", "a3@example.com", "a4@example.com"]
    decisions = [request(services, email, "same") for email in emails]
    assert [d.escalate_conversation for d in decisions] == [False, False, False, True]
    assert decisions[-1].outcome is ResetOutcome.RATE_LIMITED_CONVERSATION
    assert decisions[-1].escalation_reason is EscalationReason.RESET_RATE_LIMITED


@pytest.mark.parametrize(
    ("email", "reason", "subject_word"),
    [(SSO, EscalationReason.SSO_ACCOUNT, "single sign-on"), (LOCKED, EscalationReason.SECURITY_LOCKED, "security")],
)
def test_sso_and_locked_accounts_become_security_tickets_out_of_band(services, smtp_sink, email, reason,
                                                                      subject_word):
    decision = request(services, email, "c-known")
    unknown = request(services, "nobody@example.com", "c-unknown")
    # The chat answer is the generic one: pausing here would tell a stranger the account exists.
    assert (decision.escalate_conversation, decision.escalation_reason) == (False, None)
    assert (unknown.escalate_conversation, unknown.escalation_reason) == (False, None)

    with services.db.transaction() as session:
        account = services.identity.find_by_email(session, email)
        [handoff] = session.execute(select(HandoffRow)).scalars().all()
        assert (handoff.queue, handoff.channel, handoff.reason, handoff.customer_id, handoff.status) == (
            "security", "email", reason.value, account.id, "open")
        assert handoff.conversation_id == "c-known"
        [operation] = session.execute(select(TicketOutboxRow)).scalars().all()
        assert (operation.handoff_id, operation.operation) == (handoff.id, "create")
        [created] = [r for r in services.audit.list(session) if r.decision == "handoff.follow_up_created"]
        assert created.reason == reason.value and email not in repr(created.details)

    assert services.ticket_outbox.dispatch_due(services.db) == {"delivered": 1, "retried": 0, "failed": 0}
    with services.db.transaction() as session:
        [ticket] = session.execute(select(TicketRow)).scalars().all()
        assert (ticket.queue, ticket.channel, ticket.customer_id, ticket.transcript) == (
            "security", "email", account.id, "")
        assert "e-mailed a notice" in ticket.summary and "Verify the owner's identity" in ticket.summary
        assert email not in ticket.summary + ticket.suggested_reply + ticket.profile

    deliver(services)
    [message] = smtp_sink.wait_for(1)
    assert message["To"] == email and subject_word in message.get_content()
    assert "reset-password?token" not in message.get_content()
    with services.db.transaction() as session:
        assert session.execute(select(ResetTokenRow)).first() is None


def test_an_account_without_a_name_still_gets_its_link(services, smtp_sink):
    with services.db.transaction() as session:
        session.execute(update(AccountRow).where(AccountRow.email == KNOWN).values(full_name=""))
    request(services, KNOWN)
    assert deliver(services).sent == 1
    [message] = smtp_sink.wait_for(1)
    assert message.get_content().splitlines()[0] == "Hello,"
    complete(services, token_from(message))


def test_every_decision_is_audited(services):
    request(services, KNOWN, "c1")
    request(services, "nobody@example.com", "c2")
    with services.db.transaction() as session:
        records = services.audit.list(session)
    assert {r.decision for r in records} == {"password_reset.queued", "password_reset.no_account"}
    for record in records:
        assert (record.intent, record.confidence, record.model_id) == ("inform_email", 0.97, "model-1")
        assert "@" not in repr(record.details)


def test_smtp_outage_delays_mail_and_never_leaves_a_live_token(services, smtp_sink, clock):
    services.mailer.settings = type(services.mailer.settings)(host="127.0.0.1", port=1, timeout_seconds=1)
    request(services, KNOWN)
    report = deliver(services)
    assert (report.sent, report.retried) == (0, 1)
    with services.db.transaction() as session:
        [token] = session.execute(select(ResetTokenRow)).scalars().all()
        assert token.revoked_at is not None  # the undelivered link is dead
        [row] = session.execute(select(OutboxEmailRow)).scalars().all()
        assert (row.status, row.attempts) == ("pending", 1)

    services.mailer.settings = type(services.mailer.settings)(host=smtp_sink.host, port=smtp_sink.port)
    assert deliver(services).sent == 0  # not due yet: back-off
    clock.advance(seconds=20)
    assert deliver(services).sent == 1
    complete(services, token_from(smtp_sink.wait_for(1)[0]))


def test_mail_undelivered_for_an_hour_is_dropped(services, smtp_sink, clock):
    request(services, KNOWN)
    clock.advance(minutes=61)
    report = deliver(services)
    assert (report.sent, report.dropped) == (0, 1)
    assert smtp_sink.messages == []
