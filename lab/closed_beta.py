"""``make beta``: the seed's closed beta, as a command.

A month of the seed company's traffic (1,200 contacts, dominated by password resets and billing)
is played by scripted customers against the real stack (Rasa server, action server, web app, a
real SMTP server on loopback) over the REST channel. Each customer has a need, a first message
from a phrasebook written apart from the training data (tests/beta/customers.yml), and habits
drawn from a seeded random generator: typos, a greeting first, a wrong address or code, refusing
to give an address, impatience, changing the topic. A customer reads the bot's replies and
answers as a person would: gives the account's address when asked, reads the one-time code from
the mail that really arrived, rephrases when the bot does not understand, asks for a person when
fed up.

Each customer talks as a client does: its first message opens a conversation and the session
token the server issues is kept (``RestConversation``), from an address of its own (per-client
limits then see a month's many customers, as live); the limits on everyone together are raised
for the run (``load_test_limits``: a month is compressed into minutes).

What happened is then read from where the product records it (the audit trail and the handoff
table), not from the bot's words; a contact's rows are found by the conversation id the server
derived from its session token:
- deflection per flow: contacts resolved without a person (reset link sent, billing answered, a
  help-centre answer the customer said helped, their ticket's status found, the service status
  given);
- misrouted tickets: handoffs to a specialist queue other than the need's (general and
  billing-triage queues are "a person routes it", not a misroute);
- false positives: an automated action (reset link, one-time code, billing answer, help-centre
  article, ticket or service status) for a contact that should have gone to a person (refunds,
  disputes, legal, privacy, security, requests only a person can do) or was out of scope (a
  question no article answers included), and a help-centre answer with an article the question
  is not about (a wrong article);
- mean customer turns to resolution, and for billing tickets the modelled time until someone in
  the right queue picks the ticket up, with triage against one undivided billing queue.

Knowledge questions ("do you support SSO?") come from the blind knowledge set
(tests/knowledge/blind/questions.yml, never changed here): a customer answered with one of its
question's labelled articles clicks "Yes, that helped" (a seeded 15% click "No" anyway, then ask
for a person); a wrong article gets "No", then a person; "I don't know" gets a person. A question
no article answers should get no article: then the customer asks for a person or leaves. Ticket
status customers are signed in and have a ticket: before the month, each asks for a person in an
earlier conversation of its own (signed in, over REST), and quotes that reference (or not) when
asking about it. Outage questions are asked while everything is operational (no incident is
declared): the right outcome is the status answer.

``--knowledge-answers both`` (the default) plays the same month twice, on two fresh stacks, with
help-centre answers on and with ``FRONTDESK_KNOWLEDGE_ANSWERS=0``, and reports them side by side.

    python -m lab.closed_beta [--contacts 1200] [--concurrency 8] [--knowledge-answers on|off|both]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import bindparam, text

from frontdesk.core.db import Database, dispose_engines
from frontdesk.dev.demo_data import Customer, decline_code, load_demo_billing, load_demo_customers, synthetic_customers
from frontdesk.handoff.policy import HandoffPolicy
from frontdesk.handoff.service import FOLLOW_UP_CHANNEL
from frontdesk.insights.csat import ASKED_AFTER_BOT
from lab.stack import (
    LocalStack,
    RestConversation,
    StackKeys,
    client_address,
    load_test_limits,
    local_stack,
)
from lab.triage_evaluation import UNTRIAGED_QUEUE

ROOT = Path(__file__).resolve().parents[1]
PHRASEBOOK = ROOT / "tests" / "beta" / "customers.yml"
# Help-centre questions written blind from the article titles, labelled with the articles that
# answer them (``articles: []``: none does); read as openers, never changed.
KNOWLEDGE_QUESTIONS = ROOT / "tests" / "knowledge" / "blind" / "questions.yml"
BLIND_SETS = ROOT / "tests" / "nlu" / "blind"
# Half the openers come from the blind sets (issue 16): first messages written by people who never
# saw the training data, so the beta's deflection is not only measured in our own voice.
BLIND_SHARE = 0.5
BLIND_INTENTS_BY_NEED = {
    "password_reset": ("request_password_reset",), "lost_2fa": ("report_lost_2fa",),
    "latest_invoice": ("ask_latest_invoice",), "charge_explanation": ("ask_charge_explanation",),
    "payment_history": ("ask_payment_history",), "plan_details": ("ask_plan_details",),
    "payment_failed": ("ask_payment_failed",), "invoice_change": ("request_invoice_change",),
    "plan_change": ("request_plan_change",), "tax_question": ("ask_tax_question",), "pricing": ("ask_pricing",),
    "refund": ("request_refund",), "dispute": ("report_dispute",), "legal": ("legal_request",),
    "privacy": ("privacy_request",), "security_incident": ("report_security_incident",),
    "human": ("request_human",), "out_of_scope": ("out_of_scope",),
    "small_talk": ("greet", "bot_challenge", "ask_capabilities"),
}
SEED = 20261127
MAX_TURNS = 12

# A month of the seed company's contacts (1,200): password resets and billing dominate (59%).
# The queue of a SaaS company also holds how-to questions, chasers and "is it down?": help-centre
# questions come third after resets and billing (150, one in eight), with 40 product questions
# no article answers (features that do not exist, other companies' products); customers chasing
# a ticket 60 (one in twenty: about one in six tickets is chased); outage questions 30 (a quiet
# month). They were in the month before too, counted where a bot that could not answer them put
# them: most knowledge and unanswerable questions as out of scope (96 -> 36), chasers and outage
# questions as "a person, please" (60 -> 32) or small talk (60 -> 30); resets (432 -> 350),
# billing (420 -> 358) and the risky needs (132 -> 114) give up 15-19% each for the rest.
MONTHLY_MIX: dict[str, int] = {
    "password_reset": 350,
    "latest_invoice": 60, "charge_explanation": 52, "payment_history": 34, "plan_details": 42,
    "payment_failed": 42, "invoice_change": 30, "plan_change": 30, "tax_question": 17, "pricing": 17,
    "refund": 34,
    "lost_2fa": 44, "dispute": 20, "legal": 10, "privacy": 20, "security_incident": 20,
    "knowledge": 150, "unanswerable": 40, "ticket_status": 60, "service_status": 30,
    "human": 32, "out_of_scope": 36, "small_talk": 30,
}


@dataclass(frozen=True)
class Need:
    """What a customer wants and what the right outcome is."""

    flow: str  # the flow it belongs to in the report
    automated: bool  # the bot should resolve it without a person
    queue: str | None  # the right queue when a person takes it (None: no ticket is needed)
    billing: bool = False


NEEDS: dict[str, Need] = {
    "password_reset": Need("password reset", True, "accounts"),
    "latest_invoice": Need("billing lookup", True, "billing_invoices", billing=True),
    "charge_explanation": Need("billing lookup", True, "billing_invoices", billing=True),
    "payment_history": Need("billing lookup", True, "billing_invoices", billing=True),
    "plan_details": Need("billing lookup", True, "billing_plans", billing=True),
    "payment_failed": Need("billing lookup", True, "billing_payments", billing=True),
    "invoice_change": Need("billing request (person)", False, "billing_invoices", billing=True),
    "plan_change": Need("billing request (person)", False, "billing_plans", billing=True),
    "tax_question": Need("billing request (person)", False, "billing_tax", billing=True),
    "pricing": Need("billing request (person)", False, "sales", billing=True),
    "refund": Need("risky: refund, dispute, legal, privacy, security", False, "billing_refunds", billing=True),
    "dispute": Need("risky: refund, dispute, legal, privacy, security", False, "disputes", billing=True),
    "legal": Need("risky: refund, dispute, legal, privacy, security", False, "legal"),
    "privacy": Need("risky: refund, dispute, legal, privacy, security", False, "privacy"),
    "security_incident": Need("risky: refund, dispute, legal, privacy, security", False, "security"),
    "lost_2fa": Need("locked out by two-factor", False, "security"),
    "knowledge": Need("knowledge base", True, "general"),
    "unanswerable": Need("product question no article answers", False, "general"),
    "ticket_status": Need("ticket status", True, "general"),
    "service_status": Need("outage question", True, "general"),
    "human": Need("asks for a person", False, "general"),
    "out_of_scope": Need("out of scope", False, None),
    "small_talk": Need("small talk", False, None),
}
# Needs whose first message is a question of the blind knowledge set, not the phrasebook's.
KNOWLEDGE_NEEDS = ("knowledge", "unanswerable")
# A customer answered with the right article who clicks "No" all the same (then asks for a person).
SAYS_NO_ANYWAY = 0.15
# A customer with a question no article answers who, not answered, leaves instead of asking for a person.
LEAVES_UNANSWERED = 0.5
# Queues where a person reads the ticket and routes it: slower, but not a misroute.
ROUTING_QUEUES = {"general", "billing", "billing_triage", "enterprise_success"}
# Audit decisions that mean the bot acted on its own.
AUTOMATED_DECISIONS = {"password_reset.queued", "password_reset.no_account", "billing.answered",
                       "billing.unresolved", "verification.code_requested", "knowledge.answered",
                       "ticket_status.answered", "service_status.answered"}
# A flow's resolving decisions (ticket status: only when the ticket was found, ``_resolves``).
RESOLVED_DECISIONS = {"password reset": {"password_reset.queued"}, "billing lookup": {"billing.answered"},
                      "knowledge base": {"knowledge.helped"}, "ticket status": {"ticket_status.answered"},
                      "outage question": {"service_status.answered"}}

_ASKS_EMAIL = re.compile(r"email address of your account|like name@company\.com|type just the address", re.I)
_ASKS_CODE = re.compile(r"sent a 6-digit code|type the 6-digit code|code doesn't match|type the new code|"
                        r"use the latest one", re.I)
_STOPPED = re.compile(r"I've stopped", re.I)
_HANDED_OFF = re.compile(r"your reference is (HO-[\w-]+)", re.I)
_NOT_UNDERSTOOD = re.compile(r"not sure I understood|I don't know the answer|say it another way|"
                             r"didn't answer it", re.I)
_ASKS_HELPED = re.compile(r"Did that help\?")
_ARTICLE_LINK = re.compile(r"https://help\.frontdesk\.example/articles/([\w-]+)")
# The buttons a customer clicks (their payloads, as the chat widget sends them).
HELPED, NOT_HELPED, PERSON = "/affirm", "/deny", "/request_human"
_ASKS_RATING = re.compile(r"how would you rate", re.I)
_CODE_IN_MAIL = re.compile(r"code is (\d{6})")


@dataclass
class Habits:
    typo_rate: float
    greets_first: bool
    signed_in: bool
    bad_email_first: bool
    wrong_code_first: bool
    unknown_address: bool
    refuses_email: bool
    impatient: bool
    changes_topic_to: str | None
    says_no_anyway: bool = False  # a knowledge customer who clicks "No" even to the right article
    leaves_unanswered: bool = False  # a customer with an unanswerable question who leaves rather than ask for a person


@dataclass(frozen=True)
class KnowledgeQuestion:
    text: str
    articles: tuple[str, ...]  # the articles that answer it; none: no article does
    kind: str  # answerable, unanswerable-feature, other-company


def knowledge_questions(path: Path = KNOWLEDGE_QUESTIONS) -> dict[str, list[KnowledgeQuestion]]:
    """The blind knowledge set as openers: the answerable questions for ``knowledge``, those no
    article answers for ``unanswerable``."""
    found: dict[str, list[KnowledgeQuestion]] = {"knowledge": [], "unanswerable": []}
    for row in yaml.safe_load(path.read_text())["questions"]:
        articles = tuple(row.get("articles") or ())
        question = KnowledgeQuestion(str(row["text"]), articles, str(row.get("kind") or "answerable"))
        found["knowledge" if articles else "unanswerable"].append(question)
    return found


@dataclass
class Contact:
    number: int
    need: str
    customer: Customer
    habits: Habits
    first_need: str | None = None  # set when the customer changed topic
    turns: list[tuple[float, str, list[str]]] = field(default_factory=list)  # (sent at, message, bot texts)
    ended_by: str = ""
    session_token: str | None = None  # issued by the server with the first reply
    blind_opener: bool = False  # the first message came from a blind set, not the phrasebook
    question: KnowledgeQuestion | None = None  # a knowledge customer's question
    ticket_reference: str | None = None  # a ticket-status customer's ticket, opened before the month
    articles_shown: list[str] = field(default_factory=list)  # help-centre articles the bot answered with

    @property
    def address(self) -> str:
        """Where the customer writes from: an address of its own."""
        return client_address(self.number)


def typo(message: str, rate: float, pick: random.Random) -> str:
    """Keyboard slips: a dropped, doubled or swapped letter in some words (never in an address or code)."""
    words = message.split(" ")
    for i, word in enumerate(words):
        if len(word) < 4 or not word.isalpha() or pick.random() > rate:
            continue
        j = pick.randrange(1, len(word) - 1)
        kind = pick.choice(("drop", "double", "swap"))
        words[i] = (word[:j] + word[j + 1:] if kind == "drop" else word[:j] + word[j] + word[j:] if kind == "double"
                    else word[:j - 1] + word[j] + word[j - 1] + word[j + 1:])
    return " ".join(words)


def blind_openers(directory: Path) -> dict[str, list[str]]:
    """Each need's first messages from the blind sets (plain text: no braces, so ``fill`` leaves
    them as they are)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for path in sorted(directory.glob("blind_v*.yml")):
        for block in yaml.safe_load(path.read_text())["nlu"]:
            by_intent[block["intent"]] += [line.strip()[2:] for line in block["examples"].splitlines()
                                           if line.strip().startswith("- ") and "{" not in line]
    return {need: [line for intent in intents for line in by_intent[intent]]
            for need, intents in BLIND_INTENTS_BY_NEED.items()}


class Phrasebook:
    def __init__(self, path: Path, pick: random.Random, blind: dict[str, list[str]] | None = None,
                 blind_share: float = 0.0) -> None:
        data = yaml.safe_load(path.read_text())
        self.openers: dict[str, list[str]] = data["openers"]
        self.followups: dict[str, list[str]] = data["followups"]
        self.blind = blind or {}
        self.blind_share = blind_share
        self.pick = pick

    def opener(self, need: str, used: set[str]) -> tuple[str, bool]:
        """A first message for ``need`` not yet used in this conversation, and whether it came
        from a blind set."""
        blind = bool(self.blind.get(need)) and self.pick.random() < self.blind_share
        pool = self.blind[need] if blind else self.openers[need]
        fresh = [o for o in pool if o not in used] or pool
        choice = self.pick.choice(fresh)
        used.add(choice)
        return choice, blind

    def followup(self, kind: str) -> str:
        return self.pick.choice(self.followups[kind])

    def for_contact(self, number: int) -> Phrasebook:
        """The same phrasebook with a generator of the contact's own: what one customer says does
        not depend on which customers spoke before it, so a month played twice (with and without
        the knowledge base) is worded the same."""
        book = copy.copy(self)
        book.pick = random.Random(f"{SEED + 1}:{number}")  # noqa: S311 - reproducible phrasing
        return book


def month_of_contacts(count: int, customers: tuple[Customer, ...], seed: int = SEED,
                      questions: dict[str, list[KnowledgeQuestion]] | None = None) -> list[Contact]:
    pick = random.Random(seed)  # noqa: S311 - a reproducible simulation, not security
    # The knowledge questions and answers to them from a generator of their own: the other
    # customers' habits are drawn as before.
    ask = random.Random(seed + 2)  # noqa: S311 - reproducible questions
    questions = questions if questions is not None else knowledge_questions()
    decks = {need: ask.sample(pool, len(pool)) for need, pool in questions.items()}
    asked: Counter[str] = Counter()
    total = sum(MONTHLY_MIX.values())
    needs = [need for need, n in MONTHLY_MIX.items() for _ in range(round(n * count / total))][:count]
    pick.shuffle(needs)
    failed = [c for c in customers if decline_code(c[0])]
    contacts = []
    for number, need in enumerate(needs, start=1):
        customer = pick.choice(failed) if need == "payment_failed" else customers[(number - 1) % len(customers)]
        billing = NEEDS[need].billing
        habits = Habits(
            typo_rate=pick.choice((0.0, 0.0, 0.08, 0.08, 0.2)),
            greets_first=pick.random() < 0.25,
            # The site's chat while logged in; a customer asking about their ticket always is.
            signed_in=(billing and pick.random() < 0.5) or need == "ticket_status",
            bad_email_first=pick.random() < 0.10,
            wrong_code_first=pick.random() < 0.10,
            unknown_address=pick.random() < 0.04,
            refuses_email=pick.random() < 0.05,
            impatient=pick.random() < 0.06,
            changes_topic_to=pick.choice(("password_reset", "latest_invoice", "refund", "plan_details"))
            if pick.random() < 0.06 else None,
        )
        question = None
        if need in KNOWLEDGE_NEEDS:
            deck = decks[need]
            question = deck[asked[need] % len(deck)]  # each question once before any twice
            asked[need] += 1
            habits.says_no_anyway = ask.random() < SAYS_NO_ANYWAY
            habits.leaves_unanswered = ask.random() < LEAVES_UNANSWERED
        contacts.append(Contact(number, need, customer, habits, question=question))
    return contacts


class ScriptedCustomer:
    """Plays one contact against the REST channel, reacting to what the bot says."""

    def __init__(self, contact: Contact, stack: LocalStack, client: httpx.AsyncClient, book: Phrasebook,
                 token: str | None, pick: random.Random, latest_invoice: tuple[str, str]) -> None:
        self.contact, self.stack, self.client, self.book, self.token, self.pick = (
            contact, stack, client, book, token, pick)
        self.conversation = RestConversation(stack.rasa_url, contact.address)
        self.latest_invoice = latest_invoice
        self.used: set[str] = set()
        self.rephrased = 0
        self.email = contact.customer[1] if not contact.habits.unknown_address else \
            f"someone.else.{contact.number}@beta.example.net"

    def fill(self, message: str) -> str:
        invoice, amount = self.latest_invoice
        return message.format(email=self.email, code="000000", invoice=invoice, amount=amount, score="4",
                              reference=self.contact.ticket_reference or "")

    async def say(self, message: str, literal: bool = False) -> list[str]:
        if not literal and self.contact.habits.typo_rate:
            message = typo(message, self.contact.habits.typo_rate, self.pick)
        metadata = {"customer_token": self.token} if self.token else None
        sent_at = time.time()
        reply = await self.conversation.post(self.client, message, metadata)
        self.contact.session_token = self.conversation.sender
        reply.raise_for_status()
        texts = [m.get("text", "") for m in reply.json() if m.get("text")]
        self.contact.turns.append((sent_at, message, texts))
        return texts

    async def read_code(self, sent_before: int) -> str | None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            mails = self.stack.mailbox.to(self.email)
            if len(mails) > sent_before:
                found = _CODE_IN_MAIL.search(mails[-1].get_content())
                if found:
                    return found.group(1)
            await asyncio.sleep(0.2)
        return None

    def first_message(self) -> str:
        contact = self.contact
        if contact.question is not None:  # written blind, as typed: never filled
            contact.blind_opener = True
            return contact.question.text
        if contact.need == "ticket_status" and not contact.ticket_reference:
            # No reference to quote: only the openers that quote none.
            self.used |= {o for o in self.book.openers["ticket_status"] if "{reference}" in o}
        opener, contact.blind_opener = self.book.opener(contact.need, self.used)
        return self.fill(opener)

    def helped(self, said: str) -> bool:
        """Whether the article the bot answered with (its link) answers the customer's question;
        noted on the contact."""
        link = _ARTICLE_LINK.search(said)
        article = link.group(1) if link else ""
        self.contact.articles_shown.append(article)
        question = self.contact.question
        right = question is not None and self.contact.need in KNOWLEDGE_NEEDS and article in question.articles
        return right and not self.contact.habits.says_no_anyway

    async def play(self) -> None:
        contact, habits = self.contact, self.contact.habits
        need = contact.need
        if habits.greets_first and need != "small_talk":
            await self.say(self.book.opener("small_talk", self.used)[0])
        replies = await self.say(self.first_message())
        mails_before = 0
        gave_bad_email = gave_wrong_code = changed_topic = impatient_done = asked_person = False
        for _ in range(MAX_TURNS):
            said = " ".join(replies)
            if _HANDED_OFF.search(said):
                contact.ended_by = "handoff"
                return
            if _ASKS_RATING.search(said):
                await self.say(self.book.followup("csat_rating").format(score=self.pick.choice("345")))
                contact.ended_by = "rated"
                return
            if habits.changes_topic_to and not changed_topic and habits.changes_topic_to != need:
                changed_topic = True
                contact.first_need, contact.need = need, habits.changes_topic_to
                need = contact.need
                replies = await self.say(self.fill(self.book.opener(need, self.used)[0]))
                continue
            if habits.impatient and not impatient_done:
                impatient_done = True
                replies = await self.say(self.book.followup("impatient"))
                continue
            if _ASKS_HELPED.search(said):  # a help-centre answer: "Yes, that helped" or "No"
                replies = await self.say(HELPED if self.helped(said) else NOT_HELPED, literal=True)
                continue
            if _ASKS_CODE.search(said):
                code = await self.read_code(mails_before)
                if code is None:
                    contact.ended_by = "no code arrived"
                    return
                if habits.wrong_code_first and not gave_wrong_code:
                    gave_wrong_code = True
                    code = "111111" if code != "111111" else "222222"
                replies = await self.say(self.book.followup("give_code").format(code=code), literal=True)
                continue
            if _ASKS_EMAIL.search(said):
                if need in ("out_of_scope", "small_talk", *KNOWLEDGE_NEEDS) or habits.refuses_email:
                    replies = await self.say(self.book.followup("refuse"))
                    contact.ended_by = "refused"
                    return
                if habits.bad_email_first and not gave_bad_email:
                    gave_bad_email = True
                    replies = await self.say(self.book.followup("give_bad_email"))
                    continue
                mails_before = len(self.stack.mailbox.to(self.email))
                replies = await self.say(self.book.followup("give_email").format(email=self.email), literal=True)
                continue
            if (_NOT_UNDERSTOOD.search(said) or _STOPPED.search(said)) and need in KNOWLEDGE_NEEDS:
                # Not answered ("I don't know", a clarification, or "No" to an article): a question
                # has one wording; its customer clicks "Talk to a person", or leaves.
                if need == "unanswerable" and habits.leaves_unanswered:
                    await self.say(self.book.followup("thanks_bye"))
                    contact.ended_by = "left"
                    return
                if asked_person:  # asked, and nobody came
                    contact.ended_by = "no person came"
                    return
                asked_person = True
                replies = await self.say(PERSON, literal=True)
                continue
            if (_NOT_UNDERSTOOD.search(said) or _STOPPED.search(said)) and need not in ("out_of_scope", "small_talk"):
                self.rephrased += 1
                if self.rephrased > 2:
                    replies = await self.say(self.book.followup("impatient"))
                else:
                    replies = await self.say(self.fill(self.book.opener(need, self.used)[0]))
                continue
            # Answered, or the bot said something the customer takes as the end.
            await self.say(self.book.followup("thanks_bye"))
            contact.ended_by = "left satisfied" if need not in ("out_of_scope", "unanswerable") else "left"
            return
        contact.ended_by = "gave up (turn limit)"


@dataclass
class Outcome:
    number: int
    need: str
    first_need: str | None
    flow: str
    signed_in: bool
    turns: int
    decisions: list[str]
    handoff_queue: str | None
    handoff_reason: str | None
    deflected: bool
    automated: bool
    false_positive: bool
    misrouted: bool
    right_queue: bool
    turns_to_resolution: int | None
    ended_by: str
    transcript: list[list[str]]
    blind_opener: bool = False
    question_articles: list[str] | None = None  # a knowledge question's labelled articles ([]: none answers it)
    articles_shown: list[str] = field(default_factory=list)  # help-centre answers, from the audit trail
    wrong_article: bool = False  # answered with an article its question is not about
    ticket_reference: str | None = None  # the ticket a ticket-status customer opened before the month


def judge(contacts: list[Contact], database_url: str, keys: StackKeys) -> list[Outcome]:
    """What happened to each contact, read from the audit trail and the handoff table, under the
    conversation id the stack derived from the contact's session token (``keys``: the stack's)."""
    conversation_ids = {c.number: keys.conversation_id(c.session_token) for c in contacts}
    wanted = sorted({cid for cid in conversation_ids.values() if cid})
    db = Database(database_url)
    with db.transaction() as session:
        audit = session.execute(text("SELECT conversation_id, decision, recorded_at, details FROM audit_records "
                                     "WHERE conversation_id IN :ids ORDER BY id")
                                .bindparams(bindparam("ids", expanding=True)), {"ids": wanted}).all()
        # Out-of-band follow-ups (a ticket answered by e-mail, the chat untouched) are not a
        # handoff of the chat.
        handoffs = session.execute(text("SELECT conversation_id, queue, reason, created_at FROM handoffs "
                                        "WHERE conversation_id IN :ids AND channel != :follow_up ORDER BY id")
                                   .bindparams(bindparam("ids", expanding=True)),
                                   {"ids": wanted, "follow_up": FOLLOW_UP_CHANNEL}).all()
    decisions: dict[str, list[tuple[str, datetime, dict[str, Any]]]] = defaultdict(list)
    for conversation, decision, at, details in audit:
        decisions[conversation].append((decision, _as_datetime(at), _details(details)))
    first_handoff: dict[str, tuple[str, str, datetime]] = {}
    for conversation, queue, reason, at in handoffs:
        first_handoff.setdefault(conversation, (queue, reason, _as_datetime(at)))
    outcomes = []
    for c in contacts:
        need = NEEDS[c.need]
        conversation_id = conversation_ids[c.number]
        made = decisions.get(conversation_id, []) if conversation_id else []
        handoff = first_handoff.get(conversation_id) if conversation_id else None
        names = [d for d, _, _ in made]
        resolution = next((at for d, at, details in made if _resolves(need.flow, d, details)), None) \
            if need.automated else (handoff[2] if handoff else None)
        shown = [str(details.get("article")) for d, _, details in made if d == "knowledge.answered"]
        labelled = list(c.question.articles) if c.question is not None else None
        # An article the question is not about; for a question no article answers, any article
        # (counted below as an automated answer to a contact that should not be automated).
        wrong_article = bool(labelled) and any(a not in (labelled or []) for a in shown)
        deflected = need.automated and resolution is not None and handoff is None
        automated = any(d in AUTOMATED_DECISIONS for d in names)
        # A customer who first asked something the bot may automate, then changed topic, may
        # rightly have had that first need automated.
        first_was_automatable = c.first_need is not None and NEEDS[c.first_need].automated
        queue = handoff[0] if handoff else None
        right = {need.queue} if need.queue else set()
        sent = [t for t, _, _ in c.turns]
        outcomes.append(Outcome(
            number=c.number, need=c.need, first_need=c.first_need, flow=need.flow, signed_in=c.habits.signed_in,
            turns=len(c.turns), decisions=names, handoff_queue=queue, handoff_reason=handoff[1] if handoff else None,
            deflected=deflected, automated=automated,
            false_positive=(automated and not need.automated and not first_was_automatable) or wrong_article,
            misrouted=queue is not None and queue not in right and queue not in ROUTING_QUEUES,
            right_queue=queue is not None and queue in right,
            turns_to_resolution=sum(1 for s in sent if s <= resolution.timestamp() + 0.5) if resolution else None,
            ended_by=c.ended_by, blind_opener=c.blind_opener,
            transcript=[[message, *replies] for _, message, replies in c.turns],
            question_articles=labelled, articles_shown=shown, wrong_article=wrong_article,
            ticket_reference=c.ticket_reference,
        ))
    dispose_engines()
    return outcomes


def _resolves(flow: str, decision: str, details: dict[str, Any]) -> bool:
    """Whether a recorded decision resolved a contact of ``flow``: a ticket's status only when
    the customer's ticket was found."""
    if decision not in RESOLVED_DECISIONS.get(flow, set()):
        return False
    return decision != "ticket_status.answered" or details.get("found") is True


def _details(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _as_datetime(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed


def billing_ticket_time(outcomes: list[Outcome], policy: HandoffPolicy) -> dict[str, Any]:
    """The replay's waiting model on the beta's billing tickets: a ticket waits half its queue's
    first-response target before someone looks at it; in the wrong queue (or a routing queue) it
    is then forwarded and waits again in the right one. Without triage every billing ticket
    starts in the one billing queue."""
    def wait(queue: str) -> float:
        return policy.queues[queue].first_response_minutes / 2

    def minutes(first: str, right: str) -> float:
        return wait(right) if first == right else wait(first) + wait(right)

    tickets = [o for o in outcomes if NEEDS[o.need].billing and o.handoff_queue and NEEDS[o.need].queue]
    if not tickets:
        return {"tickets": 0}
    with_triage = [minutes(o.handoff_queue or "", NEEDS[o.need].queue or "") for o in tickets]
    without = [minutes(UNTRIAGED_QUEUE, NEEDS[o.need].queue or "") for o in tickets]
    mean_with, mean_without = statistics.fmean(with_triage), statistics.fmean(without)
    return {"tickets": len(tickets), "mean_minutes_with_triage": round(mean_with, 1),
            "mean_minutes_without_triage": round(mean_without, 1),
            "time_saved_share": round(1 - mean_with / mean_without, 3)}


def summarise(outcomes: list[Outcome], policy: HandoffPolicy, seconds: float) -> dict[str, Any]:
    by_flow: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_flow[o.flow].append(o)
    flows = {}
    for flow, rows in sorted(by_flow.items(), key=lambda kv: -len(kv[1])):
        automatable = NEEDS[rows[0].need].automated
        resolved = [o.turns_to_resolution for o in rows if o.turns_to_resolution]
        flows[flow] = {
            "contacts": len(rows),
            "deflected": round(sum(o.deflected for o in rows) / len(rows), 3) if automatable else None,
            "handed_off": round(sum(1 for o in rows if o.handoff_queue) / len(rows), 3),
            "right_queue_first_time": round(sum(o.right_queue for o in rows) / len(rows), 3),
            "misrouted_tickets": sum(o.misrouted for o in rows),
            "false_positives": sum(o.false_positive for o in rows),
            "mean_turns_to_resolution": round(statistics.fmean(resolved), 2) if resolved else None,
        }
    tickets = [o for o in outcomes if o.handoff_queue]
    should_not_automate = [o for o in outcomes if not NEEDS[o.need].automated]
    # By where the first message came from: the needs with openers in both the phrasebook and the blind sets.
    automatable = [o for o in outcomes if NEEDS[o.need].automated and o.need in BLIND_INTENTS_BY_NEED]
    return {
        "contacts": len(outcomes),
        "seconds": round(seconds, 1),
        "deflection_overall": round(sum(o.deflected for o in outcomes) / len(outcomes), 3),
        "tickets": len(tickets),
        "misrouted_tickets": sum(o.misrouted for o in tickets),
        "misroute_rate": round(sum(o.misrouted for o in tickets) / len(tickets), 3) if tickets else 0.0,
        "tickets_to_routing_queues": sum(1 for o in tickets if o.handoff_queue in ROUTING_QUEUES),
        "false_positives": sum(o.false_positive for o in outcomes),
        "false_positive_rate": round(sum(o.false_positive for o in should_not_automate)
                                     / max(1, len(should_not_automate)), 3),
        "wrong_article_answers": sum(o.wrong_article for o in outcomes),
        "knowledge_answers": knowledge_answers(outcomes),
        "mean_turns_per_contact": round(statistics.fmean(o.turns for o in outcomes), 2),
        "flows": flows,
        "billing_ticket_time": billing_ticket_time(outcomes, policy),
        "ended_by": dict(Counter(o.ended_by for o in outcomes).most_common()),
        # Deflected contacts the bot asked to rate (they say thanks or goodbye at the end).
        "rating_asked_after_deflection": round(
            sum(ASKED_AFTER_BOT in o.decisions for o in outcomes if o.deflected)
            / max(1, sum(o.deflected for o in outcomes)), 3),
        "deflection_by_opener": {
            source: round(sum(o.deflected for o in rows) / len(rows), 3) if rows else None
            for source, rows in (("phrasebook", [o for o in automatable if not o.blind_opener]),
                                 ("blind sets", [o for o in automatable if o.blind_opener]))},
        "misrouted_examples": [asdict(o) for o in outcomes if o.misrouted][:10],
        "false_positive_examples": [asdict(o) for o in outcomes if o.false_positive][:10],
    }


def knowledge_answers(outcomes: list[Outcome]) -> dict[str, int]:
    """What the help-centre answers did: to knowledge questions (the labelled article or another),
    to questions no article answers, and to the other needs' messages; and what customers said."""
    answered = [o for o in outcomes if o.articles_shown]
    questions = [o for o in answered if o.question_articles]
    return {
        "contacts_answered": len(answered),
        "right_article": sum(1 for o in questions if not o.wrong_article),
        "wrong_article": sum(o.wrong_article for o in questions),
        "to_unanswerable": sum(1 for o in answered if o.question_articles == []),
        "to_other_needs": sum(1 for o in answered if o.question_articles is None),
        # Knowledge questions a flow took instead (a reset, a billing answer, the service status).
        "questions_claimed_by_a_flow": sum(
            1 for o in outcomes if o.question_articles and not o.articles_shown
            and any(d in AUTOMATED_DECISIONS for d in o.decisions)),
        "helped": sum("knowledge.helped" in o.decisions for o in outcomes),
        "not_helped": sum("knowledge.not_helped" in o.decisions for o in outcomes),
    }


TED_MEMORY_LINE = re.compile(r"TED prediction memory: (\d+) of (\d+) predictions remembered \(([\d.]+)%\), "
                             r"(\d+) states held")


def ted_memory_report(serve_log: Path) -> dict[str, Any] | None:
    """The Rasa server's last report of its TED prediction memory (frontdesk_rasa.speedups): how
    often these conversations repeated a dialogue state TED had already scored."""
    found = TED_MEMORY_LINE.findall(serve_log.read_text(errors="replace")) if serve_log.exists() else []
    if not found:
        return None
    remembered, predictions, share, states = found[-1]
    return {"remembered": int(remembered), "predictions": int(predictions), "share": float(share) / 100,
            "states_held": int(states)}


def markdown(summary: dict[str, Any]) -> str:
    s = summary
    lines = [
        "# Closed beta: a month of scripted customers against the real stack", "",
        f"{s['contacts']:,} contacts over REST in {s['seconds'] / 60:.1f} min; {s['mean_turns_per_contact']} customer "
        f"turns per contact. Overall deflection {s['deflection_overall']:.1%}; {s['tickets']} tickets, "
        f"{s['misrouted_tickets']} misrouted ({s['misroute_rate']:.1%}), {s['tickets_to_routing_queues']} left for a "
        f"person to route; {s['false_positives']} false positives ({s['false_positive_rate']:.1%} of contacts that "
        f"should not be automated; {s.get('wrong_article_answers', 0)} help-centre answers with a wrong article).", "",
        "| flow | contacts | deflected | handed off | right queue first time | misrouted | false positives | "
        "turns to resolution |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for flow, f in s["flows"].items():
        deflected = f"{f['deflected']:.1%}" if f["deflected"] is not None else "n/a"
        turns = f"{f['mean_turns_to_resolution']}" if f["mean_turns_to_resolution"] else "-"
        lines.append(f"| {flow} | {f['contacts']} | {deflected} | {f['handed_off']:.1%} | "
                     f"{f['right_queue_first_time']:.1%} | {f['misrouted_tickets']} | {f['false_positives']} | "
                     f"{turns} |")
    b = s["billing_ticket_time"]
    if b.get("tickets"):
        lines += ["", f"Billing tickets ({b['tickets']}): modelled time until someone in the right queue picks the "
                  f"ticket up, {b['mean_minutes_with_triage']} min with triage against "
                  f"{b['mean_minutes_without_triage']} min with one billing queue "
                  f"({b['time_saved_share']:.0%} faster)."]
    if "tickets_opened_before_the_month" in s:
        lines += ["", f"Ticket-status customers with a ticket from an earlier conversation: "
                  f"{s['tickets_opened_before_the_month']} (those conversations are not contacts of the month)."]
    lines += ["", "How contacts ended: " + ", ".join(f"{k or 'other'} {v}" for k, v in s["ended_by"].items()) + "."]
    lines += ["", f"Deflected contacts asked to rate the chat: {s['rating_asked_after_deflection']:.1%}."]
    k = s.get("knowledge_answers") or {}
    if k:
        setting = {"on": " (on)", "off": " (off: `FRONTDESK_KNOWLEDGE_ANSWERS=0`)"}.get(
            s.get("knowledge_answers_setting", ""), "")
        lines += ["", f"Help-centre answers{setting}: {k['contacts_answered']} contacts answered with an article: "
                  f"{k['right_article']} knowledge questions with a right article, {k['wrong_article']} with a wrong "
                  f"one, {k['to_unanswerable']} questions no article answers, {k['to_other_needs']} other needs' "
                  f"messages; customers said it helped {k['helped']} times, it did not {k['not_helped']}. "
                  f"Knowledge questions a flow took instead: {k.get('questions_claimed_by_a_flow', 0)}."]
    by_opener = s["deflection_by_opener"]
    lines += ["", "Deflection of automatable needs by where the first message came from: " + ", ".join(
        f"{source} {share:.1%}" for source, share in by_opener.items() if share is not None) + "."]
    if memory := s.get("ted_prediction_memory"):
        lines += ["", f"TED prediction memory (Rasa server log): {memory['remembered']:,} of {memory['predictions']:,} "
                  f"predictions were a dialogue state already scored ({memory['share']:.1%}); "
                  f"{memory['states_held']:,} distinct states held."]
    return "\n".join(lines) + "\n"


async def open_earlier_tickets(contacts: list[Contact], stack: LocalStack, concurrency: int) -> int:
    """Before the month, each ticket-status customer asks for a person in an earlier conversation
    of its own, signed in (the handoff then belongs to its account), and keeps the reference the
    bot gives; the button "Talk to a person" when the words were not enough. These conversations
    are not contacts of the month. Returns how many got a ticket."""
    asking = [c for c in contacts if c.need == "ticket_status"]
    openers = yaml.safe_load(PHRASEBOOK.read_text())["openers"]["human"]
    gate = asyncio.Semaphore(concurrency)

    async def one(contact: Contact, client: httpx.AsyncClient) -> None:
        async with gate:
            conversation = RestConversation(stack.rasa_url, contact.address)
            token = stack.keys.customer_token(contact.customer[0])  # one per conversation
            pick = random.Random(f"{SEED}:earlier ticket:{contact.number}")  # noqa: S311 - reproducible phrasing
            for message in (pick.choice(openers), PERSON):
                try:
                    reply = await conversation.post(client, message, {"customer_token": token})
                    reply.raise_for_status()
                except httpx.HTTPError:
                    return
                said = " ".join(m.get("text", "") for m in reply.json() if m.get("text"))
                if handed_off := _HANDED_OFF.search(said):
                    contact.ticket_reference = handed_off.group(1)
                    return

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(one(c, client) for c in asking))
    return sum(1 for c in asking if c.ticket_reference)


async def run_contacts(contacts: list[Contact], stack: LocalStack, concurrency: int,
                       latest_invoices: dict[str, tuple[str, str]]) -> None:
    book = Phrasebook(PHRASEBOOK, random.Random(SEED + 1),  # noqa: S311 - reproducible phrasing
                      blind_openers(BLIND_SETS), BLIND_SHARE)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(contact: Contact, client: httpx.AsyncClient) -> None:
        nonlocal done
        async with gate:
            # Signed in on the support site: a token of its own (its jti belongs to this conversation).
            token = stack.keys.customer_token(contact.customer[0]) if contact.habits.signed_in else None
            pick = random.Random(SEED + contact.number)  # noqa: S311 - reproducible habits
            try:
                await ScriptedCustomer(contact, stack, client, book.for_contact(contact.number), token, pick,
                                       latest_invoices[contact.customer[0]]).play()
            except httpx.HTTPError as failed:
                contact.ended_by = f"HTTP error: {type(failed).__name__}"
            done += 1
            if done % 100 == 0:
                print(f"[beta] {done}/{len(contacts)} contacts", flush=True)

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(one(c, client) for c in contacts))


CURRENCY_SIGNS = {"GBP": "£", "USD": "$", "EUR": "€"}


def seed_customers(stack: LocalStack, customers: tuple[Customer, ...]) -> dict[str, tuple[str, str]]:
    """Adds the synthetic customers and their billing; returns each one's latest invoice id and
    amount, as a customer would quote them."""
    with Database(stack.database_url).transaction() as session:
        load_demo_customers(session, customers)
        session.flush()
        load_demo_billing(session, customers=customers)
        session.flush()
        rows = session.execute(text("SELECT account_id, id, total, currency FROM billing_invoices "
                                    "ORDER BY issued_at")).all()
    latest = {account: (invoice, f"{CURRENCY_SIGNS.get(currency, '')}{int(total) / 100:,.2f}")
              for account, invoice, total, currency in rows}
    return latest


ARMS = {"off": "without the knowledge base", "on": "with the knowledge base"}


def side_by_side(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The same month without and with help-centre answers: overall and per flow."""
    off, on = runs["off"], runs["on"]
    overall = ("deflection_overall", "tickets", "misrouted_tickets", "misroute_rate", "false_positives",
               "false_positive_rate", "wrong_article_answers", "mean_turns_per_contact")
    flows = list(dict.fromkeys([*on["flows"], *off["flows"]]))
    return {
        "overall": {key: {"off": off.get(key), "on": on.get(key)} for key in overall}
        | {"articles_to_unanswerable": {arm: runs[arm]["knowledge_answers"]["to_unanswerable"] for arm in ARMS}},
        "flows": {flow: {arm: runs[arm]["flows"].get(flow) for arm in ARMS} for flow in flows},
    }


def _share(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "n/a"


def comparison_markdown(runs: dict[str, dict[str, Any]], seed: int = SEED) -> str:
    """Both runs side by side, then each run's own report."""
    both = side_by_side(runs)
    o = both["overall"]
    contacts = runs["on"]["contacts"]
    lines = [
        "# Closed beta: the same month with and without the knowledge base", "",
        f"{contacts:,} contacts (seed {seed}, the same customers, habits and first messages) played twice on two "
        "fresh stacks: with help-centre answers, and with `FRONTDESK_KNOWLEDGE_ANSWERS=0` (the fallback clarifies "
        "as before).", "",
        "| | without the knowledge base | with the knowledge base |",
        "|---|---|---|",
        f"| deflection overall | {_share(o['deflection_overall']['off'])} | {_share(o['deflection_overall']['on'])} |",
        f"| tickets (handoffs) | {o['tickets']['off']} | {o['tickets']['on']} |",
        f"| misrouted tickets | {o['misrouted_tickets']['off']} ({_share(o['misroute_rate']['off'])}) | "
        f"{o['misrouted_tickets']['on']} ({_share(o['misroute_rate']['on'])}) |",
        f"| false positives | {o['false_positives']['off']} | {o['false_positives']['on']} |",
        f"| of which wrong-article answers | {o['wrong_article_answers']['off']} | "
        f"{o['wrong_article_answers']['on']} |",
        f"| articles to questions no article answers | {o['articles_to_unanswerable']['off']} | "
        f"{o['articles_to_unanswerable']['on']} |",
        f"| customer turns per contact | {o['mean_turns_per_contact']['off']} | {o['mean_turns_per_contact']['on']} |",
        "",
        "| flow | contacts | deflected without | deflected with | handed off without | handed off with | "
        "misrouted without / with | false positives without / with |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for flow, arms in both["flows"].items():
        off, on = arms["off"] or {}, arms["on"] or {}
        lines.append(
            f"| {flow} | {on.get('contacts', off.get('contacts', 0))} | {_share(off.get('deflected'))} | "
            f"{_share(on.get('deflected'))} | {_share(off.get('handed_off'))} | {_share(on.get('handed_off'))} | "
            f"{off.get('misrouted_tickets', 0)} / {on.get('misrouted_tickets', 0)} | "
            f"{off.get('false_positives', 0)} / {on.get('false_positives', 0)} |")
    for arm in ("on", "off"):
        report = markdown(runs[arm]).replace("# Closed beta: a month of scripted customers against the real stack",
                                             f"## {ARMS[arm].capitalize()}", 1)
        lines += ["", report.rstrip("\n")]
    return "\n".join(lines) + "\n"


def play_month(args: argparse.Namespace, knowledge_answers: bool, customers: tuple[Customer, ...],
               policy: HandoffPolicy) -> tuple[dict[str, Any], list[Outcome]]:
    """The month on a fresh stack, with help-centre answers on or off; its summary and outcomes."""
    contacts = month_of_contacts(args.contacts, customers)
    arm = "on" if knowledge_answers else "off"
    with tempfile.TemporaryDirectory(prefix="frontdesk-beta-") as tmp:
        # A month of the company's traffic in minutes: the limits on everyone together (and on one
        # address's mail in a day) would measure that compression, not the product.
        # New secrets for the run (kept to sign tokens), mail sent within a second, the mail on
        # the stack's SMTP server rather than in the development mailbox.
        env = {**load_test_limits(), "FRONTDESK_KNOWLEDGE_ANSWERS": "1" if knowledge_answers else "0"}
        with local_stack(Path(tmp), args.model, extra_env=env, keys=StackKeys.random(),
                         outbox_poll_seconds=1, dev_mailbox=False) as stack:
            latest_invoices = seed_customers(stack, customers)
            tickets = asyncio.run(open_earlier_tickets(contacts, stack, args.concurrency))
            print(f"[beta] knowledge answers {arm}: stack up in {stack.startup_seconds:.0f} s; {len(contacts)} "
                  f"contacts, {args.concurrency} at a time; {tickets} tickets opened before the month", flush=True)
            started = time.perf_counter()
            asyncio.run(run_contacts(contacts, stack, args.concurrency, latest_invoices))
            seconds = time.perf_counter() - started
            time.sleep(2)  # the last audit writes
            outcomes = judge(contacts, stack.database_url, stack.keys)
        ted_memory = ted_memory_report(Path(tmp) / "serve.log")
    summary = summarise(outcomes, policy, seconds)
    summary["knowledge_answers_setting"] = arm
    summary["tickets_opened_before_the_month"] = tickets
    summary["ted_prediction_memory"] = ted_memory
    return summary, outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "frontdesk.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--knowledge-answers", choices=("on", "off", "both"), default="both",
                        help="help-centre answers on, off (FRONTDESK_KNOWLEDGE_ANSWERS=0), or the month "
                             "played with each on two fresh stacks, side by side (default)")
    args = parser.parse_args(argv)
    if not args.model.exists():
        parser.error(f"{args.model} is missing: run `make train`")
    policy = HandoffPolicy.load(ROOT / "handoff.yml")
    customers = synthetic_customers(1000)
    arms = ("off", "on") if args.knowledge_answers == "both" else (args.knowledge_answers,)
    runs: dict[str, tuple[dict[str, Any], list[Outcome]]] = {
        arm: play_month(args, arm == "on", customers, policy) for arm in arms}
    args.out.mkdir(parents=True, exist_ok=True)
    if len(runs) == 1:
        (summary, outcomes), = runs.values()
        report = markdown(summary)
        data = {"summary": summary, "knowledge_answers": arms[0], "mix": MONTHLY_MIX,
                "contacts": [asdict(o) for o in outcomes]}
    else:
        summaries = {arm: summary for arm, (summary, _) in runs.items()}
        report = comparison_markdown(summaries)
        # "summary": the product as it ships (answers on); both runs in full under "runs".
        data = {"summary": summaries["on"], "knowledge_answers": "both", "side_by_side": side_by_side(summaries),
                "mix": MONTHLY_MIX,
                "runs": {arm: {"summary": summary, "contacts": [asdict(o) for o in outcomes]}
                         for arm, (summary, outcomes) in runs.items()}}
    (args.out / "closed_beta.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.out / "closed_beta.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
