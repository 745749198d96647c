"""`frontdesk status …`: incidents kept from the command line, and the status customers are told."""

from __future__ import annotations

import json

import pytest

from frontdesk.entrypoints.cli import main
from tests.standins.statuspage import StatuspageStandIn


@pytest.fixture
def cli_env(database_url, monkeypatch):
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FRONTDESK_STATUS_SOURCE", "incidents")
    return database_url


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_incident_lifecycle_on_the_command_line(cli_env, capsys):
    code, out, _ = run(capsys, "status", "incident", "open", "--title", "Login failures", "--component", "API",
                       "--impact", "major", "--message", "We're investigating failed logins.", "--json")
    assert code == 0
    opened = json.loads(out)
    assert (opened["title"], opened["components"], opened["status"], opened["impact"]) == (
        "Login failures", ["API"], "investigating", "major")
    incident_id = opened["id"]
    assert opened["tag"] == f"incident-{incident_id}"

    code, out, _ = run(capsys, "status", "show")
    assert code == 0
    assert out.startswith("Partial system outage (indicator major; source incidents; as of ")
    assert "API: partial outage" in out and "Login failures" in out and "STALE" not in out

    code, out, _ = run(capsys, "status", "incident", "update", incident_id, "--status", "identified",
                       "--message", "A bad deploy; rolling back.")
    assert code == 0 and out.strip() == (
        f"incident {incident_id} (incident-{incident_id}): identified, major impact on API: Login failures")

    code, out, _ = run(capsys, "status", "incident", "list")
    assert code == 0 and out.splitlines()[0].split() == ["ID", "STATUS", "IMPACT", "COMPONENT", "TITLE", "STARTED_AT",
                                                        "UPDATED_AT", "TAG"]
    assert f"incident-{incident_id}" in out and "identified" in out

    code, out, _ = run(capsys, "status", "incident", "resolve", incident_id, "--message", "Fixed.", "--json")
    assert code == 0 and json.loads(out)["status"] == "resolved" and json.loads(out)["resolved_at"]

    code, out, err = run(capsys, "status", "incident", "resolve", incident_id, "--message", "Again.")
    assert code == 1 and err.strip() == f"error: incident {incident_id} is already resolved"
    code, out, err = run(capsys, "status", "incident", "update", "4242", "--status", "monitoring", "--message", "x")
    assert code == 1 and "no incident 4242" in err

    assert run(capsys, "status", "incident", "list")[1].strip() == "(none)"
    code, out, _ = run(capsys, "status", "incident", "list", "--all", "--json")
    assert code == 0 and [(i["id"], i["status"]) for i in json.loads(out)] == [(incident_id, "resolved")]

    code, out, _ = run(capsys, "status", "show", "--json")
    shown = json.loads(out)
    assert (shown["indicator"], shown["stale"], shown["incidents"], shown["source"]) == ("none", False, [], "incidents")

    code, out, _ = run(capsys, "audit", "list", "--json")
    assert [r["decision"] for r in json.loads(out) if r["decision"].startswith("status.")] == [
        "status.incident_resolved", "status.incident_updated", "status.incident_opened"]


def test_bad_choices_are_usage_errors(cli_env, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["status", "incident", "open", "--title", "x", "--component", "API", "--impact", "huge", "--message", "x"])
    assert usage.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_status_show_from_a_statuspage_feed_and_when_it_is_down(cli_env, monkeypatch, capsys):
    with StatuspageStandIn() as feed:
        feed.outage("Billing", impact="minor", name="Slow invoices", incident_id="k0b7yzmwg3c1")
        monkeypatch.setenv("FRONTDESK_STATUS_SOURCE", "statuspage")
        monkeypatch.setenv("FRONTDESK_STATUSPAGE_URL", feed.url)
        code, out, _ = run(capsys, "status", "show", "--json")
        shown = json.loads(out)
        assert code == 0 and (shown["indicator"], shown["source"], shown["stale"]) == ("minor", "statuspage", False)
        assert shown["affected_components"] == [{"name": "Billing", "status": "degraded_performance"}]
        assert [(i["title"], i["tag"]) for i in shown["incidents"]] == [("Slow invoices", "incident-k0b7yzmwg3c1")]
        feed.fail()
        code, out, _ = run(capsys, "status", "show")  # a new process: nothing cached
        assert code == 0 and out.startswith("Service status unknown (indicator unknown; source statuspage; "
                                            "as of never read; STALE")


def test_a_statuspage_source_without_a_url_is_a_configuration_error(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("FRONTDESK_STATUS_SOURCE", "statuspage")
    monkeypatch.delenv("FRONTDESK_STATUSPAGE_URL", raising=False)
    code, _, err = run(capsys, "status", "show")
    assert code == 2 and "FRONTDESK_STATUSPAGE_URL" in err
