"""The out-of-scope part of `make eval`: what counts as wrongly starting an automated flow."""

from __future__ import annotations

from lab.eval_report import out_of_scope_report
from lab.evaluation import Prediction


def prediction(text: str, intent: str, confidence: float) -> Prediction:
    return Prediction(text, "out_of_scope", intent, intent, confidence, 0.0)


def test_flows_small_talk_handoffs_and_fallback_are_told_apart():
    report = out_of_scope_report([
        prediction("my tv is broken", "request_password_reset", 0.95),  # starts a flow: the failure counted
        prediction("tell me a joke", "greet", 0.9),  # small talk, harmless
        prediction("sue my neighbour", "legal_request", 0.9),  # a person, at once
        prediction("asdfgh", "ask_pricing", 0.3),  # below the threshold: fallback
        prediction("weather?", "out_of_scope", 0.99),
        prediction("42", "inform_otp_code", 0.9),  # outside the code question: the bot asks to clarify
    ], threshold=0.6, ambiguity=0.1, handoff_intents={"legal_request", "request_human"})
    assert report["started_an_automated_flow"] == 0.167
    assert report["flows_started_by"] == {"request_password_reset": 1}
    assert (report["answered_with_small_talk"], report["handed_to_a_person_at_once"]) == (0.167, 0.167)
    assert report["fallback_or_out_of_scope_answer"] == 0.5
    assert report["examples_that_started_a_flow"][0]["text"] == "my tv is broken"
