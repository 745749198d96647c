"""The topics a customer is offered when the bot is unsure what they asked.

A clarification recovers only if it offers what the customer meant: the likeliest topics from
the classifier's ranking, each in the customer's words, and always a person. The action that
shows the buttons and the evaluation that measures "right within one click" both call
``clarification_choices``, so the measurement is of what customers see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TALK_TO_A_PERSON = "request_human"
OUT_OF_SCOPE = "out_of_scope"
# Every intent a button can start, with the words a customer would use
# (docs/decisions/0002-customer-understanding.md, "The clarification offers every topic").
TOPIC_TITLES: dict[str, str] = {
    "request_password_reset": "Reset my password",
    "report_lost_2fa": "I lost my 2FA device",
    "ask_latest_invoice": "My latest invoice",
    "ask_charge_explanation": "A charge on my bill",
    "ask_payment_history": "My payment history",
    "ask_plan_details": "My plan and renewal",
    "ask_payment_failed": "A payment that failed",
    "request_invoice_change": "Correct an invoice",
    "request_plan_change": "Change my plan or seats",
    "ask_pricing": "Prices and plans",
    "ask_tax_question": "Tax on my bill",
    "request_refund": "A refund",
    "report_dispute": "A charge I don't recognise",
    "privacy_request": "My personal data or deleting my account",
    "report_security_incident": "My account may be compromised",
    "legal_request": "A legal matter",
    "ask_ticket_status": "A request I already made",
    "ask_service_status": "Is something down?",
    "ask_capabilities": "What can you do?",
}
PERSON_TITLE = "Talk to a person"
# The button that offers a person wherever the bot offers one.
PERSON_BUTTON = {"title": PERSON_TITLE, "payload": f"/{TALK_TO_A_PERSON}"}
TOPICS_OFFERED = 3
# Offered when nothing in the ranking is a topic (an out-of-scope reading): the commonest request.
DEFAULT_TOPIC = "request_password_reset"


def clarification_choices(intent: str | None, ranking: Iterable[Mapping[str, Any]]) -> list[str]:
    """The intents offered as buttons, in order, for a message read as ``intent`` with
    ``ranking`` (Rasa's ``intent_ranking``): up to three topics, then a person."""
    names = [] if intent == OUT_OF_SCOPE else [str(r.get("name")) for r in ranking]
    topics = [name for name in dict.fromkeys(names) if name in TOPIC_TITLES][:TOPICS_OFFERED]
    return [*(topics or [DEFAULT_TOPIC]), TALK_TO_A_PERSON]


def title(intent: str) -> str:
    """A button's title; an intent that is not a topic shows as itself."""
    return PERSON_TITLE if intent == TALK_TO_A_PERSON else TOPIC_TITLES.get(intent, intent)
