"""The KPIs, computed from redacted facts (``frontdesk.insights.facts``): pure functions, no database.

These are the product's definitions; reports, targets (``goals.yml``) and the rollback check all
use them. A window is half-open, ``[window_start, window_end)``: a conversation is in it by its
``started_at``, a turn by its ``at``. A figure whose denominator is zero is ``None`` ("no data"),
never 0.

Conversations
    requests
        conversations whose outcome is not ``no_request`` (greetings and small talk are not asked
        for anything, so they neither help nor hurt).
    deflection (containment)
        ``resolved / requests``: the bot finished the flow on its own. Overall, per flow
        (``ConversationFact.flow``; a request without one counts as ``unclassified``), and per use
        case (``goals.yml`` groups flows).
    escalation rate
        ``handed_off / requests``, overall and per ``handoff_reason`` (``unspecified`` when none).
    abandonment rate
        ``abandoned / requests``.
    FCR (first contact resolution)
        among requests that ended resolved or handed off, the share whose customer (same
        ``customer_key``) opens no new conversation with the same flow within ``follow_up_days``
        after ``started_at`` (a new conversation starts strictly later, at most ``follow_up_days``
        later). The follow-up is looked for among *all* the conversations given, so pass them
        through ``window_end + follow_up_days``. Not evaluable, and counted apart: a request
        without ``customer_key`` (``fcr_no_customer``), or whose follow-up window has not ended
        by ``now`` (``fcr_follow_up_open``; a request without a customer counts only as the former).
    CSAT after bot, after agent
        over ratings whose ``csat_after`` says whom they are about: responses, average (1-5) and
        satisfied share (4s and 5s). Any outcome counts: the rating is about the conversation.
    average handle time
        bot: mean ``bot_seconds`` over requests; human: mean ``human_seconds`` over handoffs that
        are closed (``human_seconds`` set).
    SLA compliance
        over handoffs with ``sla_seconds``, overall and per queue (``unassigned`` when none):
        met when ``first_human_response_seconds <= sla_seconds``; missed when it is larger, or when
        nobody has answered and more than ``sla_seconds`` have passed by ``now`` since the handoff
        was created (``started_at + bot_seconds``: the bot's time ends when the handoff is
        created, and the SLA starts there); pending otherwise, and left out.
        Compliance is ``met / (met + missed)``.
    mandatory-human automated
        the number of requests with ``mandatory_human_automated`` set: a request that must reach
        a person answered by a flow.

Turns
    fallback rate, error rate
        fallback turns / turns, error turns / turns.
    intent distribution
        counts and shares of ``intent`` (``(none)`` when the turn had none).
    confidence histogram
        10 bins of width 0.1 over [0, 1]: bin ``i`` holds ``[i/10, (i+1)/10)``, the last also 1.0;
        values outside [0, 1] are clamped, turns without a confidence left out.
    per-intent fallback rate
        fallback turns with the intent / turns with the intent.
    latency p50, p95
        over turns with ``latency_ms``, by the **nearest-rank** method: the smallest value with at
        least p % of the values at or below it (``sorted[ceil(p/100 * n) - 1]``): always a
        latency that was measured.
    top fallback messages
        the 20 most frequent ``fallback_text`` values (already redacted) of fallback turns, with
        counts; ties by text, so the list is stable.

Costs (``goals.yml``'s ``costs``; a month is 30 days)
    running cost for the window
        ``running_cost_per_month * window_days / 30``.
    cost per contact
        ``(running cost for the window + agent_cost_per_ticket * handoffs) / requests``.
    savings
        ``resolved * agent_cost_per_ticket - running cost for the window``.
    monthly net savings
        ``savings * 30 / window_days``.
    payback months
        ``build_cost / monthly net savings``; ``None`` when monthly net savings are not positive
        (it never pays back at this rate).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from frontdesk.insights.facts import ABANDONED, HANDED_OFF, NO_REQUEST, RESOLVED, ConversationFact, TurnFact
from frontdesk.insights.goals import GLOBAL_KPIS, Costs, Goals, Target, compare

DAYS_PER_MONTH = 30
CONFIDENCE_BINS = 10
TOP_FALLBACK_MESSAGES = 20
NO_INTENT = "(none)"
UNCLASSIFIED_FLOW = "unclassified"
UNSPECIFIED_REASON = "unspecified"
UNASSIGNED_QUEUE = "unassigned"
BOT = "bot"
AGENT = "agent"


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class ConversationFigures:
    """The counts behind the conversation KPIs of a set of conversations; the KPIs are properties.

    Counts rather than rates, so that the figures of several flows add up to those of a use case.
    """

    conversations: int = 0
    requests: int = 0
    resolved: int = 0
    handed_off: int = 0
    abandoned: int = 0
    fcr_evaluable: int = 0
    fcr_first_contact: int = 0  # evaluable requests without a repeat contact
    fcr_no_customer: int = 0
    fcr_follow_up_open: int = 0
    csat_bot_responses: int = 0
    csat_bot_total: int = 0
    csat_bot_satisfied: int = 0
    csat_agent_responses: int = 0
    csat_agent_total: int = 0
    csat_agent_satisfied: int = 0
    sla_met: int = 0
    sla_missed: int = 0
    sla_pending: int = 0
    bot_seconds_total: float = 0.0  # over requests
    human_seconds_total: float = 0.0
    human_seconds_count: int = 0  # closed handoffs
    mandatory_human_automated: int = 0

    def __add__(self, other: ConversationFigures) -> ConversationFigures:
        return ConversationFigures(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def deflection(self) -> float | None:
        return _share(self.resolved, self.requests)

    @property
    def escalation_rate(self) -> float | None:
        return _share(self.handed_off, self.requests)

    @property
    def abandonment_rate(self) -> float | None:
        return _share(self.abandoned, self.requests)

    @property
    def fcr(self) -> float | None:
        return _share(self.fcr_first_contact, self.fcr_evaluable)

    @property
    def csat_after_bot(self) -> float | None:
        return _share(self.csat_bot_total, self.csat_bot_responses)

    @property
    def csat_after_agent(self) -> float | None:
        return _share(self.csat_agent_total, self.csat_agent_responses)

    @property
    def csat_satisfied_after_bot(self) -> float | None:
        return _share(self.csat_bot_satisfied, self.csat_bot_responses)

    @property
    def csat_satisfied_after_agent(self) -> float | None:
        return _share(self.csat_agent_satisfied, self.csat_agent_responses)

    @property
    def sla_compliance(self) -> float | None:
        return _share(self.sla_met, self.sla_met + self.sla_missed)

    @property
    def bot_handle_seconds(self) -> float | None:
        return _share(self.bot_seconds_total, self.requests)

    @property
    def human_handle_seconds(self) -> float | None:
        return _share(self.human_seconds_total, self.human_seconds_count)

    def value(self, kpi: str) -> float | None:
        """A KPI of ``goals.FLOW_KPIS`` by name."""
        if kpi not in _FLOW_KPI_NAMES:
            raise KeyError(f"{kpi!r} is not a conversation KPI")
        result = getattr(self, kpi)
        return None if result is None else float(result)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations, "requests": self.requests, "resolved": self.resolved,
            "handed_off": self.handed_off, "abandoned": self.abandoned,
            "deflection": self.deflection, "escalation_rate": self.escalation_rate,
            "abandonment_rate": self.abandonment_rate,
            "fcr": {"rate": self.fcr, "evaluable": self.fcr_evaluable, "first_contact": self.fcr_first_contact,
                    "not_evaluable_no_customer": self.fcr_no_customer,
                    "not_evaluable_follow_up_open": self.fcr_follow_up_open},
            "csat": {
                BOT: _csat_dict(self.csat_bot_responses, self.csat_after_bot, self.csat_satisfied_after_bot),
                AGENT: _csat_dict(self.csat_agent_responses, self.csat_after_agent, self.csat_satisfied_after_agent),
            },
            "handle_time": {"bot_seconds": self.bot_handle_seconds, "human_seconds": self.human_handle_seconds,
                            "closed_handoffs": self.human_seconds_count},
            "sla": {"met": self.sla_met, "missed": self.sla_missed, "pending": self.sla_pending,
                    "compliance": self.sla_compliance},
            "mandatory_human_automated": self.mandatory_human_automated,
        }


_FLOW_KPI_NAMES = frozenset({"requests", "deflection", "escalation_rate", "abandonment_rate", "fcr",
                             "csat_after_bot", "csat_after_agent", "csat_satisfied_after_bot",
                             "csat_satisfied_after_agent", "sla_compliance", "bot_handle_seconds",
                             "human_handle_seconds", "mandatory_human_automated"})


def _csat_dict(responses: int, average: float | None, satisfied: float | None) -> dict[str, Any]:
    return {"responses": responses, "average": average, "satisfied_share": satisfied}


@dataclass(frozen=True)
class SlaFigures:
    met: int = 0
    missed: int = 0
    pending: int = 0

    @property
    def compliance(self) -> float | None:
        return _share(self.met, self.met + self.missed)

    def as_dict(self) -> dict[str, Any]:
        return {"met": self.met, "missed": self.missed, "pending": self.pending, "compliance": self.compliance}


@dataclass(frozen=True)
class TurnFigures:
    turns: int = 0
    fallbacks: int = 0
    errors: int = 0
    intent_counts: dict[str, int] = field(default_factory=dict)
    confidence_histogram: tuple[int, ...] = (0,) * CONFIDENCE_BINS
    fallback_rate_by_intent: dict[str, float] = field(default_factory=dict)
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    top_fallback_messages: tuple[tuple[str, int], ...] = ()

    @property
    def fallback_rate(self) -> float | None:
        return _share(self.fallbacks, self.turns)

    @property
    def error_rate(self) -> float | None:
        return _share(self.errors, self.turns)

    @property
    def intent_shares(self) -> dict[str, float]:
        return {intent: count / self.turns for intent, count in self.intent_counts.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "turns": self.turns, "fallbacks": self.fallbacks, "errors": self.errors,
            "fallback_rate": self.fallback_rate, "error_rate": self.error_rate,
            "intents": {intent: {"count": count, "share": self.intent_shares[intent]}
                        for intent, count in self.intent_counts.items()},
            "confidence_histogram": [
                {"from": n / CONFIDENCE_BINS, "to": (n + 1) / CONFIDENCE_BINS, "count": count}
                for n, count in enumerate(self.confidence_histogram)],
            "fallback_rate_by_intent": dict(self.fallback_rate_by_intent),
            "latency_ms": {"p50": self.p50_latency_ms, "p95": self.p95_latency_ms, "method": "nearest-rank"},
            "top_fallback_messages": [{"text": text, "count": count} for text, count in self.top_fallback_messages],
        }


@dataclass(frozen=True)
class CostFigures:
    currency: str
    window_days: float
    running_cost: float  # pro rata for the window
    agent_cost: float  # agent_cost_per_ticket * handoffs
    cost_per_contact: float | None
    savings: float
    monthly_net_savings: float | None  # None for an empty window
    payback_months: float | None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class KpiFigures:
    """All the KPIs of one window. ``value(name)`` reads one by its ``goals.yml`` name."""

    window_start: datetime
    window_end: datetime
    now: datetime
    follow_up_days: int
    overall: ConversationFigures
    by_flow: dict[str, ConversationFigures]
    escalation_by_reason: dict[str, float]
    sla_by_queue: dict[str, SlaFigures]
    turns: TurnFigures
    costs: CostFigures

    @property
    def deflection(self) -> float | None:
        return self.overall.deflection

    @property
    def deflection_by_flow(self) -> dict[str, float | None]:
        return {flow: figures.deflection for flow, figures in self.by_flow.items()}

    def value(self, kpi: str) -> float | None:
        """A KPI of ``goals.GLOBAL_KPIS`` by name, for the whole window."""
        if kpi in _FLOW_KPI_NAMES:
            return self.overall.value(kpi)
        if kpi in ("fallback_rate", "error_rate", "p50_latency_ms", "p95_latency_ms"):
            return getattr(self.turns, kpi)
        if kpi in ("cost_per_contact", "monthly_net_savings", "payback_months"):
            return getattr(self.costs, kpi)
        raise KeyError(f"{kpi!r} is not a KPI")

    def flows(self, names: Iterable[str]) -> ConversationFigures:
        """The figures of these flows together (a use case)."""
        return sum((self.by_flow.get(name, ConversationFigures()) for name in names), ConversationFigures())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes in ISO 8601, every figure under its name, ``kpis`` flat for dashboards."""
        return {
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat(),
                       "days": self.costs.window_days},
            "now": self.now.isoformat(),
            "follow_up_days": self.follow_up_days,
            "kpis": {name: self.value(name) for name in GLOBAL_KPIS},
            "conversations": self.overall.as_dict(),
            "by_flow": {flow: figures.as_dict() for flow, figures in self.by_flow.items()},
            "escalation_by_reason": dict(self.escalation_by_reason),
            "sla_by_queue": {queue: figures.as_dict() for queue, figures in self.sla_by_queue.items()},
            "turns": self.turns.as_dict(),
            "costs": self.costs.as_dict(),
        }


@dataclass(frozen=True)
class TargetResult:
    kpi: str
    value: float | None
    target: Target
    status: str  # goals.MET, MISSED or NO_DATA
    use_case: str | None = None  # None: a global target

    def as_dict(self) -> dict[str, Any]:
        return {"kpi": self.kpi, "use_case": self.use_case, "value": self.value,
                "target": str(self.target), "status": self.status}


# --- conversations ---------------------------------------------------------------------------


def _in_window(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def _is_request(conversation: ConversationFact) -> bool:
    return conversation.outcome != NO_REQUEST


def _flow_of(conversation: ConversationFact) -> str:
    return conversation.flow or UNCLASSIFIED_FLOW


def _repeat_contacts(conversations: Sequence[ConversationFact]) -> dict[tuple[str, str | None], list[datetime]]:
    """(customer, flow) -> when each of that customer's conversations about that flow started."""
    starts: dict[tuple[str, str | None], list[datetime]] = {}
    for conversation in conversations:
        if conversation.customer_key:
            starts.setdefault((conversation.customer_key, conversation.flow), []).append(conversation.started_at)
    return starts


def _fcr_status(conversation: ConversationFact, starts: Mapping[tuple[str, str | None], list[datetime]],
                follow_up: timedelta, now: datetime) -> str:
    """``first_contact``, ``repeat``, ``no_customer`` or ``follow_up_open``."""
    if not conversation.customer_key:
        return "no_customer"
    until = conversation.started_at + follow_up
    if until > now:
        return "follow_up_open"
    others = starts.get((conversation.customer_key, conversation.flow), [])
    repeated = any(conversation.started_at < start <= until for start in others)
    return "repeat" if repeated else "first_contact"


def _handoff_created_at(conversation: ConversationFact) -> datetime:
    # The bot's time ends when the handoff is created: that is where the SLA starts.
    return conversation.started_at + timedelta(seconds=conversation.bot_seconds)


def sla_status(conversation: ConversationFact, now: datetime) -> str | None:
    """``met``, ``missed``, ``pending``, or None when the conversation has no SLA."""
    if conversation.sla_seconds is None:
        return None
    if conversation.first_human_response_seconds is not None:
        return "met" if conversation.first_human_response_seconds <= conversation.sla_seconds else "missed"
    waited = (now - _handoff_created_at(conversation)).total_seconds()
    return "missed" if waited > conversation.sla_seconds else "pending"


def _figures_of(conversation: ConversationFact, starts: Mapping[tuple[str, str | None], list[datetime]],
                follow_up: timedelta, now: datetime) -> ConversationFigures:
    """One conversation's contribution to the counts."""
    counts: dict[str, Any] = {"conversations": 1}
    request = _is_request(conversation)
    if request:
        counts.update(requests=1, resolved=int(conversation.outcome == RESOLVED),
                      handed_off=int(conversation.outcome == HANDED_OFF),
                      abandoned=int(conversation.outcome == ABANDONED),
                      bot_seconds_total=conversation.bot_seconds,
                      mandatory_human_automated=int(conversation.mandatory_human_automated))
    if request and conversation.outcome in (RESOLVED, HANDED_OFF):
        status = _fcr_status(conversation, starts, follow_up, now)
        counts["fcr_evaluable"] = int(status in ("first_contact", "repeat"))
        counts["fcr_first_contact"] = int(status == "first_contact")
        counts["fcr_no_customer"] = int(status == "no_customer")
        counts["fcr_follow_up_open"] = int(status == "follow_up_open")
    if conversation.csat is not None and conversation.csat_after in (BOT, AGENT):
        prefix = f"csat_{conversation.csat_after}"
        counts.update({f"{prefix}_responses": 1, f"{prefix}_total": conversation.csat,
                       f"{prefix}_satisfied": int(conversation.csat >= 4)})
    if conversation.outcome == HANDED_OFF and conversation.human_seconds is not None:
        counts.update(human_seconds_total=conversation.human_seconds, human_seconds_count=1)
    sla = sla_status(conversation, now)
    if sla is not None:
        counts[f"sla_{sla}"] = 1
    return ConversationFigures(**counts)


def conversation_figures(conversations: Iterable[ConversationFact], *, all_conversations: Sequence[ConversationFact],
                         now: datetime, follow_up_days: int = 7) -> ConversationFigures:
    """The counts of these conversations; repeat contacts for FCR are looked for in ``all_conversations``."""
    starts = _repeat_contacts(all_conversations)
    follow_up = timedelta(days=follow_up_days)
    return sum((_figures_of(c, starts, follow_up, now) for c in conversations), ConversationFigures())


def _by_flow(conversations: Sequence[ConversationFact], all_conversations: Sequence[ConversationFact],
             now: datetime, follow_up_days: int) -> dict[str, ConversationFigures]:
    flows = sorted({_flow_of(c) for c in conversations if _is_request(c)})
    return {flow: conversation_figures([c for c in conversations if _is_request(c) and _flow_of(c) == flow],
                                       all_conversations=all_conversations, now=now, follow_up_days=follow_up_days)
            for flow in flows}


def _escalation_by_reason(conversations: Sequence[ConversationFact]) -> dict[str, float]:
    requests = sum(1 for c in conversations if _is_request(c))
    reasons = Counter(c.handoff_reason or UNSPECIFIED_REASON for c in conversations if c.outcome == HANDED_OFF)
    return {reason: count / requests for reason, count in sorted(reasons.items())}


def _sla_by_queue(conversations: Sequence[ConversationFact], now: datetime) -> dict[str, SlaFigures]:
    counts: dict[str, Counter[str]] = {}
    for conversation in conversations:
        status = sla_status(conversation, now)
        if status is not None:
            counts.setdefault(conversation.queue or UNASSIGNED_QUEUE, Counter())[status] += 1
    return {queue: SlaFigures(met=c["met"], missed=c["missed"], pending=c["pending"])
            for queue, c in sorted(counts.items())}


# --- turns -----------------------------------------------------------------------------------


def intent_counts(turns: Iterable[TurnFact]) -> dict[str, int]:
    """Turns per intent, most frequent first (ties by name)."""
    counts = Counter(turn.intent or NO_INTENT for turn in turns)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def confidence_histogram(turns: Iterable[TurnFact]) -> tuple[int, ...]:
    """Turns per confidence bin: 10 bins of width 0.1 over [0, 1], 1.0 in the last."""
    bins = [0] * CONFIDENCE_BINS
    for turn in turns:
        if turn.confidence is not None:
            clamped = min(max(turn.confidence, 0.0), 1.0)
            bins[min(int(clamped * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)] += 1
    return tuple(bins)


def fallback_rate(turns: Sequence[TurnFact]) -> float | None:
    return _share(sum(1 for turn in turns if turn.fallback), len(turns))


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _fallback_rate_by_intent(turns: Sequence[TurnFact]) -> dict[str, float]:
    seen = Counter(turn.intent or NO_INTENT for turn in turns)
    fell_back = Counter(turn.intent or NO_INTENT for turn in turns if turn.fallback)
    return {intent: fell_back[intent] / count for intent, count in sorted(seen.items())}


def _top_fallback_messages(turns: Iterable[TurnFact]) -> tuple[tuple[str, int], ...]:
    counts = Counter(turn.fallback_text for turn in turns if turn.fallback and turn.fallback_text)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ranked[:TOP_FALLBACK_MESSAGES])


def turn_figures(turns: Sequence[TurnFact]) -> TurnFigures:
    latencies = [turn.latency_ms for turn in turns if turn.latency_ms is not None]
    return TurnFigures(
        turns=len(turns), fallbacks=sum(1 for t in turns if t.fallback), errors=sum(1 for t in turns if t.error),
        intent_counts=intent_counts(turns), confidence_histogram=confidence_histogram(turns),
        fallback_rate_by_intent=_fallback_rate_by_intent(turns),
        p50_latency_ms=percentile(latencies, 50), p95_latency_ms=percentile(latencies, 95),
        top_fallback_messages=_top_fallback_messages(turns),
    )


# --- costs -----------------------------------------------------------------------------------


def cost_figures(overall: ConversationFigures, costs: Costs, window_days: float) -> CostFigures:
    running = costs.running_cost_per_month * window_days / DAYS_PER_MONTH
    agent = costs.agent_cost_per_ticket * overall.handed_off
    savings = overall.resolved * costs.agent_cost_per_ticket - running
    monthly = savings * DAYS_PER_MONTH / window_days if window_days > 0 else None
    return CostFigures(
        currency=costs.currency, window_days=window_days, running_cost=running, agent_cost=agent,
        cost_per_contact=_share(running + agent, overall.requests), savings=savings, monthly_net_savings=monthly,
        # Not positive: it never pays back at this rate, and a negative number of months would mislead.
        payback_months=costs.build_cost / monthly if monthly is not None and monthly > 0 else None,
    )


# --- the window ------------------------------------------------------------------------------


def compute_kpis(conversations: Sequence[ConversationFact], turns: Sequence[TurnFact], *, window_start: datetime,
                 window_end: datetime, costs: Costs, now: datetime, follow_up_days: int = 7) -> KpiFigures:
    """The KPIs of ``[window_start, window_end)``. ``conversations`` may reach beyond the window:
    those after it are where FCR finds repeat contacts."""
    if window_end <= window_start:
        raise ValueError(f"the window must end after it starts: {window_start} .. {window_end}")
    in_window = [c for c in conversations if _in_window(c.started_at, window_start, window_end)]
    window_turns = [t for t in turns if _in_window(t.at, window_start, window_end)]
    overall = conversation_figures(in_window, all_conversations=conversations, now=now,
                                   follow_up_days=follow_up_days)
    window_days = (window_end - window_start).total_seconds() / 86400
    return KpiFigures(
        window_start=window_start, window_end=window_end, now=now, follow_up_days=follow_up_days,
        overall=overall, by_flow=_by_flow(in_window, conversations, now, follow_up_days),
        escalation_by_reason=_escalation_by_reason(in_window), sla_by_queue=_sla_by_queue(in_window, now),
        turns=turn_figures(window_turns), costs=cost_figures(overall, costs, window_days),
    )


def iso_week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _monday(at: datetime) -> datetime:
    return datetime(at.year, at.month, at.day) - timedelta(days=at.weekday())


def weekly(conversations: Sequence[ConversationFact], turns: Sequence[TurnFact], *, costs: Costs, now: datetime,
           follow_up_days: int = 7) -> dict[str, KpiFigures]:
    """The figures per ISO week (Monday 00:00 to Monday 00:00, UTC), keyed ``2026-W48``, oldest first,
    from the week of the first conversation or turn to that of the last; weeks without traffic
    are there too, so that a trend line shows the gap."""
    moments = [c.started_at for c in conversations] + [t.at for t in turns]
    if not moments:
        return {}
    week, last = _monday(min(moments)), _monday(max(moments))
    result: dict[str, KpiFigures] = {}
    while week <= last:
        result[iso_week_label(week.date())] = compute_kpis(
            conversations, turns, window_start=week, window_end=week + timedelta(days=7), costs=costs, now=now,
            follow_up_days=follow_up_days)
        week += timedelta(days=7)
    return result


# --- targets ---------------------------------------------------------------------------------


def against_targets(figures: KpiFigures, goals: Goals) -> list[TargetResult]:
    """Each global target, then each use case's (over its flows), with the figure and met/missed/no data."""
    results = [_result(target, figures.value(target.kpi), None) for target in goals.targets]
    for use_case in goals.use_cases:
        flows = figures.flows(use_case.flows)
        results.extend(_result(target, flows.value(target.kpi), use_case.name) for target in use_case.targets)
    return results


def _result(target: Target, value: float | None, use_case: str | None) -> TargetResult:
    return TargetResult(kpi=target.kpi, value=value, target=target, status=compare(target, value), use_case=use_case)
