"""The rollback check: a degraded window trips ROLLBACK with one sentence per reason, a good one
passes, figures exactly at their limits pass, a criterion without data is "no data" rather than a
failure, and a criterion switched off is listed as off."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from frontdesk.insights.drift import drift_report
from frontdesk.insights.facts import HANDED_OFF, RESOLVED
from frontdesk.insights.goals import NO_DATA, DriftThresholds, RollbackCriteria
from frontdesk.insights.rollback import OFF, OK, PASS, ROLLBACK, TRIPPED, check
from tests.frontdesk.insights.test_measures import T0, conversation, kpis, turn

CRITERIA = RollbackCriteria(deflection_drop_points=5, escalation_rise_points=10, csat_min=4.0,
                            p95_latency_ms_max=500, drift_above_threshold=True, mandatory_human_automated=True)
THRESHOLDS = DriftThresholds(psi_intent_mix=0.2, psi_confidence=0.2, oov_rate_increase=0.05,
                             fallback_rate_increase=0.05)


def window(resolved: int, handed_off: int, *, csat_bot: int | None = 5, csat_agent: int | None = 5,
           mandatory_automated: int = 0, prefix: str = "c"):
    """``resolved + handed_off`` requests (so deflection is resolved / total), each rated when asked."""
    return (
        [conversation(f"{prefix}-r{n}", RESOLVED, csat=csat_bot, csat_after="bot" if csat_bot else None,
                      mandatory_automated=n < mandatory_automated) for n in range(resolved)]
        + [conversation(f"{prefix}-h{n}", HANDED_OFF, reason="low_confidence", csat=csat_agent,
                        csat_after="agent" if csat_agent else None) for n in range(handed_off)]
    )


def turns(n: int = 20, *, latency: float | None = 200.0, fallbacks: int = 0, oov: int = 0):
    return [turn(latency=latency, fallback=i < fallbacks, tokens=10, oov=oov) for i in range(n)]


BASELINE_TURNS = turns()


def verdict(current_conversations, current_turns, *, criteria: RollbackCriteria = CRITERIA):
    # Baseline: 6 resolved of 10 requests (deflection 0.6, escalation 0.4), ratings of 5, 200 ms.
    baseline = kpis(window(6, 4, prefix="b"), BASELINE_TURNS)
    current = kpis(current_conversations, current_turns)
    return check(baseline, current, drift_report(BASELINE_TURNS, current_turns, THRESHOLDS), criteria)


def statuses(result) -> dict[str, str]:
    return {c.criterion: c.status for c in result.checks}


def test_a_good_window_passes_with_every_criterion_listed():
    result = verdict(window(6, 4), turns())
    assert result.decision == PASS and result.reasons == ()
    assert statuses(result) == {
        "deflection_drop_points": OK, "escalation_rise_points": OK, "csat_min (after the bot)": OK,
        "csat_min (after an agent)": OK, "p95_latency_ms_max": OK, "drift_above_threshold": OK,
        "mandatory_human_automated": OK}
    assert all(c.evidence for c in result.checks)


def test_a_degraded_window_rolls_back_naming_each_figure_and_its_limit():
    # Current: 4 resolved of 10 (deflection 0.6 -> 0.4: a 20-point fall; escalation 0.4 -> 0.6: +20 points),
    # bot ratings of 3, p95 900 ms, 4 fallbacks in 20 turns (+0.2 > 0.05), one refund answered by a flow.
    current = window(4, 6, csat_bot=3, mandatory_automated=1)
    result = verdict(current, turns(latency=900.0, fallbacks=4))
    assert result.decision == ROLLBACK
    assert result.reasons == (
        "Deflection fell 20.0 points, from 60.0% to 40.0%: more than the 5-point limit.",
        "Escalation rate rose 20.0 points, from 40.0% to 60.0%: more than the 10-point limit.",
        "CSAT after the bot averaged 3.00 over 4 ratings: below the minimum of 4.",
        "p95 latency was 900 ms: above the 500 ms maximum.",
        "Drift: fallback_rate_increase 0.200 above its threshold 0.05.",
        "1 mandatory-human request(s) were answered by a flow instead of a person: the limit is none.",
    )
    assert statuses(result)["csat_min (after an agent)"] == OK  # agents' ratings stayed at 5
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["decision"] == ROLLBACK and len(as_json["checks"]) == 7


def test_one_criterion_is_enough():
    result = verdict(window(6, 4, mandatory_automated=1), turns())
    assert result.decision == ROLLBACK
    assert [c.criterion for c in result.checks if c.status == TRIPPED] == ["mandatory_human_automated"]


def test_figures_exactly_at_their_limits_pass():
    # Deflection 0.6 -> 0.55 (11 of 20): 5 points, the limit itself; escalation 0.4 -> 0.45: +5.
    # Ratings of 4 are the minimum itself; p95 of exactly 500 ms is the maximum itself.
    at_limits = window(11, 9, csat_bot=4, csat_agent=4)
    result = verdict(at_limits, turns(latency=500.0))
    assert result.decision == PASS, result.reasons
    # And escalation exactly 10 points up: 0.4 -> 0.5 ((0.5 - 0.4) * 100 is 10.000000000000002 in floats).
    assert verdict(window(5, 5), turns()).checks[1].status == OK


def test_criteria_without_data_are_no_data_not_a_failure():
    # No ratings at all, no timed turns: CSAT and latency are "no data", and the verdict passes.
    quiet = window(6, 4, csat_bot=None, csat_agent=None)
    result = verdict(quiet, turns(latency=None))
    assert result.decision == PASS
    assert statuses(result)["csat_min (after the bot)"] == NO_DATA
    assert statuses(result)["csat_min (after an agent)"] == NO_DATA
    assert statuses(result)["p95_latency_ms_max"] == NO_DATA
    # An empty current window: nothing to judge, nothing rolled back.
    empty = verdict([], [])
    assert empty.decision == PASS and set(statuses(empty).values()) == {NO_DATA}


def test_criteria_switched_off_are_listed_as_off_and_do_not_trip():
    criteria = replace(CRITERIA, drift_above_threshold=False, mandatory_human_automated=False)
    result = verdict(window(6, 4, mandatory_automated=2), turns(fallbacks=10), criteria=criteria)
    assert result.decision == PASS
    assert statuses(result)["drift_above_threshold"] == OFF
    assert statuses(result)["mandatory_human_automated"] == OFF


def test_the_current_window_is_the_one_judged_for_mandatory_human_requests():
    # A mandatory-human request automated before the current window does not trip it.
    earlier = replace(window(1, 0, mandatory_automated=1)[0], started_at=T0 - timedelta(days=1))
    result = verdict([earlier, *window(6, 4)], turns())
    assert statuses(result)["mandatory_human_automated"] == OK
