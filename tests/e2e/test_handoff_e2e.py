"""End to end: the bot hands off when it can't understand twice, or when the category is risky;
one ticket is created with a redacted transcript, summary, suggested reply and queue; the bot
is paused and what the customer writes next lands on the ticket."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from frontdesk.core.db import Database
from tests.stack import Stack
from tests.support import DeadlineExceeded, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.model]

# Messages the bot cannot act on: out of scope or below the confidence threshold.
UNCLEAR = ("the thingy from before is doing the wobbly again", "purple elephant mode when blue, 0207 946 0958")


def wait_for(stack: Stack, query: str, params: dict, timeout: float = 30) -> list:
    """The query's rows once there are any; none after ``timeout`` seconds (the caller asserts)."""
    def found() -> list:
        with Database(stack.database_url).transaction() as session:
            return session.execute(text(query), params).all()

    try:
        return wait_until(found, timeout, interval=0.5)
    except DeadlineExceeded:
        return []


def test_two_unclear_messages_hand_off_to_one_ready_ticket(stack: Stack):
    # A logged-in customer: the support site's signed token rides on the first message.
    first = stack.say("e2e-unclear", UNCLEAR[0], metadata={"customer_token": stack.customer_token("AC-100001")})
    assert "not sure I understood" in first[0]["text"] or "I don't know the answer" in first[0]["text"], first
    assert any(b["payload"] == "/request_human" for b in first[0].get("buttons", []))
    second = stack.texts("e2e-unclear", UNCLEAR[1])
    assert any("Your reference is HO-" in t for t in second), second

    [ticket] = wait_for(stack, "SELECT t.id, t.queue, t.priority, t.transcript, t.summary, t.suggested_reply, "
                        "t.labels, t.customer_id, t.profile FROM tickets t WHERE t.conversation_id = :c",
                        {"c": stack.reference("e2e-unclear")})
    assert ticket.queue == "general"
    # The verified customer's CRM profile rides on the ticket; a VIP tier raises the priority.
    assert ticket.customer_id == "AC-100001"
    profile = json.loads(ticket.profile)
    assert profile["tier"] == "vip" and profile["plan"] == "business" and profile["company"]
    assert "email" not in profile and "Lovelace" not in ticket.profile
    assert ticket.priority == "high"
    assert "0207 946 0958" not in ticket.transcript and "<PHONE_NUMBER>" in ticket.transcript
    assert "could not understand the request twice" in ticket.summary
    assert ticket.suggested_reply.startswith("Hi,")
    assert "reason:low_nlu_confidence" in json.loads(ticket.labels)

    # Paused: the bot stays silent, and the message lands on the ticket instead.
    assert stack.say("e2e-unclear", "hello? is anyone there") == []
    comments = wait_for(stack, "SELECT body FROM ticket_comments WHERE ticket_id = :t", {"t": ticket.id})
    # Each comment carries its idempotency reference (a retried delivery adds nothing).
    assert [c.body.split("\n\n[frontdesk ref")[0] for c in comments] == [
        "Customer (waiting for an agent): hello? is anyone there"]
    with Database(stack.database_url).transaction() as session:
        count = session.execute(text("SELECT count(*) FROM tickets WHERE conversation_id = :c"),
                                {"c": stack.reference("e2e-unclear")})
        assert count.scalar_one() == 1
    # Tickets name the conversation by an opaque reference: its id is not a thing agents see.
    assert stack.conversation("e2e-unclear") not in ticket.transcript + ticket.summary


def test_a_refund_goes_to_a_person_even_when_the_bot_is_sure(stack: Stack):
    replies = stack.texts("e2e-refund", "I want a refund")
    assert any("Your reference is HO-" in t for t in replies), replies
    [audit] = wait_for(stack, "SELECT intent, confidence, reason FROM audit_records "
                       "WHERE conversation_id = :c AND decision = 'handoff.created'",
                       {"c": stack.conversation("e2e-refund")})
    assert audit.intent == "request_refund" and audit.confidence >= 0.9
    [ticket] = wait_for(stack, "SELECT queue, labels FROM tickets WHERE conversation_id = :c",
                        {"c": stack.reference("e2e-refund")})
    assert ticket.queue == "billing_refunds" and "category:refund" in json.loads(ticket.labels)


def test_the_customer_cannot_bind_themselves_by_typing_an_id(stack: Stack):
    """Only a verified token binds a customer: a forged button payload or a bad token does not."""
    stack.say("e2e-forged", "/request_human{\"customer_id\": \"AC-100002\"}",
              metadata={"customer_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJBQy0xMDAwMDIifQ."})
    [ticket] = wait_for(stack, "SELECT customer_id, profile FROM tickets WHERE conversation_id = :c",
                        {"c": stack.reference("e2e-forged")})
    assert ticket.customer_id is None and json.loads(ticket.profile) == {}
    [audit] = wait_for(stack, "SELECT reason FROM audit_records WHERE conversation_id = :c "
                       "AND decision = 'customer.token_rejected'", {"c": stack.conversation("e2e-forged")})
    assert audit.reason == "malformed"
