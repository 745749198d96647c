"""The rollback check: does the current window, against the baseline, call for pausing the release
and bringing back the model before it? The criteria are ``monitoring.yml``'s ``rollback:``.

Every criterion is checked and listed with its evidence; any one *tripped* gives ROLLBACK, with one
sentence per reason naming the figure and its limit. A limit itself is acceptable: deflection must
fall by *more* than the points allowed, latency be *above* the maximum, CSAT *below* the minimum.
A criterion whose figure is missing (no CSAT ratings, no requests in a window, no turns) is
"no data", which is not a failure: a quiet week must not roll back a good model. A criterion that
``monitoring.yml`` switches off (``drift_above_threshold: false``) is listed as "off".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontdesk.insights.drift import DriftReport
from frontdesk.insights.goals import NO_DATA, RollbackCriteria
from frontdesk.insights.measures import KpiFigures

PASS = "PASS"  # noqa: S105 -- a verdict, not a password
ROLLBACK = "ROLLBACK"
OK = "ok"
TRIPPED = "tripped"
OFF = "off"
# Rounding noise ((0.4 - 0.3) * 100 is 10.000000000000002) must not trip a criterion exactly at its limit.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Check:
    criterion: str  # the monitoring.yml key
    status: str  # OK, TRIPPED, NO_DATA or OFF
    evidence: str  # one sentence: the figure, and the limit
    value: float | None = None
    limit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "status": self.status, "evidence": self.evidence,
                "value": self.value, "limit": self.limit}


@dataclass(frozen=True)
class Verdict:
    decision: str  # PASS or ROLLBACK
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(check.evidence for check in self.checks if check.status == TRIPPED)

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": list(self.reasons),
                "checks": [check.as_dict() for check in self.checks]}


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _deflection(baseline: KpiFigures, current: KpiFigures, criteria: RollbackCriteria) -> Check:
    name, limit = "deflection_drop_points", criteria.deflection_drop_points
    before, now = baseline.overall.deflection, current.overall.deflection
    if before is None or now is None:
        return Check(name, NO_DATA, "Deflection: no data (a window without requests).", None, limit)
    drop = (before - now) * 100
    if drop > limit + _TOLERANCE:
        return Check(name, TRIPPED, f"Deflection fell {drop:.1f} points, from {_percent(before)} to "
                                    f"{_percent(now)}: more than the {limit:g}-point limit.", drop, limit)
    return Check(name, OK, f"Deflection went from {_percent(before)} to {_percent(now)}: within the "
                           f"{limit:g}-point limit on a fall.", drop, limit)


def _escalation(baseline: KpiFigures, current: KpiFigures, criteria: RollbackCriteria) -> Check:
    name, limit = "escalation_rise_points", criteria.escalation_rise_points
    before, now = baseline.overall.escalation_rate, current.overall.escalation_rate
    if before is None or now is None:
        return Check(name, NO_DATA, "Escalation rate: no data (a window without requests).", None, limit)
    rise = (now - before) * 100
    if rise > limit + _TOLERANCE:
        return Check(name, TRIPPED, f"Escalation rate rose {rise:.1f} points, from {_percent(before)} to "
                                    f"{_percent(now)}: more than the {limit:g}-point limit.", rise, limit)
    return Check(name, OK, f"Escalation rate went from {_percent(before)} to {_percent(now)}: within the "
                           f"{limit:g}-point limit on a rise.", rise, limit)


def _csat(label: str, average: float | None, responses: int, criteria: RollbackCriteria) -> Check:
    name, limit = f"csat_min ({label})", criteria.csat_min
    if average is None:
        return Check(name, NO_DATA, f"CSAT {label}: no data (no ratings in the current window).", None, limit)
    if average < limit - _TOLERANCE:
        return Check(name, TRIPPED, f"CSAT {label} averaged {average:.2f} over {responses} ratings: below the "
                                    f"minimum of {limit:g}.", average, limit)
    return Check(name, OK, f"CSAT {label} averaged {average:.2f} over {responses} ratings: at or above the "
                           f"minimum of {limit:g}.", average, limit)


def _latency(current: KpiFigures, criteria: RollbackCriteria) -> Check:
    name, limit = "p95_latency_ms_max", criteria.p95_latency_ms_max
    p95 = current.turns.p95_latency_ms
    if p95 is None:
        return Check(name, NO_DATA, "p95 latency: no data (no timed turns in the current window).", None, limit)
    if p95 > limit + _TOLERANCE:
        return Check(name, TRIPPED, f"p95 latency was {p95:g} ms: above the {limit:g} ms maximum.", p95, limit)
    return Check(name, OK, f"p95 latency was {p95:g} ms: within the {limit:g} ms maximum.", p95, limit)


def _drift(drift: DriftReport, criteria: RollbackCriteria) -> Check:
    name = "drift_above_threshold"
    if not criteria.drift_above_threshold:
        return Check(name, OFF, "Drift is not a rollback criterion (monitoring.yml).")
    if drift.above:
        listed = "; ".join(f"{m.name} {m.value:.3f} above its threshold {m.threshold:g}" for m in drift.above)
        return Check(name, TRIPPED, f"Drift: {listed}.", float(len(drift.above)), 0.0)
    if all(measure.value is None for measure in drift.measures):
        return Check(name, NO_DATA, "Drift: no data (no turns in the baseline or the current window).")
    return Check(name, OK, "Drift: every measure at or below its threshold.", 0.0, 0.0)


def _mandatory_human(current: KpiFigures, criteria: RollbackCriteria) -> Check:
    name = "mandatory_human_automated"
    if not criteria.mandatory_human_automated:
        return Check(name, OFF, "Mandatory-human requests answered by a flow are not a rollback criterion.")
    if current.overall.conversations == 0:
        return Check(name, NO_DATA, "Mandatory-human requests: no data (no conversations in the current window).")
    count = current.overall.mandatory_human_automated
    if count > 0:
        return Check(name, TRIPPED, f"{count} mandatory-human request(s) were answered by a flow instead of a "
                                    "person: the limit is none.", float(count), 0.0)
    return Check(name, OK, "Every mandatory-human request went to a person.", 0.0, 0.0)


def check(baseline: KpiFigures, current: KpiFigures, drift: DriftReport, criteria: RollbackCriteria) -> Verdict:
    """PASS or ROLLBACK for the current window against the baseline, every criterion listed."""
    now = current.overall
    checks = (
        _deflection(baseline, current, criteria),
        _escalation(baseline, current, criteria),
        _csat("after the bot", now.csat_after_bot, now.csat_bot_responses, criteria),
        _csat("after an agent", now.csat_after_agent, now.csat_agent_responses, criteria),
        _latency(current, criteria),
        _drift(drift, criteria),
        _mandatory_human(current, criteria),
    )
    decision = ROLLBACK if any(c.status == TRIPPED for c in checks) else PASS
    return Verdict(decision=decision, checks=checks)
