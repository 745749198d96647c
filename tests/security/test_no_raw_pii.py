"""No raw personal data outside the live tracker store (issue 19): conversations full of it go
through the real servers (a handoff with messages while waiting and an agent's reply, a password
reset for an unknown address, a help-centre question), an agent reviews the ticket, and then
every table but Rasa's `events`, the servers' log, every ticket (embedded here; Zendesk in
tests/e2e/test_zendesk_e2e.py) and every export is searched for the raw values. The tracker store
itself must hold them (it is the live conversation), which shows the search finds what is there."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import MetaData, select

from frontdesk.core.db import Database
from frontdesk.settings import SQL, parse_broker_url
from tests.stack import Stack, frontdesk, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def _luhn_complete(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return digits + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Probe:
    """Personal data no seed, fixture or other test writes: what the search looks for."""

    name: str
    surname: str
    phone: str
    card: str
    iban: str
    street: str
    postcode: str
    password: str
    api_key: str
    email: str

    @classmethod
    def new(cls, seed: str) -> Probe:
        rng = random.Random(seed)  # seeded: a failure can be replayed
        digits = "".join(rng.choice("0123456789") for _ in range(4))
        card = _luhn_complete("4929" + "".join(rng.choice("0123456789") for _ in range(11)))
        return cls(
            name="Quentin", surname="Zabriskie", phone=f"+44 20 7946 {digits}",
            card=" ".join(card[i:i + 4] for i in range(0, 16, 4)), iban="GB82 WEST 1234 5698 7654 32",
            street="27 Larkspur Lane", postcode="SW1A 2AA", password=f"Tulip{digits}!kettle",
            api_key="sk_live_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24)),
            email=f"q.zabriskie.{digits}@example.org",
        )

    def needles(self) -> dict[str, str]:
        """What must not appear: each value as typed, and the distinctive part of each."""
        return {"surname": self.surname, "phone": self.phone, "phone digits": self.phone[-9:],
                "card": self.card, "card digits": self.card.replace(" ", ""), "iban": self.iban,
                "iban compact": self.iban.replace(" ", ""), "street": "Larkspur", "postcode": self.postcode,
                "password": self.password, "api key": self.api_key, "email": self.email}

    def conversations(self) -> dict[str, list[str]]:
        return {
            "handoff": [
                f"hi, I'm {self.name} {self.surname}, my number is {self.phone} and I live at {self.street}, "
                f"London {self.postcode}",
                f"I need to talk to a person: my card {self.card} was charged twice and my api key "
                f"{self.api_key} leaked in a screenshot",
                f"also my password is {self.password} and my bank account is {self.iban}, email me at "
                f"{self.email}",
            ],
            "reset": ["I forgot my password", self.email],
            "question": [f"this is {self.name}, {self.phone}: how do I export my data?"],
        }


def found_in(texts: dict[str, str], probe: Probe) -> list[str]:
    """'where: what' for every raw value found, case-insensitively."""
    return [f"{where}: {what}" for where, text in texts.items() for what, needle in probe.needles().items()
            if needle.lower() in text.lower()]


def tables_as_text(database_url: str, leave_out: tuple[str, ...] = ("events",)) -> dict[str, str]:
    """Every row of every table, as text, table by table (Rasa's `events` left out: the live tracker)."""
    database = Database(database_url)
    metadata = MetaData()
    with database.transaction() as session:
        metadata.reflect(bind=session.connection())
        return {f"table {name}": "\n".join(repr(tuple(row)) for row in session.execute(select(table)).all())
                for name, table in metadata.tables.items() if name not in leave_out}


def talk(stack: Stack, probe: Probe, tag: str) -> dict[str, str]:
    """The probe's conversations over REST: their names, and the handoff's reference."""
    names = {kind: f"pii-{kind}-{tag}" for kind in probe.conversations()}
    replies = []
    for kind, messages in probe.conversations().items():
        for message in messages:
            replies += stack.texts(names[kind], message)
    reference = re.search(r"HO-\d+", " ".join(replies))
    assert reference is not None, replies
    return {**names, "reference": reference.group(0)}


def test_no_raw_personal_data_outside_the_live_tracker(stack: Stack):
    probe = Probe.new(stack.backend)
    names = talk(stack, probe, stack.backend)
    # An agent works the ticket: reads it, replies quoting the customer, reviews the bot's intent.
    token = issue_token(stack, f"Pii desk {stack.backend}", "agent", "supervisor")
    api = httpx.Client(base_url=f"{stack.web_url}/api/agent", headers={"Authorization": f"Bearer {token}"},
                       timeout=30)
    reference = names["reference"]
    ticket = api.get(f"/handoffs/{reference}")
    assert ticket.status_code == 200, ticket.text
    reply = api.post(f"/handoffs/{reference}/reply",
                     json={"text": f"Hi {probe.name}, I'll call you on {probe.phone} about {probe.street}."})
    assert reply.status_code == 200, reply.text
    assert api.post(f"/handoffs/{reference}/feedback", json={"intent_correct": True}).status_code == 200
    ml_engineer = {"FRONTDESK_AGENT_TOKEN": issue_token(stack, f"Pii ml {stack.backend}", "ml-engineer")}

    exports = {
        "agent API ticket": ticket.text,
        "agent API ticket after the reply": api.get(f"/handoffs/{reference}").text,
        "agent API handoffs": api.get("/handoffs").text,
        "agent API kpi": api.get("/kpi").text,
        "training export (CLI)": frontdesk(stack, "data", "export-training", env=ml_engineer),
        "training export, Rasa format": frontdesk(stack, "data", "export-training", "--format", "rasa",
                                                  env=ml_engineer),
        "kpi report": frontdesk(stack, "kpi", "report", "--json"),
        "audit list": frontdesk(stack, "audit", "list", "--json", "--limit", "10000"),
        "audit explain": frontdesk(stack, "audit", "explain", "--conversation", reference, "--json"),
        "handoffs list": frontdesk(stack, "handoffs", "list", "--all", "--json"),
        "outbox list": frontdesk(stack, "outbox", "list", "--json"),
    }
    # What the customer said, where it is allowed to be: the tracker store (payment details are
    # cut before even that, by the channel).
    tracker = " ".join(str(row[0]) for name in names.values() if name.startswith("pii-")
                       for row in stack.rows("SELECT data FROM events WHERE sender_id = :c",
                                             c=stack.conversation(name)))
    kept = {what for what, needle in probe.needles().items() if needle.lower() in tracker.lower()}
    assert {"surname", "phone", "street", "postcode", "password", "api key", "email"} <= kept, kept
    assert not kept & {"card", "card digits", "iban", "iban compact"}, kept

    # Analytics has every turn (Rasa's event broker -> the consumer); the SQL broker's own table,
    # which holds raw events until they are recorded, is searched too.
    stack.facts_of(*(name for name in names.values() if name.startswith("pii-")))
    broker = parse_broker_url(stack.env.get("FRONTDESK_EVENT_BROKER_URL", ""))
    broker_tables = ({f"event broker {name}": text for name, text in tables_as_text(
        broker.sqlalchemy_url(), leave_out=()).items()} if broker.kind == SQL else {})

    assert stack.log is not None and stack.log.exists()
    places = {**tables_as_text(stack.database_url), f"log {stack.log.name}": stack.log.read_text(errors="replace"),
              **broker_tables, **exports}
    assert found_in(places, probe) == []
    assert json.loads(exports["audit explain"])["turns"], exports["audit explain"]  # the search read real output
