"""`frontdesk kpi report` and `frontdesk kpi check` on facts stored in the app database: the report
in the terminal, as JSON and as a self-contained HTML page (data escaped), and the check's PASS on
a steady month and ROLLBACK, exit 1, on a week that got worse."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import datetime, timedelta

import pytest

from frontdesk.entrypoints import cli
from frontdesk.insights.facts import HANDED_OFF, NO_REQUEST, RESOLVED, ConversationFact, TurnFact
from frontdesk.insights.telemetry import ConversationFactRow, TurnFactRow

END = datetime(2026, 11, 30)  # a Monday; the current week is the seven days before it
BASELINE_START = END - timedelta(days=35)


def store(db, conversations: list[ConversationFact], turns: list[TurnFact]) -> None:
    with db.transaction() as session:
        session.execute(ConversationFactRow.__table__.insert(), [asdict(c) for c in conversations])
        session.execute(TurnFactRow.__table__.insert(), [
            {**asdict(t), "entity_types": ",".join(t.entity_types), "actions": ",".join(t.actions)} for t in turns])


def traffic(day: datetime, count: int, *, resolved_share: float, latency_ms: float,
            intent: str = "request_password_reset", fallback_text: str | None = None,
            mandatory_automated: int = 0) -> tuple[list, list]:
    """``count`` password-reset conversations on ``day``: that share resolved, the rest handed off."""
    conversations, turns = [], []
    for number in range(count):
        cid = f"{day:%Y%m%d}-{intent}-{number}"
        at = day + timedelta(minutes=10 * number)
        resolved = number < round(count * resolved_share)
        conversations.append(ConversationFact(
            conversation_id=cid, started_at=at, last_event_at=at + timedelta(minutes=2), channel="rest",
            customer_key=None, flow="password_reset", outcome=RESOLVED if resolved else HANDED_OFF,
            resolved_flow="password_reset" if resolved else None, handoff_reason=None if resolved else "low_confidence",
            queue=None if resolved else "accounts", turns=2, bot_seconds=60.0,
            human_seconds=None if resolved else 600.0, first_human_response_seconds=None if resolved else 1800.0,
            sla_seconds=None if resolved else 7200.0, csat=5 if resolved else 4,
            csat_after="bot" if resolved else "agent",
            model_id="m-1", mandatory_human_automated=number < mandatory_automated))
        turns.append(TurnFact(
            conversation_id=cid, turn=1, at=at, channel="rest", intent=intent, confidence=0.92, entity_types=(),
            actions=("action_request_password_reset",), fallback=fallback_text is not None, handoff=not resolved,
            error=False, latency_ms=latency_ms, model_id="m-1", tokens=6, oov_tokens=0, fallback_text=fallback_text))
    return conversations, turns


def a_month(db, *, last_week_worse: bool) -> None:
    for day_number in range(35):
        day = BASELINE_START + timedelta(days=day_number)
        worse = last_week_worse and day >= END - timedelta(days=7)
        conversations, turns = traffic(day, 10, resolved_share=0.3 if worse else 0.7,
                                       latency_ms=900.0 if worse else 120.0,
                                       mandatory_automated=1 if worse and day_number == 34 else 0)
        store(db, conversations, turns)
    greeting = ConversationFact("hello", END - timedelta(days=2), END - timedelta(days=2), "rest", None, None,
                                NO_REQUEST, None, None, None, 1, 0.0, None, None, None, None, None, "m-1")
    odd = TurnFact("hello", 1, END - timedelta(days=2), "rest", "nlu_fallback", 0.2, (), ("action_default_fallback",),
                   True, False, False, 80.0, "m-1", 4, 2, "<script>alert(1)</script> my <PERSON> broke")
    store(db, [greeting], [odd])


@pytest.fixture
def run(settings, monkeypatch, capsys):
    for name, value in {"FRONTDESK_ENV": "development", "FRONTDESK_DATABASE_URL": settings.database_url,
                        "FRONTDESK_EVENT_BROKER_URL": "off", "FRONTDESK_AGENT_TOKEN": ""}.items():
        monkeypatch.setenv(name, value)

    def command(*argv: str) -> tuple[int, str]:
        code = cli.main(list(argv))
        return code, capsys.readouterr().out

    return command


def test_the_report_compares_each_kpi_with_its_target_in_the_terminal_json_and_html(db, run, tmp_path):
    a_month(db, last_week_worse=False)
    code, out = run("kpi", "report", "--from", BASELINE_START.date().isoformat(), "--to", END.date().isoformat(),
                    "--json", "--html", str(tmp_path / "kpi.html"))
    assert code == 0
    report = json.loads(out)
    kpis = report["figures"]["kpis"]
    assert kpis["deflection"] == pytest.approx(245 / 350)  # 7 of 10 a day for 35 days; the greeting asks nothing
    assert kpis["p95_latency_ms"] == 120.0 and kpis["sla_compliance"] == 1.0
    deflection = next(t for t in report["targets"] if t["kpi"] == "deflection" and t["use_case"] is None)
    assert (deflection["target"], deflection["status"]) == ("deflection >= 0.45", "met")
    assert len(report["weekly"]) == 5 and report["drift"]["drifted"] is False
    assert "handoffs" in report and "agent_corrected" in report  # the operational figures, as before
    page = (tmp_path / "kpi.html").read_text()
    assert page.count("<svg") >= 7 and "<script>" not in page and "&lt;script&gt;" in page
    # Nothing is fetched from anywhere: no script, stylesheet, image or font by address.
    # (url(#clip) is matplotlib's reference inside the page.)
    assert not re.search(r"<script|<link|src=|url\((?!#)|@import", page)
    code, text = run("kpi", "report", "--from", BASELINE_START.date().isoformat(), "--to", END.date().isoformat())
    assert code == 0 and "deflection" in text and "met" in text and "&lt;" not in text


def test_check_passes_a_steady_month_and_rolls_back_a_week_that_got_worse(db, run):
    a_month(db, last_week_worse=False)
    code, out = run("kpi", "check", "--to", END.date().isoformat())
    assert (code, out.splitlines()[0]) == (0, "PASS"), out

    with db.transaction() as session:
        session.execute(ConversationFactRow.__table__.delete())
        session.execute(TurnFactRow.__table__.delete())
    a_month(db, last_week_worse=True)
    code, out = run("kpi", "check", "--to", END.date().isoformat(), "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["decision"] == "ROLLBACK"
    tripped = {check["criterion"] for check in verdict["checks"] if check["status"] == "tripped"}
    assert {"deflection_drop_points", "escalation_rise_points", "p95_latency_ms_max",
            "mandatory_human_automated"} <= tripped, verdict["reasons"]


def test_a_broken_goals_file_is_a_clear_configuration_error(db, run, tmp_path, monkeypatch, capsys):
    (tmp_path / "goals.yml").write_text("version: 1\ntargets: {deflection: 'about half'}\n")
    monkeypatch.setenv("FRONTDESK_GOALS_FILE", str(tmp_path / "goals.yml"))
    assert cli.main(["kpi", "report"]) == 2
    assert "configuration error" in capsys.readouterr().err
