"""Roles that mean something, tested from the written list (docs/roles.md): every role against
every agent-API endpoint (over HTTP, on the real servers) and every operator command (the CLI's
own authorisation, on a real database, and a few through the real `frontdesk` command), each
refusal an audit record. The code's table must equal the written one, and every endpoint and
command that exists must be in it."""

from __future__ import annotations

import argparse
import json
import re
import subprocess

import httpx
import pytest
from sanic import Sanic
from sqlalchemy import text

from frontdesk.agents import roles as access
from frontdesk.agents.directory import AgentDirectory
from frontdesk.core.db import Database
from frontdesk.entrypoints import cli
from frontdesk.entrypoints.agent_api import create_agent_api
from frontdesk.settings import Settings
from tests.stack import BIN, PRODUCTION_SECRETS, ROOT, Stack, issue_token

DOC = ROOT / "docs" / "roles.md"


def _table(heading: str) -> list[list[str]]:
    """The rows of the first table under a heading of docs/roles.md, cells stripped."""
    text = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1]
    rows = [line for line in text.split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def written_grants() -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {role: set() for role in access.ROLES}
    for permission, _meaning, roles in _table("The roles"):
        for role in _names(roles):
            grants[role].add(_names(permission)[0])
    return grants


def written_endpoints() -> dict[tuple[str, str], str]:
    return {tuple(_names(endpoint)[0].split(" ", 1)): _names(needs)[0] for endpoint, needs in _table("The agent API")}


def written_commands() -> dict[str, str | None]:
    return {_names(command)[0].removeprefix("frontdesk "): (_names(needs) or [None])[0]
            for command, needs in _table("The operator CLI")}


ROLES = list(access.ROLES)
COMMANDS = written_commands()
ENDPOINTS = written_endpoints()
GRANTS = written_grants()


def allowed(role: str, permission: str | None) -> bool:
    return permission is None or permission in GRANTS[role]


# -- the written list is the enforced one, and covers everything -------------------------------

def test_the_code_enforces_the_written_list():
    assert {role: set(permissions) for role, permissions in access.GRANTS.items()} == GRANTS
    assert access.API_ENDPOINTS == ENDPOINTS
    assert access.CLI_COMMANDS == COMMANDS
    assert set(access.PERMISSIONS) == {p for permissions in GRANTS.values() for p in permissions}


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_commands(sub, (*path, name)))
    return found or {" ".join(path): parser}


PARSERS = _commands(cli.build_parser())


def test_every_command_and_endpoint_is_in_the_written_list():
    assert set(PARSERS) == set(COMMANDS)
    app = Sanic(f"roles_{id(PARSERS)}")
    app.blueprint(create_agent_api(None, None, None))  # type: ignore[arg-type] - routes only, never called
    routes = {(method, "/" + route.path) for route in app.router.routes for method in route.methods}
    assert routes == set(ENDPOINTS) | access.OPEN_ENDPOINTS


# -- the CLI: every role x every command ------------------------------------------------------

def argv_for(command: str) -> list[str]:
    """The command with made-up values for what it requires: enough to parse, never run."""
    argv = command.split()
    for action in PARSERS[command]._actions:
        value = str(action.choices[0] if action.choices else "1")
        if not action.option_strings and action.dest != "help":
            argv.append(value)
        elif action.required:
            argv += [action.option_strings[0], value]
    return argv


def denials(db: Database) -> list[dict]:
    with db.transaction() as session:
        rows = session.execute(text("SELECT reason, details FROM audit_records WHERE decision = 'access.denied' "
                                    "ORDER BY id")).all()
    return [{"reason": reason, **json.loads(details)} for reason, details in rows]


@pytest.fixture
def staff(settings: Settings) -> dict[str, str]:
    """A token per role, issued on the test database."""
    with Database(settings.database_url).transaction() as session:
        return {role: AgentDirectory().issue_token(session, f"{role} person", {role})[1] for role in ROLES}


def _authorise(settings: Settings, command: str, token: str) -> str | None:
    args = cli.build_parser().parse_args(argv_for(command))
    return cli.authorise(Settings(**{**settings.__dict__, "agent_token": token}), args)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_role_may_run_exactly_the_commands_the_list_gives_it(settings, staff, command):
    permission = COMMANDS[command]
    for role in ROLES:
        refusal = _authorise(settings, command, staff[role])
        if allowed(role, permission):
            assert refusal is None, (role, command, refusal)
        else:
            assert refusal is not None and refusal.startswith("refused (403)"), (role, command, refusal)
            assert f"`frontdesk {command}`" in refusal
    refused = [role for role in ROLES if not allowed(role, permission)]
    assert [(d["who"], d["reason"], d["target"], d["via"]) for d in denials(Database(settings.database_url))] == [
        (f"{role} person", permission, command, "cli") for role in refused]
    # No token, or a bad one: 401 for everything that needs a permission, in production as in
    # development (a token set is a token checked).
    production = Settings(**{**settings.__dict__, "env": "production", **{
        "secret_key": PRODUCTION_SECRETS["FRONTDESK_SECRET_KEY"],
        "action_server_secret": PRODUCTION_SECRETS["ACTION_SERVER_SECRET"],
        "rasa_jwt_secret": PRODUCTION_SECRETS["RASA_JWT_SECRET"]}})
    for token in ("", "fdat_not-a-real-token"):
        refusal = cli.authorise(Settings(**{**production.__dict__, "agent_token": token}),
                                cli.build_parser().parse_args(argv_for(command)))
        if permission is None:
            assert refusal is None, command
        else:
            assert refusal is not None and refusal.startswith("refused (401)"), (command, refusal)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_command_never_runs_and_says_why_through_the_real_cli(settings, staff):
    env = {"PATH": "/usr/bin:/bin", "FRONTDESK_ENV": "development", "FRONTDESK_DATABASE_URL": settings.database_url}

    def run(*args: str, token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "frontdesk"), *args], env={**env, "FRONTDESK_AGENT_TOKEN": token},
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    refused = run("agent", "token", "create", "Mallory", "--role", "admin", token=staff["supervisor"])
    assert refused.returncode == cli.REFUSED and "may grant only roles that allow nothing" in refused.stderr
    refused = run("kpi", "report", token=staff["agent"])
    assert refused.returncode == cli.REFUSED and "refused (403)" in refused.stderr and refused.stdout == ""
    assert run("kpi", "report", token=staff["analyst"]).returncode == 0
    created = run("agent", "token", "create", "Kim", "--role", "agent", "--queue", "security", "--json",
                  token=staff["supervisor"])
    assert created.returncode == 0, created.stderr
    unknown_queue = run("agent", "token", "create", "Kim", "--queue", "nowhere", token=staff["admin"])
    assert unknown_queue.returncode == 2 and "no such queue: nowhere" in unknown_queue.stderr


# -- the agent API: every role x every endpoint, on the real servers ---------------------------

@pytest.mark.e2e
@pytest.mark.model
def test_each_role_may_use_exactly_the_endpoints_the_list_gives_it(stack: Stack):
    tokens = {role: issue_token(stack, f"{role} {stack.backend} matrix", role) for role in ROLES}
    base = stack.web_url.replace("localhost", "127.0.0.1")
    # From another loopback address: the failed-sign-in limit counts per address.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.5"), timeout=30) as client:
        for (method, route), permission in ENDPOINTS.items():
            path = route.replace("<reference:str>", "HO-99999")
            body = {"text": "x", "intent_correct": True}
            assert client.request(method, base + path, json=body).status_code == 401, path
            for role in ROLES:
                status = client.request(method, base + path, json=body,
                                        headers={"Authorization": f"Bearer {tokens[role]}"}).status_code
                if allowed(role, permission):
                    assert status not in (401, 403), (role, method, path, status)
                else:
                    assert status == 403, (role, method, path, status)
    recorded = stack.rows("SELECT details FROM audit_records WHERE decision = 'access.denied'")
    refusals = [json.loads(details) for (details,) in recorded if f"{stack.backend} matrix" in details]
    assert len(refusals) == sum(not allowed(r, p) for p in ENDPOINTS.values() for r in ROLES)
    assert all(r["via"] == "api" and "HO-99999" not in r["who"] for r in refusals)
