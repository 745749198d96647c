"""The full stack for end-to-end tests: `frontdesk serve` starts the real action server, web
app and Rasa server on free ports, with a real SMTP server; once on the embedded defaults and
once on what production runs (PostgreSQL, Redis). Shutting it down is checked too: Ctrl-C must
stop every process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from frontdesk.customer_token import CustomerTokenVerifier
from frontdesk.db import dispose_engines
from frontdesk.settings import CustomerTokenSettings
from tests.conftest import SmtpSink, create_postgres_database, drop_postgres_database, free_port
from tests.standins.slack import SlackStandIn

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "frontdesk.tar.gz"
BIN = Path(sys.executable).parent
CUSTOMER_TOKEN_SECRET = "e2e-support-site-signing-secret-0123456789"
SLACK_SIGNING_SECRET = "e2e-slack-signing-secret"


@dataclass
class Stack:
    rasa_url: str
    web_url: str
    database_url: str
    smtp: SmtpSink
    process: subprocess.Popen[bytes]
    timings: dict[str, float]
    backend: str
    slack: SlackStandIn

    def say(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        started = time.perf_counter()
        body = {"sender": sender, "message": message, **({"metadata": metadata} if metadata else {})}
        reply = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=30)
        self.timings.setdefault(message, time.perf_counter() - started)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def customer_token(self, account_id: str) -> str:
        """A token as the support site signs it for a logged-in customer."""
        settings = CustomerTokenSettings(secret=CUSTOMER_TOKEN_SECRET)
        return CustomerTokenVerifier(settings).mint(account_id)

    def texts(self, sender: str, message: str, metadata: dict | None = None) -> list[str]:
        return [m.get("text", "") for m in self.say(sender, message, metadata)]


def frontdesk(stack: Stack, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "FRONTDESK_DATABASE_URL": stack.database_url, **(env or {})}
    return subprocess.run([str(BIN / "frontdesk"), *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def issue_token(stack: Stack, name: str, *roles: str) -> str:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return json.loads(frontdesk(stack, "agent", "token", "create", name, *role_args, "--json"))["token"]


class WidgetCustomer:
    """A customer in a socket.io client, speaking the protocol the website widget speaks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session_id = uuid.uuid4().hex
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("bot_uttered", self.received.put_nowait)

    async def connect(self) -> None:
        confirmed = asyncio.get_running_loop().create_future()
        self.client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        await self.client.connect(self.url, socketio_path="/socket.io", transports=["websocket"])
        await self.client.emit("session_request", {"session_id": self.session_id})
        assert await asyncio.wait_for(confirmed, 10) == self.session_id

    async def say(self, message: str) -> None:
        await self.client.emit("user_uttered", {"message": message, "session_id": self.session_id})

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
    """`frontdesk serve` with a real SMTP server, on free ports; Ctrl-C on the way out must stop
    every process cleanly. ``name`` labels the timings report."""
    from aiosmtpd.controller import Controller

    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it)")
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    slack = SlackStandIn().__enter__()
    ports = {port: free_port() for port in ("rasa", "actions", "web")}
    extra_env = dict(extra_env or {})
    database_url = extra_env.pop("FRONTDESK_DATABASE_URL", f"sqlite:///{workdir / 'frontdesk.db'}")
    env = {
        **os.environ,
        "FRONTDESK_DATABASE_URL": database_url,
        "RASA_PORT": str(ports["rasa"]),
        "ACTION_SERVER_PORT": str(ports["actions"]),
        "FRONTDESK_WEB_PORT": str(ports["web"]),
        "SMTP_HOST": sink.host,
        "SMTP_PORT": str(sink.port),
        "OUTBOX_POLL_SECONDS": "1",
        "CUSTOMER_TOKEN_SECRET": CUSTOMER_TOKEN_SECRET,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        **extra_env,
    }
    for command in (["db", "upgrade"], ["db", "seed"]):
        subprocess.run([str(BIN / "frontdesk"), *command], env=env, check=True, cwd=ROOT)
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(BIN / "frontdesk"), "serve", "--model", str(MODEL)],
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    rasa_url = f"http://127.0.0.1:{ports['rasa']}"
    deadline = time.monotonic() + 300
    started = time.perf_counter()
    try:
        while True:
            assert process.poll() is None, (workdir / "serve.log").read_text()[-5000:]
            try:
                if httpx.get(f"{rasa_url}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the stack did not start in 300 s"
            time.sleep(0.5)
        stack = Stack(rasa_url, f"http://localhost:{ports['web']}", database_url, sink, process,
                      {"startup_seconds": time.perf_counter() - started}, name, slack)
        yield stack
        # Ctrl-C stops every process, cleanly.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, (workdir / "serve.log").read_text()[-3000:]
        for url in (f"{rasa_url}/", f"{stack.web_url}/healthz"):
            with pytest.raises(httpx.ConnectError):
                httpx.get(url, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        controller.stop()
        slack.__exit__()
        log.close()
        dispose_engines()
    report = ROOT / "reports" / f"e2e_timings_{name.replace('+', '_')}.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(stack.timings, indent=2))


@pytest.fixture(scope="package", params=["embedded", pytest.param("postgres+redis", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded defaults (SQLite, in-memory lock store), then what production runs
    (PostgreSQL tracker store and app database, Redis lock store)."""
    workdir = tmp_path_factory.mktemp("e2e")
    extra_env: dict[str, str] = {}
    if request.param == "postgres+redis":
        extra_env["FRONTDESK_DATABASE_URL"] = create_postgres_database(f"frontdesk_e2e_{workdir.name[-8:]}")
        extra_env["FRONTDESK_REDIS_URL"] = "redis://127.0.0.1:6379/1"
    try:
        with running_stack(request.param, workdir, extra_env) as stack:
            yield stack
    finally:
        if "FRONTDESK_DATABASE_URL" in extra_env:
            drop_postgres_database(extra_env["FRONTDESK_DATABASE_URL"])
