"""``frontdesk privacy export|erase`` as an operator runs them: the installed command, in its own
process, on both databases. Export, erase, export again on a customer with history."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from frontdesk.bootstrap import Services
from frontdesk.settings import PROJECT_ROOT
from tests.frontdesk.privacy.test_subject_requests import GRACE, KATHERINE, seed_history, without_time
from tests.standins.zendesk import ZendeskStandIn

FRONTDESK = Path(sys.executable).with_name("frontdesk")  # the console script of this environment


def frontdesk(database_url: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``frontdesk privacy <args>``: as the development operator (every role) unless ``extra_env``
    sets FRONTDESK_AGENT_TOKEN."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FRONTDESK_", "TICKETING_", "ZENDESK_"))}
    env.update(FRONTDESK_ENV="development", FRONTDESK_DATABASE_URL=database_url,
               # This checkout's code, whichever checkout the environment was installed from.
               PYTHONPATH=str(PROJECT_ROOT), **extra_env)
    return subprocess.run([str(FRONTDESK), "privacy", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def token(services: Services, name: str, role: str) -> str:
    with services.db.transaction() as session:
        return services.agents.issue_token(session, name, {role})[1]


def test_export_erase_export(seeded: Services, database_url: str, tmp_path: Path) -> None:
    # Only an admin exports and erases (docs/roles.md); the CLI acts as the token's holder.
    for role in ("supervisor", "analyst"):
        for args in (("export", KATHERINE.account_id), ("erase", KATHERINE.account_id, "--requested-by", "x", "--yes")):
            refused = frontdesk(database_url, *args, FRONTDESK_AGENT_TOKEN=token(seeded, f"Not admin {role}", role))
            assert refused.returncode == 77 and "refused (403)" in refused.stderr, (role, args)
    admin_token = token(seeded, "Dana Admin", "admin")

    def as_admin(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
        return frontdesk(database_url, *args, FRONTDESK_AGENT_TOKEN=admin_token)

    exported = as_admin(database_url, "export", KATHERINE.account_id, "--requested-by", "ticket 4411")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["counts"]["account"] == 1 and document["counts"]["handoffs"] == 1
    assert document["counts"]["tracker_events"] == 6 and document["counts"]["password_reset_requests"] == 1
    grace_before = json.loads(as_admin(database_url, "export", GRACE.email).stdout)

    into_file = as_admin(database_url, "export", KATHERINE.email, "--output", str(tmp_path / "dsar.json"))
    assert into_file.returncode == 0, into_file.stderr
    assert stat.S_IMODE((tmp_path / "dsar.json").stat().st_mode) == 0o600
    assert without_time(json.loads((tmp_path / "dsar.json").read_text())) == without_time(document)

    dry_run = as_admin(database_url, "erase", KATHERINE.account_id, "--requested-by", "dpo@acme.test")
    assert dry_run.returncode == 2 and "--yes" in dry_run.stderr
    assert "would erase" in dry_run.stdout and "handoffs: 1" in dry_run.stdout
    assert as_admin(database_url, "export", KATHERINE.account_id).returncode == 0  # nothing changed

    erased = as_admin(database_url, "erase", KATHERINE.account_id, "--requested-by", "dpo@acme.test", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert "erased (request " in erased.stdout and "tracker_events: 6" in erased.stdout
    assert "billing_invoices: " in erased.stdout and "(anonymised, kept)" in erased.stdout
    assert KATHERINE.email not in erased.stdout + erased.stderr

    for customer in (KATHERINE.account_id, KATHERINE.email):
        after = as_admin(database_url, "export", customer)
        assert after.returncode == 1 and after.stdout == "" and "nothing is held" in after.stderr
    again = as_admin(database_url, "erase", KATHERINE.email, "--requested-by", "dpo@acme.test", "--yes")
    assert again.returncode == 1 and "nothing is held" in again.stderr
    grace_after = json.loads(as_admin(database_url, "export", GRACE.email).stdout)
    assert without_time(grace_after) == without_time(grace_before)
    # Every request is recorded (Art. 30): who ran it for whom, the outcome and the counts, never
    # the customer.
    with seeded.db.transaction() as session:
        recorded = session.execute(text("SELECT kind, requested_by, outcome, counts FROM subject_requests "
                                        "ORDER BY id")).all()
    access, erasure = ("access", "Dana Admin"), ("erasure", "Dana Admin, for dpo@acme.test")
    assert [tuple(row)[:3] for row in recorded] == [
        ("access", "Dana Admin, for ticket 4411", "completed"), (*access, "completed"), (*access, "completed"),
        (*access, "completed"), (*erasure, "completed"), (*access, "nothing_found"), (*access, "nothing_found"),
        (*erasure, "nothing_found"), (*access, "completed")]
    assert json.loads(recorded[0].counts) == {kind: n for kind, n in document["counts"].items() if n}
    assert not any(KATHERINE.account_id in str(row) or KATHERINE.email in str(row) for row in recorded)


def test_an_unknown_customer_exits_1(seeded: Services, database_url: str) -> None:
    for args in (("export", "AC-999999"), ("erase", "nobody@example.com", "--requested-by", "dpo")):
        result = frontdesk(database_url, *args)
        assert result.returncode == 1 and "nothing is held about" in result.stderr


def test_zendesk_down_exits_non_zero_and_says_what_is_left(services: Services, database_url: str) -> None:
    with ZendeskStandIn() as zendesk:
        env = {"TICKETING_BACKEND": "zendesk", "ZENDESK_URL": zendesk.url, "ZENDESK_EMAIL": zendesk.email,
               "ZENDESK_API_TOKEN": zendesk.api_token}
        seed_history(services, KATHERINE)  # its ticket stays in the embedded backend: the app DB holds it
        zendesk.stop()
        result = frontdesk(database_url, "erase", KATHERINE.account_id, "--requested-by", "dpo@acme.test",
                           "--yes", **env)
    assert result.returncode == 4, result.stderr
    assert "ERASURE INCOMPLETE" in result.stderr and "Zendesk" in result.stderr
    assert "NOT erased: external_requesters: 1" in result.stderr and "NOT erased: account: 1" in result.stderr
    assert "account" not in result.stdout  # nothing claimed as erased
    assert frontdesk(database_url, "export", KATHERINE.account_id).returncode == 0  # all still there
