"""End to end in the terminal: `frontdesk serve --shell` (what `make shell` runs) in a real
pseudo-terminal. Its Rasa server listens on loopback only and calls the action server with the
shared secret, so a password reset works there as on the other channels; /stop ends it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from lab.stack import frontdesk_command
from tests.stack import BIN, MODEL, ROOT
from tests.support import LOOPBACK, Mailbox, free_port, listening_addresses

pytestmark = [pytest.mark.e2e, pytest.mark.model]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave,
                                        start_new_session=True)
        os.close(slave)
        self.screen = ""

    def expect(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen):
            assert time.monotonic() < deadline, f"{pattern!r} not seen; last output:\n{self.screen[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.screen += ANSI.sub("", os.read(self.master, 65536).decode("utf-8", "replace"))
                except OSError:  # the terminal closed
                    break
        return self.screen

    def type(self, text: str) -> None:
        self.screen = ""
        os.write(self.master, text.encode() + b"\r")


def test_the_shell_resets_a_password_through_the_secured_action_server(tmp_path: Path):
    with Mailbox().serving() as sink:
        env = {**os.environ, "FRONTDESK_ENV": "development",
               "FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'fd.db'}",
               "RASA_PORT": str(free_port()), "ACTION_SERVER_PORT": str(free_port()),
               "FRONTDESK_WEB_PORT": str(free_port()), "SMTP_HOST": sink.host, "SMTP_PORT": str(sink.port),
               "OUTBOX_POLL_SECONDS": "1", "TERM": "xterm", "COLUMNS": "120", "LINES": "40"}
        for command in (("db", "upgrade"), ("db", "seed")):
            frontdesk_command(env, *command)
        terminal = Terminal([str(BIN / "frontdesk"), "serve", "--shell", "--model", str(MODEL)], env)
        try:
            terminal.expect(r"Your input", timeout=300)
            for port in (env["RASA_PORT"], env["ACTION_SERVER_PORT"], env["FRONTDESK_WEB_PORT"]):
                assert listening_addresses(int(port)) <= LOOPBACK, port  # the shell's own server too
            terminal.type("I forgot my password")
            terminal.expect(r"email address", timeout=60)
            terminal.type("ada.lovelace@example.com")
            terminal.expect(r"If an account exists", timeout=60)
            assert sink.wait_for(1)[0]["To"] == "ada.lovelace@example.com"
            terminal.type("/stop")
            assert terminal.process.wait(timeout=60) == 0
        finally:
            if terminal.process.poll() is None:
                os.killpg(terminal.process.pid, 9)
                terminal.process.wait(timeout=30)
            os.close(terminal.master)
