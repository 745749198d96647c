"""The words the bot says about a ticket, the service and an incident: each state of a ticket,
the same words for someone else's reference and a missing one, a stale or unreadable status, and
which tickets an incident's tag goes on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from frontdesk.status.port import ComponentStatus, Incident, ServiceStatus, unknown_status
from frontdesk.status.replies import (
    incident_notice,
    incident_tags,
    reference_in,
    service_reply,
    ticket_reply,
    tickets_reply,
    unknown_ticket_reply,
)
from frontdesk.status.tickets import TicketState, TicketStatus

NOON = datetime(2026, 12, 4, 12, 0)
TICKET = TicketStatus("HO-00042", "FD-00042", TicketState.OPEN, True, "billing_invoices", NOON,
                      datetime(2026, 12, 4, 13, 5), "within 4 hours of opening hours", NOON, "today by 16:00 GMT",
                      False)
INCIDENT = Incident("7", "Webhooks delayed", "identified", "major", ("Webhooks",), "A queue is backed up.",
                    NOON, NOON)
CALM = ServiceStatus("none", "All systems operational", (), (), stale=False, as_of=NOON, source="incidents")
DOWN = ServiceStatus("major", "Partial system outage", (ComponentStatus("Webhooks", "partial_outage"),),
                     (INCIDENT,), stale=False, as_of=NOON, source="statuspage")


@pytest.mark.parametrize(("ticket", "words"), [
    (TICKET, "HO-00042 (ticket FD-00042) is open with our billing invoices team; last update 4 Dec 2026, "
             "13:05 UTC. They aim to reply within 4 hours of opening hours. Expect a reply today by 16:00 GMT."),
    (replace(TICKET, overdue=True), "Your reply is overdue, sorry: it was due today by 16:00 GMT"),
    (replace(TICKET, state=TicketState.RECEIVED, ticket_reference=None), "HO-00042 is with our billing"),
    (replace(TICKET, state=TicketState.WAITING_FOR_YOU), "is waiting for your reply"),
    (replace(TICKET, state=TicketState.SOLVED), "was marked solved on 4 Dec 2026, 13:05 UTC"),
    (replace(TICKET, state=TicketState.UNKNOWN, live=False), "I can't reach our ticket system right now"),
])
def test_a_ticket_is_told_in_its_state(ticket, words):
    assert words in ticket_reply(ticket)


def test_no_open_ticket_and_an_unknown_reference_say_so_without_revealing_anything():
    assert tickets_reply([]).startswith("I can't find an open request of yours")
    assert tickets_reply([TICKET, TICKET]).count("HO-00042") == 2
    assert unknown_ticket_reply("HO-00043") == unknown_ticket_reply("HO-00043")
    assert "HO-00043" in unknown_ticket_reply("HO-00043") and "account" in unknown_ticket_reply("HO-00043")


@pytest.mark.parametrize(("text", "reference"), [
    ("any update on HO-00042?", "HO-00042"), ("status of ho 42 pls", "ho 42"), ("fd-1042 news?", "fd-1042"),
    ("zendesk #4711 please", "#4711"), ("invoice 4711", None), ("my ticket", None), (None, None),
])
def test_a_reference_is_found_in_what_the_customer_typed(text, reference):
    assert reference_in(text) == reference


def test_the_service_status_is_told_with_its_age_when_the_source_is_stale():
    assert service_reply(CALM).startswith("All systems are operational")
    down = service_reply(DOWN)
    assert "Partial system outage." in down and "Webhooks delayed (identified, since 4 Dec 2026, 12:00 UTC)" in down
    assert "Latest update: A queue is backed up." in down
    stale = service_reply(replace(CALM, stale=True))
    assert stale.startswith("Our status feed isn't answering right now; this is what it said at 4 Dec 2026, 12:00 UTC")
    assert service_reply(unknown_status("statuspage")).startswith("I can't check the service status right now")


def test_the_incident_is_announced_and_tags_only_the_tickets_about_it():
    assert incident_notice(CALM) is None
    assert incident_notice(DOWN) == ("Heads-up: we're working on an incident right now: "
                                     "Webhooks delayed (identified).")
    assert incident_tags(DOWN, False, ["my webhooks stopped", "help"]) == ["incident-7"]
    assert incident_tags(DOWN, False, ["my invoice is wrong", "the webhooksy thing"]) == []
    assert incident_tags(DOWN, True, ["is it down?"]) == ["incident-7"]
    assert incident_tags(CALM, True, ["is it down?"]) == []
