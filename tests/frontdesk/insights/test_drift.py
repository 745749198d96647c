"""Drift between a baseline and a current window: PSI against values worked out by hand (with a
category on one side only), confidence PSI over fixed bins, OOV and fallback rate changes, and the
report's thresholds."""

from __future__ import annotations

import json
import math

import pytest

from frontdesk.insights.drift import confidence_psi, drift_report, oov_rate, psi
from frontdesk.insights.goals import DriftThresholds
from tests.frontdesk.insights.test_measures import turn

THRESHOLDS = DriftThresholds(psi_intent_mix=0.2, psi_confidence=0.2, oov_rate_increase=0.05,
                             fallback_rate_increase=0.05)


def test_psi_of_two_distributions_by_hand():
    # shares a 0.5 -> 0.8, b 0.5 -> 0.2:
    # (0.8 - 0.5) ln(0.8/0.5) + (0.2 - 0.5) ln(0.2/0.5) = 0.3 * 0.470004 + 0.3 * 0.916291 = 0.415888
    assert psi({"a": 50, "b": 50}, {"a": 80, "b": 20}) == pytest.approx(0.415888, abs=1e-6)


def test_psi_smooths_a_category_seen_on_one_side_only():
    # baseline a 1.0, b 0 (-> 1e-4); current a 0.5, b 0.5:
    # (0.5 - 1) ln(0.5/1) + (0.5 - 0.0001) ln(0.5/0.0001) = 0.346574 + 0.4999 * 8.517193 = 4.604318
    assert psi({"a": 100}, {"a": 50, "b": 50}) == pytest.approx(4.604318, abs=1e-6)
    # A larger epsilon charges the new category less: (0.5 - 0.01) ln(50) + 0.346574 = 2.263434.
    assert psi({"a": 100}, {"a": 50, "b": 50}, epsilon=0.01) == pytest.approx(0.49 * math.log(50) + 0.5 * math.log(2))


def test_psi_of_the_same_mix_is_zero_whatever_the_volume_and_none_without_data():
    assert psi({"a": 1, "b": 3}, {"a": 100, "b": 300}) == pytest.approx(0.0)
    assert psi({}, {"a": 1}) is None and psi({"a": 1}, {"a": 0}) is None


def test_confidence_psi_uses_ten_fixed_bins():
    baseline = [turn(confidence=0.95) for _ in range(10)]  # all in bin 9
    current = [turn(confidence=0.95) for _ in range(5)] + [turn(confidence=0.55) for _ in range(5)]  # bins 9 and 5
    # Bin 9: 1.0 -> 0.5; bin 5: 0 (1e-4) -> 0.5; the other 8 bins are empty on both sides and add 0.
    assert confidence_psi(baseline, current) == pytest.approx(4.604318, abs=1e-6)
    # Two confidences in the same bin are the same to PSI: fixed bins, not the values.
    assert confidence_psi(baseline, [turn(confidence=0.91) for _ in range(3)]) == pytest.approx(0.0)


def test_oov_rate_is_unknown_tokens_over_all_tokens():
    assert oov_rate([turn(tokens=10, oov=1), turn(tokens=10, oov=0)]) == pytest.approx(0.05)
    assert oov_rate([turn(tokens=0)]) is None


def test_the_report_flags_each_measure_above_its_threshold():
    baseline = ([turn(intent="request_password_reset", tokens=10, oov=1) for _ in range(10)]
                + [turn(intent="ask_latest_invoice", tokens=10, oov=0) for _ in range(10)])
    # Current: the same intent mix and confidences, but 4 unknown words in 10 and 2 fallbacks in 20.
    current = ([turn(intent="request_password_reset", tokens=10, oov=4) for _ in range(9)]
               + [turn(intent="request_password_reset", tokens=10, oov=4, fallback=True)]
               + [turn(intent="ask_latest_invoice", tokens=10, oov=0) for _ in range(9)]
               + [turn(intent="ask_latest_invoice", tokens=10, oov=0, fallback=True)])
    report = drift_report(baseline, current, THRESHOLDS)
    # OOV: 10/200 = 0.05 -> 40/200 = 0.2: +0.15 > 0.05. Fallbacks: 0 -> 2/20 = 0.1: +0.1 > 0.05.
    assert report.measure("oov_rate_increase").value == pytest.approx(0.15)
    assert (report.measure("oov_rate_increase").baseline, report.measure("oov_rate_increase").current) == (
        pytest.approx(0.05), pytest.approx(0.2))
    assert report.measure("fallback_rate_increase").value == pytest.approx(0.1)
    assert report.measure("psi_intent_mix").value == pytest.approx(0.0)
    assert [m.name for m in report.above] == ["oov_rate_increase", "fallback_rate_increase"]
    assert report.drifted
    as_json = json.loads(json.dumps(report.as_dict()))
    assert as_json["measures"][0] == {"name": "psi_intent_mix", "value": pytest.approx(0.0), "threshold": 0.2,
                                      "above": False, "baseline": None, "current": None}


def test_a_new_intent_mix_trips_the_intent_psi():
    baseline = [turn(intent="request_password_reset") for _ in range(8)] + [turn(intent="ask_pricing")] * 2
    current = [turn(intent="request_password_reset") for _ in range(2)] + [turn(intent="ask_pricing")] * 8
    # 0.8 -> 0.2 and 0.2 -> 0.8: 2 * 0.6 * ln(4) = 1.663553 > 0.2
    measure = drift_report(baseline, current, THRESHOLDS).measure("psi_intent_mix")
    assert measure.value == pytest.approx(1.2 * math.log(4)) and measure.above


def test_a_measure_exactly_at_its_threshold_is_not_above_and_no_data_is_not_above():
    baseline = [turn(tokens=100, oov=0)]
    current = [turn(tokens=100, oov=5)]  # +0.05: exactly the threshold
    report = drift_report(baseline, current, THRESHOLDS)
    assert report.measure("oov_rate_increase").value == pytest.approx(0.05)
    assert not report.measure("oov_rate_increase").above
    empty = drift_report([], current, THRESHOLDS)
    assert all(m.value is None and not m.above for m in empty.measures) and not empty.drifted
