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
- deflection per flow: contacts resolved without a person (reset link sent, billing answered);
- misrouted tickets: handoffs to a specialist queue other than the need's (general and
  billing-triage queues are "a person routes it", not a misroute);
- false positives: an automated action (reset link, one-time code, billing answer) for a contact
  that should have gone to a person (refunds, disputes, legal, privacy, security, requests only a
  person can do) or was out of scope;
- mean customer turns to resolution, and for billing tickets the modelled time until someone in
  the right queue picks the ticket up, with triage against one undivided billing queue.

    python -m lab.closed_beta [--contacts 1200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
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

# A month of the seed company's contacts (1,200): password resets and billing dominate.
MONTHLY_MIX: dict[str, int] = {
    "password_reset": 432,
    "latest_invoice": 70, "charge_explanation": 60, "payment_history": 40, "plan_details": 50,
    "payment_failed": 50, "invoice_change": 35, "plan_change": 35, "tax_question": 20, "pricing": 20,
    "refund": 40,
    "lost_2fa": 48, "dispute": 24, "legal": 12, "privacy": 24, "security_incident": 24,
    "human": 60, "out_of_scope": 96, "small_talk": 60,
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
    "human": Need("asks for a person", False, "general"),
    "out_of_scope": Need("out of scope", False, None),
    "small_talk": Need("small talk", False, None),
}
# Queues where a person reads the ticket and routes it: slower, but not a misroute.
ROUTING_QUEUES = {"general", "billing", "billing_triage", "enterprise_success"}
# Audit decisions that mean the bot acted on its own.
AUTOMATED_DECISIONS = {"password_reset.queued", "password_reset.no_account", "billing.answered",
                       "billing.unresolved", "verification.code_requested"}
RESOLVED_DECISIONS = {"password reset": {"password_reset.queued"}, "billing lookup": {"billing.answered"}}

_ASKS_EMAIL = re.compile(r"email address of your account|like name@company\.com|type just the address", re.I)
_ASKS_CODE = re.compile(r"sent a 6-digit code|type the 6-digit code|code doesn't match|type the new code|"
                        r"use the latest one", re.I)
_STOPPED = re.compile(r"I've stopped", re.I)
_HANDED_OFF = re.compile(r"your reference is (HO-[\w-]+)", re.I)
_NOT_UNDERSTOOD = re.compile(r"not sure I understood|I don't know the answer|say it another way", re.I)
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


def month_of_contacts(count: int, customers: tuple[Customer, ...], seed: int = SEED) -> list[Contact]:
    pick = random.Random(seed)  # noqa: S311 - a reproducible simulation, not security
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
            signed_in=billing and pick.random() < 0.5,  # the site's chat while logged in
            bad_email_first=pick.random() < 0.10,
            wrong_code_first=pick.random() < 0.10,
            unknown_address=pick.random() < 0.04,
            refuses_email=pick.random() < 0.05,
            impatient=pick.random() < 0.06,
            changes_topic_to=pick.choice(("password_reset", "latest_invoice", "refund", "plan_details"))
            if pick.random() < 0.06 else None,
        )
        contacts.append(Contact(number, need, customer, habits))
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
        return message.format(email=self.email, code="000000", invoice=invoice, amount=amount, score="4")

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

    async def play(self) -> None:
        contact, habits = self.contact, self.contact.habits
        need = contact.need
        if habits.greets_first and need != "small_talk":
            await self.say(self.book.opener("small_talk", self.used)[0])
        opener, contact.blind_opener = self.book.opener(need, self.used)
        replies = await self.say(self.fill(opener))
        mails_before = 0
        gave_bad_email = gave_wrong_code = changed_topic = impatient_done = False
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
                if need in ("out_of_scope", "small_talk") or habits.refuses_email:
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
            if (_NOT_UNDERSTOOD.search(said) or _STOPPED.search(said)) and need not in ("out_of_scope", "small_talk"):
                self.rephrased += 1
                if self.rephrased > 2:
                    replies = await self.say(self.book.followup("impatient"))
                else:
                    replies = await self.say(self.fill(self.book.opener(need, self.used)[0]))
                continue
            # Answered, or the bot said something the customer takes as the end.
            await self.say(self.book.followup("thanks_bye"))
            contact.ended_by = "left satisfied" if need not in ("out_of_scope",) else "left"
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


def judge(contacts: list[Contact], database_url: str, keys: StackKeys) -> list[Outcome]:
    """What happened to each contact, read from the audit trail and the handoff table, under the
    conversation id the stack derived from the contact's session token (``keys``: the stack's)."""
    conversation_ids = {c.number: keys.conversation_id(c.session_token) for c in contacts}
    wanted = sorted({cid for cid in conversation_ids.values() if cid})
    db = Database(database_url)
    with db.transaction() as session:
        audit = session.execute(text("SELECT conversation_id, decision, recorded_at FROM audit_records "
                                     "WHERE conversation_id IN :ids ORDER BY id")
                                .bindparams(bindparam("ids", expanding=True)), {"ids": wanted}).all()
        # Out-of-band follow-ups (a ticket answered by e-mail, the chat untouched) are not a
        # handoff of the chat.
        handoffs = session.execute(text("SELECT conversation_id, queue, reason, created_at FROM handoffs "
                                        "WHERE conversation_id IN :ids AND channel != :follow_up ORDER BY id")
                                   .bindparams(bindparam("ids", expanding=True)),
                                   {"ids": wanted, "follow_up": FOLLOW_UP_CHANNEL}).all()
    decisions: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for conversation, decision, at in audit:
        decisions[conversation].append((decision, _as_datetime(at)))
    first_handoff: dict[str, tuple[str, str, datetime]] = {}
    for conversation, queue, reason, at in handoffs:
        first_handoff.setdefault(conversation, (queue, reason, _as_datetime(at)))
    outcomes = []
    for c in contacts:
        need = NEEDS[c.need]
        conversation_id = conversation_ids[c.number]
        made = decisions.get(conversation_id, []) if conversation_id else []
        handoff = first_handoff.get(conversation_id) if conversation_id else None
        names = [d for d, _ in made]
        resolved_by = RESOLVED_DECISIONS.get(need.flow, set())
        resolution = next((at for d, at in made if d in resolved_by), None) if need.automated else (
            handoff[2] if handoff else None)
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
            false_positive=automated and not need.automated and not first_was_automatable,
            misrouted=queue is not None and queue not in right and queue not in ROUTING_QUEUES,
            right_queue=queue is not None and queue in right,
            turns_to_resolution=sum(1 for s in sent if s <= resolution.timestamp() + 0.5) if resolution else None,
            ended_by=c.ended_by, blind_opener=c.blind_opener,
            transcript=[[message, *replies] for _, message, replies in c.turns],
        ))
    dispose_engines()
    return outcomes


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
    automatable = [o for o in outcomes if NEEDS[o.need].automated]
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
        "should not be automated).", "",
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
    lines += ["", "How contacts ended: " + ", ".join(f"{k or 'other'} {v}" for k, v in s["ended_by"].items()) + "."]
    lines += ["", f"Deflected contacts asked to rate the chat: {s['rating_asked_after_deflection']:.1%}."]
    by_opener = s["deflection_by_opener"]
    lines += ["", "Deflection of automatable needs by where the first message came from: " + ", ".join(
        f"{source} {share:.1%}" for source, share in by_opener.items() if share is not None) + "."]
    if memory := s.get("ted_prediction_memory"):
        lines += ["", f"TED prediction memory (Rasa server log): {memory['remembered']:,} of {memory['predictions']:,} "
                  f"predictions were a dialogue state already scored ({memory['share']:.1%}); "
                  f"{memory['states_held']:,} distinct states held."]
    return "\n".join(lines) + "\n"


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
                await ScriptedCustomer(contact, stack, client, book, token, pick,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "frontdesk.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    if not args.model.exists():
        parser.error(f"{args.model} is missing: run `make train`")
    policy = HandoffPolicy.load(ROOT / "handoff.yml")
    customers = synthetic_customers(1000)
    contacts = month_of_contacts(args.contacts, customers)
    with tempfile.TemporaryDirectory(prefix="frontdesk-beta-") as tmp:
        # A month of the company's traffic in minutes: the limits on everyone together (and on one
        # address's mail in a day) would measure that compression, not the product.
        # New secrets for the run (kept to sign tokens), mail sent within a second, the mail on
        # the stack's SMTP server rather than in the development mailbox.
        with local_stack(Path(tmp), args.model, extra_env=load_test_limits(), keys=StackKeys.random(),
                         outbox_poll_seconds=1, dev_mailbox=False) as stack:
            latest_invoices = seed_customers(stack, customers)
            print(f"[beta] stack up in {stack.startup_seconds:.0f} s; {len(contacts)} contacts, "
                  f"{args.concurrency} at a time", flush=True)
            started = time.perf_counter()
            asyncio.run(run_contacts(contacts, stack, args.concurrency, latest_invoices))
            seconds = time.perf_counter() - started
            time.sleep(2)  # the last audit writes
            outcomes = judge(contacts, stack.database_url, stack.keys)
        ted_memory = ted_memory_report(Path(tmp) / "serve.log")
    summary = summarise(outcomes, policy, seconds)
    summary["ted_prediction_memory"] = ted_memory
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "closed_beta.json").write_text(json.dumps(
        {"summary": summary, "mix": MONTHLY_MIX, "contacts": [asdict(o) for o in outcomes]}, indent=1) + "\n")
    (args.out / "closed_beta.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
