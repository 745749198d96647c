"""End to end over REST: billing details only for a verified customer. An anonymous customer
verifies with a one-time code that a real SMTP server receives; a wrong code is refused; the
question asked before verifying is answered after; another customer's invoice is refused and
audited; a pasted card number is removed before anything stores it; an expired site token does
not verify; a request only a person can do is triaged to its specialist queue."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import text

from frontdesk.accounts.customer_token import CustomerTokenVerifier
from frontdesk.core.db import Database
from tests.stack import Stack, customer_token_settings
from tests.support import assert_nothing_within, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def rows(stack: Stack, query: str, **params: str) -> list:
    with Database(stack.database_url).transaction() as session:
        return session.execute(text(query), params).all()


def test_an_anonymous_customer_verifies_by_email_code_and_gets_their_invoice(stack: Stack):
    me = f"e2e-billing-{stack.backend}"
    mails_before = len(stack.smtp.messages)
    assert "check it's you" in " ".join(stack.texts(me, "what's the amount of my latest invoice?"))
    assert "6-digit code" in " ".join(stack.texts(me, "sure, it's ada.lovelace@example.com"))
    mail = stack.smtp.wait_for(mails_before + 1)[-1]
    assert mail["To"] == "ada.lovelace@example.com"
    code = re.search(r"code is (\d{6})", mail.get_content()).group(1)

    wrong = "000000" if code != "000000" else "111111"
    assert "4 tries left" in " ".join(stack.texts(me, wrong))
    answer = " ".join(stack.texts(me, f"the code is {code[:3]} {code[3:]}"))
    assert re.search(r"invoice INV-\d{4}-01\d\d of .* is £[\d,]+\.\d\d, paid", answer), answer

    # Verified for the rest of the session: no second code.
    assert "don't see a failed payment" in " ".join(stack.texts(me, "did my last payment fail?"))
    refused = " ".join(stack.texts(me, "please send me invoice INV-2026-0305"))
    assert "can't find INV-2026-0305 on your account" in refused
    assert rows(stack, "SELECT id FROM audit_records WHERE conversation_id = :c AND decision = "
                "'billing.access_denied'", c=stack.conversation(me))

    # A card number is removed before NLU, the tracker store or a ticket could keep it.
    warned = stack.texts(me, "can you charge my new card 4111 1111 1111 1111 instead")
    assert "removed the card number" in warned[0]
    stored = rows(stack, "SELECT data FROM events WHERE sender_id = :c", c=stack.conversation(me))
    assert stored and not any("4111 1111 1111 1111" in r.data for r in stored)
    assert mails_before + 1 == len(stack.smtp.messages)


def test_a_click_on_a_billing_topic_in_the_clarification_starts_the_lookup(stack: Stack):
    me = f"e2e-billing-click-{stack.backend}"
    assert "check it's you" in " ".join(stack.texts(me, "/ask_latest_invoice"))


def test_unknown_addresses_and_expired_tokens_get_no_billing_details(stack: Stack):
    stranger = f"e2e-billing-stranger-{stack.backend}"
    mails_before = len(stack.smtp.messages)
    stack.texts(stranger, "show me my payment history")
    known = stack.texts(f"e2e-billing-known-{stack.backend}", "show me my payment history")
    reply_unknown = stack.texts(stranger, "nobody.here@example.com")
    reply_known = stack.texts(f"e2e-billing-known-{stack.backend}", "linus.t@example.org")
    assert reply_unknown == reply_known and known  # the same answer: no enumeration
    stack.smtp.wait_for(mails_before + 1)  # the real account's code arrives...
    # ...and no mail for the unknown address (an absence: watched for a bounded time).
    assert_nothing_within(2, lambda: stack.smtp.messages[mails_before + 1:], "a second e-mail")
    assert len(stack.smtp.messages) == mails_before + 1  # only the real account got a code
    assert "doesn't match" in " ".join(stack.texts(stranger, "123456"))

    # The support site's token expired an hour ago: the customer is asked to verify instead.
    old = CustomerTokenVerifier(customer_token_settings(), clock=lambda: time.time() - 3600).mint(
        "AC-100001", ttl_seconds=600)
    expired = stack.texts(f"e2e-billing-expired-{stack.backend}", "when does my plan renew?",
                          metadata={"customer_token": old})
    assert "check it's you" in " ".join(expired)


def test_a_signed_in_customer_is_answered_and_a_pricing_question_goes_to_sales(stack: Stack):
    me = f"e2e-billing-signed-{stack.backend}"
    plan = stack.texts(me, "how many seats are we paying for", metadata={"customer_token": stack.customer_token(
        "AC-100002")})
    assert "Enterprise plan" in " ".join(plan) and "120 seats" in " ".join(plan)
    handed = " ".join(stack.texts(me, "do you offer a discount for nonprofits on the business plan?"))
    assert "Your reference is HO-" in handed
    # The ticket outbox delivers within a second or two.
    [ticket] = wait_until(lambda: rows(stack, "SELECT queue, labels FROM tickets WHERE conversation_id = :c",
                                       c=stack.reference(me)), 30, "no ticket", interval=0.5)
    assert ticket.queue == "sales" and "triage:pricing" in json.loads(ticket.labels)
