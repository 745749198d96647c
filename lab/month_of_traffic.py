"""``make month``: a month of the seed company's traffic through the real servers and Rasa's event
broker, then the KPI report on it (issue 20).

The closed beta's scripted customers (``lab.closed_beta``: 1,200 contacts in the seed company's
mix, phrasebook and blind openers, typos and habits) talk to a fresh ``frontdesk serve`` over
REST. Rasa's event broker (the SQL broker by default, RabbitMQ with ``--broker rabbitmq``) feeds
the web app's consumer. Then, because no people work in a simulation:

- **agents** work every ticket through the real agent API: claim, reply, close; a customer asked
  for a rating answers it (a seeded 1-5, mostly 4s and 5s) over REST, as a person would;
- **the calendar**: a month is played in minutes, so each contact is moved to its day of the
  month afterwards (its analytics rows, handoff, agent reply and rating, by the same offset),
  and an agent's first reply and the ticket's closing get times drawn from a seeded model of a
  support team that works to its queues' SLAs (the first reply after a third of the queue's
  first-response time at the median, about 7% past it). The facts are then folded again from the
  moved rows. Rasa's own tracker keeps the real times.
- **ratings**: a customer whose last reply from the bot asked for a rating gives one.

What comes out: ``reports/month/kpi.json``, ``kpi.txt``, ``kpi.html`` and ``kpi.png`` (the page in
headless Chromium) from ``frontdesk kpi report`` over the month's four weeks, the event counts
(every tracker event reached analytics once), and the seconds it took.

``--drill`` adds a fifth week played on a deliberately degraded model (the same weights with the
fallback threshold raised from 0.7 to 0.97: a bad configuration shipped), loaded into the running
server with ``frontdesk model rollback --to`` and replaced by the good one afterwards the same way.
``frontdesk kpi check`` then judges the month's last week (the good model: PASS expected) and the
fifth (ROLLBACK expected); ``check-good.txt`` and ``check-degraded.txt`` keep what it said.

    python -m lab.month_of_traffic [--contacts 1200] [--concurrency 8] [--broker sql|rabbitmq] [--drill]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, select, text, update

from frontdesk.core.chat_sessions import ChatSessions
from frontdesk.core.db import Database
from frontdesk.dev.demo_data import synthetic_customers
from frontdesk.handoff.policy import HandoffPolicy
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.csat import CsatRow
from frontdesk.insights.telemetry import TelemetryEvent, refresh_facts
from lab.closed_beta import SEED, Contact, month_of_contacts, open_earlier_tickets, run_contacts, seed_customers
from lab.stack import (
    BIN,
    ROOT,
    LocalStack,
    RestConversation,
    StackKeys,
    delete_rabbitmq_queue,
    frontdesk_command,
    load_test_limits,
    local_stack,
    wait_until,
)

MONTH_DAYS = 28  # four weeks: 1,200 contacts, the seed company's month
DRILL_DAYS = 7  # --drill: a fifth week, on a deliberately degraded model
RATINGS = (5, 5, 5, 5, 4, 4, 4, 4, 3, 5)  # what customers answer a rating question with (4.4 on average)
# A support team that works to its queues' SLAs: the first reply takes a lognormal share of the
# queue's first-response time, a third of it at the median, with a tail past it (about 7%).
FIRST_REPLY_MEDIAN_SHARE, FIRST_REPLY_SIGMA = 0.35, 0.7
HANDLE_MEDIAN_MINUTES, HANDLE_SIGMA = 35.0, 0.8
RATING_QUESTION = "rate this chat"
COUNTED_KINDS = ("user", "action", "bot")


async def work_the_queue(stack: LocalStack, token: str, contacts: list[Contact], pick: random.Random) -> int:
    """Every open ticket claimed, answered and closed by an agent through the agent API; the
    customer, asked for a rating in the chat, answers it. Returns how many tickets were worked."""
    sessions = ChatSessions(stack.keys.secret_key)
    by_reference = {sessions.reference(stack.keys.conversation_id(c.session_token)): c
                    for c in contacts if c.session_token}
    headers = {"Authorization": f"Bearer {token}"}
    worked = 0
    async with httpx.AsyncClient(base_url=f"{stack.web_url}/api/agent", headers=headers, timeout=60) as api, \
            httpx.AsyncClient(timeout=60) as chat:
        for handoff in (await api.get("/handoffs")).json():
            reference = handoff["reference"]
            for step, body in (("claim", None), ("reply", {"text": "Thanks for waiting, this is sorted now."}),
                               ("close", None)):
                answer = await api.post(f"/handoffs/{reference}/{step}", json=body or {})
                if answer.status_code != 200:
                    break
            else:
                worked += 1
                contact = by_reference.get(handoff["conversation"])
                if contact is not None and contact.session_token:
                    customer = RestConversation(stack.rasa_url, contact.address, contact.session_token)
                    await customer.post(chat, str(pick.choice(RATINGS)))
    return worked


async def answer_rating_questions(stack: LocalStack, contacts: list[Contact], pick: random.Random) -> int:
    """A customer whose last reply from the bot asked for a rating gives one, as most people do."""
    answered = 0
    async with httpx.AsyncClient(timeout=60) as chat:
        for contact in contacts:
            last_replies = contact.turns[-1][2] if contact.turns else []
            if contact.session_token and any(RATING_QUESTION in reply for reply in last_replies):
                customer = RestConversation(stack.rasa_url, contact.address, contact.session_token)
                await customer.post(chat, str(pick.choice(RATINGS)))
                answered += 1
    return answered


def every_event_recorded(database_url: str) -> tuple[int, int]:
    """(events in the tracker store, events analytics recorded) of the kinds both count."""
    with Database(database_url).transaction() as session:
        stored = session.execute(text("SELECT count(*) FROM events WHERE type_name IN ('user', 'action', 'bot')"))
        recorded = session.execute(text("SELECT count(*) FROM telemetry_events WHERE kind IN "
                                        "('user', 'action', 'bot')"))
        return int(stored.scalar_one()), int(recorded.scalar_one())


def _minutes(pick: random.Random, median: float, sigma: float) -> timedelta:
    return timedelta(minutes=median * pick.lognormvariate(0, sigma))


def spread_over_days(database_url: str, conversation_ids: list[str], first_day: datetime, days: int,
                     pick: random.Random, mandatory_intents: frozenset[str]) -> None:
    """Moves each conversation to its day (see the module doc) and folds its facts again."""
    db = Database(database_url)
    step = timedelta(days=days) / max(len(conversation_ids), 1)
    shift_events = (update(TelemetryEvent).where(TelemetryEvent.id == bindparam("row_id"))
                    .values(at=bindparam("new_at")))
    for number, conversation_id in enumerate(conversation_ids):
        # Office hours and evenings: 07:00-22:00 on the contact's day.
        day = first_day + step * number
        target = day.replace(hour=7, minute=0, second=0, microsecond=0) + timedelta(minutes=pick.uniform(0, 15 * 60))
        with db.transaction() as session:
            events = session.execute(select(TelemetryEvent.id, TelemetryEvent.at)
                                     .where(TelemetryEvent.conversation_id == conversation_id)).all()
            if not events:
                continue
            offset = target - min(at for _, at in events)
            session.execute(shift_events, [{"row_id": row_id, "new_at": at + offset} for row_id, at in events])
            for handoff in session.execute(select(HandoffRow).where(
                    HandoffRow.conversation_id == conversation_id)).scalars():
                handoff.created_at += offset
                handoff.first_response_due += offset
                sla = handoff.first_response_due - handoff.created_at
                replied = handoff.created_at + sla * (FIRST_REPLY_MEDIAN_SHARE
                                                      * pick.lognormvariate(0, FIRST_REPLY_SIGMA))
                for row in session.execute(select(TicketOutboxRow).where(
                        TicketOutboxRow.handoff_id == handoff.id)).scalars():
                    row.created_at = replied if row.operation == "reply" else row.created_at + offset
                if handoff.claimed_at:
                    handoff.claimed_at = replied
                if handoff.closed_at:
                    handoff.closed_at = replied + _minutes(pick, HANDLE_MEDIAN_MINUTES, HANDLE_SIGMA)
            for rating in session.execute(select(CsatRow).where(CsatRow.conversation_id == conversation_id)).scalars():
                rating.created_at += offset
            refresh_facts(session, [conversation_id], mandatory_intents)


def model_copy(model: Path, to: Path, model_id: str, fallback_threshold: float | None = None) -> Path:
    """The same trained model under another id (Rasa reads it from ``metadata.json``), and with
    ``fallback_threshold`` its FallbackClassifier's threshold changed (read from the model's graph
    when Rasa loads it). A "previous" model without a second training, or a degraded one."""
    with tarfile.open(model, "r:gz") as source, tarfile.open(to, "w:gz") as copy:
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if member.name.lstrip("/") == "metadata.json" and data is not None:
                metadata = json.loads(data.read())
                metadata["model_id"] = model_id
                for node in metadata["predict_schema"]["nodes"].values():
                    if fallback_threshold is not None and node["uses"].endswith("FallbackClassifier"):
                        node["config"]["threshold"] = fallback_threshold
                payload = json.dumps(metadata).encode()
                member.size = len(payload)
                copy.addfile(member, io.BytesIO(payload))
            else:
                copy.addfile(member, data)
    return to


def screenshot(html: Path, png: Path) -> None:
    """The report as a support lead sees it, in Debian's Chromium (headless)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--broker", choices=("sql", "rabbitmq"), default="sql")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "frontdesk.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "month")
    parser.add_argument("--workdir", type=Path, help="keep the stack's database and logs here (default: deleted)")
    parser.add_argument("--drill", action="store_true",
                        help="a fifth week on a deliberately degraded model, then kpi check on both weeks")
    args = parser.parse_args(argv)
    if not args.model.exists():
        parser.error(f"{args.model} is missing: run `make train`")
    policy = HandoffPolicy.load(ROOT / "handoff.yml")
    customers = synthetic_customers(1000)
    contacts = month_of_contacts(args.contacts, customers)
    pick = random.Random(SEED + 20)  # noqa: S311 - a reproducible simulation
    args.out.mkdir(parents=True, exist_ok=True)
    queue = f"frontdesk_month_{uuid.uuid4().hex[:8]}"
    broker = ({"FRONTDESK_EVENT_BROKER_URL": f"amqp://guest@127.0.0.1:5672/?queue={queue}&exchange={queue}",
               "FRONTDESK_EVENT_BROKER_PASSWORD": "guest"} if args.broker == "rabbitmq" else {})
    started = time.perf_counter()
    with (contextlib.nullcontext(str(args.workdir)) if args.workdir
          else tempfile.TemporaryDirectory(prefix="frontdesk-month-")) as tmp:
        env = {**load_test_limits(), "FRONTDESK_CONSUME_EVERY_SECONDS": "1", **broker}
        with local_stack(Path(tmp), args.model, extra_env=env, keys=StackKeys.random(), outbox_poll_seconds=1,
                         dev_mailbox=False) as stack:
            latest_invoices = seed_customers(stack, customers)
            asyncio.run(open_earlier_tickets(contacts, stack, args.concurrency))
            print(f"[month] {len(contacts)} contacts through {args.broker} ...", flush=True)
            asyncio.run(run_contacts(contacts, stack, args.concurrency, latest_invoices))
            played = time.perf_counter() - started
            drilled: list[Contact] = []
            if args.drill:
                drilled = drill_week(stack, args, customers, latest_invoices, Path(tmp))
            token = json.loads(frontdesk_command(stack.env, "agent", "token", "create", "Month desk", "--role",
                                                 "supervisor", "--role", "agent", "--json"))["token"]
            rated = asyncio.run(answer_rating_questions(stack, contacts + drilled, pick))
            worked = asyncio.run(work_the_queue(stack, token, contacts + drilled, pick))
            counts = wait_until(_all_recorded(stack.database_url), 300, "every tracker event in analytics")
            month_start = (datetime.utcnow() - timedelta(days=MONTH_DAYS + DRILL_DAYS + 1)).replace(
                hour=0, minute=0, second=0, microsecond=0)
            month_end = month_start + timedelta(days=MONTH_DAYS)
            mandatory = frozenset(policy.mandatory_human)
            spread_over_days(stack.database_url, _conversations(stack, contacts), month_start, MONTH_DAYS, pick,
                             mandatory)
            spread_over_days(stack.database_url, _conversations(stack, drilled), month_end, DRILL_DAYS, pick,
                             mandatory)
            window = ["--from", month_start.date().isoformat(), "--to", month_end.date().isoformat()]
            report_env = dict(stack.env)
            (args.out / "kpi.json").write_text(frontdesk_command(report_env, "kpi", "report", *window, "--json"))
            (args.out / "kpi.txt").write_text(frontdesk_command(report_env, "kpi", "report", *window))
            frontdesk_command(report_env, "kpi", "report", *window, "--html", str(args.out / "kpi.html"))
            checks = {}
            if args.drill:
                for name, end in (("good", month_end), ("degraded", month_end + timedelta(days=DRILL_DAYS))):
                    checks[name] = kpi_check(report_env, end)
                    (args.out / f"check-{name}.txt").write_text(checks[name][1])
    if args.broker == "rabbitmq":
        delete_rabbitmq_queue(queue, exchange=queue)
    screenshot(args.out / "kpi.html", args.out / "kpi.png")
    run = {"contacts": len(contacts), "drill_contacts": len(drilled), "broker": args.broker,
           "tickets_worked": worked, "bot_ratings": rated,
           "kpi_check": {name: {"exit": code, "verdict": out.splitlines()[0]} for name, (code, out) in checks.items()},
           "tracker_events": counts[0], "events_recorded": counts[1], "played_seconds": round(played),
           "seconds": round(time.perf_counter() - started)}
    (args.out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    print(json.dumps(run, indent=1))
    print((args.out / "kpi.txt").read_text())
    return 0


def _conversations(stack: LocalStack, contacts: list[Contact]) -> list[str]:
    return [stack.keys.conversation_id(c.session_token) for c in contacts if c.session_token]


def kpi_check(env: dict[str, str], end: datetime) -> tuple[int, str]:
    """``frontdesk kpi check --to END``: its exit status and what it printed."""
    done = subprocess.run([str(BIN / "frontdesk"), "kpi", "check", "--to", end.date().isoformat()],  # noqa: S603
                          env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def drill_week(stack: LocalStack, args: argparse.Namespace, customers: Any, latest_invoices: dict[str, Any],
               workdir: Path) -> list[Contact]:
    """A week of new contacts on a degraded model (``model_copy``), loaded into the running
    server with ``frontdesk model rollback --to``; then the good model back the same way."""
    registry = {**stack.env, "FRONTDESK_MODEL_DIR": str(workdir / "models")}
    good_id = json.loads(frontdesk_command(registry, "model", "register", str(args.model), "--json"))["model_id"]
    # The fallback threshold raised from 0.7 to 0.97: a bad configuration shipped, which sends most
    # messages to the fallback.
    degraded = model_copy(args.model, workdir / "degraded.tar.gz", uuid.uuid4().hex, fallback_threshold=0.97)
    degraded_id = json.loads(frontdesk_command(registry, "model", "register", str(degraded), "--json"))["model_id"]
    frontdesk_command(registry, "model", "rollback", "--to", degraded_id, "--reason", "drill: a degraded model")
    week = [dataclasses.replace(c, number=c.number + 100_000)
            for c in month_of_contacts(round(args.contacts * DRILL_DAYS / MONTH_DAYS), customers, seed=SEED + 7)]
    print(f"[month] drill: {len(week)} contacts on the degraded model ...", flush=True)
    asyncio.run(run_contacts(week, stack, args.concurrency, latest_invoices))
    frontdesk_command(registry, "model", "rollback", "--to", good_id, "--reason", "drill over")
    return week


def _all_recorded(database_url: str) -> Callable[[], Any]:
    def probe() -> tuple[int, int] | None:
        stored, recorded = every_event_recorded(database_url)
        return (stored, recorded) if stored == recorded else None
    return probe


if __name__ == "__main__":
    sys.exit(main())
