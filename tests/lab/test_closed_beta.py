"""The closed-beta simulator's own logic: the month's mix, the customers' habits, and how an
outcome is judged from the audit trail and the handoff table."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from frontdesk.core.audit import AuditRow
from frontdesk.core.chat_sessions import ChatSessions
from frontdesk.core.db import Database
from frontdesk.dev.demo_data import decline_code, synthetic_customers
from frontdesk.handoff.policy import HandoffPolicy
from frontdesk.handoff.service import HandoffRow
from lab.closed_beta import MONTHLY_MIX, NEEDS, Phrasebook, judge, month_of_contacts, summarise, typo
from lab.stack import StackKeys, client_address

ROOT = Path(__file__).resolve().parents[2]
POLICY = HandoffPolicy.load(ROOT / "handoff.yml")


def test_a_month_has_the_seed_mix_and_is_the_same_every_run():
    customers = synthetic_customers(1000)
    contacts = month_of_contacts(1200, customers)
    assert len(contacts) == 1200
    assert Counter(c.need for c in contacts) == Counter(MONTHLY_MIX)
    password_and_billing = sum(1 for c in contacts if c.need == "password_reset" or NEEDS[c.need].billing)
    assert password_and_billing / 1200 > 0.6
    assert [c.need for c in month_of_contacts(1200, customers)] == [c.need for c in contacts]
    # Customers asking about a failed payment really have one.
    assert all(decline_code(c.customer[0]) for c in contacts if c.need == "payment_failed")
    # Habits vary: some type badly, some change topic, some are signed in.
    assert {c.habits.typo_rate for c in contacts} >= {0.0, 0.2}
    assert sum(1 for c in contacts if c.habits.changes_topic_to) > 30
    assert 0.3 < sum(c.habits.signed_in for c in contacts if NEEDS[c.need].billing) / 420 < 0.7


def test_typos_change_letters_in_words_only():
    import random

    pick = random.Random(3)
    assert typo("reset my password please", 0.0, pick) == "reset my password please"
    slipped = [typo("reset my password please", 1.0, pick) for _ in range(20)]
    assert any(s != "reset my password please" for s in slipped)
    assert all(s.split()[1] == "my" for s in slipped)  # short words are left alone
    assert typo("it is ada@example.com 123456", 1.0, pick).endswith("ada@example.com 123456")


def test_every_need_has_openers_in_the_phrasebook():
    import random

    book = Phrasebook(ROOT / "tests" / "beta" / "customers.yml", random.Random(1))
    assert set(NEEDS) <= set(book.openers)
    assert all(len(book.openers[n]) >= 30 for n in NEEDS)
    assert all("{email}" in line for line in book.followups["give_email"])
    assert all("{code}" in line for line in book.followups["give_code"])


def _record(db: Database, conversation: str, decision: str, at: datetime) -> None:
    with db.transaction() as session:
        session.add(AuditRow(conversation_id=conversation, decision=decision, recorded_at=at, details="{}"))


def _handoff(db: Database, conversation: str, queue: str, at: datetime, channel: str = "rest") -> None:
    with db.transaction() as session:
        session.add(HandoffRow(idempotency_key=f"k-{conversation}-{channel}", conversation_id=conversation,
                               channel=channel, reason="mandatory", queue=queue, priority="normal", created_at=at,
                               first_response_due=at + timedelta(hours=2), draft="{}"))


def test_each_contact_writes_from_an_address_of_its_own():
    contacts = month_of_contacts(1200, synthetic_customers(1000))
    addresses = {c.address for c in contacts}
    assert len(addresses) == 1200 and all(a.startswith("10.") for a in addresses)
    assert client_address("bench-frontdesk-c8-3") == client_address("bench-frontdesk-c8-3")


def test_outcomes_are_judged_from_the_audit_trail_and_handoffs(database_url: str):
    db = Database(database_url)
    contacts = month_of_contacts(1200, synthetic_customers(1000))
    by_need = {}
    for c in contacts:
        if c.habits.changes_topic_to is None:
            by_need.setdefault(c.need, c)
    reset, refund, tax, oos, invoice = (by_need[n] for n in
                                        ("password_reset", "refund", "tax_question", "out_of_scope", "latest_invoice"))
    keys = StackKeys.random()
    sessions = ChatSessions(keys.secret_key)
    now = time.time()
    for contact in (reset, refund, tax, oos, invoice):
        contact.turns = [(now - 30, "first", []), (now - 20, "second", []), (now - 10, "third", [])]
        contact.session_token = sessions.issue("rest")  # as the stack issued it with the first reply
    stored = {c.need: keys.conversation_id(c.session_token) for c in (reset, refund, tax, oos, invoice)}
    assert all(stored.values()) and len(set(stored.values())) == 5
    at_second_turn = datetime.fromtimestamp(now - 15, tz=timezone.utc).replace(tzinfo=None)
    _record(db, stored["password_reset"], "password_reset.queued", at_second_turn)  # deflected in 2 turns
    _record(db, stored["refund"], "billing.answered", at_second_turn)  # automated a refund: false positive
    _handoff(db, stored["refund"], "billing_refunds", at_second_turn)
    _handoff(db, stored["tax_question"], "sales", at_second_turn)  # a specialist queue, the wrong one: misrouted
    _handoff(db, stored["out_of_scope"], "general", at_second_turn)  # a person routes it: not a misroute
    # The invoice question got no answer and no ticket: not deflected, even though an e-mail
    # follow-up (not a handoff of the chat) and another conversation's reset are on record.
    _handoff(db, stored["latest_invoice"], "security", at_second_turn, channel="email")
    _record(db, keys.conversation_id(sessions.issue("rest")) or "", "billing.answered", at_second_turn)

    outcomes = {o.need: o for o in judge([reset, refund, tax, oos, invoice], database_url, keys)}
    assert outcomes["password_reset"].deflected and outcomes["password_reset"].turns_to_resolution == 2
    assert outcomes["refund"].false_positive and outcomes["refund"].right_queue
    assert not outcomes["refund"].deflected and not outcomes["refund"].misrouted
    assert outcomes["tax_question"].misrouted and not outcomes["tax_question"].right_queue
    assert not outcomes["out_of_scope"].misrouted and not outcomes["out_of_scope"].false_positive
    assert not outcomes["latest_invoice"].deflected and outcomes["latest_invoice"].turns_to_resolution is None
    assert outcomes["latest_invoice"].handoff_queue is None and outcomes["latest_invoice"].decisions == []

    summary = summarise(list(outcomes.values()), POLICY, 1.0)
    assert summary["misrouted_tickets"] == 1 and summary["tickets"] == 3
    assert summary["false_positives"] == 1
    assert summary["flows"]["password reset"]["deflected"] == 1.0
    billing = summary["billing_ticket_time"]
    # The refund was right first time; the tax ticket waited in sales, then in billing_tax.
    assert billing["tickets"] == 2
    assert billing["mean_minutes_with_triage"] == (120 + (60 + 240)) / 2


def test_the_report_reads_the_rasa_servers_last_ted_memory_line(tmp_path: Path):
    from lab.closed_beta import ted_memory_report

    log = tmp_path / "serve.log"
    assert ted_memory_report(log) is None  # no log
    log.write_text("rasa started\n")
    assert ted_memory_report(log) is None  # no report in it
    log.write_text(
        "2026-11-27 18:00:01 INFO frontdesk_rasa.speedups - TED prediction memory: 400 of 1000 predictions "
        "remembered (40.0%), 600 states held\n"
        "2026-11-27 18:00:09 INFO frontdesk_rasa.speedups - TED prediction memory: 1250 of 2000 predictions "
        "remembered (62.5%), 750 states held\n")
    assert ted_memory_report(log) == {"remembered": 1250, "predictions": 2000, "share": 0.625, "states_held": 750}
