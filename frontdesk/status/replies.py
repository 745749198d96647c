"""What the bot tells a customer about their ticket and about the service, in words.

The facts come from ``TicketStatusDesk`` and ``StatusDesk``; the chat actions send these texts.
Times are shown in UTC, with the date, because a chat has no reliable time zone for the customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from frontdesk.status.port import ServiceStatus
from frontdesk.status.tickets import TicketState, TicketStatus

# A reference as customers type it: the handoff's (HO-00012), the embedded desk's (FD-1042) or a
# Zendesk number (#4711). A bare number is not one: it may be an invoice or an amount.
_REFERENCE_IN_TEXT = re.compile(r"(?i)\b(?:ho|fd)[- ]?\d{1,8}\b|#\d{3,9}\b")
STATUS_PAGE_HINT = "You can also follow our status page: https://status.frontdesk.example"


def reference_in(text: str | None) -> str | None:
    """The first ticket reference in a customer's message, as typed."""
    match = _REFERENCE_IN_TEXT.search(text or "")
    return match.group(0) if match else None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0") if moment else "an unknown time"


def ticket_reply(ticket: TicketStatus) -> str:
    """One ticket's state, its last update and when to expect a reply, for its owner."""
    name = ticket.reference + (f" (ticket {ticket.ticket_reference})" if ticket.ticket_reference else "")
    queue = ticket.queue.replace("_", " ")
    if not ticket.live:
        return (f"I can't reach our ticket system right now, so I can't see the latest on {name}. It was opened "
                f"on {_when(ticket.opened_at)} with our {queue} team, who aim to reply {ticket.response_target}.")
    if ticket.state in (TicketState.SOLVED, TicketState.CLOSED):
        return (f"{name} was marked {ticket.state.value} on {_when(ticket.last_update)}. If it isn't sorted, "
                "reply to our last e-mail or ask me for a person, and we'll pick it up again.")
    if ticket.state is TicketState.WAITING_FOR_YOU:
        return (f"{name} is waiting for your reply: our {queue} team asked you something on "
                f"{_when(ticket.last_update)}. Please check your e-mail and answer there.")
    due = (f" Your reply is overdue, sorry: it was due {ticket.expected_reply}, and the team can see that."
           if ticket.overdue and ticket.expected_reply else
           f" Expect a reply {ticket.expected_reply}." if ticket.expected_reply else "")
    where = "is open with" if ticket.state is TicketState.OPEN else "is with"  # received, or unknown
    return (f"{name} {where} our {queue} team; last update {_when(ticket.last_update)}. "
            f"They aim to reply {ticket.response_target}.{due}")


def tickets_reply(tickets: Iterable[TicketStatus]) -> str:
    """The customer's open tickets, newest first, or that there are none."""
    lines = [ticket_reply(ticket) for ticket in tickets]
    if not lines:
        return ("I can't find an open request of yours. If you have a reference (it looks like HO-00012), "
                "tell me and I'll look it up.")
    return "\n\n".join(lines)


def unknown_ticket_reply(reference: str) -> str:
    """The same words for a reference that does not exist and for someone else's: nothing is revealed."""
    return (f"I can't find a request {reference} on your account. Please check the reference (it looks like "
            "HO-00012), or ask me for a person.")


def incident_notice(status: ServiceStatus) -> str | None:
    """One line about the open incidents, for the greeting and every handoff; None when there are none."""
    if not status.incidents:
        return None
    titles = "; ".join(f"{incident.title} ({incident.status})" for incident in status.incidents[:2])
    return f"Heads-up: we're working on an incident right now: {titles}."


def service_reply(status: ServiceStatus) -> str:
    """Whether the service is down or slow now, from the status source, with its age when stale."""
    if not status.known:
        return f"I can't check the service status right now. {STATUS_PAGE_HINT}"
    stale = (f"Our status feed isn't answering right now; this is what it said at {_when(status.as_of)}. "
             if status.stale else "")
    if status.all_operational:
        return (f"{stale}All systems are operational. If something isn't working for you, tell me what you see, "
                "or ask for a person.")
    lines = [f"{stale}{status.description}."]
    for incident in status.incidents:
        update = f" Latest update: {incident.message}" if incident.message else ""
        lines.append(f"{incident.title} ({incident.status}, since {_when(incident.started_at)}).{update}")
    if status.affected_components and not status.incidents:
        lines.append("Affected: " + ", ".join(status.affected_components) + ".")
    lines.append(STATUS_PAGE_HINT)
    return " ".join(lines)


def incident_tags(status: ServiceStatus, about_the_service: bool, texts: Iterable[str]) -> list[str]:
    """The tags of the open incidents a conversation is about: any, when the customer asked whether
    the service is down; otherwise those whose affected component the customer named."""
    said = " ".join(texts).casefold()

    def named(component: str) -> bool:
        words = component.strip().casefold()
        return bool(words) and re.search(rf"\b{re.escape(words)}\b", said) is not None

    return [incident.tag for incident in status.incidents
            if about_the_service or any(named(component) for component in incident.components)]
