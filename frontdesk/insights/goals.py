"""What the assistant is for and when it is doing well (``goals.yml``), and how it is watched in
production (``monitoring.yml``): the ALIGN and MEASURE steps of the ABTM checklist, as data.

Both files are read by the KPI report, the drift report and the rollback check. They are data so
that the people who own the targets (the head of support, the billing lead …) can change a
number without code; the loaders reject anything they would misread, naming the file and key.

A target reads ``deflection: ">= 0.45"``: a KPI name, ``>=`` or ``<=``, and a number in the
KPI's range (shares in [0, 1], CSAT in [1, 5], times and money not negative).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from frontdesk.settings import SettingsError

MET = "met"
MISSED = "missed"
NO_DATA = "no data"
COMPARATORS = (">=", "<=")

_SHARE = (0.0, 1.0)
_CSAT = (1.0, 5.0)
_NOT_NEGATIVE = (0.0, math.inf)

# KPIs that a set of conversations has, so a use case (a set of flows) can have them too.
FLOW_KPIS: dict[str, tuple[float, float]] = {
    "requests": _NOT_NEGATIVE,
    "deflection": _SHARE,
    "escalation_rate": _SHARE,
    "abandonment_rate": _SHARE,
    "fcr": _SHARE,
    "csat_after_bot": _CSAT,
    "csat_after_agent": _CSAT,
    "csat_satisfied_after_bot": _SHARE,
    "csat_satisfied_after_agent": _SHARE,
    "sla_compliance": _SHARE,
    "bot_handle_seconds": _NOT_NEGATIVE,
    "human_handle_seconds": _NOT_NEGATIVE,
    "mandatory_human_automated": _NOT_NEGATIVE,
}
# KPIs of the whole window only: turns are not split by flow, nor are costs.
GLOBAL_KPIS: dict[str, tuple[float, float]] = {
    **FLOW_KPIS,
    "fallback_rate": _SHARE,
    "error_rate": _SHARE,
    "p50_latency_ms": _NOT_NEGATIVE,
    "p95_latency_ms": _NOT_NEGATIVE,
    "cost_per_contact": _NOT_NEGATIVE,
    "monthly_net_savings": (-math.inf, math.inf),
    "payback_months": _NOT_NEGATIVE,
}
# What `make eval` measures (reports/eval.json, attached to the model in the registry) that the
# release gate can hold a threshold against, by its path in that document.
RELEASE_SCORES: dict[str, tuple[float, float]] = {
    "nlu_heldout.accuracy": _SHARE,
    "nlu_heldout.macro_f1": _SHARE,
    "out_of_scope.started_an_automated_flow": _SHARE,
    "billing_triage.accuracy": _SHARE,
    "knowledge.blind.right_article": _SHARE,
    "knowledge.blind.unanswerable_answered": _SHARE,
}

_TARGET = re.compile(r"^\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)\s*$")
_PERIOD = re.compile(r"^\s*(\d+)\s*(day|days|week|weeks)\s*$")
# Rounding noise (0.1 + 0.2) must not turn a target that is exactly met into a miss.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Target:
    kpi: str
    comparator: str  # ">=" or "<="
    value: float

    def __str__(self) -> str:
        return f"{self.kpi} {self.comparator} {self.value:g}"


def compare(target: Target, value: float | None) -> str:
    """``met``, ``missed``, or ``no data`` when there is no figure (no requests, no ratings …)."""
    if value is None:
        return NO_DATA
    if target.comparator == ">=":
        return MET if value >= target.value - _TOLERANCE else MISSED
    return MET if value <= target.value + _TOLERANCE else MISSED


@dataclass(frozen=True)
class Costs:
    currency: str
    agent_cost_per_ticket: float  # what a contact a person handles costs, all in
    running_cost_per_month: float  # hosting, model upkeep, the hours spent on the bot
    build_cost: float  # one-off: what building it cost, for the payback period


@dataclass(frozen=True)
class UseCase:
    name: str
    objective: str
    owner: str  # a role, not a person: people move, the role keeps the target
    stakeholders: tuple[str, ...]
    compliance: tuple[str, ...]
    flows: tuple[str, ...]  # ConversationFact.flow values that make up the use case
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Goals:
    version: int
    use_cases: tuple[UseCase, ...]
    targets: tuple[Target, ...]
    costs: Costs


@dataclass(frozen=True)
class DriftThresholds:
    psi_intent_mix: float
    psi_confidence: float
    oov_rate_increase: float  # absolute, as a share: 0.05 is five points
    fallback_rate_increase: float  # absolute, as a share


@dataclass(frozen=True)
class RollbackCriteria:
    deflection_drop_points: float  # percentage points against the baseline window
    escalation_rise_points: float
    csat_min: float
    p95_latency_ms_max: float
    drift_above_threshold: bool  # any drift measure above its threshold rolls back
    mandatory_human_automated: bool  # any mandatory-human request answered by a flow rolls back


@dataclass(frozen=True)
class Retrain:
    every: str  # as written, e.g. "4 weeks"
    every_days: int
    commands: tuple[str, ...]


@dataclass(frozen=True)
class Windows:
    baseline_days: int
    current_days: int


@dataclass(frozen=True)
class Monitoring:
    version: int
    drift: DriftThresholds
    rollback: RollbackCriteria
    retrain: Retrain
    windows: Windows
    # The release gate's thresholds on `make eval`'s scores (Target.kpi: the score's path).
    release: tuple[Target, ...] = ()


class _Reader:
    """Typed access to a parsed YAML file; every error names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> SettingsError:
        return SettingsError(f"{self.path}: {where} {problem}")

    def mapping(self, raw: object, where: str, *, allowed: set[str] | None = None,
                required: set[str] | None = None) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise self.fail(where, f"must be a mapping, got {type(raw).__name__}")
        if allowed is not None and (unknown := sorted(set(map(str, raw)) - allowed)):
            raise self.fail(where, f"has unknown keys {unknown} (known: {sorted(allowed)})")
        if required is not None and (missing := sorted(required - set(map(str, raw)))):
            raise self.fail(where, f"is missing {missing}")
        return raw

    def text(self, raw: object, where: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(where, f"must be a non-empty string, got {raw!r}")
        return raw.strip()

    def texts(self, raw: object, where: str) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(where, f"must be a non-empty list of strings, got {raw!r}")
        return tuple(self.text(item, f"{where}[{n}]") for n, item in enumerate(raw))

    def number(self, raw: object, where: str, low: float = -math.inf, high: float = math.inf) -> float:
        # bool is an int in Python: `true` where a number belongs is a mistake, not 1.
        if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
            raise self.fail(where, f"must be a number, got {raw!r}")
        if not low <= raw <= high:
            raise self.fail(where, f"must be between {low:g} and {high:g}, got {raw!r}")
        return float(raw)

    def whole(self, raw: object, where: str, minimum: int = 1) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise self.fail(where, f"must be a whole number, got {raw!r}")
        if raw < minimum:
            raise self.fail(where, f"must be >= {minimum}, got {raw}")
        return raw

    def flag(self, raw: object, where: str) -> bool:
        if not isinstance(raw, bool):
            raise self.fail(where, f"must be true or false, got {raw!r}")
        return raw

    def version(self, raw: Mapping[str, Any]) -> int:
        return self.whole(raw.get("version"), "version")

    def targets(self, raw: object, where: str, known: Mapping[str, tuple[float, float]]) -> tuple[Target, ...]:
        table = self.mapping(raw, where)
        return tuple(self.target(str(kpi), spec, f"{where}.{kpi}", known) for kpi, spec in table.items())

    def target(self, kpi: str, spec: object, where: str, known: Mapping[str, tuple[float, float]]) -> Target:
        if kpi not in known:
            raise self.fail(where, f"is not a KPI that can have a target here (known: {sorted(known)})")
        match = _TARGET.match(spec) if isinstance(spec, str) else None
        if match is None:
            raise self.fail(where, f'must read ">= number" or "<= number", got {spec!r}')
        low, high = known[kpi]
        value = self.number(float(match.group(2)), where, low, high)
        return Target(kpi, match.group(1), value)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: is not valid YAML ({exc})") from exc


_GOALS_KEYS = {"version", "use_cases", "targets", "costs"}
_USE_CASE_KEYS = {"name", "objective", "owner", "stakeholders", "compliance", "flows", "targets"}
_COSTS_KEYS = {"currency", "agent_cost_per_ticket", "running_cost_per_month", "build_cost"}


def load_goals(path: Path) -> Goals:
    read = _Reader(path)
    raw = read.mapping(_read_yaml(path), "the file", allowed=_GOALS_KEYS, required=_GOALS_KEYS)
    if not isinstance(raw["use_cases"], list) or not raw["use_cases"]:
        raise read.fail("use_cases", "must be a non-empty list")
    use_cases = tuple(_use_case(read, item, f"use_cases[{n}]") for n, item in enumerate(raw["use_cases"]))
    names = [u.name for u in use_cases]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise read.fail("use_cases", f"names must be unique, repeated: {duplicates}")
    return Goals(version=read.version(raw), use_cases=use_cases,
                 targets=read.targets(raw["targets"], "targets", GLOBAL_KPIS), costs=_costs(read, raw["costs"]))


def _use_case(read: _Reader, raw: object, where: str) -> UseCase:
    required = _USE_CASE_KEYS - {"flows"}
    item = read.mapping(raw, where, allowed=_USE_CASE_KEYS, required=required)
    name = read.text(item["name"], f"{where}.name")
    where = f"use_cases[{name}]"  # by name from here: easier to find in the file than an index
    return UseCase(
        name=name, objective=read.text(item["objective"], f"{where}.objective"),
        owner=read.text(item["owner"], f"{where}.owner"),
        stakeholders=read.texts(item["stakeholders"], f"{where}.stakeholders"),
        compliance=read.texts(item["compliance"], f"{where}.compliance"),
        # A use case is one flow of the same name unless it says otherwise.
        flows=read.texts(item["flows"], f"{where}.flows") if "flows" in item else (name,),
        targets=read.targets(item["targets"], f"{where}.targets", FLOW_KPIS),
    )


def _costs(read: _Reader, raw: object) -> Costs:
    item = read.mapping(raw, "costs", allowed=_COSTS_KEYS, required=_COSTS_KEYS)
    return Costs(
        currency=read.text(item["currency"], "costs.currency"),
        agent_cost_per_ticket=read.number(item["agent_cost_per_ticket"], "costs.agent_cost_per_ticket", 0.0),
        running_cost_per_month=read.number(item["running_cost_per_month"], "costs.running_cost_per_month", 0.0),
        build_cost=read.number(item["build_cost"], "costs.build_cost", 0.0),
    )


_MONITORING_KEYS = {"version", "drift", "rollback", "retrain", "windows"}
_MONITORING_OPTIONAL_KEYS = {"release"}
_DRIFT_KEYS = {"psi_intent_mix", "psi_confidence", "oov_rate_increase", "fallback_rate_increase"}
_ROLLBACK_KEYS = {"deflection_drop_points", "escalation_rise_points", "csat_min", "p95_latency_ms_max",
                  "drift_above_threshold", "mandatory_human_automated"}
_RETRAIN_KEYS = {"every", "commands"}
_WINDOWS_KEYS = {"baseline_days", "current_days"}


def load_monitoring(path: Path) -> Monitoring:
    read = _Reader(path)
    raw = read.mapping(_read_yaml(path), "the file", allowed=_MONITORING_KEYS | _MONITORING_OPTIONAL_KEYS,
                       required=_MONITORING_KEYS)
    release = read.targets(raw["release"], "release", RELEASE_SCORES) if "release" in raw else ()
    return Monitoring(version=read.version(raw), drift=_drift(read, raw["drift"]),
                      rollback=_rollback(read, raw["rollback"]), retrain=_retrain(read, raw["retrain"]),
                      windows=_windows(read, raw["windows"]), release=release)


def _drift(read: _Reader, raw: object) -> DriftThresholds:
    item = read.mapping(raw, "drift", allowed=_DRIFT_KEYS, required=_DRIFT_KEYS)
    # PSI is not bounded above, but a threshold of 0 would flag every window as drifted.
    return DriftThresholds(
        psi_intent_mix=read.number(item["psi_intent_mix"], "drift.psi_intent_mix", 1e-6),
        psi_confidence=read.number(item["psi_confidence"], "drift.psi_confidence", 1e-6),
        oov_rate_increase=read.number(item["oov_rate_increase"], "drift.oov_rate_increase", 0.0, 1.0),
        fallback_rate_increase=read.number(item["fallback_rate_increase"], "drift.fallback_rate_increase", 0.0, 1.0),
    )


def _rollback(read: _Reader, raw: object) -> RollbackCriteria:
    item = read.mapping(raw, "rollback", allowed=_ROLLBACK_KEYS, required=_ROLLBACK_KEYS)
    return RollbackCriteria(
        deflection_drop_points=read.number(item["deflection_drop_points"], "rollback.deflection_drop_points",
                                           0.0, 100.0),
        escalation_rise_points=read.number(item["escalation_rise_points"], "rollback.escalation_rise_points",
                                           0.0, 100.0),
        csat_min=read.number(item["csat_min"], "rollback.csat_min", *_CSAT),
        p95_latency_ms_max=read.number(item["p95_latency_ms_max"], "rollback.p95_latency_ms_max", 1.0),
        drift_above_threshold=read.flag(item["drift_above_threshold"], "rollback.drift_above_threshold"),
        mandatory_human_automated=read.flag(item["mandatory_human_automated"], "rollback.mandatory_human_automated"),
    )


def _retrain(read: _Reader, raw: object) -> Retrain:
    item = read.mapping(raw, "retrain", allowed=_RETRAIN_KEYS, required=_RETRAIN_KEYS)
    every = read.text(item["every"], "retrain.every")
    match = _PERIOD.match(every)
    if match is None or int(match.group(1)) < 1:
        raise read.fail("retrain.every", f'must read like "4 weeks" or "10 days", got {every!r}')
    days = int(match.group(1)) * (7 if match.group(2).startswith("week") else 1)
    return Retrain(every=every, every_days=days, commands=read.texts(item["commands"], "retrain.commands"))


def _windows(read: _Reader, raw: object) -> Windows:
    item = read.mapping(raw, "windows", allowed=_WINDOWS_KEYS, required=_WINDOWS_KEYS)
    return Windows(baseline_days=read.whole(item["baseline_days"], "windows.baseline_days"),
                   current_days=read.whole(item["current_days"], "windows.current_days"))
