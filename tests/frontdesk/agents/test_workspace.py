"""The agent workspace without the servers: tokens, claims, closing, feedback, CSAT and KPIs.
The dialogue engine is replaced by a recorder of what would have been sent (the end-to-end
tests use the real Rasa server)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from frontdesk.agents.conversations import ConversationUnavailable, TranscriptTurn, turns_from_events
from frontdesk.agents.directory import ApiTokenRow
from frontdesk.agents.workspace import WorkspaceError
from frontdesk.core.audit import DecisionContext
from frontdesk.handoff.service import HandoffRow
from frontdesk.insights.csat import parse_rating
from frontdesk.insights.kpi import kpi_report
from frontdesk.ticketing.sql import TicketRow
from tests.frontdesk.handoff.test_handoff import hand_off, request


class RecordingConversations:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.resumed: list[str] = []
        self.down = False

    def transcript(self, conversation_id: str) -> list[TranscriptTurn]:
        return [TranscriptTurn("customer", "I'm Grace Hopper, call me on +44 20 7946 0958", 1.0)]

    def send_agent_message(self, conversation_id: str, text: str, agent: str) -> None:
        if self.down:
            raise ConversationUnavailable("down")
        self.sent.append((conversation_id, text, agent))

    def resume_with_csat(self, conversation_id: str) -> None:
        if self.down:
            raise ConversationUnavailable("down")
        self.resumed.append(conversation_id)


@pytest.fixture
def workspace(services, monkeypatch):
    conversations = RecordingConversations()
    monkeypatch.setattr(services.workspace, "conversations", conversations)
    return services.workspace


def principal(services, name: str, *roles: str):
    with services.db.transaction() as session:
        _, token = services.agents.issue_token(session, name, set(roles or ("agent",)))
    with services.db.transaction() as session:
        return services.agents.authenticate(session, token), token


def test_tokens_are_stored_hashed_and_can_be_revoked(services):
    sam, token = principal(services, "Sam")
    assert sam.name == "Sam" and sam.has("agent") and not sam.has("supervisor")
    with services.db.transaction() as session:
        stored = session.execute(select(ApiTokenRow.token_hash)).scalars().all()
        assert token not in stored and all(len(h) == 64 for h in stored)
        assert services.agents.authenticate(session, token + "x") is None
        assert services.agents.authenticate(session, "fdat_" + "a" * 500) is None
        assert services.agents.revoke(session, sam.token_id)
    with services.db.transaction() as session:
        assert services.agents.authenticate(session, token) is None
    with pytest.raises(ValueError), services.db.transaction() as session:
        services.agents.issue_token(session, "Eve", {"root"})


def test_one_agent_at_a_time_and_nothing_after_closing(services, workspace):
    reference = hand_off(services, request("claims")).reference
    sam, _ = principal(services, "Sam")
    kim, _ = principal(services, "Kim")
    workspace.reply(reference, sam, "Hi, Sam here")  # replying claims it
    assert workspace.conversations.sent == [("claims", "Hi, Sam here", "Sam")]
    with pytest.raises(WorkspaceError) as taken:
        workspace.reply(reference, kim, "Hi, Kim here")
    assert taken.value.status == 409 and "Sam" in str(taken.value)
    with pytest.raises(WorkspaceError) as empty:
        workspace.reply(reference, sam, "   ")
    assert empty.value.status == 422
    workspace.close(reference, sam)
    assert workspace.conversations.resumed == ["claims"]
    with pytest.raises(WorkspaceError) as closed:
        workspace.claim(reference, sam)
    assert closed.value.status == 409
    with pytest.raises(WorkspaceError) as unknown:
        workspace.ticket("HO-99999")
    assert unknown.value.status == 404


def test_closing_while_the_assistant_is_down_changes_nothing(services, workspace):
    reference = hand_off(services, request("down")).reference
    sam, _ = principal(services, "Sam")
    workspace.conversations.down = True
    with pytest.raises(ConversationUnavailable):
        workspace.close(reference, sam)
    with services.db.transaction() as session:
        assert session.execute(select(HandoffRow.status)).scalar_one() == "open"
    workspace.conversations.down = False
    workspace.close(reference, sam)  # the agent retries
    with services.db.transaction() as session:
        assert session.execute(select(HandoffRow.status)).scalar_one() == "closed"


def test_an_email_follow_up_is_answered_by_email_not_in_the_chat(services, workspace):
    for conversation, email in (("sso-chat", "margaret.hamilton@example.net"),
                                ("locked-chat", "edsger.dijkstra@example.com")):
        with services.db.transaction() as session:
            services.password_reset.request_password_reset(session, email, DecisionContext(conversation))
    listed = {h["reference"]: h for h in workspace.open_handoffs("security")}
    assert {h["channel"] for h in listed.values()} == {"email"}
    sso, _ = sorted(listed)  # the first request: the SSO account
    sam, _ = principal(services, "Sam")

    with pytest.raises(WorkspaceError) as refused:
        workspace.reply(sso, sam, "Hi, Sam here")
    assert refused.value.status == 409 and "e-mail" in str(refused.value)
    assert workspace.conversations.sent == []
    workspace.note(sso, sam, "Wrote to the owner from the support mailbox")  # notes still go on the ticket
    workspace.close(sso, sam)
    # Solved in the ticketing system: closed here too, and the chat is still not touched.
    services.ticket_outbox.dispatch_due(services.db)
    backend = services.ticket_outbox.backend
    with services.db.transaction() as session:
        locked_ticket = session.execute(
            select(HandoffRow.ticket_external_id).where(HandoffRow.conversation_id == "locked-chat")).scalar_one()
        session.execute(update(TicketRow).where(TicketRow.id == int(locked_ticket)).values(status="solved"))
    assert workspace.sync_finished_tickets(backend) == 1

    assert workspace.conversations.resumed == [] and workspace.conversations.sent == []
    with services.db.transaction() as session:
        statuses = {r.conversation_id: r.status for r in session.execute(select(HandoffRow)).scalars()}
        sso_ticket = session.execute(select(TicketRow).where(
            TicketRow.conversation_id == services.handoff.references("sso-chat"))).scalar_one()
        assert statuses == {"sso-chat": "closed", "locked-chat": "closed"}
        assert sso_ticket.status == "solved"  # the close went to the ticket


def test_the_agent_sees_a_redacted_live_transcript_and_sorted_queue(services, workspace):
    hand_off(services, request("low", intent="request_human", reason="customer_asked"))
    urgent = hand_off(services, request("urgent", intent="report_security_incident")).reference
    assert workspace.open_handoffs()[0]["reference"] == urgent
    ticket = workspace.ticket(urgent)
    assert ticket["transcript"][0]["text"].count("<") >= 2
    assert "Grace Hopper" not in str(ticket) and "7946 0958" not in str(ticket)


def test_corrections_become_training_candidates_and_a_kpi(services, workspace):
    sam, _ = principal(services, "Sam")
    wrong = hand_off(services, request("wrong", intent="request_refund")).reference
    right = hand_off(services, request("right", intent="request_refund")).reference
    workspace.record_feedback(wrong, sam, False, "report_dispute")
    workspace.record_feedback(right, sam, True, None)
    with pytest.raises(WorkspaceError) as bad:
        workspace.record_feedback(right, sam, False, "not_an_intent")
    assert bad.value.status == 422
    with services.db.transaction() as session:
        candidates = workspace.feedback.training_candidates(session)
        report = kpi_report(session, workspace.feedback)
    assert "intent: report_dispute" in candidates and "<CREDIT_CARD>" in candidates
    assert "4111" not in candidates
    assert report["agent_corrected"] == [{"intent": "request_refund", "reviewed": 2, "corrected": 1, "rate": 0.5}]


def test_csat_is_recorded_once_per_closed_handoff(services, workspace):
    reference = hand_off(services, request("rated")).reference
    sam, _ = principal(services, "Sam")
    workspace.close(reference, sam)
    with services.db.transaction() as session:
        assert services.csat.record(session, "rated", 4)
        assert not services.csat.record(session, "rated", 5)  # a double click counts once
        report = kpi_report(session, workspace.feedback)
    assert report["csat"] == {
        "after_agent": {"responses": 1, "average": 4.0, "satisfied_share": 1.0, "response_rate": 1.0}, "after_bot": {}}


@pytest.mark.parametrize(("text", "score"), [
    ("5", 5), ("4 out of 5", 4), ("fiv stars", 5), ("3/5 fine", 3), ("two. took forever", 2),
    ("ten out of ten", None), ("1.5", None), ("no thanks", None), ("", None),
])
def test_ratings_are_read_from_what_customers_type(text, score):
    assert parse_rating(text) == score


def test_agent_messages_are_told_apart_in_the_tracker():
    turns = turns_from_events([
        {"event": "user", "text": "hi", "timestamp": 1}, {"event": "bot", "text": "Hello", "timestamp": 2},
        {"event": "bot", "text": "Sam here", "timestamp": 3, "metadata": {"frontdesk_agent": "Sam"}},
        {"event": "action", "name": "action_listen"},
    ])
    assert [(t.speaker, t.agent) for t in turns] == [("customer", None), ("bot", None), ("agent", "Sam")]
