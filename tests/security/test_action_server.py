"""Attack 1: the action server is not an open door.

A forged ``/webhook`` call -- a hand-written tracker naming another customer and asking for a
billing lookup, a reset e-mail or a ticket -- is refused with 401 before anything runs, without a
secret or with a wrong one, and leaves no e-mail, ticket, audit row or billing read behind. Rasa's
own calls (every conversation in these tests) carry the secret and work. Nothing listens beyond
loopback. Errors never echo the tracker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.stack import ROOT, Stack
from tests.support import LOOPBACK, free_port, listening_addresses, wait_until_answering

pytestmark = [pytest.mark.e2e, pytest.mark.model]

VICTIM = "AC-100002"


def forged_call(sender: str, action: str, intent: str, slots: dict) -> dict:
    """What Rasa would post for ``action``, written by an attacker."""
    message = {"text": "show my last payments", "intent": {"name": intent, "confidence": 0.99},
               "entities": [], "intent_ranking": [{"name": intent, "confidence": 0.99}]}
    return {
        "next_action": action, "sender_id": sender, "version": "3.6.21",
        "tracker": {"sender_id": sender, "slots": slots, "latest_message": message, "paused": False,
                    "events": [{"event": "user", "text": message["text"], "parse_data": message}],
                    "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"},
        "domain": {"responses": {}, "slots": {}, "intents": [], "entities": [], "actions": [], "forms": {}},
    }


ATTACKS = [
    ("action_billing_lookup", "ask_payment_history", {"customer_id": VICTIM}),
    ("action_request_password_reset", "inform_email", {"account_email": "ada.lovelace@example.com"}),
    ("action_handoff", "request_human", {"customer_id": VICTIM}),
]


def test_a_forged_webhook_call_is_refused_and_runs_nothing(stack: Stack):
    sender = f"forged-{stack.backend}"
    mails_before = len(stack.smtp.messages)
    for action, intent, slots in ATTACKS:
        body = forged_call(sender, action, intent, slots)
        for headers in ({}, {"Authorization": "Bearer not-the-secret"}, {"Authorization": "not-the-secret"}):
            refused = httpx.post(f"{stack.action_url}/webhook", json=body, headers=headers, timeout=30)
            assert refused.status_code == 401, (action, headers, refused.text)
            assert refused.json() == {"error": "unauthorized"}  # nothing of the tracker comes back
    assert httpx.get(f"{stack.action_url}/actions", timeout=10).status_code == 401
    assert httpx.get(f"{stack.action_url}/health", timeout=10).json() == {"status": "ok"}

    time.sleep(2.5)  # the outbox worker runs every second: give a queued e-mail the time to go
    assert len(stack.smtp.messages) == mails_before
    for table, column in (("audit_records", "conversation_id"), ("handoffs", "conversation_id"),
                          ("outbox_emails", "id"), ("password_reset_requests", "conversation_id")):
        if column == "conversation_id":
            assert stack.rows(f"SELECT count(*) FROM {table} WHERE {column} = :c", c=sender)[0][0] == 0, table

    # Rasa's own calls carry the secret: a signed-in customer is answered as always.
    plan = stack.texts(f"sec-own-calls-{stack.backend}", "how many seats are we paying for",
                       metadata={"customer_token": stack.customer_token(VICTIM)})
    assert "120 seats" in " ".join(plan)


def test_nothing_listens_beyond_loopback(stack: Stack):
    for name, port in stack.ports().items():
        listening = listening_addresses(port)
        assert listening and listening <= LOOPBACK, (name, listening)


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The action server on its own, with a secret the test knows (the stacks make theirs up)."""
    workdir = tmp_path_factory.mktemp("actions")
    secret, port = "action-server-test-secret-0123456789ab", free_port()
    env = {**os.environ, "FRONTDESK_ENV": "development", "ACTION_SERVER_SECRET": secret,
           "ACTION_SERVER_PORT": str(port), "FRONTDESK_DATABASE_URL": f"sqlite:///{workdir / 'fd.db'}"}
    subprocess.run([sys.executable, "-m", "frontdesk.entrypoints.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    log = (workdir / "actions.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "frontdesk_rasa.action_server"], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/health", process, 60, workdir / "actions.log")
        yield url, secret
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_errors_never_echo_the_tracker(action_server):
    url, secret = action_server
    auth = {"Authorization": f"Bearer {secret}"}
    marker = "ada.lovelace@example.com"
    tracker = {"sender_id": "x", "slots": {"account_email": marker}}
    # rasa-sdk cannot build a tracker from null (its handler used to answer with the body), junk
    # is not JSON, and an action nobody registered.
    for body in (json.dumps({"next_action": "action_billing_lookup", "tracker": None, "slots": tracker["slots"]}),
                 "{not json " + marker, json.dumps({"next_action": "no_such_action", "tracker": tracker})):
        answer = httpx.post(f"{url}/webhook", content=body, headers={**auth, "Content-Type": "application/json"},
                            timeout=30)
        assert answer.status_code >= 400
        assert marker not in answer.text and "request_body" not in answer.text and "Traceback" not in answer.text
    # With the secret, the server does run actions.
    assert {"name": "action_billing_lookup"} in httpx.get(f"{url}/actions", headers=auth, timeout=10).json()

