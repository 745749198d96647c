"""Billing: exact money, the lookups a verified customer gets, refusal of other customers' data,
e-mail code verification, and triage into specialist queues."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from frontdesk.accounts.verification import MAX_ATTEMPTS, CodeCheck, CodeRequest, VerificationRow
from frontdesk.billing.desk import mentioned_amount, mentioned_date, mentioned_period
from frontdesk.billing.records import Money, PaymentRow, SqlBilling
from frontdesk.billing.triage import BillingTriage
from frontdesk.core.audit import DecisionContext
from frontdesk.dev.demo_data import load_demo_billing

TODAY = date(2026, 11, 27)  # the FakeClock's day


@pytest.fixture
def billed(services):
    with services.db.transaction() as session:
        load_demo_billing(session, today=TODAY)
    return services


def ask(services, intent: str, question: str, customer: str, conversation: str = "billing-1"):
    with services.db.transaction() as session:
        return services.billing_desk.answer(session, intent, question, customer, DecisionContext(conversation))


def test_money_is_decimal_and_exact_in_the_database(billed):
    with pytest.raises(TypeError):
        Money(12.5, "EUR")  # type: ignore[arg-type]
    assert str(Money(Decimal("1234.5"), "EUR")) == "€1,234.50" and str(Money(Decimal("9"), "CHF")) == "9.00 CHF"
    with billed.db.transaction() as session:
        payments = SqlBilling().payments(session, "AC-100005")
        raw = session.execute(text("SELECT amount FROM billing_payments WHERE account_id = 'AC-100005'")).scalars()
        assert all(isinstance(p.amount.amount, Decimal) for p in payments)
        assert {p.amount.amount for p in payments} == {Decimal("43.20"), Decimal("57.60")}  # 36 + 20% VAT, +prorated
        assert set(raw) == {4320, 5760}  # stored as integer cents


def test_latest_invoice_with_status_and_pdf_link(billed):
    answer = ask(billed, "ask_latest_invoice", "can I get my latest invoice", "AC-100009")
    assert answer.resolved
    assert re.search(r"invoice INV-2026-0905 of 1 Nov 2026 is £36\.00, paid", answer.text), answer.text
    assert "https://app.frontdesk.example/billing/invoices/INV-2026-0905.pdf" in answer.text


def test_another_customers_invoice_is_refused_and_audited(billed):
    answer = ask(billed, "ask_latest_invoice", "send me INV-2026-0105 please", "AC-100003", "snoop")
    missing = ask(billed, "ask_latest_invoice", "send me INV-2026-9999 please", "AC-100003", "snoop")
    assert "can't find INV-2026-0105 on your account" in answer.text and "£" not in answer.text
    assert missing.text.replace("9999", "0105") == answer.text  # existing or not: the same answer
    with billed.db.transaction() as session:
        denied = billed.audit.list(session, "snoop", "billing.access_denied", 10)
    assert len(denied) == 2 and all(r.reason == "not_the_customers_invoice" for r in denied)


def test_a_charge_is_explained_line_by_line_in_the_customers_time_zone(billed):
    answer = ask(billed, "ask_charge_explanation", "why was I charged €57.60 on 1 September?", "AC-100005")
    assert answer.resolved, answer.text
    assert "The €57.60 charge on 1 Sep 2026 paid invoice INV-2026-0503" in answer.text
    assert "2 seats added on the 15th (prorated): €12.00" in answer.text and "VAT 20%: €9.60" in answer.text
    unknown = ask(billed, "ask_charge_explanation", "what is the €999 charge?", "AC-100005")
    assert not unknown.resolved  # goes to a person, triaged
    # No amount and no date: the latest charge, said to be that, with a way to correct it.
    latest = ask(billed, "ask_charge_explanation", "what is this charge on my card?", "AC-100005")
    assert latest.resolved and latest.text.startswith("Your most recent charge: The €")
    assert "paid invoice INV-2026-0505" in latest.text and "tell me its amount or date" in latest.text
    # The failed payment of AC-100003 is not a charge: the latest successful one is explained.
    assert "paid invoice INV-2026-0304" in ask(billed, "ask_charge_explanation", "what's this charge", "AC-100003").text


def test_history_plan_and_failed_payment(billed):
    history = ask(billed, "ask_payment_history", "payments for last month", "AC-100001")
    assert history.text.startswith("Your payments for last month:\n- 1 Oct 2026: £1,225.00, paid")
    plan = ask(billed, "ask_plan_details", "how many seats do we have", "AC-100002")
    assert "Enterprise plan, billed monthly: 120 seats at $79.00 each, $9,480.00 per month" in plan.text
    failed = ask(billed, "ask_payment_failed", "why did my payment fail", "AC-100003")
    assert "failed because the card has expired" in failed.text and "/billing/payment-method" in failed.text
    fine = ask(billed, "ask_payment_failed", "why did my payment fail", "AC-100001")
    assert fine.text.startswith("I don't see a failed payment")


@pytest.mark.parametrize(("question", "amount"), [
    ("why was I charged $312.40 on May 2", Decimal("312.40")), ("what's the 1,200 USD charge", Decimal("1200")),
    ("charged €49 on the 15th", Decimal("49")), ("what is this charge from 2025", None), ("on may 3", None),
])
def test_amounts_are_read_as_decimals(question, amount):
    assert mentioned_amount(question) == amount


def test_dates_and_periods_are_read():
    assert mentioned_date("charged on March 3", TODAY) == date(2026, 3, 3)
    assert mentioned_date("on 28 december", TODAY) == date(2025, 12, 28)  # not in the future
    assert mentioned_date("yesterday", TODAY) == date(2026, 11, 26)
    assert mentioned_period("all payments in 2025", TODAY)[:2] == (date(2025, 1, 1), date(2025, 12, 31))
    assert mentioned_period("billing history", TODAY)[2] == "the last 12 months"


def test_a_code_verifies_the_customer_once(billed, smtp_sink, clock):
    context = DecisionContext("otp-1")
    with billed.db.transaction() as session:
        assert billed.verification.request_code(session, "Grace.Hopper@example.org", context) is CodeRequest.SENT
    billed.outbox.dispatch_due(billed.db, billed.mailer)
    [mail] = smtp_sink.wait_for(1)
    code = re.search(r"code is (\d{6})", mail.get_content()).group(1)
    assert mail["To"] == "grace.hopper@example.org" and code in mail["Subject"]
    with billed.db.transaction() as session:
        stored = session.execute(select(VerificationRow)).scalar_one()
        assert code not in (stored.code_hash or "") and len(stored.code_hash) == 64  # an HMAC, not the code
        wrong = billed.verification.check_code(session, "000000" if code != "000000" else "111111", context)
        assert (wrong.outcome, wrong.attempts_left) == (CodeCheck.WRONG, MAX_ATTEMPTS - 1)
        right = billed.verification.check_code(session, f"{code[:3]} {code[3:]}", context)
        assert (right.outcome, right.account_id) == (CodeCheck.VERIFIED, "AC-100002")
        again = billed.verification.check_code(session, code, context)
        assert again.outcome is CodeCheck.NOTHING_PENDING  # single use


def test_unknown_addresses_look_the_same_and_codes_expire_and_lock(billed, smtp_sink, clock):
    unknown, expired, locked = DecisionContext("otp-unknown"), DecisionContext("otp-exp"), DecisionContext("otp-lock")
    with billed.db.transaction() as session:
        assert billed.verification.request_code(session, "nobody@example.com", unknown) is CodeRequest.SENT
        for guess in range(MAX_ATTEMPTS - 1):
            assert billed.verification.check_code(session, f"{guess:06d}", unknown).outcome is CodeCheck.WRONG
        assert billed.verification.check_code(session, "123456", unknown).outcome is CodeCheck.LOCKED
        billed.verification.request_code(session, "alan.turing@example.net", expired)
        billed.verification.request_code(session, "tim.bl@example.net", locked)
    billed.outbox.dispatch_due(billed.db, billed.mailer)
    assert len(smtp_sink.wait_for(2)) == 2  # nothing was sent to the unknown address
    real_code = re.search(r"code is (\d{6})", smtp_sink.messages[1].get_content()).group(1)
    with billed.db.transaction() as session:
        wrong = "000000" if real_code != "000000" else "111111"
        outcomes = [billed.verification.check_code(session, wrong, locked).outcome for _ in range(MAX_ATTEMPTS)]
        assert outcomes == [CodeCheck.WRONG] * (MAX_ATTEMPTS - 1) + [CodeCheck.LOCKED]
        assert billed.verification.check_code(session, real_code, locked).outcome is CodeCheck.LOCKED
    clock.advance(minutes=11)
    with billed.db.transaction() as session:
        assert billed.verification.check_code(session, "123456", expired).outcome is CodeCheck.EXPIRED


def test_an_expired_code_looks_the_same_for_a_known_and_an_unknown_address(billed, clock):
    """The review's oracle: a code only a real account was sent used to be the only one that
    could expire, so "expired" against "wrong" told which addresses have accounts."""
    known, unknown = DecisionContext("otp-known-late"), DecisionContext("otp-unknown-late")
    with billed.db.transaction() as session:
        billed.verification.request_code(session, "alan.turing@example.net", known)
        billed.verification.request_code(session, "nobody.at.all@example.com", unknown)
    billed.outbox.dispatch_due(billed.db, billed.mailer)
    clock.advance(minutes=11)
    with billed.db.transaction() as session:
        outcomes = {billed.verification.check_code(session, "123456", context).outcome for context in (known, unknown)}
    assert outcomes == {CodeCheck.EXPIRED}


def test_code_requests_are_rate_limited(billed):
    context = DecisionContext("otp-spam")
    with billed.db.transaction() as session:
        outcomes = [billed.verification.request_code(session, "ada.lovelace@example.com", context) for _ in range(4)]
    assert outcomes == [CodeRequest.SENT] * 3 + [CodeRequest.RATE_LIMITED]


def test_triage_routes_confident_inquiries_and_leaves_ambiguous_ones_to_a_person(services):
    triage = services.handoff.policy.triage
    assert isinstance(triage, BillingTriage)
    vat = triage.classify([("ask_tax_question", 0.91), ("request_invoice_change", 0.05)])
    assert (vat.category, vat.queue, vat.ambiguous) == ("tax", "billing_tax", False)
    invoice = triage.classify(
        [("ask_latest_invoice", 0.45), ("request_invoice_change", 0.40), ("ask_tax_question", 0.1)])
    assert (invoice.category, invoice.confidence, invoice.queue) == ("invoice", 0.85, "billing_invoices")
    close = triage.classify([("request_refund", 0.48), ("report_dispute", 0.41)])
    assert close.ambiguous and close.queue == "billing_triage" and "triage:ambiguous" in close.labels
    unsure = triage.classify([("ask_pricing", 0.3), ("greet", 0.6)])
    assert unsure.ambiguous and unsure.category == "pricing"


def test_payments_keep_their_processor_ids(billed):
    with billed.db.transaction() as session:
        ids = session.execute(select(PaymentRow.id).where(PaymentRow.account_id == "AC-100001")).scalars().all()
    assert len(ids) == 6 and all(i.startswith("ch_100001_") for i in ids)
