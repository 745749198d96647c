"""Attack 3: outside development nothing is open by default.

Unset ``FRONTDESK_ENV`` means production, which refuses to start without its secrets and names
each one missing; an unknown value (a typo like ``prod``) is an error, not development; the
public built-in key and the demo sign-in (which signs a customer token for any account) are
refused in production, and off in development unless switched on. The real commands are run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from frontdesk.settings import _DEV_SECRET_KEY
from tests.stack import BIN, ROOT
from tests.support import free_port, wait_until_answering

pytestmark = [pytest.mark.e2e]

SECRETS = {"FRONTDESK_SECRET_KEY": "fail-closed-test-secret-key-0123456789",
           "ACTION_SERVER_SECRET": "fail-closed-test-action-secret-012345",
           "RASA_JWT_SECRET": "fail-closed-test-rasa-jwt-secret-01234"}
SITE = {"CUSTOMER_TOKEN_SECRET": "fail-closed-support-site-secret-0123456",
        "CUSTOMER_TOKEN_ISSUER": "https://support.example", "CUSTOMER_TOKEN_AUDIENCE": "frontdesk-chat"}


def clean_environment(**overrides: str) -> dict[str, str]:
    """The machine's environment without anything of ours (the test session sets development)."""
    ours = ("FRONTDESK_", "RASA_", "ACTION_SERVER_", "CUSTOMER_TOKEN_", "SLACK_", "ZENDESK_", "SMTP_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(ours)}, **overrides}


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["serve"], ["web"], ["db", "upgrade"]])
def test_production_refuses_to_start_without_its_secrets_and_names_them(command, tmp_path):
    env = clean_environment(FRONTDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'fd.db'}")
    started = time.monotonic()
    refused = run([str(BIN / "frontdesk"), *command], env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    for name in ("FRONTDESK_SECRET_KEY", "ACTION_SERVER_SECRET", "RASA_JWT_SECRET"):
        assert f"{name} is not set" in refused.stderr
    assert "Traceback" not in refused.stderr and time.monotonic() - started < 60


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"FRONTDESK_ENV": "prod", **SECRETS}, "FRONTDESK_ENV must be development or production, got 'prod'"),
    ({"FRONTDESK_ENV": "dev"}, "FRONTDESK_ENV must be development or production, got 'dev'"),
    ({**SECRETS, "FRONTDESK_SECRET_KEY": _DEV_SECRET_KEY}, "FRONTDESK_SECRET_KEY is the public development key"),
    ({**SECRETS, "ACTION_SERVER_SECRET": "short"}, "ACTION_SERVER_SECRET must be at least 32 characters"),
    ({**SECRETS, **SITE, "FRONTDESK_DEMO_SIGN_IN": "1"}, "FRONTDESK_DEMO_SIGN_IN is a development convenience"),
])
def test_a_wrong_or_unsafe_configuration_is_an_error_at_start_up(overrides, problem):
    refused = run([str(BIN / "frontdesk"), "serve"], clean_environment(**overrides))
    assert refused.returncode == 2 and problem in refused.stderr, refused.stderr


def test_each_server_refuses_to_start_without_its_secret():
    action_server = run([sys.executable, "-m", "frontdesk_rasa.action_server"],
                        clean_environment(FRONTDESK_ENV="development"))
    assert action_server.returncode == 2 and "ACTION_SERVER_SECRET" in action_server.stderr
    rasa = run([sys.executable, "-m", "frontdesk_rasa.rasa_server", "run", "--enable-api"], clean_environment())
    assert rasa.returncode != 0 and "RASA_JWT_SECRET" in rasa.stderr


@pytest.fixture
def web_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``frontdesk web`` with the environment the test names (no model needed)."""
    port = free_port()
    env = clean_environment(FRONTDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'fd.db'}", FRONTDESK_WEB_PORT=str(port),
                            **SITE, **request.param)
    assert run([str(BIN / "frontdesk"), "db", "upgrade"], env).returncode == 0
    process = subprocess.Popen([str(BIN / "frontdesk"), "web"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/healthz", process, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("web_app", [
    {"FRONTDESK_ENV": "production", **SECRETS},
    {"FRONTDESK_ENV": "development"},  # development without FRONTDESK_DEMO_SIGN_IN=1
], indirect=True, ids=["production", "development-without-the-switch"])
def test_the_demo_sign_in_signs_nothing_unless_switched_on(web_app: str):
    page = httpx.get(f"{web_app}/widget", params={"demo_customer": "AC-100002"}, timeout=10)
    assert page.status_code == 200
    assert "customerToken" not in page.text and "chatting anonymously" in page.text


@pytest.mark.parametrize("web_app", [{"FRONTDESK_ENV": "development", "FRONTDESK_DEMO_SIGN_IN": "1"}],
                         indirect=True, ids=["development-switched-on"])
def test_the_demo_sign_in_works_where_it_was_asked_for(web_app: str):
    page = httpx.get(f"{web_app}/widget", params={"demo_customer": "AC-100002"}, timeout=10)
    assert "customerToken" in page.text and "Signed in (demo) as AC-100002" in page.text
