"""End to end: `frontdesk serve` starts the real action server, web app and Rasa server on free
ports; a customer resets a password over REST; the e-mail arrives on a real SMTP server; the
link sets a new password once, not twice, and not after expiry; the customer's thanks gets the
rating question, once; Ctrl-C stops everything."""

from __future__ import annotations

import json
import re
import urllib.parse

import httpx
import pytest
from sqlalchemy import text

from frontdesk.accounts.identity import SqlIdentityProvider
from frontdesk.core.db import Database
from tests.stack import Stack, frontdesk
from tests.support import assert_nothing_within

pytestmark = [pytest.mark.e2e, pytest.mark.model]

NEW_PASSWORD = "violet kettle marathon 42"


def reset_link(message) -> str:
    match = re.search(r"(http://\S+/reset-password\?token=[A-Za-z0-9_\-]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def test_password_reset_conversation_end_to_end(stack: Stack):
    before = len(stack.smtp.messages)  # other tests share the SMTP server
    asked = stack.texts("e2e-known", "I forgot my password")
    assert any("email address" in t for t in asked), asked
    known = stack.texts("e2e-known", "ada.lovelace@example.com")
    assert any("If an account exists" in t for t in known), known

    # Exactly the same answer for an address with no account (no enumeration).
    stack.texts("e2e-unknown", "I forgot my password")
    assert stack.texts("e2e-unknown", "no.such.customer@example.com") == known

    message = stack.smtp.wait_for(before + 1)[before]
    assert message["To"] == "ada.lovelace@example.com"
    # An absence: watched for a bounded time (the known address's mail came within it).
    assert_nothing_within(2, lambda: stack.smtp.messages[before + 1:], "mail for the unknown address")
    assert len(stack.smtp.messages) == before + 1, "the unknown address must not get mail"
    link = reset_link(message)
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
    assert not any(token in t for t in known), "the token never appears in chat"

    page = httpx.get(link)
    assert page.status_code == 200 and 'name="password"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    form_url = f"{stack.web_url}/reset-password"
    mismatch = httpx.post(form_url, data={"token": token, "password": NEW_PASSWORD, "confirm": "other"})
    assert mismatch.status_code == 400 and "match" in mismatch.text
    weak = httpx.post(form_url, data={"token": token, "password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "at least 12" in weak.text
    done = httpx.post(form_url, data={"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 200 and "Your password has been changed" in done.text
    again = httpx.post(form_url, data={"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert again.status_code == 400 and "already been used" in again.text

    db = Database(stack.database_url)
    with db.transaction() as session:
        assert SqlIdentityProvider().check_password(session, "AC-100001", NEW_PASSWORD)
        known_id = {"c": stack.conversation("e2e-known")}
        audit = session.execute(
            text("SELECT decision, intent, confidence, action, model_id FROM audit_records "
                 "WHERE conversation_id = :c"), known_id).all()
        tracked = session.execute(text("SELECT count(*) FROM events WHERE sender_id = :c"), known_id).scalar_one()
    assert [row.decision for row in audit] == ["password_reset.queued"]
    assert audit[0].intent == "inform_email" and audit[0].confidence > 0.5
    assert audit[0].action == "action_request_password_reset" and audit[0].model_id
    assert tracked > 5, "conversations are kept in the SQL tracker store"

    # Resolved without a person: thanks gets the rating question once, and the tap is recorded.
    [survey] = stack.say("e2e-known", "thanks!")
    assert "how would you rate this chat" in survey["text"]
    assert [b["title"] for b in survey["buttons"]] == ["1", "2", "3", "4", "5"]
    assert any("Thank you for the rating" in t for t in stack.texts("e2e-known", survey["buttons"][4]["payload"]))
    assert not any("rate" in t for t in stack.texts("e2e-known", "thank you so much")), "asked twice"
    csat = json.loads(frontdesk(stack, "kpi", "report", "--json"))["csat"]["after_bot"]["password_reset"]
    assert csat["responses"] >= 1 and csat["average"] is not None and 0 < csat["response_rate"] <= 1


def test_the_configured_lock_store_is_used(stack: Stack):
    import redis

    def lock_writes() -> int:
        stats = redis.Redis(host="127.0.0.1", port=6379).info("commandstats")
        return int(stats.get("cmdstat_set", {}).get("calls", 0))

    before = lock_writes()
    stack.texts("e2e-lock", "hello")
    if stack.backend == "postgres+redis":
        assert lock_writes() > before, "Rasa did not take its conversation lock in Redis"
    else:
        assert lock_writes() == before, "the embedded stack must not need Redis"


def test_an_expired_link_is_refused(stack: Stack):
    before = len(stack.smtp.messages)
    stack.texts("e2e-expiry", "reset password for grace.hopper@example.org")
    message = stack.smtp.wait_for(before + 1)[-1]
    link = reset_link(message)
    with Database(stack.database_url).transaction() as session:
        # Travel past the 15 minutes instead of waiting for them.
        session.execute(text("UPDATE password_reset_tokens SET expires_at = '2000-01-01 00:00:00' "
                             "WHERE used_at IS NULL"))
    page = httpx.get(link)
    assert page.status_code == 400 and "expired" in page.text


def test_bad_requests_get_clear_answers(stack: Stack):
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    empty = stack.post("e2e-bad", "   ")  # opens the conversation: the reply carries its token
    assert empty.status_code == 200 and "empty" in empty.json()[0]["text"]
    token = stack.sessions["e2e-bad"].encode()
    for body in (b"{not json", b"[1, 2]", b'{"sender": "' + token + b'", "message": 42}',
                 b'{"sender": "' + token + b'", "message": "hi", "metadata": "token"}',
                 b'{"sender": "' + token + b'", "message": "hi", "metadata": {"k": "' + b"v" * 9000 + b'"}}'):
        refused = httpx.post(url, content=body, timeout=30)
        assert refused.status_code == 400 and "error" in refused.json(), body
    huge = stack.post("e2e-bad", "password " * 300)
    assert huge.status_code == 200 and "too long" in huge.json()[0]["text"]
    # A body far beyond any message is refused by the server before it is parsed.
    assert httpx.post(url, content=b'{"message": "' + b"x" * 1_000_000 + b'"}', timeout=30).status_code == 413
    # The conversation goes on normally afterwards.
    assert any("email address" in t for t in stack.texts("e2e-bad", "I forgot my password"))
    assert httpx.get(f"{stack.web_url}/reset-password?token=nonsense").status_code == 400
    assert httpx.post(f"{stack.web_url}/reset-password", content=b"\x00\xff").status_code == 400
