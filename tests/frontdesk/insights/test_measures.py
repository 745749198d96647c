"""The KPI definitions on hand-built facts, each answer worked out by hand: deflection, escalation
and abandonment; FCR with repeats inside and outside the follow-up window and without a customer;
CSAT; handle times; SLA met, missed and pending; the turn figures; costs and payback; weekly
figures; figures against targets."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from frontdesk.insights.facts import ABANDONED, HANDED_OFF, NO_REQUEST, RESOLVED, ConversationFact, TurnFact
from frontdesk.insights.goals import GLOBAL_KPIS, MET, MISSED, NO_DATA, Costs, Goals, Target, UseCase
from frontdesk.insights.measures import (
    against_targets,
    compute_kpis,
    confidence_histogram,
    percentile,
    weekly,
)

T0 = datetime(2026, 11, 2)  # a Monday: the start of ISO week 2026-W45
WEEK_END = T0 + timedelta(days=7)
COSTS = Costs(currency="GBP", agent_cost_per_ticket=10.0, running_cost_per_month=3000.0, build_cost=10000.0)


def conversation(cid: str, outcome: str, *, day: float = 0.0, flow: str | None = "password_reset",
                 customer: str | None = None, reason: str | None = None, queue: str | None = None,
                 bot_seconds: float = 60.0, human_seconds: float | None = None,
                 first_response: float | None = None, sla: float | None = None, csat: int | None = None,
                 csat_after: str | None = None, mandatory_automated: bool = False) -> ConversationFact:
    started = T0 + timedelta(days=day)
    return ConversationFact(
        conversation_id=cid, started_at=started, last_event_at=started + timedelta(seconds=bot_seconds),
        channel="rest", customer_key=customer, flow=None if outcome == NO_REQUEST else flow, outcome=outcome,
        resolved_flow=flow if outcome == RESOLVED else None, handoff_reason=reason, queue=queue, turns=3,
        bot_seconds=bot_seconds, human_seconds=human_seconds, first_human_response_seconds=first_response,
        sla_seconds=sla, csat=csat, csat_after=csat_after, model_id="m-1",
        mandatory_human_automated=mandatory_automated)


def turn(cid: str = "c", *, day: float = 0.0, intent: str | None = "request_password_reset",
         confidence: float | None = 0.95, fallback: bool = False, error: bool = False,
         latency: float | None = 100.0, tokens: int = 5, oov: int = 0, text: str | None = None) -> TurnFact:
    return TurnFact(conversation_id=cid, turn=1, at=T0 + timedelta(days=day), channel="rest", intent=intent,
                    confidence=confidence, entity_types=(), actions=("utter_x",), fallback=fallback, handoff=False,
                    error=error, latency_ms=latency, model_id="m-1", tokens=tokens, oov_tokens=oov,
                    fallback_text=text)


def kpis(conversations: list[ConversationFact], turns: list[TurnFact] | None = None, *,
         now: datetime = WEEK_END + timedelta(days=30), costs: Costs = COSTS, start: datetime = T0,
         end: datetime = WEEK_END):
    return compute_kpis(conversations, turns or [], window_start=start, window_end=end, costs=costs, now=now)


def ten_requests() -> list[ConversationFact]:
    """6 resolved, 3 handed off, 1 abandoned (and 2 greetings, which are not requests)."""
    return [
        *(conversation(f"pr-{n}", RESOLVED, flow="password_reset") for n in range(4)),
        conversation("pr-h", HANDED_OFF, flow="password_reset", reason="low_confidence", queue="accounts"),
        *(conversation(f"b-{n}", RESOLVED, flow="billing") for n in range(2)),
        conversation("b-h1", HANDED_OFF, flow="billing", reason="low_confidence", queue="billing"),
        conversation("b-h2", HANDED_OFF, flow="billing", reason="customer_asked", queue="billing"),
        conversation("b-a", ABANDONED, flow="billing"),
        conversation("hello-1", NO_REQUEST), conversation("hello-2", NO_REQUEST),
    ]


def test_deflection_escalation_and_abandonment_count_requests_only():
    figures = kpis(ten_requests())
    # 12 conversations, 10 requests: 6/10 resolved, 3/10 handed off, 1/10 abandoned.
    assert (figures.overall.conversations, figures.overall.requests) == (12, 10)
    assert figures.deflection == pytest.approx(0.6)
    assert figures.overall.escalation_rate == pytest.approx(0.3)
    assert figures.overall.abandonment_rate == pytest.approx(0.1)
    # password_reset: 4 of 5 resolved; billing: 2 of 5.
    assert figures.deflection_by_flow == pytest.approx({"billing": 0.4, "password_reset": 0.8})
    # low_confidence 2 of the 10 requests, customer_asked 1.
    assert figures.escalation_by_reason == pytest.approx({"customer_asked": 0.1, "low_confidence": 0.2})


def test_conversations_count_in_the_window_by_start_and_turns_by_their_time():
    inside = conversation("in", RESOLVED, day=6.9)
    before, after = conversation("before", HANDED_OFF, day=-0.1), conversation("after", HANDED_OFF, day=7.0)
    figures = kpis([before, inside, after], [turn(day=-1), turn(day=0), turn(day=7)])
    assert figures.overall.requests == 1 and figures.deflection == 1.0  # the window is [T0, T0 + 7 days)
    assert figures.turns.turns == 1


def test_a_window_without_requests_has_no_figures_rather_than_zeros():
    figures = kpis([conversation("hello", NO_REQUEST)])
    assert figures.deflection is None and figures.overall.fcr is None and figures.costs.cost_per_contact is None
    assert figures.value("csat_after_bot") is None and figures.value("p95_latency_ms") is None


def test_fcr_counts_a_repeat_within_the_follow_up_days_and_not_outside_them():
    now = T0 + timedelta(days=15)
    conversations = [
        # c1 resets on day 1 and comes back about a reset on day 4: day 1 is a repeat, day 4 a first contact.
        conversation("a", RESOLVED, day=1, customer="c1"),
        conversation("b", RESOLVED, day=4, customer="c1"),
        # c2 asks about billing on day 1 and again on day 10, outside the 7 days: day 1 is a first contact.
        conversation("c", RESOLVED, day=1, flow="billing", customer="c2"),
        conversation("d", RESOLVED, day=10, flow="billing", customer="c2"),
        # c3 is handed off about a reset on day 2 and asks about billing on day 3: another flow, no repeat.
        conversation("e", HANDED_OFF, day=2, customer="c3", reason="customer_asked"),
        conversation("f", ABANDONED, day=3, flow="billing", customer="c3"),
        # Without a customer key FCR cannot be told.
        conversation("g", RESOLVED, day=2),
        # c5's follow-up week ends on day 13.5 + 7 = 20.5, after `now` (day 15): not yet known.
        conversation("h", RESOLVED, day=6.5 + 7, customer="c5"),
    ]
    figures = kpis(conversations, now=now, end=T0 + timedelta(days=14))
    # All in the window [0, 14). FCR over a (repeat), b, c, e (first contacts) = 3/4; d's follow-up
    # ends on day 17 > 15 and h's on day 20.5: both open; f is abandoned (not asked); g has no customer.
    assert figures.overall.fcr_evaluable == 4 and figures.overall.fcr_first_contact == 3
    assert figures.overall.fcr == pytest.approx(0.75)
    assert figures.overall.fcr_no_customer == 1
    assert figures.overall.fcr_follow_up_open == 2


def test_a_repeat_exactly_follow_up_days_later_counts_even_after_the_window():
    conversations = [conversation("a", RESOLVED, day=0, customer="c1"),
                     conversation("b", RESOLVED, day=7, customer="c1")]
    # The window is day 0 only; b, outside it, is still where a's repeat is found.
    figures = kpis(conversations, end=T0 + timedelta(days=1))
    assert figures.overall.fcr == 0.0  # b started exactly 7 days after a: within "7 days after"
    later = [conversations[0], replace(conversations[1], started_at=T0 + timedelta(days=7, seconds=1))]
    assert kpis(later, end=T0 + timedelta(days=1)).overall.fcr == 1.0


def test_csat_after_bot_and_after_agent():
    conversations = [
        conversation("b5", RESOLVED, csat=5, csat_after="bot"), conversation("b4", RESOLVED, csat=4, csat_after="bot"),
        conversation("b3", RESOLVED, csat=3, csat_after="bot"), conversation("none", RESOLVED),
        conversation("a2", HANDED_OFF, csat=2, csat_after="agent"),
        conversation("a5", HANDED_OFF, csat=5, csat_after="agent"),
    ]
    overall = kpis(conversations).overall
    # bot: (5 + 4 + 3) / 3 = 4.0, satisfied 2 of 3; agent: (2 + 5) / 2 = 3.5, satisfied 1 of 2.
    assert (overall.csat_bot_responses, overall.csat_after_bot) == (3, pytest.approx(4.0))
    assert overall.csat_satisfied_after_bot == pytest.approx(2 / 3)
    assert (overall.csat_agent_responses, overall.csat_after_agent) == (2, pytest.approx(3.5))
    assert overall.csat_satisfied_after_agent == pytest.approx(0.5)


def test_handle_times_bot_over_requests_human_over_closed_handoffs():
    conversations = [
        conversation("r", RESOLVED, bot_seconds=60), conversation("a", ABANDONED, bot_seconds=30),
        conversation("h1", HANDED_OFF, bot_seconds=90, human_seconds=600),
        conversation("h2", HANDED_OFF, bot_seconds=120),  # still open: no human time yet
        conversation("hi", NO_REQUEST, bot_seconds=1000),  # not a request: left out
    ]
    overall = kpis(conversations).overall
    assert overall.bot_handle_seconds == pytest.approx((60 + 30 + 90 + 120) / 4)  # 75
    assert overall.human_handle_seconds == pytest.approx(600)


def test_sla_met_missed_and_pending_per_queue_and_overall():
    now = T0 + timedelta(days=1)
    two_hours = 7200.0
    conversations = [
        conversation("met", HANDED_OFF, queue="accounts", sla=two_hours, first_response=3600),
        conversation("late", HANDED_OFF, queue="accounts", sla=two_hours, first_response=9000),
        # Nobody answered, and a day has passed since the handoff: missed.
        conversation("unanswered", HANDED_OFF, queue="accounts", sla=two_hours),
        # Nobody answered yet, but the handoff (created after 60 s with the bot) is 1 h old: pending.
        conversation("waiting", HANDED_OFF, day=1 - 1 / 24 - 60 / 86400, queue="accounts", sla=two_hours),
        conversation("billing-met", HANDED_OFF, queue="billing", sla=14400, first_response=14400),  # on the dot
        conversation("no-sla", HANDED_OFF, queue="billing"),  # no SLA: not counted
    ]
    figures = kpis(conversations, now=now)
    assert figures.sla_by_queue["accounts"].as_dict() == {"met": 1, "missed": 2, "pending": 1,
                                                         "compliance": pytest.approx(1 / 3)}
    assert figures.sla_by_queue["billing"].compliance == 1.0
    # Overall: met 2 (met, billing-met), missed 2 -> 0.5; pending left out.
    assert (figures.overall.sla_met, figures.overall.sla_missed, figures.overall.sla_pending) == (2, 2, 1)
    assert figures.value("sla_compliance") == pytest.approx(0.5)


def test_the_sla_clock_starts_when_the_handoff_is_created_not_when_the_conversation_started():
    # Started 2 h 30 min before now, handed off after 1 h with the bot: the queue has waited 1 h 30 min
    # of its 2 h, so the SLA is pending, although more than 2 h have passed since the start.
    now = T0 + timedelta(hours=2, minutes=30)
    figures = kpis([conversation("h", HANDED_OFF, queue="accounts", sla=7200, bot_seconds=3600)], now=now)
    assert figures.overall.sla_pending == 1 and figures.overall.sla_compliance is None


def test_turn_rates_intents_and_per_intent_fallback():
    turns = [
        *(turn(intent="ask_latest_invoice") for _ in range(3)),
        turn(intent="ask_latest_invoice", fallback=True, text="[EMAIL] invoice?"),
        *(turn(intent="request_password_reset") for _ in range(3)),
        turn(intent="request_password_reset", error=True),
        turn(intent="nlu_fallback", fallback=True, text="blah"), turn(intent=None),
    ]
    figures = kpis([], turns).turns
    # 10 turns: 2 fallbacks, 1 error.
    assert (figures.turns, figures.fallback_rate, figures.error_rate) == (10, pytest.approx(0.2), pytest.approx(0.1))
    assert figures.intent_counts == {"ask_latest_invoice": 4, "request_password_reset": 4, "(none)": 1,
                                     "nlu_fallback": 1}
    assert figures.intent_shares["ask_latest_invoice"] == pytest.approx(0.4)
    # ask_latest_invoice: 1 of its 4 turns fell back.
    assert figures.fallback_rate_by_intent == pytest.approx({"(none)": 0.0, "ask_latest_invoice": 0.25,
                                                             "nlu_fallback": 1.0, "request_password_reset": 0.0})


def test_confidence_falls_into_ten_bins_with_one_in_the_last():
    turns = [turn(confidence=c) for c in (0.0, 0.05, 0.1, 0.55, 0.99, 1.0, None)]
    assert confidence_histogram(turns) == (2, 1, 0, 0, 0, 1, 0, 0, 0, 2)


def test_latency_percentiles_are_nearest_rank():
    # 10 values 100..1000: p50 is the 5th (ceil(0.5 * 10)) = 500, p95 the 10th (ceil(9.5)) = 1000.
    turns = [turn(latency=float(ms)) for ms in range(1000, 0, -100)] + [turn(latency=None)]
    figures = kpis([], turns).turns
    assert (figures.p50_latency_ms, figures.p95_latency_ms) == (500.0, 1000.0)
    # 20 values 10..200: p95 is the 19th (ceil(0.95 * 20)) = 190.
    assert percentile([float(ms) for ms in range(10, 201, 10)], 95) == 190.0
    assert percentile([], 95) is None


def test_top_fallback_messages_are_the_20_most_frequent_with_counts():
    turns = [turn(fallback=True, text="[EMAIL] cannot log in") for _ in range(3)]
    turns += [turn(fallback=True, text="cancel my plan") for _ in range(2)]
    turns += [turn(fallback=True, text=f"rare {n:02d}") for n in range(25)]
    turns += [turn(fallback=True, text=None), turn(fallback=False, text="understood")]
    top = kpis([], turns).turns.top_fallback_messages
    assert len(top) == 20
    assert top[:3] == (("[EMAIL] cannot log in", 3), ("cancel my plan", 2), ("rare 00", 1))  # ties by text
    assert all(text != "understood" for text, _ in top)


def test_cost_per_contact_and_a_window_that_does_not_pay_back():
    figures = kpis(ten_requests())
    costs = figures.costs
    # 7 days of 3000 a month: 700. Cost per contact: (700 + 10 * 3 handoffs) / 10 requests = 73.
    assert costs.running_cost == pytest.approx(700)
    assert costs.cost_per_contact == pytest.approx(73)
    # Savings: 6 resolved * 10 - 700 = -640; monthly -640 * 30 / 7; no payback.
    assert costs.savings == pytest.approx(-640)
    assert costs.monthly_net_savings == pytest.approx(-640 * 30 / 7)
    assert costs.payback_months is None


def test_payback_months_from_the_monthly_net_savings():
    costs = Costs(currency="GBP", agent_cost_per_ticket=100.0, running_cost_per_month=300.0, build_cost=1500.0)
    figures = kpis(ten_requests(), costs=costs, end=T0 + timedelta(days=30))
    # 30 days: running 300; cost per contact (300 + 100 * 3) / 10 = 60; savings 6 * 100 - 300 = 300 a month;
    # payback 1500 / 300 = 5 months.
    assert figures.costs.cost_per_contact == pytest.approx(60)
    assert figures.costs.monthly_net_savings == pytest.approx(300)
    assert figures.costs.payback_months == pytest.approx(5)


def test_weekly_figures_per_iso_week_with_empty_weeks_in_between():
    conversations = [conversation("w45", RESOLVED, day=1), conversation("w47", HANDED_OFF, day=15),
                     conversation("w47b", RESOLVED, day=20.5)]
    weeks = weekly(conversations, [turn(day=2)], costs=COSTS, now=T0 + timedelta(days=60))
    assert list(weeks) == ["2026-W45", "2026-W46", "2026-W47"]
    assert weeks["2026-W45"].deflection == 1.0 and weeks["2026-W45"].turns.turns == 1
    assert weeks["2026-W46"].overall.requests == 0 and weeks["2026-W46"].deflection is None
    assert weeks["2026-W47"].deflection == 0.5
    assert weeks["2026-W47"].window_start == T0 + timedelta(days=14)
    assert weekly([], [], costs=COSTS, now=T0) == {}


def test_figures_against_global_and_use_case_targets():
    goals = Goals(
        version=1,
        use_cases=(
            UseCase("password_reset", "resets", "head of support", ("agents",), ("GDPR",), ("password_reset",),
                    (Target("deflection", ">=", 0.6),)),
            UseCase("human_handoff", "handoffs", "head of support", ("agents",), ("GDPR Art. 22",),
                    ("refund", "dispute"), (Target("csat_after_agent", ">=", 4.3),)),
        ),
        targets=(Target("deflection", ">=", 0.45), Target("error_rate", "<=", 0.01), Target("fcr", ">=", 0.7)),
        costs=COSTS,
    )
    turns = [turn(error=n == 0) for n in range(50)]  # 1 error in 50 turns: 0.02
    results = against_targets(kpis(ten_requests(), turns), goals)
    by_name = {(r.use_case, r.kpi): (r.value, r.status) for r in results}
    assert by_name[(None, "deflection")] == (pytest.approx(0.6), MET)  # 0.6 >= 0.45
    assert by_name[(None, "error_rate")] == (pytest.approx(0.02), MISSED)  # 0.02 > 0.01
    assert by_name[(None, "fcr")] == (None, NO_DATA)  # no customer keys
    assert by_name[("password_reset", "deflection")] == (pytest.approx(0.8), MET)  # 4 of 5
    assert by_name[("human_handoff", "csat_after_agent")] == (None, NO_DATA)  # no such flows, no ratings
    assert results[0].as_dict() == {"kpi": "deflection", "use_case": None, "value": pytest.approx(0.6),
                                    "target": "deflection >= 0.45", "status": MET}


def test_a_use_case_adds_up_the_counts_of_its_flows():
    conversations = [conversation("r1", HANDED_OFF, flow="refund"), conversation("r2", RESOLVED, flow="refund",
                                                                                 mandatory_automated=True),
                     conversation("d1", HANDED_OFF, flow="dispute"), conversation("x", RESOLVED, flow="billing")]
    together = kpis(conversations).flows(["refund", "dispute", "legal"])
    # refund + dispute: 3 requests, 1 resolved, 2 handed off, 1 mandatory-human request automated.
    assert (together.requests, together.resolved, together.handed_off) == (3, 1, 2)
    assert together.value("mandatory_human_automated") == 1.0


def test_every_kpi_a_target_may_name_has_a_figure_and_the_report_is_json():
    figures = kpis(ten_requests(), [turn(), turn(fallback=True, text="hm")])
    for name in GLOBAL_KPIS:
        figures.value(name)  # no KeyError: goals.yml may name it
    with pytest.raises(KeyError):
        figures.value("happiness")
    report = json.loads(json.dumps(figures.as_dict()))
    assert report["kpis"]["deflection"] == pytest.approx(0.6)
    assert report["by_flow"]["billing"]["deflection"] == pytest.approx(0.4)
    assert report["turns"]["latency_ms"]["method"] == "nearest-rank"
    assert report["window"] == {"start": "2026-11-02T00:00:00", "end": "2026-11-09T00:00:00", "days": 7.0}


def test_a_window_must_end_after_it_starts():
    with pytest.raises(ValueError, match="must end after it starts"):
        kpis([], start=WEEK_END, end=T0)
