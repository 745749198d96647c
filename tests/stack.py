"""The full stack for end-to-end tests: `frontdesk serve` starts the real action server, web
app and Rasa server on free ports, with a real SMTP server; once on the embedded defaults in
development mode (as `make run`), and once as production runs (FRONTDESK_ENV=production with its
secrets, PostgreSQL, Redis). Shutting it down is checked too: Ctrl-C must stop every process.

Conversations are opened as a client does: the first message goes without a sender and the
server's session token is sent back from then on. Tests name their conversations; the stack
keeps each name's token and derives its conversation id (the stack's secret key is the test's).
Each named conversation comes from its own client address (X-Forwarded-For through a trusted
"proxy", as behind nginx), so the per-address limits of one test never throttle another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from sqlalchemy import text

from frontdesk.accounts.customer_token import CustomerTokenVerifier
from frontdesk.core.chat_sessions import SESSION_HEADER, ChatSessions
from frontdesk.core.db import Database, dispose_engines
from frontdesk.settings import CustomerTokenSettings
from lab.stack import StackKeys, client_address, local_stack, wait_until
from tests.standins.slack import SlackStandIn
from tests.standins.statuspage import StatuspageStandIn
from tests.support import Mailbox

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "frontdesk.tar.gz"
BIN = Path(sys.executable).parent
CUSTOMER_TOKEN_SECRET = "e2e-support-site-signing-secret-0123456789"
CUSTOMER_TOKEN_ISSUER, CUSTOMER_TOKEN_AUDIENCE = "https://support.e2e.test", "frontdesk-chat"
SLACK_SIGNING_SECRET = "e2e-slack-signing-secret"
SECRET_KEY = "e2e-frontdesk-secret-key-0123456789abcdef"
# The stacks' secrets, fixed so that the tests know them; in development the action server's
# and the Rasa API's are made up by `frontdesk serve` for each run (None here).
KEYS = StackKeys(SECRET_KEY, None, None, CUSTOMER_TOKEN_SECRET, CUSTOMER_TOKEN_ISSUER, CUSTOMER_TOKEN_AUDIENCE)
# What Prometheus sends to GET /metrics on the stacks' web app and action server.
METRICS_TOKEN = "e2e-metrics-token-0123456789abcdef"
# What production runs with (development makes the last two up for each run).
PRODUCTION_SECRETS = {"FRONTDESK_ENV": "production", "FRONTDESK_SECRET_KEY": SECRET_KEY,
                      "ACTION_SERVER_SECRET": "e2e-action-server-secret-0123456789abcdef",
                      "RASA_JWT_SECRET": "e2e-rasa-jwt-secret-0123456789abcdefghij"}


@dataclass
class Stack:
    rasa_url: str
    web_url: str
    database_url: str
    smtp: Mailbox
    process: subprocess.Popen[bytes]
    timings: dict[str, float]
    backend: str
    slack: SlackStandIn
    env: dict[str, str]  # what the stack was started with, beyond the inherited environment
    sessions: dict[str, str] = field(default_factory=dict)  # conversation name -> session token
    statuspage: StatuspageStandIn | None = None  # the status feed, when the stack reads one
    # The CLI acts as this admin (docs/roles.md): the stack's first admin, issued without a token.
    operator_token: str = field(default="", repr=False)
    log: Path | None = None  # what `frontdesk serve` and its servers wrote

    @property
    def production(self) -> bool:
        return self.env.get("FRONTDESK_ENV") == "production"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ACTION_SERVER_PORT']}"

    def ports(self) -> dict[str, int]:
        return {name: int(self.env[variable]) for name, variable in (
            ("rasa", "RASA_PORT"), ("actions", "ACTION_SERVER_PORT"), ("web", "FRONTDESK_WEB_PORT"))}

    def rows(self, query: str, **params: object) -> list:
        with Database(self.database_url).transaction() as session:
            return list(session.execute(text(query), params).all())

    def execute(self, statement: str, **params: object) -> None:
        """A write to the servers' database: to travel in time (expiries) instead of waiting."""
        with Database(self.database_url).transaction() as session:
            session.execute(text(statement), params)

    def post(self, name: str, message: str, metadata: dict | None = None) -> httpx.Response:
        """One REST message of the conversation called ``name`` (its first one opens it)."""
        body: dict = {"message": message, **({"metadata": metadata} if metadata else {})}
        if name in self.sessions:
            body["sender"] = self.sessions[name]
        reply = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=30,
                           headers={"X-Forwarded-For": client_address(name)})
        if SESSION_HEADER in reply.headers:
            self.sessions.setdefault(name, reply.headers[SESSION_HEADER])
        return reply

    def say(self, name: str, message: str, metadata: dict | None = None) -> list[dict]:
        started = time.perf_counter()
        reply = self.post(name, message, metadata)
        self.timings.setdefault(message, time.perf_counter() - started)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def conversation(self, name: str) -> str:
        """The conversation id the server derived for this name's session (what is stored)."""
        conversation_id = ChatSessions(SECRET_KEY).conversation_id("rest", self.sessions[name])
        assert conversation_id is not None
        return conversation_id

    def reference(self, name: str) -> str:
        """What tickets and agents call that conversation (its id is never shown to them)."""
        return ChatSessions(SECRET_KEY).reference(self.conversation(name))

    def customer_token(self, account_id: str) -> str:
        """A token as the support site signs it for a logged-in customer."""
        return CustomerTokenVerifier(customer_token_settings()).mint(account_id)

    def texts(self, name: str, message: str, metadata: dict | None = None) -> list[str]:
        return [m.get("text", "") for m in self.say(name, message, metadata)]

    def facts_of(self, *names: str, timeout: float = 60) -> dict[str, Any]:
        """The conversation facts of these conversations once the web app's consumer has recorded
        every message and action the tracker store holds of each (Rasa's event broker ->
        ``frontdesk insights consume``)."""
        ids = {name: self.conversation(name) for name in names}

        def complete() -> dict[str, Any] | None:
            facts = {}
            for name, conversation_id in ids.items():
                stored = self.rows("SELECT count(*) FROM events WHERE sender_id = :c AND type_name IN "
                                   "('user', 'action', 'bot')", c=conversation_id)[0][0]
                recorded = self.rows("SELECT count(*) FROM telemetry_events WHERE conversation_id = :c AND kind IN "
                                     "('user', 'action', 'bot')", c=conversation_id)[0][0]
                fact = self.rows("SELECT * FROM conversation_facts WHERE conversation_id = :c", c=conversation_id)
                if recorded < stored or not fact:
                    return None
                facts[name] = fact[0]
            return facts

        return wait_until(complete, timeout, f"telemetry facts of {', '.join(names)}")


def status_source_env(extra_env: dict[str, str], statuspage: StatuspageStandIn) -> dict[str, str]:
    """The status settings of a stack: the feed for production (re-read every second, so a test
    sees a change at once), the incidents table otherwise."""
    if extra_env.get("FRONTDESK_ENV") != "production":
        return {}
    return {"FRONTDESK_STATUS_SOURCE": "statuspage", "FRONTDESK_STATUSPAGE_URL": statuspage.url,
            "FRONTDESK_STATUSPAGE_CACHE_SECONDS": "1", "FRONTDESK_STATUSPAGE_TIMEOUT_SECONDS": "1"}


def customer_token_settings() -> CustomerTokenSettings:
    return KEYS.customer_token_settings()


def frontdesk(stack: Stack, *args: str, env: dict[str, str] | None = None) -> str:
    """``frontdesk <args>`` on the stack's database, as its admin unless ``env`` says otherwise."""
    env = {**os.environ, **stack.env, "FRONTDESK_DATABASE_URL": stack.database_url,
           "FRONTDESK_AGENT_TOKEN": stack.operator_token, **(env or {})}
    return subprocess.run([str(BIN / "frontdesk"), *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def issue_token(stack: Stack, name: str, *roles: str, queues: tuple[str, ...] = ()) -> str:
    grants = [arg for role in roles for arg in ("--role", role)] + [arg for q in queues for arg in ("--queue", q)]
    return json.loads(frontdesk(stack, "agent", "token", "create", name, *grants, "--json"))["token"]


class WidgetCustomer:
    """A customer in a socket.io client, speaking the protocol the website widget speaks: the
    server issues the session token on the first ``session_request``; a reconnecting client
    sends it back and keeps its conversation."""

    def __init__(self, url: str, session_id: str | None = None) -> None:
        self.url = url
        self.session_id = session_id
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("bot_uttered", self.received.put_nowait)

    @property
    def conversation_id(self) -> str:
        conversation_id = ChatSessions(SECRET_KEY).conversation_id("socketio", self.session_id)
        assert conversation_id is not None
        return conversation_id

    async def connect(self) -> None:
        confirmed = asyncio.get_running_loop().create_future()
        self.client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        await self.client.connect(self.url, socketio_path="/socket.io", transports=["websocket"])
        await self.client.emit("session_request", {"session_id": self.session_id})
        issued = await asyncio.wait_for(confirmed, 10)
        if self.session_id is not None:
            assert issued == self.session_id
        self.session_id = issued

    async def say(self, message: str, metadata: dict | None = None) -> None:
        await self.client.emit("user_uttered", {"message": message, "session_id": self.session_id,
                                                **({"customData": metadata} if metadata else {})})

    async def next_message(self, timeout: float = 20) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def nothing_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.received.get(), seconds)
        except asyncio.TimeoutError:
            return True
        return False


@contextlib.contextmanager
def running_stack(name: str, workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`frontdesk serve` with a real SMTP server, on free ports (``lab.stack.local_stack``, with
    the tests' settings below); Ctrl-C on the way out must stop every process cleanly. ``name``
    labels the timings report."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it)")
    # Development as `make run` has it (the demo sign-in on, the servers' secrets made up), unless
    # the caller asks for production.
    # Retention runs when a test runs it (tests/e2e/test_retention_under_load.py), not on a timer
    # that races it.
    # Telemetry is read every second, so a test waits for its facts briefly.
    extra_env = {"FRONTDESK_ENV": "development", "FRONTDESK_DEMO_SIGN_IN": "1", "FRONTDESK_RETENTION_EVERY_HOURS": "0",
                 "FRONTDESK_CONSUME_EVERY_SECONDS": "1", "FRONTDESK_METRICS_TOKEN": METRICS_TOKEN, **(extra_env or {})}
    if extra_env["FRONTDESK_ENV"] == "production":
        extra_env.pop("FRONTDESK_DEMO_SIGN_IN")
    # Production reads the service status from a Statuspage feed (the stand-in), development from
    # the incidents table: each source is exercised end to end by one of the two stacks.
    with SlackStandIn() as slack, StatuspageStandIn() as statuspage, local_stack(
            workdir, MODEL, {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
                             "SLACK_API_URL": slack.api_url, **status_source_env(extra_env, statuspage), **extra_env},
            keys=KEYS, outbox_poll_seconds=1, dev_mailbox=None, web_host="localhost") as local:
        try:
            stack = Stack(local.rasa_url, local.web_url, local.database_url, local.mailbox, local.process,
                          {"startup_seconds": local.startup_seconds}, name, slack,
                          {k: v for k, v in local.env.items() if os.environ.get(k) != v},
                          statuspage=statuspage if extra_env["FRONTDESK_ENV"] == "production" else None,
                          log=local.log)
            stack.operator_token = issue_token(stack, f"Stack admin {name}", "admin")
            yield stack
            # Ctrl-C stops every process, cleanly (what `frontdesk serve` left behind is only
            # stopped after these checks, by local_stack).
            assert local.interrupt() == 0, local.log_tail()
            for url in (f"{local.rasa_url}/", f"{stack.web_url}/healthz"):
                with pytest.raises(httpx.ConnectError):
                    httpx.get(url, timeout=2)
        finally:
            dispose_engines()
    report = ROOT / "reports" / f"e2e_timings_{name.replace('+', '_')}.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(stack.timings, indent=2))
