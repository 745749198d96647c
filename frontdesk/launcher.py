"""``frontdesk serve``: starts the action server, the web app and the Rasa server, waits until
each answers, says where to talk to the assistant, and stops them all on Ctrl-C."""

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

from frontdesk.runtime import rasa_environment
from frontdesk.settings import PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent


@dataclass
class Supervisor:
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    log_dir: Path | None = None

    def start(self, name: str, argv: list[str], foreground: bool = False) -> subprocess.Popen[bytes]:
        # Background services get their own process group so that Ctrl-C reaches only us,
        # and we stop them in order instead of all dying at once.
        output = None
        if self.log_dir is not None and not foreground:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name.replace(' ', '-')}.log", "ab")  # noqa: SIM115 - child owns it
        process = subprocess.Popen(  # noqa: S603 - argv built here from our own executables
            argv, env=self.env, cwd=PROJECT_ROOT, start_new_session=not foreground,
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
    return default_smtp and os.environ.get("FRONTDESK_DEV_MAILBOX", "1") != "0"


def rasa_server_args(settings: Settings, rasa_args: list[str], api_token: str) -> list[str]:
    """``rasa run``'s arguments. The token is joined to its option: a random token starting with
    "-" (one in 64) would otherwise be read as an option and stop Rasa from starting."""
    return ["run", *rasa_args, "--interface", settings.bind_host, "--port", str(settings.rasa_port),
            "--cors", "*", "--enable-api", f"--auth-token={api_token}"]


def serve(settings: Settings, model: Path, shell: bool = False) -> int:
    env = {**os.environ, **rasa_environment(settings, os.environ)}
    # Rasa's HTTP API is on (agent replies go through it) and always needs this token; the web
    # app, a child like Rasa, reads the same variable.
    api_token = settings.rasa_api_token or secrets.token_urlsafe(32)
    env["RASA_API_TOKEN"] = api_token
    # In the terminal the servers' logs would interleave with the conversation: files instead.
    supervisor = Supervisor(env, log_dir=PROJECT_ROOT / "var" / "log" if shell else None)
    mailbox = None

    def _stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background ignores SIGINT, and
    # Python would then never raise KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if _wants_dev_mailbox(settings):
            from frontdesk.dev_mailbox import start_dev_mailbox

            mailbox = start_dev_mailbox(PROJECT_ROOT / "var" / "mail", settings.smtp.host, settings.smtp.port)
        host = settings.bind_host
        supervisor.start(
            "action server",
            [str(BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(settings.action_port)],
        )
        supervisor.start("web app", [str(BIN / "frontdesk"), "web"])
        rasa_args = ["--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"]
        supervisor.wait_ready("action server", f"http://{host}:{settings.action_port}/health")
        supervisor.wait_ready("web app", f"http://{host}:{settings.web_port}/healthz")
        if shell:
            if mailbox is not None:
                logging.getLogger("frontdesk.dev_mailbox").setLevel(logging.WARNING)
            print("Starting rasa shell (type /stop to quit; server logs are in var/log/)...", flush=True)
            shell_process = supervisor.start("rasa shell", [str(BIN / "rasa"), "shell", *rasa_args], True)
            return shell_process.wait()
        supervisor.start("rasa server", [str(BIN / "rasa"), *rasa_server_args(settings, rasa_args, api_token)])
        print("Loading the model (about 30 s)...", flush=True)
        slack = ("on, /webhooks/slack/webhook" if settings.slack.configured
                 else "off (set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)")
        supervisor.wait_ready("rasa server", f"{settings.rasa_url}/")
        print(
            f"""
Frontdesk is running.
  REST:       curl -s localhost:{settings.rasa_port}/webhooks/rest/webhook \\
                -d '{{"sender":"u1","message":"I forgot my password"}}'
  socket.io:  http://localhost:{settings.rasa_port}/socket.io (session persistence on)
  Web app:    {settings.public_url} (password-reset page, e-mail outbox worker)
  Widget:     {settings.public_url}/widget (the help-centre page with the chat widget)
  Agents:     {settings.public_url}/agent (token: `.venv/bin/frontdesk agent token create "Your Name"`)
  Slack:      {slack}
  E-mail:     {"development mailbox, files in var/mail/" if mailbox else
               f"SMTP {settings.smtp.host}:{settings.smtp.port}"}
  Demo customers: `.venv/bin/frontdesk accounts list`, e.g. ada.lovelace@example.com
Press Ctrl-C to stop.""",
            flush=True,
        )
        while True:
            for name, process in supervisor.processes.items():
                if process.poll() is not None:
                    print(f"{name} stopped unexpectedly (status {process.returncode})", file=sys.stderr)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except RuntimeError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop_all()
        if mailbox is not None:
            mailbox.stop()
        print("Stopped.", flush=True)
