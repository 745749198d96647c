"""End to end: a customer on the socket.io channel is handed off; an agent works the ticket
through the agent API (claim, reply, close); the reply reaches the customer's socket; closing
resumes the bot, which asks for a rating; the transcript shows customer, bot and agent turns.
Every agent endpoint refuses requests without a token (401) or without the agent role (403)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid
from typing import Any

import httpx
import pytest
import socketio
from sqlalchemy import text

from frontdesk.db import Database
from tests.e2e.conftest import BIN, ROOT, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def frontdesk(stack: Stack, *args: str) -> str:
    env = {**os.environ, "FRONTDESK_DATABASE_URL": stack.database_url}
    return subprocess.run([str(BIN / "frontdesk"), *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def issue_token(stack: Stack, name: str, *roles: str) -> str:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return json.loads(frontdesk(stack, "agent", "token", "create", name, *role_args, "--json"))["token"]


class WidgetCustomer:
    """A customer in a socket.io client, speaking the protocol the website widget speaks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session_id = uuid.uuid4().hex
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("bot_uttered", self.received.put_nowait)

    async def connect(self) -> None:
        confirmed = asyncio.get_running_loop().create_future()
        self.client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        await self.client.connect(self.url, socketio_path="/socket.io", transports=["websocket"])
        await self.client.emit("session_request", {"session_id": self.session_id})
        assert await asyncio.wait_for(confirmed, 10) == self.session_id

    async def say(self, message: str) -> None:
        await self.client.emit("user_uttered", {"message": message, "session_id": self.session_id})

    async def next_message(self, timeout: float = 20) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def nothing_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.received.get(), seconds)
        except asyncio.TimeoutError:
            return True
        return False


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
        assert mine["queue"] == "billing" and mine["sla_minutes_left"] > 0 and mine["claimed_by"] is None
        queues = {q["name"]: q for q in (await api.get("/queues")).json()}
        assert queues["billing"]["open"] >= 1

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
                                  {"c": customer.session_id}).scalars().all()
        decisions = session.execute(text("SELECT decision FROM audit_records WHERE conversation_id = :c "
                                         "ORDER BY id"), {"c": customer.session_id}).scalars().all()
    assert score == 5
    agent_steps = [d for d in decisions if d.startswith("agent.")]
    assert agent_steps == ["agent.claimed", "agent.replied", "agent.noted", "agent.closed", "agent.feedback"]
    report = json.loads(frontdesk(stack, "kpi", "report", "--json"))
    assert report["csat"]["responses"] >= 1
    assert any(r["intent"] == "request_refund" and r["corrected"] >= 1 for r in report["agent_corrected"])
    assert "last month" in frontdesk(stack, "agent", "export-feedback")


ENDPOINTS = [("GET", "/me"), ("GET", "/queues"), ("GET", "/handoffs"), ("GET", "/handoffs/HO-00001"),
             ("POST", "/handoffs/HO-00001/claim"), ("POST", "/handoffs/HO-00001/reply"),
             ("POST", "/handoffs/HO-00001/notes"), ("POST", "/handoffs/HO-00001/close"),
             ("POST", "/handoffs/HO-00001/feedback")]


def test_every_agent_endpoint_refuses_without_the_agent_role(stack: Stack):
    analyst = issue_token(stack, f"Ana {stack.backend}", "analyst")
    base = f"{stack.web_url}/api/agent"

    def status(method: str, path: str, headers: dict[str, str]) -> int:
        refused = httpx.request(method, base + path, headers=headers, json={"text": "x"}, timeout=10)
        assert "error" in refused.json(), refused.text
        return refused.status_code

    for method, path in ENDPOINTS:
        assert status(method, path, {}) == 401, (method, path)
        assert status(method, path, {"Authorization": f"Bearer {analyst}"}) == 403, (method, path)
    for headers in ({"Authorization": "Bearer fdat_not-a-real-token"}, {"Authorization": f"Basic {analyst}"},
                    {"Authorization": f"Bearer {analyst}x"}):
        assert status("GET", "/queues", headers) == 401, headers
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    documented = {(m.upper(), p.replace("/api/agent", "").replace("{reference}", "HO-00001"))
                  for p, ops in spec["paths"].items() for m in ops}
    assert documented == set(ENDPOINTS)
    # Guessing tokens is slowed down: after 20 failures a minute from one address, 429.
    statuses = [status("GET", "/me", {"Authorization": f"Bearer fdat_guess{i}"}) for i in range(10)]
    assert statuses[-1] == 429 and set(statuses) == {401, 429}, statuses
