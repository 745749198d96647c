"""The release gate on a real project state: the model's fingerprints against today's inputs,
make eval's scores against monitoring.yml's thresholds, escalation paths in the test stories,
the integrations answering (the test SMTP server, the database), and each item's evidence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from frontdesk.insights.models import ModelRegistry
from frontdesk.insights.release import ReleaseCheck, escalation_coverage, score_at
from frontdesk.settings import PROJECT_ROOT, InsightsSettings
from tests.frontdesk.insights.test_models import fake_model

GOOD_SCORES = {
    "model_id": "m-live", "nlu_heldout": {"accuracy": 0.91}, "out_of_scope": {"started_an_automated_flow": 0.01},
    "knowledge": {"blind": {"unanswerable_answered": 0.02}}, "dialogue": {"stories": 40, "failed": []},
    "redaction": {"heldout-3": {"targets": {"recall PERSON ≥ 0.95": True}}},
}


@pytest.fixture
def release(settings, tmp_path: Path) -> ReleaseCheck:
    models = tmp_path / "models"
    registry = ModelRegistry(models)
    registry.register(fake_model(tmp_path / "live.tar.gz", "m-live"), PROJECT_ROOT)
    registry.attach_scores("m-live", GOOD_SCORES)
    fake_model(models / "frontdesk.tar.gz", "m-live")
    insights = replace(settings.insights, model_dir=models, metrics_token="scrape-token")
    return ReleaseCheck(replace(settings, insights=insights), PROJECT_ROOT)


def items(check: ReleaseCheck) -> dict[str, tuple[bool, str]]:
    return {item.name: (item.met, item.evidence) for item in check.run()}


def test_a_model_trained_from_todays_inputs_with_good_scores_meets_build_and_test(release):
    found = items(release)
    for name in ("goals and target KPIs declared", "model trained from the current data and config",
                 "integration reachable: database", "integration reachable: e-mail (SMTP)",
                 "escalation paths covered by test stories", "test stories pass on this model",
                 "make eval above its thresholds", "redaction meets its targets", "live metrics for Prometheus",
                 "monitoring and rollback criteria configured", "retraining cadence set"):
        assert found[name][0], (name, found[name])
    assert "0.910 (>= 0.85): met" in found["make eval above its thresholds"][1]


def test_changed_inputs_bad_scores_and_missing_pieces_are_not_met_with_the_reason(release, tmp_path):
    registry = release.registry
    scores = {**GOOD_SCORES, "nlu_heldout": {"accuracy": 0.70}, "dialogue": {"stories": 40, "failed": ["a story"]},
              "redaction": {"heldout-3": {"targets": {"recall ADDRESS ≥ 0.95": False}}}}
    registry.attach_scores("m-live", scores)
    models = registry.models()
    models[0].data_fingerprint = "0" * 64
    registry._save(models)
    release.settings = replace(release.settings, insights=replace(release.settings.insights, metrics_token="",
                                                                  event_broker_url="off"))
    found = items(release)
    assert found["model trained from the current data and config"] == (
        False, "model m-live: data changed since it was trained: retrain")
    assert found["make eval above its thresholds"][0] is False
    assert "nlu_heldout.accuracy 0.700 (>= 0.85): missed" in found["make eval above its thresholds"][1]
    assert found["test stories pass on this model"] == (False, "40 test stories, failed: a story")
    assert found["redaction meets its targets"] == (False, "redaction on heldout-3: targets missed: recall "
                                                           "ADDRESS ≥ 0.95")
    assert found["telemetry to an event broker"][0] is False and found["live metrics for Prometheus"][0] is False


def test_an_unregistered_model_fails_the_gate_clearly(settings, tmp_path):
    (tmp_path / "models").mkdir()
    fake_model(tmp_path / "models" / "frontdesk.tar.gz", "m-new")
    check = ReleaseCheck(replace(settings, insights=InsightsSettings(model_dir=tmp_path / "models")), PROJECT_ROOT)
    found = items(check)
    assert found["model trained from the current data and config"] == (
        False, "RegistryError: model m-new is not registered (frontdesk model list)")


def test_escalation_coverage_reads_which_intents_a_story_hands_off_after(tmp_path):
    (tmp_path / "stories.yml").write_text(
        "stories:\n- story: refund\n  steps:\n  - intent: request_refund\n  - action: action_handoff\n"
        "- story: legal without a handoff\n  steps:\n  - intent: legal_request\n  - action: utter_greet\n")
    assert escalation_coverage(tmp_path, ["request_refund", "legal_request"]) == {
        "request_refund": True, "legal_request": False}
    assert escalation_coverage(PROJECT_ROOT / "tests" / "stories", ["legal_request"]) == {"legal_request": True}


def test_scores_are_read_by_their_path():
    assert score_at(GOOD_SCORES, "knowledge.blind.unanswerable_answered") == 0.02
    assert score_at(GOOD_SCORES, "knowledge.dev.right_article") is None
    assert score_at({"a": {"b": True}}, "a.b") is None  # a flag is not a score
