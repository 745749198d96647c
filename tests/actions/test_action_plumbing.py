"""How the actions are put together: no import cycles, no side effects at import, the blocking work
off the event loop, and the Presidio warm-up where the action server starts."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from datetime import date
from typing import Any

import grimp
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.billing import ActionBillingLookup, ValidateBillingVerificationForm
from actions.csat import ActionRecordCsat
from actions.handoff import ActionClarify, ActionHandoff
from actions.password_reset import ActionRequestPasswordReset
from frontdesk.accounts.verification import MAX_ATTEMPTS
from frontdesk.dev.demo_data import load_demo_billing
from tests.stack import ROOT

ACTION_MODULES = ("actions.billing", "actions.csat", "actions.handoff", "actions.handing_off",
                  "actions.password_reset", "actions.session")


@pytest.fixture
def live(services, monkeypatch):
    with services.db.transaction() as session:
        load_demo_billing(session, today=date(2026, 11, 27))
    for module in ACTION_MODULES:
        monkeypatch.setattr(f"{module}.get_services", lambda: services)
    return services


@pytest.fixture
def on_threads(live, monkeypatch) -> list[tuple[str, bool]]:
    """(service call, whether it ran on the event loop's thread) for every database call."""
    calls: list[tuple[str, bool]] = []

    def spy(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, threading.current_thread() is threading.main_thread()))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    spy(live.handoff, "hand_off")
    spy(live.password_reset, "request_password_reset")
    spy(live.verification, "request_code")
    spy(live.verification, "check_code")
    spy(live.billing_desk, "answer")
    spy(live.csat, "record")
    return calls


def tracker(text: str, intent: str, slots: dict[str, Any] | None = None, sender: str = "plumb-1",
            earlier: list[dict[str, Any]] | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.4}, "entities": [],
               "intent_ranking": [{"name": intent, "confidence": 0.4},
                                  {"name": "request_password_reset", "confidence": 0.3}]}
    events = [*(earlier or []), {"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": message, "metadata": {"model_id": "m-1"}}]
    return Tracker(sender, slots or {}, message, events, False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    return dispatcher, await action.run(dispatcher, t, {})


def test_no_action_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("actions")  # function-level imports count too
    cycles = [(a, b) for a in graph.modules for b in graph.modules
              if a < b and graph.chain_exists(a, b) and graph.chain_exists(b, a)]
    assert cycles == []


def test_importing_the_actions_starts_no_thread():
    code = ("import importlib, pkgutil, threading, actions\n"
            "for m in pkgutil.iter_modules(actions.__path__): importlib.import_module('actions.' + m.name)\n"
            "print([t.name for t in threading.enumerate()])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['MainThread']"


def test_the_action_server_warms_presidio_up_in_the_background_before_serving(monkeypatch):
    from frontdesk_rasa import action_server

    serving, warmed = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    class Redactor:
        def redact(self, text: str) -> str:
            serving.wait(10)  # still loading when the server starts: start-up does not wait for it
            seen["text"] = text
            warmed.set()
            return text

    class App:
        def run(self, **options: Any) -> None:
            seen["options"] = options
            seen["warming_up"] = [t for t in threading.enumerate() if t.name == "presidio-warm-up"]
            serving.set()

    def default_redactor(sensitive_identifiers: tuple[str, ...] = ()) -> Redactor:
        seen["identifiers"] = sensitive_identifiers  # the configured ones: the redactor the handoffs use
        return Redactor()

    monkeypatch.setenv("ACTION_SERVER_SECRET", "plumbing-test-secret-0123456789abcdef")
    monkeypatch.setenv("FRONTDESK_SENSITIVE_IDENTIFIERS", r"LIC-\d{4}")
    monkeypatch.setattr(action_server, "default_redactor", default_redactor)
    monkeypatch.setattr(action_server, "secure_action_app", lambda secret, **_options: App())
    assert action_server.main() == 0
    assert warmed.wait(10) and seen["text"] == "warm up" and seen["options"]["workers"] == 1
    assert seen["identifiers"] == (r"LIC-\d{4}",)
    [thread] = seen["warming_up"]
    assert thread.daemon


async def test_database_work_runs_off_the_event_loop(live, on_threads, smtp_sink, clock):
    reset = tracker("ada", "inform_email", {"account_email": "ada.lovelace@example.com"})
    await run(ActionRequestPasswordReset(), reset)
    await run(ActionHandoff(), tracker("a person please", "request_human", sender="plumb-2"))
    form, dispatcher = ValidateBillingVerificationForm(), CollectingDispatcher()
    t = tracker("my code", "inform_otp_code", {"billing_email": "grace.hopper@example.org"}, sender="plumb-3")
    assert await form.validate_billing_email("Grace.Hopper@example.org", dispatcher, t, {}) == {
        "billing_email": "grace.hopper@example.org"}
    live.outbox.dispatch_due(live.db, live.mailer)
    code = re.search(r"code is (\d{6})", smtp_sink.wait_for(2)[-1].get_content()).group(1)
    wrong = "000000" if code != "000000" else "111111"
    assert await form.validate_otp_code(wrong, dispatcher, t, {}) == {"otp_code": None}
    assert (dispatcher.messages[-1]["response"], dispatcher.messages[-1]["attempts_left"]) == (
        "utter_otp_code_wrong", MAX_ATTEMPTS - 1)
    verified = await form.validate_otp_code(code, dispatcher, t, {})
    assert (verified["otp_code"], verified["customer_id"]) == ("verified", "AC-100002")
    dispatcher, _ = await run(ActionBillingLookup(), tracker("what plan are we on", "ask_plan_details",
                                                             {"customer_id": "AC-100002"}, sender="plumb-3"))
    assert dispatcher.messages[0]["text"]
    called = {name for name, _ in on_threads}
    assert called == {"request_password_reset", "hand_off", "request_code", "check_code", "answer"}
    assert not any(on_loop for _, on_loop in on_threads), on_threads


async def test_an_expired_code_sends_a_new_one_in_the_same_call(live, on_threads, clock):
    form, dispatcher = ValidateBillingVerificationForm(), CollectingDispatcher()
    t = tracker("my code", "inform_otp_code", {"billing_email": "grace.hopper@example.org"}, sender="plumb-4")
    await form.validate_billing_email("grace.hopper@example.org", dispatcher, t, {})
    clock.advance(minutes=11)
    assert await form.validate_otp_code("123456", dispatcher, t, {}) == {"otp_code": None}
    assert dispatcher.messages[-1]["response"] == "utter_otp_code_expired"
    assert [name for name, _ in on_threads] == ["request_code", "check_code", "request_code"]
    assert not any(on_loop for _, on_loop in on_threads)


@pytest.mark.parametrize("second_miss", [False, True])
async def test_a_rating_nobody_asked_for_is_answered_exactly_as_action_clarify_answers(live, on_threads,
                                                                                         second_miss):
    earlier = [{"event": "user", "text": "hm", "parse_data": {}},
               {"event": "action", "name": "action_clarify"}] if second_miss else []
    clarified = await run(ActionClarify(), tracker("5", "rate_csat", earlier=earlier))
    rated = await run(ActionRecordCsat(), tracker("5", "rate_csat", earlier=earlier))
    assert rated[0].messages == clarified[0].messages and rated[1] == clarified[1]
    assert clarified[0].messages[0]["response"] == ("utter_handoff_unclear" if second_miss else "utter_clarify")
    assert [name for name, _ in on_threads] == (["hand_off", "hand_off"] if second_miss else [])
    assert not any(on_loop for _, on_loop in on_threads)
