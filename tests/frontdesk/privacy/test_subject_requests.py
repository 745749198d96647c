"""Data-subject requests on both databases: export finds a customer's whole history, erasure
removes it (here and in Zendesk), leaves every other customer's rows as they were, is recorded
without the erased data, and can be repeated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from frontdesk.accounts.customer_token import TokenReplayGuard
from frontdesk.bootstrap import Services
from frontdesk.core.audit import AuditRow, DecisionContext
from frontdesk.handoff.escalation import EscalationRow
from frontdesk.handoff.service import HandoffRequest, HandoffRow, TicketOutbox, Turn
from frontdesk.insights.csat import CsatRow
from frontdesk.privacy.subject_requests import (
    ERASED_CONVERSATION,
    SubjectRequestRow,
    SubjectRequests,
    UnknownCustomer,
    erase_subject,
    export_subject,
)
from frontdesk.privacy.tracker_events import rasa_events
from frontdesk.ticketing.zendesk import ZendeskTicketing
from tests.standins.zendesk import ZendeskStandIn


@dataclass(frozen=True)
class Customer:
    account_id: str
    email: str
    conversations: tuple[str, str]  # (signed-in chat with a handoff, anonymous chat that gave the address)


KATHERINE = Customer("AC-100004", "katherine.johnson@example.com", ("rest-kj-chat", "socketio-kj-reset"))
GRACE = Customer("AC-100002", "grace.hopper@example.org", ("rest-gh-chat", "socketio-gh-reset"))


def _events(services: Services, conversation: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Rows in Rasa's tracker-store table, shaped as SQLTrackerStore writes them."""
    with services.db.transaction() as session:
        for type_name, data in rows:
            session.execute(rasa_events.insert().values(
                sender_id=conversation, type_name=type_name, timestamp=1795770000.0,
                intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
                action_name=data.get("name") if type_name == "action" else None,
                data=json.dumps({"event": type_name, **data})))


def seed_history(services: Services, customer: Customer) -> None:
    """A customer with a bit of everything, made by the real services."""
    chat, reset_chat = customer.conversations
    db = services.db
    rasa_events.create(db.engine, checkfirst=True)
    _events(services, chat, [
        ("slot", {"name": "customer_id", "value": customer.account_id}),
        ("user", {"text": "I need a refund, please", "parse_data": {"intent": {"name": "request_refund"}}}),
        ("action", {"name": "action_handoff"}),
        ("bot", {"text": "I've passed this to our team."}),
    ])
    _events(services, reset_chat, [
        ("user", {"text": f"reset my password, it's {customer.email.upper()}",
                  "parse_data": {"intent": {"name": "reset_password"}}}),
        ("slot", {"name": "account_email", "value": customer.email}),
    ])
    with db.transaction() as session:
        context = DecisionContext(chat, "request_refund", 0.97, "action_handoff", "m-1")
        services.audit.record(session, context, "customer.verified", reason="signed_token",
                              customer_id=customer.account_id)
        services.handoff.hand_off(session, HandoffRequest(
            conversation_id=chat, sequence=2, reason="mandatory_category", channel="rest",
            intent="request_refund", confidence=0.97, model_id="m-1",
            turns=[Turn("customer", "I need a refund, please")], customer_id=customer.account_id))
    services.ticket_outbox.dispatch_due(db)
    with db.transaction() as session:
        handoff = session.execute(select(HandoffRow).where(HandoffRow.conversation_id == chat)).scalar_one()
        handoff.status = "closed"
        session.flush()
        services.csat.record(session, chat, 5)
        reset_context = DecisionContext(reset_chat, "reset_password", 0.95, "password_reset_form", "m-1")
        services.password_reset.request_password_reset(session, customer.email, reset_context)
        services.verification.request_code(session, customer.email, reset_context)
        services.password_reset.mint_token(session, customer.account_id)
        session.add(EscalationRow(conversation_id=reset_chat, account_id=customer.account_id,
                                  reason="sso_account", status="ticketed"))
    TokenReplayGuard(db).claim(f"jti-{customer.account_id}", chat, services.handoff.clock() + timedelta(minutes=5))


def without_time(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "exported_at"}


def found(document: dict[str, Any]) -> dict[str, int]:
    """The kinds of data an export found, with how many of each."""
    return {kind: n for kind, n in document["counts"].items() if n}


def test_an_export_finds_the_whole_history(seeded: Services) -> None:
    document = export_subject(seeded, KATHERINE.email)
    counts = document["counts"]
    assert document["customer"] == {"account_id": KATHERINE.account_id, "email": KATHERINE.email}
    assert counts["account"] == 1 and document["data"]["account"][0]["full_name"] == "Katherine Johnson"
    assert "password_hash" not in document["data"]["account"][0]
    assert {c["conversation_id"] for c in document["data"]["conversations"]} == set(KATHERINE.conversations)
    assert counts["tracker_events"] == 6
    for kind in ("handoffs", "ticket_outbox", "tickets", "csat_responses", "verification_codes",
                 "password_reset_requests", "password_reset_tokens", "customer_token_uses", "escalations",
                 "outbox_emails", "rate_limit_hits", "audit_records", "billing_subscriptions",
                 "billing_invoices", "billing_payments"):
        assert counts[kind] >= 1, kind
    assert document["data"]["billing_invoices"][0]["lines"]
    assert document["total"] == sum(counts.values())
    # Nothing of Grace's, and nothing secret.
    text = json.dumps(document)
    assert GRACE.account_id not in text and "grace" not in text.lower()
    assert "code_hash" not in text and "token_hash" not in text and "email_key" not in text
    # ISO times, and the same document by account id.
    assert document["data"]["handoffs"][0]["created_at"].endswith("Z")
    assert document["data"]["conversations"][0]["events"][0]["time"].startswith("2026-")
    assert without_time(export_subject(seeded, KATHERINE.account_id)) == without_time(document)


def test_an_unknown_customer_is_refused(seeded: Services) -> None:
    for nobody in ("AC-999999", "nobody@example.com"):
        with pytest.raises(UnknownCustomer):
            export_subject(seeded, nobody)


def test_erasure_leaves_nothing_and_leaves_others_as_they_were(seeded: Services) -> None:
    grace_before = export_subject(seeded, GRACE.account_id)
    before = export_subject(seeded, KATHERINE.account_id)

    report = erase_subject(seeded, KATHERINE.account_id, requested_by="dpo@acme.test")

    assert report.complete and not report.not_erased
    for kind in ("account", "conversations", "tracker_events", "handoffs", "tickets", "csat_responses",
                 "verification_codes", "password_reset_requests", "password_reset_tokens",
                 "customer_token_uses", "escalations", "outbox_emails", "rate_limit_hits",
                 "billing_invoices", "billing_payments"):
        assert report.erased.get(kind, 0) == before["counts"][kind], kind
    for nobody in (KATHERINE.account_id, KATHERINE.email):
        with pytest.raises(UnknownCustomer):
            export_subject(seeded, nobody)
    # Grace's rows, every one, exactly as they were.
    assert without_time(export_subject(seeded, GRACE.account_id)) == without_time(grace_before)
    with seeded.db.transaction() as session:
        assert session.execute(select(func.count()).select_from(rasa_events).where(
            rasa_events.c.sender_id.in_(KATHERINE.conversations))).scalar_one() == 0
        # Kept for the figures and the books, linked to nobody.
        csat = session.execute(select(CsatRow).where(CsatRow.conversation_id == ERASED_CONVERSATION)).scalars().all()
        assert [(row.score, row.handoff_id) for row in csat] == [(5, None)]
        invoices = before["data"]["billing_invoices"]
        from frontdesk.accounts.identity import AccountRow
        from frontdesk.billing.records import InvoiceRow, PaymentRow
        kept = session.execute(select(InvoiceRow).where(InvoiceRow.id.in_([i["id"] for i in invoices]))).scalars().all()
        assert len(kept) == len(invoices) and {i.account_id for i in kept} != {KATHERINE.account_id}
        [tombstone] = {i.account_id for i in kept}
        holder = session.get(AccountRow, tombstone)
        assert holder.full_name == "" and holder.email.endswith("@erased.invalid") and holder.password_hash is None
        assert holder.status == "security_locked"
        assert all(p.card_last4 is None for p in session.execute(
            select(PaymentRow).where(PaymentRow.account_id == tombstone)).scalars())


def test_the_request_is_recorded_without_the_erased_data(seeded: Services) -> None:
    report = erase_subject(seeded, KATHERINE.email, requested_by="dpo@acme.test")
    with seeded.db.transaction() as session:
        [row] = session.execute(select(SubjectRequestRow)).scalars().all()
    assert (row.request_id, row.kind, row.requested_by, row.outcome) == (
        report.request_id, "erasure", "dpo@acme.test", "completed")
    assert row.completed_at is not None and json.loads(row.outstanding) == {}
    assert json.loads(row.counts) == report.erased
    stored = " ".join(str(getattr(row, c.key)) for c in SubjectRequestRow.__table__.columns).lower()
    for identifying in (KATHERINE.account_id.lower(), KATHERINE.email, "katherine", "johnson",
                        *KATHERINE.conversations):
        assert identifying not in stored


def test_a_second_erasure_finds_nothing_and_says_so(seeded: Services) -> None:
    first = erase_subject(seeded, KATHERINE.account_id, requested_by="dpo@acme.test")
    assert first.total > 0
    for customer in (KATHERINE.account_id, KATHERINE.email):
        again = erase_subject(seeded, customer, requested_by="dpo@acme.test")
        assert again.found_nothing and again.erased == {}
    with seeded.db.transaction() as session:
        outcomes = session.execute(select(SubjectRequestRow.outcome).order_by(SubjectRequestRow.id)).scalars().all()
    assert outcomes == ["completed", "nothing_found", "nothing_found"]


def test_erasure_anonymises_the_audit_trail(seeded: Services) -> None:
    before = export_subject(seeded, KATHERINE.account_id)["counts"]["audit_records"]
    report = erase_subject(seeded, KATHERINE.account_id, requested_by="dpo@acme.test")
    assert report.erased["audit_records"] == before
    with seeded.db.transaction() as session:
        rows = session.execute(select(AuditRow)).scalars().all()
    text = " ".join(f"{r.conversation_id} {r.details}" for r in rows)
    assert KATHERINE.account_id not in text
    assert not any(conversation in text for conversation in KATHERINE.conversations)
    assert GRACE.account_id in text  # hers stay


def test_a_conversation_of_another_customer_that_mentions_the_address_is_kept(seeded: Services) -> None:
    _events(seeded, GRACE.conversations[0], [("user", {"text": f"my colleague is {KATHERINE.email}"})])
    report = erase_subject(seeded, KATHERINE.email, requested_by="dpo@acme.test")
    assert report.other_customers_conversations == 1
    assert export_subject(seeded, GRACE.account_id)["counts"]["handoffs"] == 1


# -- Zendesk ----------------------------------------------------------------------------------------


def _zendesk_services(services: Services, zendesk: ZendeskStandIn) -> Services:
    backend = ZendeskTicketing(zendesk.url, zendesk.email, zendesk.api_token, timeout=2.0)
    services.ticket_outbox = TicketOutbox(backend, clock=services.handoff.clock)
    return services


def _requested_ticket(zendesk: ZendeskStandIn, requester_id: int) -> int:
    """A ticket an agent opened for the customer (an e-mail follow-up): its requester is them."""
    import base64

    auth = "Basic " + base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    body = json.dumps({"ticket": {"subject": "Your refund", "comment": {"body": "We are on it."},
                                  "requester_id": requester_id}}).encode()
    status, payload, _ = zendesk.dispatch("POST", "/api/v2/tickets.json", auth, body)
    assert status == 201
    return int(payload["ticket"]["id"])


@pytest.fixture
def zendesk() -> Any:
    with ZendeskStandIn() as server:
        yield server


@pytest.fixture
def on_zendesk(services: Services, zendesk: ZendeskStandIn) -> Services:
    _zendesk_services(services, zendesk)
    for customer in (KATHERINE, GRACE):
        seed_history(services, customer)
    return services


def test_zendesk_tickets_and_the_requester_are_deleted_for_good(on_zendesk: Services, zendesk: ZendeskStandIn) -> None:
    assert len(zendesk.tickets) == 2  # one handoff ticket each, requested by the API user
    katherine = zendesk.add_user("Katherine Johnson", KATHERINE.email)
    grace = zendesk.add_user("Grace Hopper", GRACE.email)
    followed_up = _requested_ticket(zendesk, katherine)
    graces = _requested_ticket(zendesk, grace)
    [handoff_ticket] = export_subject(on_zendesk, KATHERINE.account_id)["data"]["external_tickets"]

    report = erase_subject(on_zendesk, KATHERINE.email, requested_by="dpo@acme.test")

    assert report.complete
    assert (report.erased["external_tickets"], report.erased["external_requesters"]) == (2, 1)
    gone = {int(handoff_ticket["ticket_id"]), followed_up}
    assert not gone & set(zendesk.tickets) and not gone & set(zendesk.deleted_tickets)
    assert katherine not in zendesk.users and katherine not in zendesk.deleted_users
    assert graces in zendesk.tickets and grace in zendesk.users and len(zendesk.tickets) == 2
    assert 9001 in zendesk.users  # the API user, requester of every handoff ticket, is never touched
    deletes = [target for method, target in zendesk.requests if method == "DELETE"]
    assert f"/api/v2/deleted_tickets/{followed_up}.json" in deletes
    assert f"/api/v2/deleted_users/{katherine}.json" in deletes
    again = erase_subject(on_zendesk, KATHERINE.email, requested_by="dpo@acme.test")
    assert again.found_nothing


def test_zendesk_down_means_an_honest_incomplete_erasure(on_zendesk: Services, zendesk: ZendeskStandIn) -> None:
    before = without_time(export_subject(on_zendesk, KATHERINE.account_id))
    requests = SubjectRequests(on_zendesk.db, on_zendesk.settings.secret_key, on_zendesk.ticket_outbox.backend,
                               on_zendesk.audit, retry_waits=(0.0, 0.0), sleep=lambda seconds: None)
    zendesk.stop()

    report = requests.erase(KATHERINE.account_id, requested_by="dpo@acme.test")

    assert not report.complete and report.problem and "Zendesk" in report.problem
    assert report.not_erased["external_tickets"] == 1 and report.not_erased["handoffs"] == 1
    assert report.not_erased["account"] == 1
    # Nothing was erased in the app database: it holds what the next attempt needs.
    assert without_time(export_subject(on_zendesk, KATHERINE.account_id)) == before
    with on_zendesk.db.transaction() as session:
        [row] = session.execute(select(SubjectRequestRow)).scalars().all()
    assert row.outcome == "incomplete" and row.completed_at is None
    assert json.loads(row.outstanding)["external_tickets"] == 1

    zendesk.start()
    finished = requests.erase(KATHERINE.account_id, requested_by="dpo@acme.test")
    assert finished.complete and finished.erased["external_tickets"] == 1
    with pytest.raises(UnknownCustomer):
        export_subject(on_zendesk, KATHERINE.account_id)
