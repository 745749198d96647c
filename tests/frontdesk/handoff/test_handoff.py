"""Handoffs: one ready-to-work ticket per handoff, idempotent, delivered through an outbox that
survives a ticketing outage; messages written while waiting land on the ticket."""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy import select, text

from frontdesk.core.audit import DecisionContext
from frontdesk.handoff.escalation import EscalationReason, FollowUp
from frontdesk.handoff.service import FOLLOW_UP_CHANNEL, HandoffRequest, HandoffRow, TicketOutbox, TicketOutboxRow, Turn
from frontdesk.ticketing.sql import TicketCommentRow, TicketRow
from frontdesk.ticketing.zendesk import ZendeskTicketing
from tests.standins.zendesk import ZendeskStandIn


def request(conversation="c1", sequence=2, intent="request_refund", confidence=0.99, customer_id=None,
            reason="mandatory_category") -> HandoffRequest:
    return HandoffRequest(
        conversation_id=conversation, sequence=sequence, reason=reason, channel="rest",
        intent=intent, confidence=confidence, model_id="m-1",
        turns=[Turn("customer", "hi, I'm Grace Hopper, grace.hopper@example.org"),
               Turn("bot", "Hi! How can I help?"),
               Turn("customer", "I want a refund for card 4111 1111 1111 1111, call +44 20 7946 0958")],
        collected={"account_email": "grace.hopper@example.org"},
        entities=[("email", "grace.hopper@example.org")],
        bot_tried=["password_reset_form"],
        customer_id=customer_id,
    )


def hand_off(services, req):
    with services.db.transaction() as session:
        return services.handoff.hand_off(session, req)


def tickets(services):
    with services.db.transaction() as session:
        return session.execute(select(TicketRow).order_by(TicketRow.id)).scalars().all()


def test_a_handoff_becomes_one_ready_to_work_ticket(services):
    result = hand_off(services, request(customer_id="AC-100002"))
    assert result.created and result.reference.startswith("HO-")
    assert tickets(services) == []  # delivered by the outbox, not inside the conversation's request
    assert services.ticket_outbox.dispatch_due(services.db)["delivered"] == 1
    [ticket] = tickets(services)
    assert ticket.queue == "billing_refunds" and ticket.priority == "high"  # enterprise: one step up
    everything = " ".join([ticket.transcript, ticket.summary, ticket.suggested_reply, ticket.labels, ticket.profile])
    for pii in ("grace.hopper@example.org", "4111 1111 1111 1111", "7946 0958", "Grace Hopper"):
        assert pii not in everything, pii
    assert "<EMAIL_ADDRESS>" in ticket.transcript and "<CREDIT_CARD>" in ticket.transcript
    assert "Customer wants: wants a refund (NLU 0.99)" in ticket.summary
    assert "Bot tried: password_reset_form" in ticket.summary
    assert "refund" in ticket.suggested_reply
    assert {"intent:request_refund", "confidence:0.99", "channel:rest", "category:refund"} <= set(
        json.loads(ticket.labels))
    profile = json.loads(ticket.profile)
    assert (profile["customer_id"], profile["plan"], profile["open_tickets"]) == ("AC-100002", "enterprise", 0)
    with services.db.transaction() as session:
        [handoff] = session.execute(select(HandoffRow)).scalars().all()
        assert handoff.ticket_reference == f"FD-{ticket.id:05d}"


def test_enterprise_and_vip_customers_get_a_higher_priority(services):
    hand_off(services, request("a", intent="request_human", reason="customer_asked", customer_id="AC-100003"))
    hand_off(services, request("b", intent="request_human", reason="customer_asked", customer_id="AC-100001"))
    services.ticket_outbox.dispatch_due(services.db)
    assert [t.priority for t in tickets(services)] == ["normal", "high"]  # team/standard, then business/vip


def test_the_customer_profile_can_reroute_a_ticket(services):
    hand_off(services, request("anon", intent="request_human", reason="customer_asked"))
    hand_off(services, request("ent", intent="request_human", reason="customer_asked", customer_id="AC-100002"))
    hand_off(services, request("ent-refund", customer_id="AC-100002"))  # specialist queues stay
    services.ticket_outbox.dispatch_due(services.db)
    assert [t.queue for t in tickets(services)] == ["general", "enterprise_success", "billing_refunds"]


def test_a_guess_the_bot_was_unsure_of_does_not_route_the_ticket(services):
    hand_off(services, request("unsure", intent="report_security_incident", confidence=0.31,
                               reason="low_nlu_confidence"))
    hand_off(services, request("unsure-billing", intent="ask_tax_question", confidence=0.35,
                               reason="low_nlu_confidence"))
    hand_off(services, request("sure", intent="report_security_incident", confidence=0.93))
    services.ticket_outbox.dispatch_due(services.db)
    unsure, unsure_billing, sure = tickets(services)
    assert (unsure.queue, unsure.priority) == ("general", "normal")
    assert "intent:report_security_incident" in json.loads(unsure.labels)  # the hint stays for the agent
    assert unsure_billing.queue == "general"
    assert (sure.queue, sure.priority) == ("security", "urgent")


def test_the_same_handoff_twice_creates_one_ticket(services):
    first = hand_off(services, request())
    second = hand_off(services, request())
    another_turn = hand_off(services, request(sequence=3))  # still open: appended, not a new ticket
    assert first.reference == second.reference == another_turn.reference
    assert (first.created, second.created, another_turn.created) == (True, False, False)
    services.ticket_outbox.dispatch_due(services.db)
    assert len(tickets(services)) == 1


def test_messages_written_while_waiting_are_appended(services, clock):
    with services.db.transaction() as session:  # Rasa's SQL tracker-store table, as Rasa creates it
        session.execute(text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                             "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                             "action_name VARCHAR(255), data TEXT)"))
    hand_off(services, request("waiting"))
    later = (clock.now - datetime(1970, 1, 1)).total_seconds() + 60  # after the handoff
    with services.db.transaction() as session:
        for i, message in enumerate(["hello? anyone there", "my email is new.me@example.net"]):
            session.execute(text("INSERT INTO events (id, sender_id, type_name, timestamp, data) "
                                 "VALUES (:id, 'waiting', 'user', :ts, :data)"),
                            {"id": 100 + i, "ts": later + i, "data": json.dumps({"text": message})})
    assert services.handoff.sync_waiting_messages(services.db) == 2
    assert services.handoff.sync_waiting_messages(services.db) == 0  # each message once
    # More within the minute waits for the next comment: one ticketing call a minute at the most.
    with services.db.transaction() as session:
        session.execute(text("INSERT INTO events (id, sender_id, type_name, timestamp, data) "
                             "VALUES (102, 'waiting', 'user', :ts, :data)"),
                        {"ts": later + 2, "data": json.dumps({"text": "still here"})})
    assert services.handoff.sync_waiting_messages(services.db) == 0
    clock.advance(minutes=1)
    assert services.handoff.sync_waiting_messages(services.db) == 1
    services.ticket_outbox.dispatch_due(services.db)
    with services.db.transaction() as session:
        comments = [c.body for c in session.execute(select(TicketCommentRow).order_by(TicketCommentRow.id)).scalars()]
    # Each comment ends with its outbox row's reference: what makes a retried comment harmless.
    assert [c.rsplit("\n\n", 1)[0] for c in comments] == [
        "Customer (waiting for an agent): hello? anyone there\n"
        "Customer (waiting for an agent): my email is <EMAIL_ADDRESS>",
        "Customer (waiting for an agent): still here"]
    assert all(re.fullmatch(r"\[frontdesk ref fd-op-\d+\]", c.rsplit("\n\n", 1)[1]) for c in comments)


def test_a_zendesk_outage_delays_the_ticket_and_loses_nothing(services, clock):
    with ZendeskStandIn() as zendesk:
        outbox = TicketOutbox(ZendeskTicketing(zendesk.url, zendesk.email, zendesk.api_token, timeout=1.0),
                              clock=clock)
        zendesk.stop()  # down from the moment of the handoff, for half a minute of the worker's polls
        hand_off(services, request("outage"))
        attempts = 0
        for _ in range(60):  # the worker polls every 0.5 s; the back-off runs on the fake clock
            attempts += outbox.dispatch_due(services.db)["retried"]
            clock.advance(seconds=0.5)
        assert attempts >= 1 and zendesk.tickets == {}
        zendesk.start()
        zendesk.rate_limit_next(1, retry_after=1)  # and a 429 on the way back up
        for _ in range(20):  # each pass waits out whatever back-off the last failure set
            if zendesk.tickets:
                break
            clock.advance(minutes=30)
            outbox.dispatch_due(services.db)
        assert len(zendesk.tickets) == 1
        [ticket] = zendesk.tickets.values()
        assert ticket["external_id"] == f"{services.handoff.references('outage')}:2" and "billing" in ticket["subject"]
        # A retry after recovery finds the existing ticket instead of opening a second one.
        with services.db.transaction() as session:
            session.execute(text("UPDATE ticket_outbox SET status = 'pending', "
                                 "next_attempt_at = '2000-01-01 00:00:00'"))
        outbox.dispatch_due(services.db)
        assert len(zendesk.tickets) == 1


def open_follow_up(services, conversation="sso-chat", account_id="AC-100002",
                   reason=EscalationReason.SSO_ACCOUNT):
    case = FollowUp(account_id=account_id, reason=reason, topic="password reset for an SSO account",
                    summary="Reset requested for an SSO account; the owner was e-mailed a notice.",
                    suggested_reply="Hello, please sign in with SSO.")
    with services.db.transaction() as session:
        return services.handoff.open_follow_up(session, DecisionContext(conversation, "inform_email", 0.97), case)


def handoff_rows(services):
    with services.db.transaction() as session:
        rows = session.execute(select(HandoffRow).order_by(HandoffRow.id)).scalars().all()
        for row in rows:
            session.expunge(row)
        return rows


def test_a_follow_up_is_a_security_ticket_outside_the_chat(services):
    first = open_follow_up(services)
    assert first.created and first.queue == "security"
    assert open_follow_up(services).reference == first.reference  # the same request retried
    again = open_follow_up(services, conversation="another-chat")  # the account already has one open
    assert (again.reference, again.created) == (first.reference, False)
    [row] = handoff_rows(services)
    assert (row.channel, row.reason, row.customer_id, row.queue) == (FOLLOW_UP_CHANNEL, "sso_account", "AC-100002",
                                                                     "security")
    assert not row.idempotency_key.endswith(":2")  # a chat handoff's key ends in its sequence number
    with services.db.transaction() as session:
        operations = [r.operation for r in session.execute(select(TicketOutboxRow).order_by(TicketOutboxRow.id))
                      .scalars()]
        decisions = [r.decision for r in services.audit.list(session)]
    assert operations == ["create", "comment"]
    assert {"handoff.follow_up_created", "handoff.follow_up_reused"} <= set(decisions)

    services.ticket_outbox.dispatch_due(services.db)
    [ticket] = tickets(services)
    assert (ticket.queue, ticket.channel, ticket.customer_id, ticket.transcript) == ("security", "email",
                                                                                    "AC-100002", "")
    assert json.loads(ticket.profile)["plan"] == "enterprise"  # the CRM profile rides along
    assert "follow_up:email" in json.loads(ticket.labels)


def test_a_follow_up_is_not_the_chats_handoff(services, clock):
    with services.db.transaction() as session:  # Rasa's SQL tracker-store table, as Rasa creates it
        session.execute(text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                             "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                             "action_name VARCHAR(255), data TEXT)"))
    open_follow_up(services, conversation="same-chat")
    later = (clock.now - datetime(1970, 1, 1)).total_seconds() + 60
    with services.db.transaction() as session:  # the bot still answers: nobody waits for an agent
        session.execute(text("INSERT INTO events (id, sender_id, type_name, timestamp, data) "
                             "VALUES (1, 'same-chat', 'user', :ts, :data)"),
                        {"ts": later, "data": json.dumps({"text": "thanks, bye"})})
    assert services.handoff.sync_waiting_messages(services.db) == 0

    in_chat = hand_off(services, request("same-chat"))  # later, the customer asks for a person
    assert in_chat.created and in_chat.queue != "security"
    assert [row.channel for row in handoff_rows(services)] == [FOLLOW_UP_CHANNEL, "rest"]
