"""The whole assistant on this machine for benchmarks and the closed beta: ``frontdesk serve``
(action server, web app, Rasa server) on free loopback ports, a fresh database, and a real SMTP
server on loopback that keeps every mail, so that a scripted customer can read its reset link
or one-time code as a person would."""

from __future__ import annotations

import contextlib
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

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    customer_token_secret: str
    process: subprocess.Popen[bytes]
    startup_seconds: float


@contextlib.contextmanager
def local_stack(workdir: Path, model: Path, extra_env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """Starts the stack on a fresh SQLite database in ``workdir`` (or ``FRONTDESK_DATABASE_URL`` in
    ``extra_env``), seeded with the demo customers; Ctrl-C (SIGINT) stops it on the way out."""
    from aiosmtpd.controller import Controller

    workdir.mkdir(parents=True, exist_ok=True)
    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    extra_env = dict(extra_env or {})
    database_url = extra_env.pop("FRONTDESK_DATABASE_URL", f"sqlite:///{workdir / 'frontdesk.db'}")
    token_secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "FRONTDESK_DATABASE_URL": database_url,
        "RASA_PORT": str(ports["rasa"]),
        "ACTION_SERVER_PORT": str(ports["actions"]),
        "FRONTDESK_WEB_PORT": str(ports["web"]),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "OUTBOX_POLL_SECONDS": "1",
        "CUSTOMER_TOKEN_SECRET": token_secret,
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
        yield LocalStack(rasa_url, f"http://127.0.0.1:{ports['web']}", database_url, mailbox, token_secret,
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
