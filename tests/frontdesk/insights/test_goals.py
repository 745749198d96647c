"""goals.yml and monitoring.yml: the committed files load with the values agreed; the loaders
reject what they would misread, with a message naming the file and the key; targets compare."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from frontdesk.insights.goals import (
    MET,
    MISSED,
    NO_DATA,
    Target,
    compare,
    load_goals,
    load_monitoring,
)
from frontdesk.settings import PROJECT_ROOT, SettingsError

USE_CASES = ["password_reset", "billing", "knowledge", "ticket_status", "service_status", "human_handoff"]


def test_the_committed_goals_load():
    goals = load_goals(PROJECT_ROOT / "goals.yml")
    assert goals.version >= 1
    assert [u.name for u in goals.use_cases] == USE_CASES
    targets = {t.kpi: t for t in goals.targets}
    assert targets["deflection"] == Target("deflection", ">=", 0.45)
    assert targets["p95_latency_ms"] == Target("p95_latency_ms", "<=", 500)
    assert {"csat_after_bot", "csat_after_agent", "sla_compliance", "fallback_rate", "error_rate",
            "fcr"} <= set(targets)
    reset = goals.use_cases[0]
    assert Target("deflection", ">=", 0.6) in reset.targets and reset.flows == ("password_reset",)
    assert all(u.owner and u.stakeholders and u.compliance and u.objective for u in goals.use_cases)
    billing = next(u for u in goals.use_cases if u.name == "billing")
    assert any("PCI" in note for note in billing.compliance)
    handoff = next(u for u in goals.use_cases if u.name == "human_handoff")
    assert any("Art. 22" in note for note in handoff.compliance) and "refund" in handoff.flows
    assert goals.costs.currency and goals.costs.agent_cost_per_ticket > 0


def test_the_committed_monitoring_loads():
    monitoring = load_monitoring(PROJECT_ROOT / "monitoring.yml")
    assert monitoring.version >= 1
    assert (monitoring.drift.psi_intent_mix, monitoring.drift.psi_confidence) == (0.2, 0.2)
    assert (monitoring.drift.oov_rate_increase, monitoring.drift.fallback_rate_increase) == (0.05, 0.05)
    rollback = monitoring.rollback
    assert (rollback.deflection_drop_points, rollback.escalation_rise_points, rollback.csat_min,
            rollback.p95_latency_ms_max) == (5, 10, 4.0, 500)
    assert rollback.drift_above_threshold and rollback.mandatory_human_automated
    assert monitoring.retrain.every_days == 28 and "make train" in monitoring.retrain.commands
    assert (monitoring.windows.baseline_days, monitoring.windows.current_days) == (28, 7)


def test_compare_met_missed_and_no_data():
    at_least, at_most = Target("deflection", ">=", 0.6), Target("p95_latency_ms", "<=", 500)
    assert [compare(at_least, v) for v in (0.6, 0.61, 0.59, None)] == [MET, MET, MISSED, NO_DATA]
    assert [compare(at_most, v) for v in (500, 499, 501, None)] == [MET, MET, MISSED, NO_DATA]
    assert compare(Target("fcr", ">=", 0.3), 0.1 + 0.2) == MET  # 0.30000000000000004: rounding, not a miss
    assert str(at_least) == "deflection >= 0.6"


def _goals() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "goals.yml").read_text())


def _monitoring() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "monitoring.yml").read_text())


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "file.yml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _bad_goals(change) -> dict:
    data = _goals()
    change(data)
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("version"), r"the file is missing \['version'\]"),
    (lambda d: d.update(version="one"), r"version must be a whole number"),
    (lambda d: d.update(target={}), r"the file has unknown keys \['target'\]"),
    (lambda d: d.pop("costs"), r"the file is missing \['costs'\]"),
    (lambda d: d["targets"].update(deflecton=">= 0.4"), r"targets.deflecton is not a KPI"),
    (lambda d: d["targets"].update(deflection="at least 0.4"), r'targets.deflection must read ">= number"'),
    (lambda d: d["targets"].update(deflection=">= 45"), r"targets.deflection must be between 0 and 1, got 45"),
    (lambda d: d["targets"].update(csat_after_bot=">= 6"), r"targets.csat_after_bot must be between 1 and 5"),
    (lambda d: d["targets"].update(deflection=0.45), r'targets.deflection must read ">= number"'),
    # Turns and costs are not split by flow: a use case cannot have a latency target.
    (lambda d: d["use_cases"][0]["targets"].update(p95_latency_ms="<= 500"),
     r"use_cases\[password_reset\].targets.p95_latency_ms is not a KPI that can have a target here"),
    (lambda d: d["use_cases"][0].pop("owner"), r"use_cases\[0\] is missing \['owner'\]"),
    (lambda d: d["use_cases"][1].update(stakeholders="finance"),
     r"use_cases\[billing\].stakeholders must be a non-empty list of strings"),
    (lambda d: d["use_cases"][1].update(compliance=[]), r"use_cases\[billing\].compliance must be a non-empty list"),
    (lambda d: d["use_cases"].append(dict(d["use_cases"][0])), r"names must be unique, repeated: \['password_reset'\]"),
    (lambda d: d.update(use_cases=[]), r"use_cases must be a non-empty list"),
    (lambda d: d["costs"].update(agent_cost_per_ticket=-1), r"costs.agent_cost_per_ticket must be between 0"),
    (lambda d: d["costs"].update(build_cost=True), r"costs.build_cost must be a number, got True"),
    (lambda d: d["costs"].update(currency=""), r"costs.currency must be a non-empty string"),
])
def test_bad_goals_are_rejected_naming_the_key(tmp_path, change, message):
    path = _write(tmp_path, _bad_goals(change))
    with pytest.raises(SettingsError, match=message) as raised:
        load_goals(path)
    assert str(raised.value).startswith(f"{path}: ")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["drift"].pop("psi_confidence"), r"drift is missing \['psi_confidence'\]"),
    (lambda d: d["drift"].update(psi_intent_mix=0), r"drift.psi_intent_mix must be between 1e-06"),
    (lambda d: d["drift"].update(oov_rate_increase=5), r"drift.oov_rate_increase must be between 0 and 1, got 5"),
    (lambda d: d["drift"].update(psi=0.1), r"drift has unknown keys \['psi'\]"),
    (lambda d: d["rollback"].update(drift_above_threshold="yes"),
     r"rollback.drift_above_threshold must be true or false, got 'yes'"),
    (lambda d: d["rollback"].update(csat_min=0), r"rollback.csat_min must be between 1 and 5, got 0"),
    (lambda d: d["rollback"].update(deflection_drop_points=150), r"rollback.deflection_drop_points must be between"),
    (lambda d: d["retrain"].update(every="monthly"), r'retrain.every must read like "4 weeks"'),
    (lambda d: d["retrain"].update(every="0 weeks"), r'retrain.every must read like "4 weeks"'),
    (lambda d: d["retrain"].update(commands=[]), r"retrain.commands must be a non-empty list"),
    (lambda d: d["windows"].update(current_days=0), r"windows.current_days must be >= 1, got 0"),
    (lambda d: d["windows"].update(baseline_days=28.5), r"windows.baseline_days must be a whole number"),
    (lambda d: d.update(windows=[28, 7]), r"windows must be a mapping, got list"),
])
def test_bad_monitoring_is_rejected_naming_the_key(tmp_path, change, message):
    data = _monitoring()
    change(data)
    with pytest.raises(SettingsError, match=message):
        load_monitoring(_write(tmp_path, data))


def test_retrain_every_reads_days_and_weeks(tmp_path):
    data = _monitoring()
    data["retrain"]["every"] = "10 days"
    assert load_monitoring(_write(tmp_path, data)).retrain.every_days == 10


def test_a_missing_file_an_invalid_one_and_a_list_are_configuration_errors(tmp_path):
    with pytest.raises(SettingsError, match="cannot be read"):
        load_goals(tmp_path / "absent.yml")
    with pytest.raises(SettingsError, match="is not valid YAML"):
        load_monitoring(_write(tmp_path, "drift: [unclosed\n"))
    with pytest.raises(SettingsError, match="the file must be a mapping, got list"):
        load_goals(_write(tmp_path, "- a\n- b\n"))
