"""End to end on Slack: correctly signed Events API callbacks sent to the Rasa server's Slack
webhook produce chat.postMessage calls, in the customer's thread, to a local stand-in of Slack's
Web API; badly signed or stale requests produce nothing; a retried event is answered once; a
handoff notice and an agent's reply land in the same thread."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid

import httpx
import pytest

from tests.stack import SLACK_SIGNING_SECRET, Stack, issue_token
from tests.support import assert_nothing_within

pytestmark = [pytest.mark.e2e, pytest.mark.model]

# How long a post that must not come is watched for: the answers that do come arrive within a
# second, so a wrong one would too.
QUIET_SECONDS = 3


def event_callback(text: str, user: str, channel: str, ts: str, thread_ts: str | None = None) -> dict:
    event = {"type": "message", "channel_type": "im", "user": user, "channel": channel, "text": text, "ts": ts,
             **({"thread_ts": thread_ts} if thread_ts else {})}
    return {"token": "verification-token-unused", "team_id": "T0FRONT", "api_app_id": "A0FRONT", "event": event,
            "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
            "authorizations": [{"user_id": "U0BOTUSER", "is_bot": True}]}


def post(stack: Stack, payload: dict, secret: str = SLACK_SIGNING_SECRET, age: int = 0,
         headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()) - age)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return httpx.post(f"{stack.rasa_url}/webhooks/slack/webhook", content=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
        **(headers or {})})


def test_a_signed_message_is_answered_in_its_thread_and_a_retry_only_once(stack: Stack):
    channel, ts = f"D0{stack.backend[:3].upper()}1", f"{time.time():.6f}"
    payload = event_callback("I forgot my password", "U0CUSTOMER1", channel, ts)
    assert post(stack, payload).status_code == 200
    [reply] = stack.slack.wait_for(lambda p: p["channel"] == channel and p.get("thread_ts") == ts)
    assert "email address of your account" in reply["text"]

    # Slack retries the same event (it thinks we were too slow): nothing is answered twice.
    retry = post(stack, payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
    assert retry.status_code == 200 and retry.headers.get("X-Slack-No-Retry") == "1"
    assert_nothing_within(QUIET_SECONDS, lambda: [p for p in stack.slack.posted if p["channel"] == channel][1:],
                          "a second answer to the retried event")
    assert len([p for p in stack.slack.posted if p["channel"] == channel]) == 1


def test_bad_or_stale_signatures_are_refused_and_produce_nothing(stack: Stack):
    channel = f"D0{stack.backend[:3].upper()}2"
    for kwargs in ({"secret": "not-the-secret"}, {"age": 6 * 60}):
        refused = post(stack, event_callback("hello", "U0MALLORY", channel, f"{time.time():.6f}"), **kwargs)
        assert refused.status_code == 400, refused.text
    unsigned = httpx.post(f"{stack.rasa_url}/webhooks/slack/webhook", json=event_callback(
        "hello", "U0MALLORY", channel, f"{time.time():.6f}"), timeout=30)
    assert unsigned.status_code == 400
    assert_nothing_within(QUIET_SECONDS, lambda: [p for p in stack.slack.posted if p["channel"] == channel],
                          "an answer to a refused request")
    assert not [p for p in stack.slack.posted if p["channel"] == channel]


def test_the_handoff_and_the_agents_reply_stay_in_the_customers_thread(stack: Stack):
    channel, ts = f"D0{stack.backend[:3].upper()}3", f"{time.time():.6f}"
    assert post(stack, event_callback("can I talk to a human", "U0CUSTOMER3", channel, ts)).status_code == 200
    [notice] = stack.slack.wait_for(lambda p: p["channel"] == channel and p.get("thread_ts") == ts)
    reference = re.search(r"HO-\d+", notice["text"]).group(0)

    token = issue_token(stack, f"Slack agent {stack.backend}")
    sent = httpx.post(f"{stack.web_url}/api/agent/handoffs/{reference}/reply", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}, json={"text": "Hello from the support team"})
    assert sent.status_code == 200, sent.text
    [agent_reply] = stack.slack.wait_for(lambda p: p["text"] == "Hello from the support team")
    assert (agent_reply["channel"], agent_reply["thread_ts"]) == (channel, ts)

    # The customer answers in the thread: the bot stays quiet, the message lands on the ticket.
    posted_before = len(stack.slack.posted)
    assert post(stack, event_callback("thanks!", "U0CUSTOMER3", channel, f"{time.time():.6f}", ts)).status_code == 200
    assert_nothing_within(QUIET_SECONDS, lambda: stack.slack.posted[posted_before:], "the bot answered a paused thread")
    assert len(stack.slack.posted) == posted_before


def test_a_card_number_is_removed_before_anything_stores_it(stack: Stack):
    channel, ts = f"D0{stack.backend[:3].upper()}4", f"{time.time():.6f}"
    post(stack, event_callback("my card 4242 4242 4242 4242 was declined", "U0CUSTOMER4", channel, ts))
    warnings = stack.slack.wait_for(lambda p: p["channel"] == channel and "removed the card number" in p["text"])
    assert warnings and warnings[0]["thread_ts"] == ts
