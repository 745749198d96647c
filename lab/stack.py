"""The whole assistant on this machine, for the end-to-end tests, the closed beta and the
benchmark: ``frontdesk serve`` (action server, web app, Rasa server) on free loopback ports, a
fresh database, and a real SMTP server on loopback that keeps every mail, so that a scripted
customer can read its reset link or one-time code as a person would (``local_stack``). What the
callers want differently is a parameter of ``local_stack``, each defaulting to the closed beta's
choice: the secrets (``StackKeys``), the database, the outbox's poll interval, the development
mailbox, the host in the web app's URL, what counts as "ready", and whether to wait for it.

Underneath, the mechanics any tool that starts servers shares (the benchmark's stock ``rasa run``
uses them directly): ``free_port``, ``wait_until`` (a probe polled with a deadline),
``wait_until_answering`` (a server's URL, failing at once if the server exits) and ``Processes``
(servers in their own sessions, stopped in order, with the children a supervisor leaves behind).

Also what all the tooling shares to talk to such a stack as real clients do:

- ``StackKeys``: the stack runs in development mode with explicit secrets, made up per run (or
  fixed by a test) and kept, so that the tooling can sign customer tokens as the support site
  would and derive the conversation id the server stores for a session token
  (``frontdesk.core.chat_sessions``);
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
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from frontdesk.core.chat_sessions import SESSION_HEADER, ChatSessions

if TYPE_CHECKING:
    from frontdesk.settings import CustomerTokenSettings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WEBHOOK = "/webhooks/rest/webhook"
CLIENT_IP_HEADER = "X-Forwarded-For"
# The support site the tooling plays when it signs customer tokens (iss and aud of the tokens).
SUPPORT_SITE = "https://support.frontdesk.test"
CHAT_AUDIENCE = "frontdesk-chat"
_CLIENT_NETWORK = ipaddress.IPv4Network("10.0.0.0/8")
T = TypeVar("T")


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
    app, ``frontdesk serve``'s servers and any Rasa or action server the tooling adds). The
    action server's and the Rasa API's secrets may be None: development then makes them up for
    each run (``frontdesk serve``), as ``make run`` does."""

    secret_key: str
    action_server_secret: str | None
    rasa_jwt_secret: str | None
    customer_token_secret: str
    customer_token_issuer: str = SUPPORT_SITE
    customer_token_audience: str = CHAT_AUDIENCE

    @classmethod
    def random(cls) -> StackKeys:
        return cls(*(secrets.token_urlsafe(32) for _ in range(4)))

    def environment(self) -> dict[str, str]:
        """Development mode (``FRONTDESK_ENV`` unset is production, which a laptop run is not)
        with explicit secrets, and client addresses from ``X-Forwarded-For`` when the request
        comes from loopback (all the tooling's load does)."""
        servers = {"ACTION_SERVER_SECRET": self.action_server_secret, "RASA_JWT_SECRET": self.rasa_jwt_secret}
        return {
            "FRONTDESK_ENV": "development",
            "FRONTDESK_SECRET_KEY": self.secret_key,
            **{name: value for name, value in servers.items() if value is not None},
            "CUSTOMER_TOKEN_SECRET": self.customer_token_secret,
            "CUSTOMER_TOKEN_ISSUER": self.customer_token_issuer,
            "CUSTOMER_TOKEN_AUDIENCE": self.customer_token_audience,
            "FRONTDESK_CLIENT_IP_HEADER": CLIENT_IP_HEADER,
        }

    def conversation_id(self, session_token: str | None) -> str | None:
        """The conversation id the stack stores (tracker, audit trail, handoffs) for a REST
        session token, or None when the stack never issued that token."""
        return ChatSessions(self.secret_key).conversation_id("rest", session_token)

    def customer_token_settings(self) -> CustomerTokenSettings:
        """The ``frontdesk.settings.CustomerTokenSettings`` the stack verifies customer tokens with."""
        from frontdesk.settings import CustomerTokenSettings

        return CustomerTokenSettings(secret=self.customer_token_secret, issuer=self.customer_token_issuer,
                                     audience=self.customer_token_audience)

    def customer_token(self, account_id: str, ttl_seconds: int = 900) -> str:
        """A customer token as the support site signs it for a logged-in customer. Each has its
        own ``jti``, which belongs to the first conversation that presents it: one per conversation."""
        from frontdesk.accounts.customer_token import CustomerTokenVerifier

        return CustomerTokenVerifier(self.customer_token_settings()).mint(account_id, ttl_seconds=ttl_seconds)


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


# --------------------------------------------------------------------------------------------
# Waiting with a deadline


class DeadlineExceeded(TimeoutError):
    """What was waited for did not happen in time."""


def wait_until(probe: Callable[[], T], timeout: float, what: str | Callable[[], str] = "the condition",
               interval: float = 0.2) -> T:
    """Polls ``probe`` until it returns something truthy, which is returned; ``DeadlineExceeded``
    (saying ``what`` was waited for) after ``timeout`` seconds. The probe runs once more at the
    deadline, so a slow last poll is not lost."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"{what() if callable(what) else what} within {timeout:g} s")
        time.sleep(min(interval, left))


def wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float = 300, log: Path | None = None,
                         statuses: Container[int] = (200,)) -> float:
    """Polls ``url`` until it answers with one of ``statuses``; the seconds it took. Fails at once,
    with the end of the server's ``log``, if the server exits first (RuntimeError), and after
    ``timeout`` seconds (``DeadlineExceeded``)."""
    started = time.perf_counter()

    def answering() -> bool:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-5000:] if log and log.exists() else ""
            raise RuntimeError(f"the server of {url} exited ({process.returncode}) while starting\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(url, timeout=2).status_code in statuses
        return False

    wait_until(answering, timeout, f"{url} did not answer" + (f" (see {log})" if log else ""))
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Processes


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def process_table() -> dict[int, tuple[str, int, int]]:
    """Every process on the machine: pid -> (name, parent pid, CPU ticks used)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        head, rest = stat.rsplit(")", 1)
        parts = rest.split()
        found[int(entry.name)] = (head.split("(", 1)[1], int(parts[1]), int(parts[11]) + int(parts[12]))
    return found


def children(pid: int) -> list[int]:
    return [child for child, (_, parent, _) in process_table().items() if parent == pid]


# What a command line of ``frontdesk serve``'s children says about the server it runs.
SERVER_ROLES = ((" -m frontdesk_rasa.action_server", "action server"),
                (" -m frontdesk_rasa.rasa_server run ", "rasa server"))


class Processes:
    """Servers a tool starts, each in its own session (a Ctrl-C in the tool's terminal reaches the
    tool, which stops them in order); ``stop_all`` stops them in reverse order, and any child a
    supervisor left behind (``frontdesk serve`` starts its servers in their own sessions)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.orphans: dict[int, str] = {}  # pid -> cmdline, to kill only what we started

    def start(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path,
              log: Path) -> subprocess.Popen[bytes]:
        """``argv`` with its output appended to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=output,  # noqa: S603 - our own argv
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, process))
        return process

    def adopt_children(self, process: subprocess.Popen[bytes]) -> dict[str, int]:
        """The servers a supervisor started, by role; stopping the supervisor stops them too."""
        roles = {}
        for pid in children(process.pid):
            command = cmdline(pid)
            self.orphans[pid] = command
            for needle, role in SERVER_ROLES:
                if needle in command:
                    roles[role] = pid
            if command.endswith(" web") or " web " in command:
                roles["web app"] = pid
        return roles

    def interrupt(self, process: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 60) -> int:
        """Signals ``process`` and waits for it (killed after ``timeout`` seconds); its exit status.
        Its children are left to it: ``stop`` also reaps those it left behind."""
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        return process.returncode

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        self.interrupt(process, sig)
        self.started = [(n, p) for n, p in self.started if p is not process]
        self.reap_orphans()

    def reap_orphans(self) -> None:
        for pid, command in list(self.orphans.items()):
            if cmdline(pid) == command:  # still the process we saw (no pid reuse)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                with contextlib.suppress(DeadlineExceeded):
                    wait_until(lambda pid=pid, command=command: cmdline(pid) != command, 20, interval=0.2)
                if cmdline(pid) == command:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            del self.orphans[pid]

    def stop_all(self) -> None:
        for name, process in reversed(self.started):
            try:
                self.stop(process, signal.SIGINT if name == SERVE else signal.SIGTERM)
            except Exception as problem:  # keep stopping the others
                print(f"warning: stopping {name}: {problem}", file=sys.stderr)
        self.reap_orphans()


# --------------------------------------------------------------------------------------------
# Mail


@dataclass
class Mailbox:
    """A real SMTP server's handler (aiosmtpd) that keeps the mails it receives; ``serving``
    listens on ``host``:``port``."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    @property
    def received(self) -> int:
        return len(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """All the mails, once at least ``count`` have arrived (``DeadlineExceeded`` after ``timeout``)."""
        wait_until(lambda: len(self.messages) >= count, timeout,
                   lambda: f"expected {count} e-mails, got {len(self.messages)}", interval=0.1)
        return self.messages

    @contextlib.contextmanager
    def serving(self) -> Iterator[Mailbox]:
        from aiosmtpd.controller import Controller

        controller = Controller(self, hostname=self.host, port=self.port)
        controller.start()
        try:
            yield self
        finally:
            controller.stop()


# --------------------------------------------------------------------------------------------
# The whole stack

SERVE = "frontdesk serve"


def frontdesk_command(env: Mapping[str, str], *args: str) -> str:
    """``frontdesk <args>`` (e.g. ``db upgrade``) with the stack's environment; what it printed.
    Its output goes into the error when it fails."""
    done = subprocess.run([str(BIN / "frontdesk"), *args], env=dict(env), cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"frontdesk {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def delete_rabbitmq_queue(queue: str, exchange: str | None = None) -> None:
    """Removes a run's queue (and exchange) from the local RabbitMQ (guest): a durable queue left
    bound to a fanout exchange would keep every later event."""
    import asyncio

    import aio_pika

    async def delete() -> None:
        connection = await aio_pika.connect(host="127.0.0.1", port=5672, login="guest",
                                            password="guest", timeout=10)  # noqa: S106 - RabbitMQ's local default
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            if exchange:
                await channel.exchange_delete(exchange)

    asyncio.run(delete())


@dataclass
class LocalStack:
    rasa_url: str
    web_url: str
    database_url: str
    mailbox: Mailbox
    keys: StackKeys
    process: subprocess.Popen[bytes]
    env: dict[str, str]  # everything the stack runs with (the inherited environment included)
    workdir: Path
    log: Path
    processes: Processes
    started: float  # time.perf_counter() when `frontdesk serve` started
    ready_statuses: Container[int] = (200,)
    startup_seconds: float = 0.0  # from starting `frontdesk serve` until the Rasa server answered
    servers: dict[str, int] = field(default_factory=dict)  # role -> pid of `frontdesk serve`'s servers

    @property
    def ports(self) -> dict[str, int]:
        return {name: int(self.env[variable]) for name, variable in (
            ("rasa", "RASA_PORT"), ("actions", "ACTION_SERVER_PORT"), ("web", "FRONTDESK_WEB_PORT"))}

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def wait_until_ready(self, timeout: float = 300) -> float:
        """Waits until the Rasa server answers (``frontdesk serve`` starts it last); then knows
        the servers by role. The seconds since the stack was started."""
        wait_until_answering(f"{self.rasa_url}/", self.process, timeout, self.log, self.ready_statuses)
        self.startup_seconds = time.perf_counter() - self.started
        self.servers = self.processes.adopt_children(self.process)
        return self.startup_seconds

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C (SIGINT) to ``frontdesk serve``, which stops its servers; its exit status (killed
        after ``timeout`` seconds). A server it left behind is only stopped on leaving
        ``local_stack``, so that the caller can check first that none did."""
        return self.processes.interrupt(self.process, signal.SIGINT, timeout)


@contextlib.contextmanager
def local_stack(workdir: Path, model: Path, extra_env: Mapping[str, str] | None = None, *,
                keys: StackKeys | None = None, database_url: str | None = None,
                base_env: Mapping[str, str] | None = None, outbox_poll_seconds: float | None = 1,
                dev_mailbox: bool | None = False, web_host: str = "127.0.0.1",
                ready_statuses: Container[int] = (200,), wait: bool = True,
                processes: Processes | None = None) -> Iterator[LocalStack]:
    """Starts ``frontdesk serve`` on free ports with a real SMTP server (a ``Mailbox``), on a fresh
    SQLite database in ``workdir`` (or ``database_url``; ``FRONTDESK_DATABASE_URL`` in
    ``extra_env`` too), migrated and seeded with the demo customers; Ctrl-C (SIGINT) stops it
    on the way out, and whatever server it left behind.

    - ``keys``: the secrets (``StackKeys.environment``: development mode); new ones by default;
    - ``base_env``: the environment it inherits (``os.environ``); ``extra_env`` goes last (e.g. a
      tool's rate limits, or production and its secrets);
    - ``outbox_poll_seconds``: how often the web app sends queued mail (None: the default);
    - ``dev_mailbox``: ``FRONTDESK_DEV_MAILBOX`` (None: the setting's default);
    - ``web_host``: the host in ``web_url`` (the servers listen on loopback either way);
    - ``ready_statuses``: the answers of the Rasa server's ``/`` that mean it is up;
    - ``wait``: wait until it is (False: the caller starts more first, then ``wait_until_ready``);
    - ``processes``: the registry it starts ``frontdesk serve`` in (a tool's own, to stop
      everything it started in one place); a new one by default."""
    workdir.mkdir(parents=True, exist_ok=True)
    processes = processes if processes is not None else Processes()
    keys = keys if keys is not None else StackKeys.random()
    extra_env = dict(extra_env or {})
    database_url = extra_env.pop("FRONTDESK_DATABASE_URL", database_url or f"sqlite:///{workdir / 'frontdesk.db'}")
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    with Mailbox().serving() as mailbox:
        env = {
            **(os.environ if base_env is None else base_env),
            "FRONTDESK_DATABASE_URL": database_url,
            "RASA_PORT": str(ports["rasa"]),
            "ACTION_SERVER_PORT": str(ports["actions"]),
            "FRONTDESK_WEB_PORT": str(ports["web"]),
            "SMTP_HOST": mailbox.host,
            "SMTP_PORT": str(mailbox.port),
            # Its own database, so its own audit checkpoints: never the installation's var/ file.
            "FRONTDESK_AUDIT_CHECKPOINT_FILE": str(workdir / "audit-checkpoints.jsonl"),
            # Its own event broker file too, unless the caller names a broker (an amqp:// one, or off).
            "FRONTDESK_EVENT_BROKER_URL": (os.environ if base_env is None else base_env).get(
                "FRONTDESK_EVENT_BROKER_URL") or f"sqlite:///{workdir / 'event-broker.db'}",
            **({} if outbox_poll_seconds is None else {"OUTBOX_POLL_SECONDS": f"{outbox_poll_seconds:g}"}),
            **keys.environment(),
            **({} if dev_mailbox is None else {"FRONTDESK_DEV_MAILBOX": "1" if dev_mailbox else "0"}),
            **extra_env,
        }
        for command in (("db", "upgrade"), ("db", "seed")):
            frontdesk_command(env, *command)
        log = workdir / "serve.log"
        started = time.perf_counter()
        process = processes.start(SERVE, [str(BIN / "frontdesk"), "serve", "--model", str(model)], env, ROOT, log)
        stack = LocalStack(f"http://127.0.0.1:{ports['rasa']}", f"http://{web_host}:{ports['web']}", database_url,
                           mailbox, keys, process, env, workdir, log, processes, started, ready_statuses)
        try:
            if wait:
                stack.wait_until_ready()
            yield stack
        finally:
            if process.poll() is None:
                processes.adopt_children(process)  # so that none outlives a serve that must be killed
            processes.stop(process, signal.SIGINT)
