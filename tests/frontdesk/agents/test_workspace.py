"""The agent workspace without the servers: tokens, claims, closing, feedback, CSAT and KPIs.
The dialogue engine is replaced by a recorder of what would have been sent (the end-to-end
tests use the real Rasa server)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from sqlalchemy import select, update

from frontdesk.agents.conversations import ConversationUnavailable, TranscriptTurn, turns_from_events
from frontdesk.agents.directory import ApiTokenRow
from frontdesk.agents.workspace import WorkspaceError
from frontdesk.core.audit import DecisionContext
from frontdesk.handoff.service import HandoffRow, Turn
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


def principal(services, name: str, *roles: str, queues: set[str] | None = None):
    with services.db.transaction() as session:
        _, token = services.agents.issue_token(session, name, set(roles or ("agent",)), queues=queues)
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
    sam, _ = principal(services, "Sam", queues={"security"})  # security is a restricted queue

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
        report = kpi_report(session, workspace.feedback)
    assert report["agent_corrected"] == [{"intent": "request_refund", "reviewed": 2, "corrected": 1, "rate": 0.5}]


def test_restricted_queues_are_worked_only_by_tokens_that_name_them(services, workspace):
    security = hand_off(services, request("stolen", intent="report_security_incident")).reference
    general = hand_off(services, request("general", intent="request_human", reason="customer_asked")).reference
    sam, _ = principal(services, "Sam")  # the unrestricted queues
    desk, _ = principal(services, "Sec", queues={"security"})  # that queue only
    lead, _ = principal(services, "Lead", "agent", "supervisor")  # every queue

    def visible(agent) -> tuple[set[str], set[str]]:
        return ({h["reference"] for h in workspace.open_handoffs(viewer=agent)},
                {q.name for q in workspace.queues(agent)} & {"security", "general", "legal"})

    assert visible(sam) == ({general}, {"general"})
    assert visible(desk) == ({security}, {"security"})
    assert visible(lead) == ({general, security}, {"general", "security", "legal"})
    for act in (lambda: workspace.ticket(security, sam), lambda: workspace.claim(security, sam),
                lambda: workspace.note(security, sam, "x"), lambda: workspace.close(security, sam),
                lambda: workspace.record_feedback(security, sam, True, None),
                lambda: workspace.claim(general, desk)):
        with pytest.raises(WorkspaceError) as refused:
            act()
        assert refused.value.status == 403 and "which your token does not cover" in str(refused.value)
    assert workspace.claim(security, desk)["claimed_by"] == "Sec"


def test_the_training_export_is_redacted_de_duplicated_and_least_confident_first(services, workspace):
    sam, _ = principal(services, "Sam")
    not_mine = [Turn("customer", "there is a charge on my statement that is not mine")]
    reviews = [  # (conversation, confidence, its last message, the agent's intent; None = the bot was right)
        ("a", 0.62, None, "report_dispute"), ("b", 0.41, not_mine, "report_dispute"),
        ("c", 0.93, None, None), ("d", 0.55, not_mine, "report_dispute"),
    ]
    for conversation, confidence, turns, correct in reviews:
        handoff = request(conversation, intent="request_refund", confidence=confidence)
        if turns:
            handoff = dataclasses.replace(handoff, turns=turns)
        reference = hand_off(services, handoff).reference
        workspace.record_feedback(reference, sam, correct is None, correct)
    # The export redacts again, with the redactor of the day: here one that also hides "statement".
    with services.db.transaction() as session:
        export = workspace.feedback.training_export(session, lambda text: text.replace("statement", "<X>"),
                                                    rare_below=2)
    rows = [(c.text, c.intent, c.confidence, c.corrected, c.times, c.conflicting) for c in export.candidates]
    refund_text = rows[1][0]
    assert rows == [
        ("there is a charge on my <X> that is not mine", "report_dispute", 0.41, True, 2, False),
        (refund_text, "report_dispute", 0.62, True, 1, True),  # an agent confirmed the same text as a refund
        (refund_text, "request_refund", 0.93, False, 1, True),
    ]
    assert "<CREDIT_CARD>" in refund_text and "4111" not in str(export.as_dict())
    assert [(i.intent, i.examples, i.rare) for i in export.intents] == [
        ("report_dispute", 2, False), ("request_refund", 1, True)]
    # For review as Rasa NLU data: what agents disagree on waits for a person.
    nlu = yaml.safe_load(export.as_rasa_nlu())["nlu"]
    assert nlu == [{"intent": "report_dispute", "examples": "- there is a charge on my <X> that is not mine\n"}]


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
