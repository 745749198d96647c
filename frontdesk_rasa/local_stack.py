"""The whole assistant on this machine for benchmarks and the closed beta: ``frontdesk serve``
(action server, web app, Rasa server) on free loopback ports, a fresh database, and a real SMTP
server on loopback that keeps every mail, so that a scripted customer can read its reset link
or one-time code as a person would.

Also what all the tooling shares to talk to such a stack as real clients do:

- ``StackKeys``: the stack runs in development mode with explicit secrets, made up per run and
  kept, so that the tooling can sign customer tokens as the support site would and derive the
  conversation id the server stores for a session token (``frontdesk.chat_sessions``);
- ``RestConversation``: a conversation over the REST channel that opens itself (its first
  message has no ``sender``) and keeps the session token the server issues;
- ``client_address``: each simulated customer comes from an address of its own, passed in
  ``X-Forwarded-For`` (the stack trusts that header from loopback, as from a reverse proxy), so
  that the per-client limits see many customers, as live, and not one machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from frontdesk.chat_sessions import SESSION_HEADER, ChatSessions

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WEBHOOK = "/webhooks/rest/webhook"
CLIENT_IP_HEADER = "X-Forwarded-For"
# The support site the tooling plays when it signs customer tokens (iss and aud of the tokens).
SUPPORT_SITE = "https://support.frontdesk.test"
CHAT_AUDIENCE = "frontdesk-chat"
_CLIENT_NETWORK = ipaddress.IPv4Network("10.0.0.0/8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_address(key: int | str) -> str:
    """A simulated customer's own address in 10.0.0.0/8: distinct for distinct numbers below
    2**24 - 2 (a contact's number), or from a hash of a name (collisions are rare and harmless:
    two customers behind one address)."""
    if isinstance(key, str):
        key = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:3], "big")
    return str(_CLIENT_NETWORK[1 + key % (_CLIENT_NETWORK.num_addresses - 2)])


def load_test_limits() -> dict[str, str]:
    """The stack's limits for tooling that sends far more traffic in minutes than one deployment
    sees in an hour or a day (the closed beta plays a month; the benchmark as much as the machine
    serves): the limits on everyone together (messages a minute, e-mails and handoffs an hour)
    and on what one e-mail address receives in a day are raised, as they would otherwise measure
    the compression, not the product. The per-client, per-conversation and per-account limits stay
    at their defaults: each simulated customer has an address of its own, as live."""
    from frontdesk.settings import AbuseLimits

    raised = ("messages_per_minute", "emails_per_hour", "handoffs_per_hour", "emails_per_address_per_day")
    unknown = set(raised) - set(AbuseLimits.__dataclass_fields__)
    if unknown:  # a renamed limit would silently stay at its default
        raise RuntimeError(f"frontdesk.settings.AbuseLimits has no {sorted(unknown)}")
    return {f"FRONTDESK_LIMIT_{name.upper()}": "1000000" for name in raised}


@dataclass(frozen=True)
class StackKeys:
    """The secrets a tooling stack runs with, the same for every process of the stack (the web
    app, ``frontdesk serve``'s servers and any Rasa or action server the tooling adds)."""

    secret_key: str
    action_server_secret: str
    rasa_jwt_secret: str
    customer_token_secret: str

    @classmethod
    def random(cls) -> StackKeys:
        return cls(*(secrets.token_urlsafe(32) for _ in range(4)))

    def environment(self) -> dict[str, str]:
        """Development mode (``FRONTDESK_ENV`` unset is production, which a laptop run is not)
        with explicit secrets, and client addresses from ``X-Forwarded-For`` when the request
        comes from loopback (all the tooling's load does)."""
        return {
            "FRONTDESK_ENV": "development",
            "FRONTDESK_SECRET_KEY": self.secret_key,
            "ACTION_SERVER_SECRET": self.action_server_secret,
            "RASA_JWT_SECRET": self.rasa_jwt_secret,
            "CUSTOMER_TOKEN_SECRET": self.customer_token_secret,
            "CUSTOMER_TOKEN_ISSUER": SUPPORT_SITE,
            "CUSTOMER_TOKEN_AUDIENCE": CHAT_AUDIENCE,
            "FRONTDESK_CLIENT_IP_HEADER": CLIENT_IP_HEADER,
        }

    def conversation_id(self, session_token: str | None) -> str | None:
        """The conversation id the stack stores (tracker, audit trail, handoffs) for a REST
        session token, or None when the stack never issued that token."""
        return ChatSessions(self.secret_key).conversation_id("rest", session_token)

    def customer_token(self, account_id: str, ttl_seconds: int = 900) -> str:
        """A customer token as the support site signs it for a logged-in customer. Each has its
        own ``jti``, which belongs to the first conversation that presents it: one per conversation."""
        from frontdesk.customer_token import CustomerTokenVerifier
        from frontdesk.settings import CustomerTokenSettings

        settings = CustomerTokenSettings(secret=self.customer_token_secret, issuer=SUPPORT_SITE,
                                         audience=CHAT_AUDIENCE)
        return CustomerTokenVerifier(settings).mint(account_id, ttl_seconds=ttl_seconds)


@dataclass
class RestConversation:
    """One customer's conversation over the REST channel, as a client holds it.

    The first message goes without ``sender`` and opens a conversation; the reply's
    ``X-Frontdesk-Session`` header carries the session token, sent as ``sender`` from then on.
    Every message comes from the customer's ``address`` (``X-Forwarded-For``). For stock Rasa's
    REST channel, which takes any id a client picks, pass that id as ``sender``."""

    rasa_url: str
    address: str
    sender: str | None = None

    async def post(self, client: httpx.AsyncClient, message: str,
                   metadata: dict[str, Any] | None = None) -> httpx.Response:
        """Sends one message (the client's timeout applies); the reply is the caller's to check."""
        body: dict[str, Any] = {"message": message}
        if self.sender is not None:
            body["sender"] = self.sender
        if metadata:
            body["metadata"] = metadata
        reply = await client.post(self.rasa_url + WEBHOOK, json=body, headers={CLIENT_IP_HEADER: self.address})
        if self.sender is None:
            self.sender = reply.headers.get(SESSION_HEADER)
        return reply


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps the mails it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@dataclass
class LocalStack:
    rasa_url: str
    web_url: str
    database_url: str
    mailbox: Mailbox
    keys: StackKeys
    process: subprocess.Popen[bytes]
    startup_seconds: float


@contextlib.contextmanager
def local_stack(workdir: Path, model: Path, extra_env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """Starts the stack on a fresh SQLite database in ``workdir`` (or ``FRONTDESK_DATABASE_URL`` in
    ``extra_env``), seeded with the demo customers, with new ``StackKeys``; Ctrl-C (SIGINT) stops
    it on the way out. ``extra_env`` goes last (e.g. a tool's rate limits)."""
    from aiosmtpd.controller import Controller

    workdir.mkdir(parents=True, exist_ok=True)
    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    extra_env = dict(extra_env or {})
    database_url = extra_env.pop("FRONTDESK_DATABASE_URL", f"sqlite:///{workdir / 'frontdesk.db'}")
    keys = StackKeys.random()
    env = {
        **os.environ,
        "FRONTDESK_DATABASE_URL": database_url,
        "RASA_PORT": str(ports["rasa"]),
        "ACTION_SERVER_PORT": str(ports["actions"]),
        "FRONTDESK_WEB_PORT": str(ports["web"]),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "OUTBOX_POLL_SECONDS": "1",
        **keys.environment(),
        "FRONTDESK_DEV_MAILBOX": "0",
        **extra_env,
    }
    for command in (["db", "upgrade"], ["db", "seed"]):
        subprocess.run([str(BIN / "frontdesk"), *command], env=env, check=True, cwd=ROOT,  # noqa: S603
                       capture_output=True)
    log = (workdir / "serve.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen([str(BIN / "frontdesk"), "serve", "--model", str(model)],  # noqa: S603
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    rasa_url = f"http://127.0.0.1:{ports['rasa']}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError("frontdesk serve exited:\n" + (workdir / "serve.log").read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{rasa_url}/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the stack did not start within 300 s")
            time.sleep(0.5)
        yield LocalStack(rasa_url, f"http://127.0.0.1:{ports['web']}", database_url, mailbox, keys,
                         process, time.perf_counter() - started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        controller.stop()
        log.close()
