"""A verified customer's own tickets: found with their live state, queue and expected reply; someone
else's ticket answers exactly like one that does not exist."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import event, select

from frontdesk.handoff.service import HandoffRequest, HandoffRow, TicketOutbox, Turn
from frontdesk.status.tickets import TicketNumber, TicketState, TicketStatusDesk, parse_reference
from frontdesk.ticketing.port import TicketingUnavailable, TicketRef
from frontdesk.ticketing.sql import SqlTicketing, TicketCommentRow, TicketRow
from frontdesk.ticketing.zendesk import ZendeskTicketing
from tests.standins.zendesk import ZendeskStandIn

GRACE, ADA = "AC-100002", "AC-100001"


def request(conversation: str, customer_id: str | None, intent: str = "request_refund") -> HandoffRequest:
    return HandoffRequest(
        conversation_id=conversation, sequence=2, reason="mandatory_category", channel="rest", intent=intent,
        confidence=0.97, model_id="m-1", turns=[Turn("customer", "I want a refund please")], customer_id=customer_id)


def hand_off(services, conversation: str, customer_id: str | None, intent: str = "request_refund"):
    with services.db.transaction() as session:
        return services.handoff.hand_off(session, request(conversation, customer_id, intent))


def handoff_row(services, reference: str) -> HandoffRow:
    with services.db.transaction() as session:
        return session.get(HandoffRow, int(reference.split("-")[1]))


def status_of(services, customer_id, reference, desk: TicketStatusDesk | None = None):
    with services.db.transaction() as session:
        return (desk or services.ticket_status).status_of(session, customer_id, reference)


@pytest.mark.parametrize(("typed", "parsed"), [
    ("HO-00012", TicketNumber("HO", 12)), ("ho 12", TicketNumber("HO", 12)), ("Ho12", TicketNumber("HO", 12)),
    ("FD-01042", TicketNumber("FD", 1042)), ("fd-1042", TicketNumber("FD", 1042)),
    ("FD 1042", TicketNumber("FD", 1042)), (" fd#1042 ", TicketNumber("FD", 1042)),
    ("#4711", TicketNumber(None, 4711)), ("4711", TicketNumber(None, 4711)), ("# 4711", TicketNumber(None, 4711)),
    ("ticket #4711", TicketNumber(None, 4711)), ("Ticket no. FD-1042", TicketNumber("FD", 1042)),
    ("ref: HO-12", TicketNumber("HO", 12)),
])
def test_references_typed_loosely_are_normalised(typed, parsed):
    assert parse_reference(typed) == parsed


@pytest.mark.parametrize("typed", ["", "   ", "XY-12", "HO-", "FD-12a", "1" * 12, "HO-12; DROP TABLE", None])
def test_what_is_not_a_reference_is_refused(typed):
    assert parse_reference(typed) is None


def test_own_ticket_on_the_embedded_backend(services, clock):
    handed = hand_off(services, "c-grace", GRACE)
    received = status_of(services, GRACE, handed.reference)
    # Before the outbox delivers it: the customer's reference already works.
    assert (received.state, received.live, received.ticket_reference) == (TicketState.RECEIVED, True, None)
    assert received.expected_reply == "today by 13:00 GMT"  # billing_refunds: 240 business minutes from 09:00

    assert services.ticket_outbox.dispatch_due(services.db)["delivered"] == 1
    row = handoff_row(services, handed.reference)
    with services.db.transaction() as session:  # the embedded table stamps rows with the real clock
        session.get(TicketRow, int(row.ticket_external_id)).created_at = clock.now
    status = status_of(services, GRACE, handed.reference)
    assert status.reference == handed.reference and status.ticket_reference == row.ticket_reference
    assert status.ticket_reference.startswith("FD-")
    assert (status.state, status.state_text, status.live) == (TicketState.OPEN, "open", True)
    assert status.queue == "billing_refunds"
    assert status.response_target == "within 4 hours of opening hours"
    assert status.reply_due == datetime(2026, 11, 27, 13, 0) and not status.overdue
    assert status.expected_reply == "today by 13:00 GMT"
    assert status.opened_at == clock.now and status.last_update == clock.now
    # By the ticket's own reference too, typed loosely.
    number = int(status.ticket_reference.split("-")[1])
    for typed in (status.ticket_reference.lower(), f"FD {number}", f"fd-{number:07d}",
                  f"ticket {status.ticket_reference}"):
        assert status_of(services, GRACE, typed) == status, typed

    clock.advance(hours=5)  # past the first-response time, with no change since
    late = status_of(services, GRACE, handed.reference)
    assert late.overdue and late.expected_reply is None
    with services.db.transaction() as session:  # the customer wrote again: the queue's target counts from then
        session.add(TicketCommentRow(ticket_id=int(row.ticket_external_id), body="any news?", created_at=clock.now))
    again = status_of(services, GRACE, handed.reference)
    assert again.last_update == clock.now == datetime(2026, 11, 27, 14, 0)
    assert (again.overdue, again.expected_reply) == (False, "today by 18:00 GMT")

    SqlTicketing(services.db).close_ticket(TicketRef("embedded", row.ticket_external_id, row.ticket_reference))
    solved = status_of(services, GRACE, handed.reference)
    assert (solved.state, solved.reply_due, solved.expected_reply, solved.overdue) == (
        TicketState.SOLVED, None, None, False)


def test_someone_elses_ticket_is_exactly_like_one_that_does_not_exist(services):
    handed = hand_off(services, "c-grace", GRACE)
    services.ticket_outbox.dispatch_due(services.db)
    ticket_reference = handoff_row(services, handed.reference).ticket_reference
    asked: list[str] = []
    backend = SqlTicketing(services.db)
    original = backend.ticket_snapshot
    backend.ticket_snapshot = lambda external_id: asked.append(external_id) or original(external_id)
    desk = TicketStatusDesk(backend, services.handoff.policy, services.ticket_status.clock)

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def answer(customer_id, reference):
        statements.clear()
        event.listen(services.db.engine, "before_cursor_execute", count)
        try:
            result = status_of(services, customer_id, reference, desk)
        finally:
            event.remove(services.db.engine, "before_cursor_execute", count)
        return result, list(statements)

    number = ticket_reference.split("-")[1]
    for foreign, nonexistent in ((handed.reference, "HO-99999"), (ticket_reference, "FD-99999"),
                                 (f"#{number}", "#99999"), (number.lstrip("0"), "99999")):
        unknown = answer(ADA, nonexistent)
        assert unknown[0] is None and len(unknown[1]) == 1
        assert answer(ADA, foreign) == unknown, foreign  # None, by the very same statement
    assert asked == []  # the ticketing system was never asked about Grace's ticket
    assert status_of(services, "", handed.reference, desk) is None  # no customer: nothing matches
    assert status_of(services, GRACE, handed.reference, desk).state is TicketState.OPEN
    assert len(asked) == 1


def test_anonymous_handoffs_belong_to_nobody(services):
    handed = hand_off(services, "c-anon", None, intent="request_human")
    assert status_of(services, GRACE, handed.reference) is None
    with services.db.transaction() as session:
        assert services.ticket_status.latest_for(session, GRACE) == []


def test_without_a_number_the_customers_latest_open_tickets(services):
    first = hand_off(services, "c-1", GRACE)
    second = hand_off(services, "c-2", GRACE, intent="request_human")
    third = hand_off(services, "c-3", GRACE, intent="report_dispute")
    hand_off(services, "c-ada", ADA)
    services.ticket_outbox.dispatch_due(services.db)
    row = handoff_row(services, second.reference)  # solved in the ticketing system, not yet closed here
    SqlTicketing(services.db).close_ticket(TicketRef("embedded", row.ticket_external_id, row.ticket_reference))
    with services.db.transaction() as session:
        latest = services.ticket_status.latest_for(session, GRACE)
        assert [s.reference for s in latest] == [third.reference, first.reference]
        assert [s.queue for s in latest] == ["disputes", "billing_refunds"]
        assert [s.reference for s in services.ticket_status.latest_for(session, GRACE, limit=1)] == [third.reference]
    assert status_of(services, GRACE, None).reference == third.reference
    assert status_of(services, GRACE, "  ").reference == third.reference
    assert status_of(services, "AC-100009", None) is None


class DownBackend:
    name = "embedded"

    def ticket_status(self, external_id: str) -> str:
        raise TicketingUnavailable("embedded: database unreachable")

    def ticket_snapshot(self, external_id: str):
        raise TicketingUnavailable("embedded: database unreachable")


def test_backend_down_says_the_live_state_is_unavailable(services):
    handed = hand_off(services, "c-grace", GRACE)
    services.ticket_outbox.dispatch_due(services.db)
    desk = TicketStatusDesk(DownBackend(), services.handoff.policy, services.ticket_status.clock)
    status = status_of(services, GRACE, handed.reference, desk)
    assert (status.state, status.state_text, status.live) == (TicketState.UNKNOWN, "unknown", False)
    # What the app itself knows still stands: the queue and when to expect a reply.
    assert status.queue == "billing_refunds" and status.expected_reply == "today by 13:00 GMT"
    assert status_of(services, ADA, handed.reference, desk) is None


@pytest.fixture
def zendesk_standin():
    with ZendeskStandIn() as server:
        yield server


def test_own_ticket_in_zendesk_through_its_api(services, zendesk_standin):
    zendesk = ZendeskTicketing(zendesk_standin.url, zendesk_standin.email, zendesk_standin.api_token, timeout=2.0)
    handed = hand_off(services, "c-grace", GRACE)
    assert TicketOutbox(zendesk, clock=services.ticket_status.clock).dispatch_due(services.db)["delivered"] == 1
    row = handoff_row(services, handed.reference)
    assert (row.ticket_backend, row.ticket_reference) == ("zendesk", "#4711")
    desk = TicketStatusDesk(zendesk, services.handoff.policy, services.ticket_status.clock)

    status = status_of(services, GRACE, "#4711", desk)
    assert (status.reference, status.ticket_reference, status.state, status.live) == (
        handed.reference, "#4711", TicketState.OPEN, True)  # Zendesk's "new"
    assert status.queue == "billing_refunds" and status.expected_reply == "today by 13:00 GMT"
    for typed in ("4711", "ticket #4711", "# 4711", handed.reference.lower()):
        assert status_of(services, GRACE, typed, desk) == status, typed

    zendesk_standin.tickets[4711].update(status="pending", updated_at="2026-11-27T09:30:00Z")
    waiting = status_of(services, GRACE, "#4711", desk)
    assert (waiting.state, waiting.state_text) == (TicketState.WAITING_FOR_YOU, "waiting for you")
    assert waiting.last_update == datetime(2026, 11, 27, 9, 30) and waiting.expected_reply is None
    zendesk_standin.tickets[4711]["status"] = "hold"
    assert status_of(services, GRACE, "#4711", desk).state is TicketState.OPEN  # customers see "open"
    zendesk_standin.tickets[4711]["status"] = "solved"
    assert status_of(services, GRACE, "#4711", desk).state is TicketState.SOLVED

    requests_before = len(zendesk_standin.requests)
    assert status_of(services, ADA, "#4711", desk) is None  # Grace's, not Ada's
    assert len(zendesk_standin.requests) == requests_before  # and Zendesk was never asked

    zendesk_standin.stop()  # an outage
    down = status_of(services, GRACE, "#4711", desk)
    assert (down.state, down.live, down.ticket_reference) == (TicketState.UNKNOWN, False, "#4711")
    zendesk.close()


def test_a_ticket_filed_with_another_backend_has_no_live_state(services):
    handed = hand_off(services, "c-grace", GRACE)
    services.ticket_outbox.dispatch_due(services.db)
    with services.db.transaction() as session:
        assert session.execute(select(HandoffRow.ticket_backend)).scalar_one() == "embedded"
    desk = TicketStatusDesk(DownBackend(), services.handoff.policy, services.ticket_status.clock)
    desk.backend.name = "zendesk"  # the deployment moved to Zendesk since
    status = status_of(services, GRACE, handed.reference, desk)
    assert (status.state, status.live) == (TicketState.UNKNOWN, False)
