"""The KPI report and the rollback check, from the telemetry facts and the app tables.

``kpi_window_report`` gathers, for ``[start, end)``: the KPIs (``measures.compute_kpis``), each
against its target in ``goals.yml``, the same figures week by week, drift of the last
``windows.current_days`` against the ``windows.baseline_days`` before them (``monitoring.yml``),
and the operational figures of ``kpi.kpi_report`` (handoffs, CSAT response rates, how often agents
corrected the bot, per intent). ``rollback_check`` compares the current window with the baseline
under the rollback criteria. ``text_report`` and ``report_html.render`` present a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from frontdesk.agents.feedback import AgentFeedback
from frontdesk.insights.drift import DriftReport, drift_report
from frontdesk.insights.goals import Goals, Monitoring
from frontdesk.insights.kpi import kpi_report
from frontdesk.insights.measures import KpiFigures, against_targets, compute_kpis, weekly
from frontdesk.insights.rollback import Verdict, check
from frontdesk.insights.telemetry import load_conversation_facts, load_turn_facts


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    current_start: datetime  # drift and the rollback check: [current_start, end) ...
    baseline_start: datetime  # ... against [baseline_start, current_start)

    @classmethod
    def ending(cls, end: datetime, monitoring: Monitoring, start: datetime | None = None) -> Period:
        current_start = end - timedelta(days=monitoring.windows.current_days)
        baseline_start = current_start - timedelta(days=monitoring.windows.baseline_days)
        return cls(start or baseline_start, end, current_start, baseline_start)


def _span(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": start.isoformat(sep=" ", timespec="minutes"), "to": end.isoformat(sep=" ", timespec="minutes")}


def _figures(session: Session, start: datetime, end: datetime, goals: Goals, now: datetime,
             follow_up_days: int = 7) -> tuple[KpiFigures, list[Any], list[Any]]:
    # FCR looks for a repeat contact up to a week after the window: those conversations are read too.
    conversations = load_conversation_facts(session, start, end + timedelta(days=follow_up_days))
    turns = load_turn_facts(session, start, end)
    figures = compute_kpis(conversations, turns, window_start=start, window_end=end, costs=goals.costs, now=now,
                           follow_up_days=follow_up_days)
    return figures, conversations, turns


def _drift(session: Session, period: Period, monitoring: Monitoring) -> DriftReport:
    return drift_report(load_turn_facts(session, period.baseline_start, period.current_start),
                        load_turn_facts(session, period.current_start, period.end), monitoring.drift)


def kpi_window_report(session: Session, feedback: AgentFeedback, goals: Goals, monitoring: Monitoring,
                      period: Period, now: datetime) -> dict[str, Any]:
    figures, conversations, turns = _figures(session, period.start, period.end, goals, now)
    in_window = [c for c in conversations if c.started_at < period.end]
    weeks = weekly(in_window, turns, costs=goals.costs, now=now)
    return {
        **kpi_report(session, feedback),  # handoffs, CSAT response rates, agent corrections
        "goals_version": goals.version,
        "window": _span(period.start, period.end),
        "figures": figures.as_dict(),
        "targets": [result.as_dict() for result in against_targets(figures, goals)],
        "weekly": {week: {**f.as_dict()["kpis"], "requests": f.overall.requests} for week, f in weeks.items()},
        "drift": {"baseline": _span(period.baseline_start, period.current_start),
                  "current": _span(period.current_start, period.end), **_drift(session, period, monitoring).as_dict()},
    }


def rollback_check(session: Session, goals: Goals, monitoring: Monitoring, period: Period,
                   now: datetime) -> tuple[Verdict, dict[str, Any]]:
    """The verdict on the current window against the baseline, and the figures it was made on."""
    baseline, _, baseline_turns = _figures(session, period.baseline_start, period.current_start, goals, now)
    current, _, current_turns = _figures(session, period.current_start, period.end, goals, now)
    drift = drift_report(baseline_turns, current_turns, monitoring.drift)  # the turns just read, not again
    verdict = check(baseline, current, drift, monitoring.rollback)
    evidence = {"baseline": {**_span(period.baseline_start, period.current_start), "kpis": baseline.as_dict()["kpis"]},
                "current": {**_span(period.current_start, period.end), "kpis": current.as_dict()["kpis"]},
                "drift": drift.as_dict()}
    return verdict, evidence


def format_kpi(kpi: str, value: float | None) -> str:
    """A KPI's value as a person reads it: a share in %, a time in ms or minutes, a score as is."""
    if value is None:
        return "no data"
    if kpi.endswith("_ms"):
        return f"{value:.0f} ms"
    if kpi.endswith("_seconds"):
        return f"{value / 60:.1f} min"
    if kpi.startswith("csat_after") or kpi in ("payback_months", "cost_per_contact", "monthly_net_savings",
                                               "requests", "mandatory_human_automated"):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.1%}"


def text_report(report: dict[str, Any]) -> str:
    """The report as aligned lines for a terminal."""
    figures = report["figures"]
    lines = [f"KPI report {report['window']['from']} .. {report['window']['to']} (goals version "
             f"{report['goals_version']})",
             f"conversations {figures['conversations']['conversations']}, requests "
             f"{figures['conversations']['requests']}, resolved by the bot {figures['conversations']['resolved']}, "
             f"handed off {figures['conversations']['handed_off']}, abandoned {figures['conversations']['abandoned']}",
             "", f"{'KPI':<44}{'value':>12}  {'target':<36}status"]
    for result in report["targets"]:
        name = result["kpi"] if result["use_case"] is None else f"{result['use_case']}: {result['kpi']}"
        lines.append(f"{name:<44}{format_kpi(result['kpi'], result['value']):>12}  {result['target']:<36}"
                     f"{result['status']}")
    lines += ["", "deflection by flow:"]
    for flow, flow_figures in sorted(figures["by_flow"].items()):
        lines.append(f"  {flow:<24}{format_kpi('deflection', flow_figures['deflection']):>10}  "
                     f"of {flow_figures['requests']} requests")
    lines += ["", "SLA compliance by queue:"]
    for queue, sla in sorted(figures["sla_by_queue"].items()):
        lines.append(f"  {queue:<24}{format_kpi('sla', sla['compliance']):>10}  met {sla['met']}, "
                     f"missed {sla['missed']}, pending {sla['pending']}")
    drift = report["drift"]
    lines += ["", f"drift ({drift['current']['from']} .. {drift['current']['to']} against the "
                  f"{drift['baseline']['from']} .. {drift['baseline']['to']} baseline):"]
    for measure in drift["measures"]:
        value = "no data" if measure["value"] is None else f"{measure['value']:.3f}"
        lines.append(f"  {measure['name']:<24}{value:>10}  threshold {measure['threshold']}"
                     f"{'  ABOVE' if measure['above'] else ''}")
    lines += ["", "what customers ask that the bot cannot answer (redacted):"]
    lines += [f"  {item['count']:>4}  {item['text']}" for item in figures["turns"]["top_fallback_messages"][:10]]
    return "\n".join(lines)
