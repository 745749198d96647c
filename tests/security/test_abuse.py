"""Attack 5: abuse and volume. Rotating conversation ids does not lift a limit: messages, reset
and code e-mails, and handoffs are limited per client address too (and per e-mail address and
overall), each answered with a clear "try again later"; an address gets at most ten e-mails a
day whatever asks for them; request bodies are capped before they are parsed."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from tests.stack import Stack, WidgetCustomer

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def from_address(stack: Stack, address: str, message: str, sender: str | None = None) -> httpx.Response:
    """A message from one client address; without a sender, a new conversation each time."""
    body = {"message": message, **({"sender": sender} if sender else {})}
    return httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=30,
                      headers={"X-Forwarded-For": address})


def test_rotating_conversations_does_not_lift_the_message_limit(stack: Stack):
    address = "203.0.113.10" if stack.production else "203.0.113.11"
    statuses = [from_address(stack, address, "hello").status_code for _ in range(60)]
    assert statuses == [200] * 60
    refused = from_address(stack, address, "hello")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert "wait a minute and try again" in refused.json()[0]["text"]
    assert from_address(stack, "203.0.113.99", "hello").status_code == 200  # others are unaffected


def test_reset_emails_are_limited_per_client_whatever_the_conversation(stack: Stack):
    address = "203.0.113.20" if stack.production else "203.0.113.21"
    for n in range(10):
        answer = from_address(stack, address, f"please reset the password for nobody{n}@example.com")
        assert "If an account exists" in answer.text, answer.text
    mails_before = len(stack.smtp.messages)
    # The eleventh from that address, for a real account: no e-mail, a person follows up instead.
    answer = from_address(stack, address, "please reset the password for katherine.johnson@example.com")
    assert "If an account exists" not in answer.text, answer.text
    time.sleep(2.5)
    assert len(stack.smtp.messages) == mails_before
    decisions = [r.decision for r in stack.rows("SELECT decision FROM audit_records WHERE decision LIKE "
                                                "'password_reset.rate_limited%' ORDER BY id DESC LIMIT 1")]
    assert decisions == ["password_reset.rate_limited_client"]


def test_an_address_gets_at_most_ten_emails_a_day(stack: Stack):
    """Ten e-mails already went to this address today (written as the outbox would have): an
    eleventh request, from a fresh client and conversation, is answered as usual but sends none."""
    account = "AC-100009"  # tim.bl@example.net: no other test mails him
    for hours_ago in range(10):
        stack.execute("INSERT INTO outbox_emails (kind, account_id, status, attempts, next_attempt_at, created_at, "
                      "sent_at) VALUES ('password_reset', :a, 'sent', 1, :t, :t, :t)", a=account,
                      t=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 3600 * (hours_ago + 1))))
    mails_before = len(stack.smtp.messages)
    answer = from_address(stack, "203.0.113.30" if stack.production else "203.0.113.31",
                          "reset the password for tim.bl@example.net")
    assert "If an account exists" in answer.text  # the same answer as ever: nothing to enumerate
    time.sleep(2.5)
    assert len(stack.smtp.messages) == mails_before
    assert stack.rows("SELECT count(*) FROM audit_records WHERE decision = 'email.daily_cap_reached'")[0][0] >= 1


def test_handoffs_are_limited_per_client_whatever_the_conversation(stack: Stack):
    address = "203.0.113.40" if stack.production else "203.0.113.41"
    references = []
    for _ in range(5):
        answer = from_address(stack, address, "I want to talk to a human")
        references += re.findall(r"HO-\d+", answer.text)
    assert len(set(references)) == 5
    refused = from_address(stack, address, "I want to talk to a human")
    assert "HO-" not in refused.text and "try again later" in refused.text, refused.text
    assert stack.rows("SELECT count(*) FROM audit_records WHERE decision = 'handoff.rate_limited'")[0][0] >= 1


def test_handoffs_are_limited_per_customer_whatever_the_address(stack: Stack):
    account = "AC-100004"
    opened = []
    for n in range(6):
        answer = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", timeout=30,
                            headers={"X-Forwarded-For": f"198.18.{n}.{7 if stack.production else 8}"},
                            json={"message": "I want to talk to a human",
                                  "metadata": {"customer_token": stack.customer_token(account)}})
        opened.append(bool(re.search(r"HO-\d+", answer.text)))
    assert opened == [True] * 5 + [False]


async def test_request_bodies_are_capped_before_they_are_parsed(stack: Stack):
    started = time.monotonic()
    huge = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", timeout=30,
                      content=b'{"message": "' + b"x" * 5_000_000 + b'"}')
    assert huge.status_code == 413 and time.monotonic() - started < 10
    customer = WidgetCustomer(stack.rasa_url)
    await customer.connect()
    try:
        await customer.client.emit("user_uttered", {"message": "x" * 200_000, "session_id": customer.session_id})
        await asyncio.sleep(1)
        assert not customer.client.connected or await customer.nothing_for(1)
    finally:
        await customer.client.disconnect()
