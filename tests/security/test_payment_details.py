"""Attack 7: card numbers and IBANs in free text never reach the tracker store, whatever their
separators, and an IBAN is called a bank account number, not a card. (Every format and the look-
alikes that must stay: tests/frontdesk/core/test_payment_details.py; here, the real channel end to end.)"""

from __future__ import annotations

import json
import re

import pytest

from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.model]

CARDS = ["4111.1111.1111.1111", "4111/1111/1111/1111", "4111\u00a01111\u00a01111\u00a01111",
         "4111 - 1111 - 1111 - 1111", "5555\u202f5555\u202f5555\u202f4444", "3782\u2013822463\u201310005"]
IBANS = ["DE89 3704 0044 0532 0130 00", "gb82west12345698765432"]


def test_cards_and_ibans_are_removed_before_anything_stores_them(stack: Stack):
    name = f"sec-payment-{stack.backend}"
    for card in CARDS:
        [notice, *_] = stack.texts(name, f"my card {card} was declined")
        assert "removed the card number" in notice and "bank account" not in notice, card
    for iban in IBANS:
        [notice, *_] = stack.texts(name, f"please refund to {iban}")
        assert "removed the bank account number" in notice and "card" not in notice, iban
    stored = [json.loads(r.data) for r in stack.rows("SELECT data FROM events WHERE sender_id = :c "
                                                     "AND type_name = 'user'", c=stack.conversation(name))]
    assert len(stored) == len(CARDS) + len(IBANS)
    for event in stored:  # the text, and what NLU saw of it
        for text in (event["text"], event["parse_data"]["text"]):
            assert "removed]" in text
            for secret in [*CARDS, *IBANS]:
                assert re.sub(r"\D", "", secret)[-10:] not in re.sub(r"\D", "", text), (secret, text)
