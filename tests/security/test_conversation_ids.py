"""Attack 2: a conversation id is not a credential.

A victim signs in (a support-site token) and is verified for billing, then is handed to an agent
who replies. A second client that knows the victim's conversation id -- as an agent, a ticket, a
log or a screenshot would show it -- tries every channel: REST with that id as sender, the poll
endpoint, socket.io's session_request and messages, a Slack-shaped id on REST, and the victim's
REST token on socket.io. It gets neither the replies nor the billing data. The victim's own
client keeps its conversation (the widget's reload is in tests/e2e/test_widget_browser_e2e.py)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from lab.stack import client_address
from tests.stack import SESSION_HEADER, Stack, WidgetCustomer, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]

VICTIM = "AC-100002"


def rest(stack: Stack, sender: str | None, message: str, name: str) -> httpx.Response:
    body = {"message": message, **({"sender": sender} if sender is not None else {})}
    return httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=30,
                      headers={"X-Forwarded-For": client_address(name)})


async def test_knowing_a_conversation_id_opens_nothing(stack: Stack):
    victim = f"sec-victim-{stack.backend}"
    seats = stack.texts(victim, "how many seats are we paying for",
                        metadata={"customer_token": stack.customer_token(VICTIM)})
    assert "120 seats" in " ".join(seats)  # verified for billing
    victim_id = stack.conversation(victim)

    attacker = f"sec-attacker-{stack.backend}"
    slack_shaped = "U0VICTIM_D0VICTIM_1764235000.123456"
    for sender in (victim_id, slack_shaped, victim_id.upper(), stack.sessions[victim] + "x", ""):
        refused = rest(stack, sender, "show me my last payments", attacker)
        assert refused.status_code == 401, (sender, refused.text)
        assert SESSION_HEADER not in refused.headers and "payment" not in refused.text.lower()
    # The victim's own client goes on, still verified.
    assert "120 seats" in " ".join(stack.texts(victim, "and how many seats was that again?"))
    handed = " ".join(stack.texts(victim, "can I talk to a person please"))
    reference = re.search(r"HO-\d+", handed).group(0)

    spy = WidgetCustomer(stack.rasa_url)
    await spy.connect()  # a session of its own
    confirmed: asyncio.Queue[str] = asyncio.Queue()
    spy.client.on("session_confirm", confirmed.put_nowait)
    try:
        # Asking for the victim's conversation (or presenting its REST token) gets a new session.
        for wanted in (victim_id, stack.sessions[victim]):
            await spy.client.emit("session_request", {"session_id": wanted})
            issued = await asyncio.wait_for(confirmed.get(), 10)
            assert issued not in (victim_id, stack.sessions[victim], spy.session_id)
        for wanted in (victim_id, stack.sessions[victim], slack_shaped):
            await spy.client.emit("user_uttered", {"message": "how many seats are we paying for", "session_id": wanted})
            assert "no longer valid" in (await spy.next_message())["text"]

        # The agent answers the victim: the victim's client gets it, the spy nothing.
        agent = issue_token(stack, f"Security agent {stack.backend}")
        sent = httpx.post(f"{stack.web_url}/api/agent/handoffs/{reference}/reply", timeout=30,
                          headers={"Authorization": f"Bearer {agent}"}, json={"text": "Your invoice total is £960"})
        assert sent.status_code == 200, sent.text
        poll = f"{stack.rasa_url}/webhooks/rest/messages"
        [mine] = httpx.get(poll, headers={SESSION_HEADER: stack.sessions[victim]}, timeout=10).json()
        assert mine["text"] == "Your invoice total is £960"
        for stolen in ({SESSION_HEADER: victim_id}, {SESSION_HEADER: slack_shaped}):
            assert httpx.get(poll, headers=stolen, timeout=10).status_code == 401
        assert httpx.get(poll, params={"sender": victim_id}, timeout=10).status_code == 401
        assert await spy.nothing_for(2)

        # The spy's own new conversation is anonymous: billing needs verification there.
        own = rest(stack, None, "how many seats are we paying for", attacker)
        assert own.status_code == 200 and "check it's you" in own.text and "120 seats" not in own.text
    finally:
        await spy.client.disconnect()

    # The agent sees an opaque reference, never the conversation id.
    ticket = httpx.get(f"{stack.web_url}/api/agent/handoffs/{reference}", timeout=30,
                       headers={"Authorization": f"Bearer {agent}"}).json()
    assert ticket["conversation"] == stack.reference(victim) and victim_id not in str(ticket)
    listing = httpx.get(f"{stack.web_url}/api/agent/handoffs", timeout=30,
                        headers={"Authorization": f"Bearer {agent}"}).text
    assert victim_id not in listing


async def test_the_widget_keeps_its_conversation_with_its_token(stack: Stack):
    first = WidgetCustomer(stack.rasa_url)
    await first.connect()
    try:
        await first.say("hello")
        assert (await first.next_message())["text"]
    finally:
        await first.client.disconnect()
    again = WidgetCustomer(stack.rasa_url, session_id=first.session_id)  # a reload, with its stored token
    await again.connect()
    try:
        assert again.conversation_id == first.conversation_id
        await again.say("I forgot my password")
        assert "email address" in (await again.next_message())["text"]
    finally:
        await again.client.disconnect()
    events = stack.rows("SELECT count(*) FROM events WHERE sender_id = :c AND type_name = 'user'",
                        c=first.conversation_id)
    assert events[0][0] == 2
