"""End to end: a customer on the socket.io channel is handed off; an agent works the ticket
through the agent API (claim, reply, close); the reply reaches the customer's socket; closing
resumes the bot, which asks for a rating; the transcript shows customer, bot and agent turns.
Every agent endpoint refuses requests without a token (401) or without the agent role (403)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import httpx
import pytest
from sqlalchemy import text

from frontdesk.core.db import Database
from tests.stack import BIN, Stack, WidgetCustomer, frontdesk, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]


async def test_an_agent_takes_over_replies_in_the_widget_and_hands_back(stack: Stack):
    token = issue_token(stack, f"Sam {stack.backend}")
    api = httpx.AsyncClient(base_url=f"{stack.web_url}/api/agent", timeout=30,
                            headers={"Authorization": f"Bearer {token}"})
    customer = WidgetCustomer(stack.rasa_url)
    await customer.connect()
    try:
        await customer.say("I want a refund for last month")
        handoff_text = (await customer.next_message())["text"]
        reference = re.search(r"HO-\d+", handoff_text).group(0)

        listed = (await api.get("/handoffs")).json()
        [mine] = [h for h in listed if h["reference"] == reference]
        assert mine["queue"] == "billing_refunds" and mine["sla_minutes_left"] > 0 and mine["claimed_by"] is None
        queues = {q["name"]: q for q in (await api.get("/queues")).json()}
        assert queues["billing_refunds"]["open"] >= 1

        # Paused: the bot does not answer; the agent sees the message in the live transcript.
        await customer.say("hello? anyone?")
        assert await customer.nothing_for(2)
        ticket = (await api.get(f"/handoffs/{reference}")).json()
        assert "refund" in ticket["summary"] and ticket["suggested_reply"].startswith("Hi,")
        assert [t["speaker"] for t in ticket["transcript"]] == ["customer", "bot", "customer"]

        assert (await api.post(f"/handoffs/{reference}/claim")).json()["claimed_by"] == f"Sam {stack.backend}"
        reply = await api.post(f"/handoffs/{reference}/reply", json={"text": "Hi, I'm Sam. Let me check that."})
        assert reply.status_code == 200, reply.text
        assert (await customer.next_message())["text"] == "Hi, I'm Sam. Let me check that."
        note = await api.post(f"/handoffs/{reference}/notes", json={"text": "refund under 30 days"})
        assert note.status_code == 201

        assert (await api.post(f"/handoffs/{reference}/close")).status_code == 200
        survey = await customer.next_message()
        assert "How would you rate" in survey["text"]
        assert len(survey["quick_replies"]) == 5  # Rasa's socket.io channel sends buttons as quick replies
        await customer.say('/rate_csat{"csat_score": "5"}')
        assert "Thank you for the rating" in (await customer.next_message())["text"]

        final = (await api.get(f"/handoffs/{reference}")).json()
        assert final["status"] == "closed"
        speakers = [(t["speaker"], t["agent"]) for t in final["transcript"]]
        assert ("agent", f"Sam {stack.backend}") in speakers and ("customer", None) in speakers
        assert ("bot", None) in speakers
        assert (await api.post(f"/handoffs/{reference}/reply", json={"text": "late"})).status_code == 409

        feedback = await api.post(f"/handoffs/{reference}/feedback",
                                  json={"intent_correct": False, "correct_intent": "report_dispute"})
        assert feedback.status_code == 200, feedback.text
    finally:
        await customer.client.disconnect()
        await api.aclose()

    with Database(stack.database_url).transaction() as session:
        [score] = session.execute(text("SELECT score FROM csat_responses WHERE conversation_id = :c"),
                                  {"c": customer.conversation_id}).scalars().all()
        decisions = session.execute(text("SELECT decision FROM audit_records WHERE conversation_id = :c "
                                         "ORDER BY id"), {"c": customer.conversation_id}).scalars().all()
    assert score == 5
    agent_steps = [d for d in decisions if d.startswith("agent.")]
    assert agent_steps == ["agent.claimed", "agent.replied", "agent.noted", "agent.closed", "agent.feedback"]
    report = json.loads(frontdesk(stack, "kpi", "report", "--json"))
    assert report["csat"]["after_agent"]["responses"] >= 1
    assert any(r["intent"] == "request_refund" and r["corrected"] >= 1 for r in report["agent_corrected"])
    ml_engineer = {"FRONTDESK_AGENT_TOKEN": issue_token(stack, f"Mel {stack.backend}", "ml-engineer")}
    assert "last month" in frontdesk(stack, "data", "export-training", "--format", "rasa", env=ml_engineer)


def test_a_rest_customer_polls_for_the_agent_s_reply(stack: Stack):
    token = issue_token(stack, f"Lee {stack.backend}")
    conversation = f"e2e-rest-agent-{stack.backend}"
    reference = re.search(r"HO-\d+", " ".join(stack.texts(conversation, "can I speak to a person"))).group(0)
    reply = httpx.post(f"{stack.web_url}/api/agent/handoffs/{reference}/reply", timeout=30,
                       json={"text": "Hello from Lee"}, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    poll = f"{stack.rasa_url}/webhooks/rest/messages"
    session = {"X-Frontdesk-Session": stack.sessions[conversation]}
    [message] = httpx.get(poll, headers=session, timeout=10).json()
    assert (message["text"], message["agent"]) == ("Hello from Lee", f"Lee {stack.backend}")
    later = httpx.get(poll, params={"since": message["timestamp"]}, headers=session, timeout=10)
    assert later.json() == []
    assert httpx.get(poll, params={"since": "yesterday"}, headers=session, timeout=10).status_code == 400
    assert httpx.get(poll, timeout=10).status_code == 401  # no session, no messages


def test_the_agent_cli_works_a_handoff_through_the_api(stack: Stack):
    conversation = f"e2e-cli-{stack.backend}"
    reference = re.search(r"HO-\d+", " ".join(stack.texts(conversation, "I want to talk to a human"))).group(0)
    env = {"FRONTDESK_AGENT_TOKEN": issue_token(stack, f"Cli {stack.backend}")}

    def agent(*args: str) -> str:
        return frontdesk(stack, "agent", *args, "--url", stack.web_url, env=env)

    assert reference in agent("list")
    assert any(h["reference"] == reference for h in json.loads(agent("list", "--json")))
    shown = agent("show", reference)
    assert "summary:" in shown and "customer: I want to talk to a human" in shown
    agent("claim", reference)
    agent("note", reference, "called the customer back")
    agent("close", reference)
    assert json.loads(agent("show", reference, "--json"))["status"] == "closed"
    refused = subprocess.run([str(BIN / "frontdesk"), "agent", "close", reference, "--url", stack.web_url],
                             env={**os.environ, "FRONTDESK_DATABASE_URL": stack.database_url,
                                  "FRONTDESK_AGENT_TOKEN": env["FRONTDESK_AGENT_TOKEN"]},
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "error 409" in refused.stderr and "Traceback" not in refused.stderr


ENDPOINTS = [("GET", "/me"), ("GET", "/queues"), ("GET", "/handoffs"), ("GET", "/handoffs/HO-00001"),
             ("POST", "/handoffs/HO-00001/claim"), ("POST", "/handoffs/HO-00001/reply"),
             ("POST", "/handoffs/HO-00001/notes"), ("POST", "/handoffs/HO-00001/close"),
             ("POST", "/handoffs/HO-00001/feedback"), ("GET", "/kpi"), ("GET", "/training-candidates")]


def client_from(address: str) -> httpx.Client:
    """A client whose requests come from another loopback address: the failed-sign-in limit is
    per address, so these checks never lock out the agents of the other tests (127.0.0.1)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_every_agent_endpoint_refuses_without_a_valid_token_and_guessing_is_slowed(stack: Stack):
    """Which roles may use which endpoint (403 otherwise): tests/security/test_roles.py."""
    analyst = issue_token(stack, f"Ana {stack.backend}", "analyst")
    agent = issue_token(stack, f"Al {stack.backend}")
    base = stack.web_url.replace("localhost", "127.0.0.1") + "/api/agent"

    def status(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
        refused = client.request(method, base + path, headers=headers, json={"text": "x"})
        assert "error" in refused.json() or refused.status_code == 200, refused.text
        return refused.status_code

    with client_from("127.0.0.3") as client:
        for method, path in ENDPOINTS:
            assert status(client, method, path, {}) == 401, (method, path)
        for headers in ({"Authorization": "Bearer fdat_not-a-real-token"}, {"Authorization": f"Basic {analyst}"},
                        {"Authorization": f"Bearer {analyst}x"}):
            assert status(client, "GET", "/queues", headers) == 401, headers
        spec = client.get(f"{base}/openapi.json").json()
    documented = {(m.upper(), p.replace("/api/agent", "").replace("{reference}", "HO-00001"))
                  for p, ops in spec["paths"].items() for m in ops}
    assert documented == set(ENDPOINTS)

    # Guessing is slowed down without locking agents out: the same bad token from one address
    # gets 429 after 10 failures a minute; many different ones after 100; a valid token from
    # that address (every agent's, behind a proxy) still gets in; other addresses are unaffected.
    with client_from("127.0.0.2") as guesser:
        stale = {"Authorization": "Bearer fdat_revoked-token-in-an-old-script"}
        assert [status(guesser, "GET", "/me", stale) for _ in range(11)] == [401] * 10 + [429]
        statuses = [status(guesser, "GET", "/me", {"Authorization": f"Bearer fdat_guess{i:03d}x"}) for i in range(91)]
        assert statuses == [401] * 89 + [429] * 2, statuses
        assert status(guesser, "GET", "/me", {"Authorization": f"Bearer {agent}"}) == 200
    with client_from("127.0.0.4") as colleague:
        assert status(colleague, "GET", "/me", {"Authorization": f"Bearer {agent}"}) == 200
