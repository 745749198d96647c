"""The closed-beta simulator's own logic: the month's mix, the customers' habits, and how an
outcome is judged from the audit trail and the handoff table."""

from __future__ import annotations

import asyncio
import json
import random
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
from lab.closed_beta import (
    HELPED,
    KNOWLEDGE_NEEDS,
    MONTHLY_MIX,
    NEEDS,
    NOT_HELPED,
    PERSON,
    Contact,
    KnowledgeQuestion,
    Phrasebook,
    ScriptedCustomer,
    comparison_markdown,
    judge,
    knowledge_questions,
    markdown,
    month_of_contacts,
    side_by_side,
    summarise,
    typo,
)
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
    billing = [c for c in contacts if NEEDS[c.need].billing]
    assert 0.3 < sum(c.habits.signed_in for c in billing) / len(billing) < 0.7
    # Customers asking about their ticket are signed in (only then can the bot look it up).
    assert all(c.habits.signed_in for c in contacts if c.need == "ticket_status")


def test_the_month_holds_knowledge_ticket_and_outage_contacts_in_realistic_shares():
    assert sum(MONTHLY_MIX.values()) == 1200
    assert (MONTHLY_MIX["knowledge"], MONTHLY_MIX["unanswerable"]) == (150, 40)
    assert (MONTHLY_MIX["ticket_status"], MONTHLY_MIX["service_status"]) == (60, 30)
    # Knowledge questions come third, after resets and billing.
    billing = sum(n for need, n in MONTHLY_MIX.items() if NEEDS[need].billing)
    others = [n for need, n in MONTHLY_MIX.items() if need != "password_reset" and not NEEDS[need].billing]
    assert MONTHLY_MIX["password_reset"] > billing / 2 and MONTHLY_MIX["knowledge"] == max(others)
    assert NEEDS["knowledge"].automated and not NEEDS["unanswerable"].automated
    assert NEEDS["ticket_status"].automated and NEEDS["service_status"].automated


def test_knowledge_customers_ask_the_blind_knowledge_questions_the_same_every_run():
    questions = knowledge_questions()
    assert len(questions["knowledge"]) + len(questions["unanswerable"]) == 349
    assert all(q.articles for q in questions["knowledge"]) and not any(q.articles for q in questions["unanswerable"])
    assert {q.kind for q in questions["unanswerable"]} == {"unanswerable-feature", "other-company"}
    customers = synthetic_customers(1000)
    contacts = month_of_contacts(1200, customers)
    asking = [c for c in contacts if c.need in KNOWLEDGE_NEEDS]
    assert all(c.question in questions[c.need] for c in asking)
    assert all(c.question is None for c in contacts if c.need not in KNOWLEDGE_NEEDS)
    # A question is asked once before any is asked twice (150 of 247 answerable, 40 of 102).
    assert len({c.question for c in asking if c.need == "knowledge"}) == 150
    assert len({c.question for c in asking if c.need == "unanswerable"}) == 40
    assert 0.07 < sum(c.habits.says_no_anyway for c in asking if c.need == "knowledge") / 150 < 0.25
    again = month_of_contacts(1200, customers)
    assert [(c.need, c.question, c.habits) for c in again] == [(c.need, c.question, c.habits) for c in contacts]


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
    # Knowledge questions come from the blind knowledge set, not the phrasebook.
    assert set(NEEDS) - set(KNOWLEDGE_NEEDS) <= set(book.openers)
    new = ("ticket_status", "service_status")
    assert all(len(book.openers[n]) >= 30 for n in NEEDS if n not in (*KNOWLEDGE_NEEDS, *new))
    assert all(len(book.openers[n]) >= 20 for n in new)
    quoting = [line for line in book.openers["ticket_status"] if "{reference}" in line]
    assert 5 <= len(quoting) <= len(book.openers["ticket_status"]) - 10  # some quote the reference, most do not
    assert all("{email}" in line for line in book.followups["give_email"])
    assert all("{code}" in line for line in book.followups["give_code"])


def test_a_customer_words_its_messages_the_same_whoever_spoke_before_it():
    book = Phrasebook(ROOT / "tests" / "beta" / "customers.yml", random.Random(1))
    first = [book.for_contact(7).opener("password_reset", set())[0] for _ in range(3)]
    book.opener("refund", set())  # another customer's turn in between
    again = book.for_contact(7)
    assert [again.opener("password_reset", set())[0]] == first[:1]
    assert len({book.for_contact(n).followup("thanks_bye") for n in range(30)}) > 5


def _record(db: Database, conversation: str, decision: str, at: datetime, **details: object) -> None:
    with db.transaction() as session:
        session.add(AuditRow(conversation_id=conversation, decision=decision, recorded_at=at,
                             details=json.dumps(details)))


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


# -- Knowledge, ticket-status and outage customers -----------------------------------------------

RESPONSES = {name: variants[0]["text"] for name, variants in
             __import__("yaml").safe_load((ROOT / "domain.yml").read_text())["responses"].items()}
ARTICLE = "https://help.frontdesk.example/articles/{}"


def _answer(article: str) -> str:
    return RESPONSES["utter_knowledge_answer"].format(answer="Short answer.", title="A title",
                                                      url=ARTICLE.format(article))


HANDED_OFF = RESPONSES["utter_handoff"].format(reference="HO-00042", expected_reply="today")


class _Bot(ScriptedCustomer):
    """A scripted customer talking to a scripted bot: ``replies`` maps what the customer sends
    (a button's payload) to the bot's texts; anything else gets ``default``."""

    def __init__(self, contact: Contact, first: str, replies: dict[str, str], default: str = "Goodbye!") -> None:
        book = Phrasebook(ROOT / "tests" / "beta" / "customers.yml", random.Random(1))
        super().__init__(contact, _Stack(), None, book, None, random.Random(2), ("INV-1", "£1.00"))  # type: ignore[arg-type]
        self.first, self.replies, self.default, self.sent = first, replies, default, []

    async def say(self, message: str, literal: bool = False) -> list[str]:
        self.sent.append(message)
        reply = self.first if len(self.sent) == 1 else self.replies.get(message, self.default)
        self.contact.turns.append((time.time(), message, [reply]))
        return [reply]


class _Stack:
    rasa_url = "http://bot.invalid"


def _knowledge_contact(need: str, articles: tuple[str, ...], says_no_anyway: bool = False,
                       leaves_unanswered: bool = False) -> Contact:
    contact = next(c for c in month_of_contacts(1200, synthetic_customers(1000)) if c.need == need)
    contact.habits.greets_first = contact.habits.impatient = False
    contact.habits.changes_topic_to, contact.habits.typo_rate = None, 0.0
    contact.habits.says_no_anyway, contact.habits.leaves_unanswered = says_no_anyway, leaves_unanswered
    contact.question = KnowledgeQuestion("do you support SSO?", articles, "answerable" if articles else "other-company")
    return contact


def _play(contact: Contact, first: str, replies: dict[str, str] | None = None) -> list[str]:
    customer = _Bot(contact, first, {NOT_HELPED: RESPONSES["utter_knowledge_not_helped"], PERSON: HANDED_OFF,
                                     HELPED: RESPONSES["utter_knowledge_helped"], **(replies or {})})
    asyncio.run(customer.play())
    return customer.sent


def test_a_knowledge_customer_answered_with_its_article_says_it_helped():
    contact = _knowledge_contact("knowledge", ("sso", "saml-setup"))
    sent = _play(contact, _answer("saml-setup"))
    assert sent[0] == "do you support SSO?"  # the blind question, as written
    assert sent[1] == HELPED and contact.ended_by == "left satisfied"
    assert contact.articles_shown == ["saml-setup"] and contact.blind_opener


def test_a_knowledge_customer_says_no_to_a_wrong_article_or_sometimes_a_right_one_then_asks_for_a_person():
    wrong = _knowledge_contact("knowledge", ("sso",))
    assert _play(wrong, _answer("api-keys"))[1:] == [NOT_HELPED, PERSON] and wrong.ended_by == "handoff"
    anyway = _knowledge_contact("knowledge", ("sso",), says_no_anyway=True)
    assert _play(anyway, _answer("sso"))[1:] == [NOT_HELPED, PERSON] and anyway.ended_by == "handoff"


def test_a_knowledge_customer_the_bot_cannot_answer_asks_for_a_person():
    for reply in (RESPONSES["utter_out_of_scope"], RESPONSES["utter_clarify"]):
        contact = _knowledge_contact("knowledge", ("sso",))
        assert _play(contact, reply)[1:] == [PERSON] and contact.ended_by == "handoff"
    # A knowledge question read as a flow: the customer did not come for that.
    contact = _knowledge_contact("knowledge", ("sso",))
    sent = _play(contact, RESPONSES["utter_ask_account_email"])
    assert len(sent) == 2 and sent[1] in Phrasebook(ROOT / "tests" / "beta" / "customers.yml",
                                                    random.Random(1)).followups["refuse"]
    assert contact.ended_by == "refused"


def test_a_question_no_article_answers_says_no_to_any_article_then_asks_for_a_person_or_leaves():
    stays = _knowledge_contact("unanswerable", ())
    assert _play(stays, _answer("sso"))[1:] == [NOT_HELPED, PERSON] and stays.ended_by == "handoff"
    leaves = _knowledge_contact("unanswerable", (), leaves_unanswered=True)
    sent = _play(leaves, RESPONSES["utter_out_of_scope"])
    assert PERSON not in sent and len(sent) == 2 and leaves.ended_by == "left"


def test_other_customers_say_no_to_an_article_and_go_on_as_before():
    contact = next(c for c in month_of_contacts(1200, synthetic_customers(1000))
                   if c.need == "password_reset" and not c.habits.impatient and not c.habits.changes_topic_to
                   and not c.habits.greets_first)
    contact.habits.typo_rate = 0.0
    sent = _play(contact, _answer("reset-password"))
    assert sent[1] == NOT_HELPED
    book = Phrasebook(ROOT / "tests" / "beta" / "customers.yml", random.Random(1))
    assert sent[2] in book.openers["password_reset"] and sent[2] != sent[0]  # "ask me in other words"
    assert sent[3] in book.followups["thanks_bye"] and PERSON not in sent
    assert contact.articles_shown == ["reset-password"]


def test_a_ticket_status_customer_quotes_the_reference_of_its_earlier_ticket_or_none():
    contacts = month_of_contacts(1200, synthetic_customers(1000))
    asking = [c for c in contacts if c.need == "ticket_status" and not c.habits.greets_first][:12]
    for i, contact in enumerate(asking):
        contact.ticket_reference = "HO-00042" if i % 2 else None
        contact.habits.typo_rate, contact.habits.changes_topic_to, contact.habits.impatient = 0.0, None, False
        first = _Bot(contact, "HO-00042 is open with our general team.", {}).first_message()
        assert "{" not in first
        if contact.ticket_reference is None:
            assert "HO-" not in first
    quoted = [_Bot(c, "", {}).first_message() for c in asking if c.ticket_reference]
    assert any("HO-00042" in line for line in quoted)


def test_knowledge_ticket_and_outage_contacts_are_judged_from_the_audit_trail(database_url: str):
    db = Database(database_url)
    contacts = month_of_contacts(1200, synthetic_customers(1000))
    picked: dict[str, list[Contact]] = {}
    for c in contacts:
        if c.habits.changes_topic_to is None:
            picked.setdefault(c.need, []).append(c)
    helped, wrong, idk = picked["knowledge"][:3]
    unanswered, answered_anyway = picked["unanswerable"][:2]
    found, not_found = picked["ticket_status"][:2]
    outage, refund = picked["service_status"][0], picked["refund"][0]
    everyone = [helped, wrong, idk, unanswered, answered_anyway, found, not_found, outage, refund]
    keys = StackKeys.random()
    sessions = ChatSessions(keys.secret_key)
    now = time.time()
    for contact in everyone:
        contact.turns = [(now - 30, "first", []), (now - 20, "second", []), (now - 10, "third", [])]
        contact.session_token = sessions.issue("rest")
    cid = {c.number: keys.conversation_id(c.session_token) or "" for c in everyone}
    at = datetime.fromtimestamp(now - 15, tz=timezone.utc).replace(tzinfo=None)
    right = helped.question.articles[0]  # type: ignore[union-attr]
    _record(db, cid[helped.number], "knowledge.answered", at, article=right, score=0.7)
    _record(db, cid[helped.number], "knowledge.helped", at, article=right)
    _record(db, cid[wrong.number], "knowledge.answered", at, article="not-its-article", score=0.6)
    _record(db, cid[wrong.number], "knowledge.not_helped", at, article="not-its-article")
    _handoff(db, cid[wrong.number], "general", at)
    _handoff(db, cid[idk.number], "general", at)
    _handoff(db, cid[unanswered.number], "general", at)
    _record(db, cid[answered_anyway.number], "knowledge.answered", at, article="sso", score=0.56)
    _record(db, cid[found.number], "ticket_status.answered", at, found=True, with_reference=True)
    _record(db, cid[not_found.number], "ticket_status.answered", at, found=False, with_reference=False)
    _record(db, cid[outage.number], "service_status.answered", at, indicator="none", stale=False, incidents=0)
    _record(db, cid[refund.number], "knowledge.answered", at, article="refund-policy", score=0.6)
    _handoff(db, cid[refund.number], "billing_refunds", at)

    outcomes = {o.number: o for o in judge(everyone, database_url, keys)}
    assert outcomes[helped.number].deflected and outcomes[helped.number].turns_to_resolution == 2
    assert not outcomes[helped.number].false_positive and outcomes[helped.number].articles_shown == [right]
    assert outcomes[wrong.number].wrong_article and outcomes[wrong.number].false_positive
    assert not outcomes[wrong.number].deflected and not outcomes[wrong.number].misrouted
    assert not outcomes[idk.number].deflected and not outcomes[idk.number].false_positive
    assert not outcomes[unanswered.number].false_positive and outcomes[unanswered.number].question_articles == []
    assert outcomes[answered_anyway.number].false_positive  # an article for a question none answers
    assert not outcomes[answered_anyway.number].wrong_article
    assert outcomes[found.number].deflected and not outcomes[not_found.number].deflected
    assert outcomes[outage.number].deflected and outcomes[outage.number].flow == "outage question"
    assert outcomes[refund.number].false_positive  # an article instead of a person
    assert outcomes[refund.number].question_articles is None

    summary = summarise(list(outcomes.values()), POLICY, 1.0)
    assert summary["flows"]["knowledge base"]["deflected"] == round(1 / 3, 3)
    assert summary["flows"]["ticket status"]["deflected"] == 0.5
    assert summary["flows"]["outage question"]["deflected"] == 1.0
    assert summary["flows"]["product question no article answers"]["deflected"] is None
    assert summary["wrong_article_answers"] == 1 and summary["false_positives"] == 3
    assert summary["knowledge_answers"] == {"contacts_answered": 4, "right_article": 1, "wrong_article": 1,
                                            "to_unanswerable": 1, "to_other_needs": 1,
                                            "questions_claimed_by_a_flow": 0, "helped": 1, "not_helped": 1}
    assert "1 with a wrong one, 1 questions no article answers" in markdown(summary)


def _summary(deflected: float, answered: int) -> dict:
    return {
        "contacts": 40, "seconds": 60.0, "deflection_overall": deflected, "tickets": 12, "misrouted_tickets": 1,
        "misroute_rate": 0.083, "tickets_to_routing_queues": 4, "false_positives": answered,
        "false_positive_rate": 0.0, "wrong_article_answers": answered, "mean_turns_per_contact": 2.5,
        "flows": {"knowledge base": {"contacts": 5, "deflected": deflected, "handed_off": 0.4,
                                     "right_queue_first_time": 0.4, "misrouted_tickets": 0,
                                     "false_positives": answered, "mean_turns_to_resolution": 2.0},
                  "small talk": {"contacts": 1, "deflected": None, "handed_off": 0.0,
                                 "right_queue_first_time": 0.0, "misrouted_tickets": 0, "false_positives": 0,
                                 "mean_turns_to_resolution": None}},
        "billing_ticket_time": {"tickets": 0}, "ended_by": {"handoff": 12, "left satisfied": 28},
        "rating_asked_after_deflection": 0.5, "deflection_by_opener": {"phrasebook": 0.8, "blind sets": 0.7},
        "knowledge_answers": {"contacts_answered": answered, "right_article": 0, "wrong_article": answered,
                              "to_unanswerable": 0, "to_other_needs": 0, "helped": 0, "not_helped": answered},
        "knowledge_answers_setting": "on" if answered else "off", "tickets_opened_before_the_month": 2,
        "ted_prediction_memory": None,
    }


def test_the_before_and_after_report_puts_both_runs_side_by_side():
    runs = {"off": _summary(0.0, 0), "on": _summary(0.6, 2)}
    both = side_by_side(runs)
    assert both["overall"]["deflection_overall"] == {"off": 0.0, "on": 0.6}
    assert both["overall"]["wrong_article_answers"] == {"off": 0, "on": 2}
    assert both["flows"]["knowledge base"]["on"]["deflected"] == 0.6
    report = comparison_markdown(runs)
    assert report.startswith("# Closed beta: the same month with and without the knowledge base")
    assert "| deflection overall | 0.0% | 60.0% |" in report
    assert "| of which wrong-article answers | 0 | 2 |" in report
    assert "| knowledge base | 5 | 0.0% | 60.0% | 40.0% | 40.0% | 0 / 0 | 0 / 2 |" in report
    assert "| small talk | 1 | n/a | n/a | 0.0% | 0.0% | 0 / 0 | 0 / 0 |" in report
    # Then each run's own report, under its own heading.
    assert report.index("## With the knowledge base") < report.index("## Without the knowledge base")
    assert "Help-centre answers (off: `FRONTDESK_KNOWLEDGE_ANSWERS=0`): 0 contacts" in report
    assert report.count("# Closed beta") == 1
