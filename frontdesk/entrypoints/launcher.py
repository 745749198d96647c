"""``frontdesk serve``: starts the action server, the web app and the Rasa server, waits until
each answers, says where to talk to the assistant, and stops them all on Ctrl-C.

Secrets reach the children through their environment, never their command lines (``ps`` shows
those to every user). In development the ones not configured are made up for this run."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from frontdesk.entrypoints.runtime import rasa_environment
from frontdesk.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
# How often the audit trail's chain head is written outside the database (docs/privacy.md): an
# edit behind the CLI's back can only hide among the records written since the last checkpoint.
AUDIT_CHECKPOINT_SECONDS = 3600.0

BIN = Path(sys.executable).parent


@dataclass
class Supervisor:
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    log_dir: Path | None = None

    def start(self, name: str, argv: list[str], foreground: bool = False,
              extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        # Background services get their own process group so that Ctrl-C reaches only us,
        # and we stop them in order instead of all dying at once.
        output = None
        if self.log_dir is not None and not foreground:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name.replace(' ', '-')}.log", "ab")  # noqa: SIM115 - child owns it
        process = subprocess.Popen(  # noqa: S603 - argv built here from our own executables
            argv, env={**self.env, **(extra_env or {})}, cwd=PROJECT_ROOT, start_new_session=not foreground,
            stdout=output, stderr=subprocess.STDOUT if output else None,
        )
        self.processes[name] = process
        return process

    def wait_ready(self, name: str, url: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with status {process.returncode} while starting")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - loopback URL
                    if reply.status < 500:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} did not answer at {url} within {timeout:.0f} s")

    def stop_all(self) -> None:
        for name, process in reversed(self.processes.items()):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop in 15 s; killing it", file=sys.stderr)
                    process.kill()
                    process.wait()


def _wants_dev_mailbox(settings: Settings) -> bool:
    default_smtp = settings.smtp.host in {"127.0.0.1", "localhost"} and settings.smtp.port == 1025
    return settings.dev_mailbox and default_smtp


def development_secrets(settings: Settings) -> dict[str, str]:
    """Development only: the secrets the servers share, made up for this run when not configured
    (production refuses to start without them: see Settings). With the demo sign-in on, a
    customer-token key too, so the demo works on a fresh clone."""
    if not settings.is_development:
        return {}
    made_up = {name: secrets.token_urlsafe(32) for name, value in (
        ("ACTION_SERVER_SECRET", settings.action_server_secret), ("RASA_JWT_SECRET", settings.rasa_jwt_secret),
    ) if not value}
    if settings.demo_sign_in and not settings.customer_token.configured:
        made_up.update({"CUSTOMER_TOKEN_SECRET": secrets.token_urlsafe(32),
                        "CUSTOMER_TOKEN_ISSUER": "frontdesk-demo-site", "CUSTOMER_TOKEN_AUDIENCE": "frontdesk-chat"})
    return made_up


def development_notice(settings: Settings) -> str:
    """What the banner says in development: which conveniences are on, and that they must never
    face a network."""
    if not settings.is_development:
        return ""
    demo = ("ON: /widget?demo_customer=AC-100002 signs in as that customer" if settings.demo_sign_in
            else "off (FRONTDESK_DEMO_SIGN_IN=1 turns it on)")
    return f"""
  DEVELOPMENT MODE (FRONTDESK_ENV=development), for this laptop only, never expose it:
  the built-in secret key, secrets made up for this run, and the demo sign-in {demo}.
"""


def rasa_server_args(settings: Settings, rasa_args: list[str]) -> list[str]:
    """``rasa run``'s arguments, for ``python -m frontdesk_rasa.rasa_server``, which adds the HTTP
    API's JWT secret from the environment."""
    return ["run", *rasa_args, "--interface", settings.bind_host, "--port", str(settings.rasa_port),
            "--cors", "*", "--enable-api"]


def checkpoint_audit_trail(settings: Settings) -> None:
    """Writes the audit trail's head to the checkpoint file; a failure is logged, never fatal."""
    from frontdesk.core.audit import write_checkpoint
    from frontdesk.core.db import Database

    try:
        write_checkpoint(Database(settings.database_url), settings)
    except Exception as problem:  # the servers must outlive a database hiccup
        log.error("audit checkpoint failed (%s); next attempt in an hour", type(problem).__name__)


def serve(settings: Settings, model: Path, shell: bool = False) -> int:
    if shell and not settings.is_development:
        # rasa shell runs Rasa's own command-line channel: none of the channels' checks.
        print("error: the shell is for development (FRONTDESK_ENV=development)", file=sys.stderr)
        return 2
    env = {**os.environ, **rasa_environment(settings, os.environ), **development_secrets(settings)}
    # In the terminal the servers' logs would interleave with the conversation: files instead.
    supervisor = Supervisor(env, log_dir=PROJECT_ROOT / "var" / "log" if shell else None)
    mailbox = None
    retention = None

    def _stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background ignores SIGINT, and
    # Python would then never raise KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if _wants_dev_mailbox(settings):
            from frontdesk.dev.mailbox import start_dev_mailbox

            mailbox = start_dev_mailbox(PROJECT_ROOT / "var" / "mail", settings.smtp.host, settings.smtp.port)
        host = settings.bind_host
        python = str(BIN / "python")
        supervisor.start("action server", [python, "-m", "frontdesk_rasa.action_server"])
        supervisor.start("web app", [str(BIN / "frontdesk"), "web"])
        rasa_args = ["--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"]
        supervisor.wait_ready("action server", f"http://{host}:{settings.action_port}/health")
        supervisor.wait_ready("web app", f"http://{host}:{settings.web_port}/healthz")
        if shell:
            if mailbox is not None:
                logging.getLogger("frontdesk.dev.mailbox").setLevel(logging.WARNING)
            print("Starting rasa shell (type /stop to quit; server logs are in var/log/)...", flush=True)
            # The shell's own Rasa server: on loopback (it has no API and no authentication).
            shell_process = supervisor.start("rasa shell", [python, "-m", "frontdesk_rasa.rasa_server", "shell",
                                                            *rasa_args, "--interface", "127.0.0.1"], True)
            return shell_process.wait()
        supervisor.start("rasa server", [python, "-m", "frontdesk_rasa.rasa_server",
                                         *rasa_server_args(settings, rasa_args)])
        print("Loading the model (about 30 s)...", flush=True)
        slack = ("on, /webhooks/slack/webhook" if settings.slack.configured
                 else "off (set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)")
        supervisor.wait_ready("rasa server", f"{settings.rasa_url}/")
        if settings.privacy.retention_every_hours:
            from frontdesk.privacy.retention import RetentionScheduler

            # Retention (docs/privacy.md), daily by default: the first run a minute after start-up.
            retention = RetentionScheduler(settings, interval=settings.privacy.retention_every_hours * 3600.0).start()
        # The CLI reads the same environment: in development it must be told so too.
        cli = f"{'FRONTDESK_ENV=development ' if settings.is_development else ''}.venv/bin/frontdesk"
        print(
            f"""
Frontdesk is running.
  REST:       curl -si localhost:{settings.rasa_port}/webhooks/rest/webhook -d '{{"message":"I forgot my password"}}'
              (then send the reply's X-Frontdesk-Session value as "sender" with the next message)
  socket.io:  http://localhost:{settings.rasa_port}/socket.io (sessions issued by the server)
  Web app:    {settings.public_url} (password-reset page, e-mail outbox worker)
  Widget:     {settings.public_url}/widget (the help-centre page with the chat widget)
  Agents:     {settings.public_url}/agent (token: `{cli} agent token create "Your Name"`)
  Slack:      {slack}
  E-mail:     {"development mailbox, files in var/mail/" if mailbox else
               f"SMTP {settings.smtp.host}:{settings.smtp.port}"}
  Demo customers: `{cli} accounts list`, e.g. ada.lovelace@example.com
{development_notice(settings)}Press Ctrl-C to stop.""",
            flush=True,
        )
        next_checkpoint = time.monotonic()
        while True:
            for name, process in supervisor.processes.items():
                if process.poll() is not None:
                    print(f"{name} stopped unexpectedly (status {process.returncode})", file=sys.stderr)
                    return 1
            if time.monotonic() >= next_checkpoint:
                next_checkpoint += AUDIT_CHECKPOINT_SECONDS
                checkpoint_audit_trail(settings)
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except RuntimeError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    finally:
        if retention is not None:
            retention.stop()
        supervisor.stop_all()
        if mailbox is not None:
            mailbox.stop()
        print("Stopped.", flush=True)
