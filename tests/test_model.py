"""The trained model: data validation, dialogue test stories, and held-out NLU quality."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from frontdesk.handoff.policy import HandoffPolicy
from lab.evaluation import (
    Prediction,
    fallback_settings,
    handoff_effect,
    handoff_intents,
    predict_file,
    threshold_effect,
    write_report,
)

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "frontdesk.tar.gz"
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
REPORTS = ROOT / "reports"
RASA = str(Path(sys.executable).parent / "rasa")


THRESHOLDS = fallback_settings(ROOT / "config.yml")
HANDOFF_INTENTS = handoff_intents(HandoffPolicy.load(ROOT / "handoff.yml"))


@pytest.fixture(scope="session")
def heldout_predictions() -> list[Prediction]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it)")
    return predict_file(MODEL, HELDOUT)


def _normalise(text: str) -> str:
    # Case, spacing and ASCII punctuation don't make an example new; emoji do.
    return " ".join(re.sub(r"[.,!?;:'\"-]+", " ", text.lower()).split())


def _examples(path: Path) -> set[str]:
    data = yaml.safe_load(path.read_text()) or {}
    found = set()
    for block in data.get("nlu", []):
        for line in (block.get("examples") or "").splitlines():
            if line.strip().startswith("- "):
                plain = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip()[2:])
                found.add(_normalise(plain))
    return found


def test_heldout_examples_are_never_in_the_training_data():
    training = set().union(*(_examples(p) for p in (ROOT / "data").rglob("*.yml")))
    overlap = _examples(HELDOUT) & training
    assert not overlap, f"held-out examples found in training data: {sorted(overlap)[:10]}"


def test_the_evaluation_sets_are_never_in_the_training_data():
    training = set().union(*(_examples(p) for p in (ROOT / "data").rglob("*.yml")))
    out_of_scope = _examples(ROOT / "tests" / "eval" / "out_of_scope.yml")
    assert len(out_of_scope) >= 500
    overlap = out_of_scope & training
    assert not overlap, f"out-of-scope evaluation messages found in training data: {sorted(overlap)[:10]}"


def test_the_blind_set_is_never_in_the_training_data():
    """tests/nlu/blind/: written by someone who had not seen data/; never trained on (issue 16)."""
    training = set().union(*(_examples(p) for p in (ROOT / "data").rglob("*.yml")))
    for blind in (ROOT / "tests" / "nlu" / "blind").glob("*.yml"):
        overlap = _examples(blind) & training
        assert not overlap, f"{blind.name} lines found in training data: {sorted(overlap)[:10]}"


def test_the_closed_beta_phrasebook_is_never_in_the_training_data():
    training = set().union(*(_examples(p) for p in (ROOT / "data").rglob("*.yml")))
    # Openers only: short answers ("yes", "no thanks") are a closed class that both must contain.
    openers = yaml.safe_load((ROOT / "tests" / "beta" / "customers.yml").read_text())["openers"]
    overlap = {_normalise(line) for phrases in openers.values() for line in phrases} & training
    assert not overlap, f"closed-beta phrases found in training data: {sorted(overlap)[:10]}"


def test_every_intent_has_heldout_examples():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    heldout = {b["intent"] for b in yaml.safe_load(HELDOUT.read_text())["nlu"]}
    assert set(domain["intents"]) <= heldout


def test_data_validates_with_only_known_warnings():
    run = subprocess.run([RASA, "data", "validate", "--fail-on-warnings"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    unused = set(re.findall(r"The utterance '(\w+)' is not used in any story or rule", run.stderr + run.stdout))
    actions_code = "".join(p.read_text() for p in (ROOT / "actions").glob("*.py"))
    # Rasa's validator cannot see responses sent by custom actions or forms (utter_ask_*).
    unexplained = {u for u in unused if u not in actions_code and not u.startswith("utter_ask_")}
    assert not unexplained, f"responses never used: {unexplained}"


def test_dialogue_test_stories_pass():
    out = REPORTS / "core"
    run = subprocess.run(
        [RASA, "test", "core", "--stories", "tests/stories", "--model", str(MODEL), "--out", str(out),
         "--fail-on-prediction-errors"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    failed = (out / "failed_test_stories.yml").read_text() if (out / "failed_test_stories.yml").exists() else ""
    assert run.returncode == 0, failed or (run.stdout[-3000:] + run.stderr[-3000:])


def test_heldout_nlu_quality(heldout_predictions):
    handoff = handoff_effect(heldout_predictions, *THRESHOLDS, HANDOFF_INTENTS)
    report = write_report(heldout_predictions, REPORTS, handoff=handoff)
    print((REPORTS / "nlu_heldout.md").read_text())
    # Floors, not targets: they catch a broken pipeline or data regression. The measured
    # figures are in docs/nlu.md and reports/nlu_heldout.md: 90.9% / 0.936 with the logistic
    # regression at 0.5 (82.5% / 0.881 with DIET at 0.7 before it).
    assert report["accuracy"] >= 0.87, json.dumps(report["per_intent"], indent=1)
    assert report["macro_f1"] >= 0.90
    # 0.60 since billing brought the model to 29 intents (it was 0.65 with 19): the weakest,
    # report_security_incident, loses its misses to fallback, which clarifies and then hands off.
    weak = {i: r["recall"] for i, r in report["per_intent"].items() if r["recall"] < 0.60}
    assert not weak, f"intents with held-out recall below 0.60: {weak}"


def test_out_of_scope_rarely_starts_a_flow(heldout_predictions):
    threshold, ambiguity = THRESHOLDS
    effect = threshold_effect(heldout_predictions, threshold, ambiguity)
    # An out-of-scope message may be answered by small talk at worst; starting the reset
    # flow or a handoff from one is what matters most.
    flows = {"request_password_reset", "report_lost_2fa", "inform_email", "request_human"}
    started = [p.text for p in heldout_predictions if p.expected == "out_of_scope" and p.predicted in flows]
    # Includes small talk answered to an out-of-scope message ("are you a bot?"-like readings):
    # 1.0% measured (11.9% with DIET at 0.7; docs/nlu.md, "Fallback thresholds").
    assert effect.out_of_scope_automated <= 0.04, effect
    assert len(started) <= 2, started
    # Asked to rephrase (buttons offered), not failed: 6.0% measured (9.8% with DIET at 0.7).
    assert effect.in_scope_to_fallback <= 0.09, effect


def test_the_out_of_scope_set_rarely_starts_an_automated_flow():
    """The issue's measure on the 581-message out-of-scope set (written apart from the training
    data): the share that starts an automated flow instead of fallback, small talk or a person."""
    from lab.eval_report import out_of_scope_report

    predictions = predict_file(MODEL, ROOT / "tests" / "eval" / "out_of_scope.yml")
    report = out_of_scope_report(predictions, *THRESHOLDS, HANDOFF_INTENTS)
    assert report["messages"] >= 500
    # 1.5% measured (2.9% with DIET); none of these flows acts before asking.
    assert report["started_an_automated_flow"] <= 0.03, report


def test_risky_categories_reach_a_person(heldout_predictions):
    handoff = handoff_effect(heldout_predictions, *THRESHOLDS, HANDOFF_INTENTS)
    # The rest are asked to clarify, and a second unclear message hands off too. 91.0% measured.
    assert handoff.mandatory_to_human >= 0.88, handoff
    assert handoff.in_scope_wrongly_handed_off <= 0.05, handoff


TRIAGE_SET = ROOT / "tests" / "triage" / "billing_heldout.yml"


def test_billing_triage_quality_and_the_month_replay():
    """Triage on 351 held-out billing inquiries (written apart from the training data), the
    threshold sweep behind handoff.yml's values, and the seed's month of billing traffic replayed
    with and without triage. Floors sit a few points under the measured values (docs/billing.md)."""
    from rasa.core.agent import Agent

    from lab.triage_evaluation import (
        load_triage_set,
        parse_cases,
        replay_month,
        threshold_sweep,
        triage_quality,
        write_triage_report,
    )

    policy = HandoffPolicy.load(ROOT / "handoff.yml")
    examples = load_triage_set(TRIAGE_SET)
    training = set().union(*(_examples(p) for p in (ROOT / "data").rglob("*.yml")))
    assert len(examples) >= 300 and not {t for t, _ in examples if _normalise(t) in training}
    cases = parse_cases(Agent.load(str(MODEL)), examples)
    quality = triage_quality(cases, policy.triage)
    replay = replay_month(cases, policy.triage, policy)
    write_triage_report(REPORTS, quality, threshold_sweep(cases, policy.triage), replay, policy.triage)
    # Measured: macro-F1 0.878, misroutes 3.7% (0.842 and 9.2% with DIET).
    assert quality["macro_f1"] >= 0.82 and quality["misroute_rate"] <= 0.07, quality
    assert replay["conversations"] >= 400
    assert replay["with_triage"]["right_queue_first_time"] > 2 * replay["without_triage"]["right_queue_first_time"]
    assert replay["time_saved_share"] >= 0.25, replay
