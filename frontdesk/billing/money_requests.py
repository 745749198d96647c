"""Signs that a billing question is a dispute or a refund request, which only a person may handle.

"I was charged twice for March" and "why is there a charge of 89 euros" share their words: the
intent classifier reads both near "explain this charge", and the bot would start a lookup where
the seed's mandatory human-in-the-loop categories (refunds, disputes) require a person. When one
of these phrases appears in a message read as a billing lookup, the message is relabelled
(``MoneyRequestGuard`` in the NLU pipeline). A false alarm costs an agent a ticket; a dispute
answered by a bot costs a chargeback and the customer's trust.

Each signal has a short label for the parse data and the audit trail; the text is never kept.
"""

from __future__ import annotations

import re

from frontdesk.core.text import straight_apostrophes

DISPUTE_INTENT = "report_dispute"
REFUND_INTENT = "request_refund"

# Not a bare "double": "the charge is almost double" asks for an explanation.
_TWICE = r"(?:twice|two times|2 times|2x|three times|3 times)"
_SIGNALS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (intent, label, re.compile(pattern, re.IGNORECASE))
    for intent, label, pattern in (
        (DISPUTE_INTENT, "charged_twice",
         rf"\b(?:charg|bill|debit|invoic|hit)\w*\b[^.?!]{{0,40}}\b{_TWICE}\b|"
         rf"\b(?:double|duplicated?) ?-?(?:charg|bill|payment|debit|transaction)\w*\b"),
        (DISPUTE_INTENT, "not_authorised",
         r"\bun-?authori[sz]ed\b|\b(?:did ?n'?t|did not|never|not) authori[sz]e"),
        (DISPUTE_INTENT, "not_recognised",
         r"\b(?:do ?n'?t|do not|did ?n'?t|did not|can'?t|cannot|not) recogni[sz]e|\bunrecogni[sz]ed\b"),
        (DISPUTE_INTENT, "chargeback", r"\bcharge-? ?backs?\b|\bdisput(?:e|ed|ing)\b(?! resolution)"),
        (DISPUTE_INTENT, "fraud", r"\bfraud\w*\b"),
        (REFUND_INTENT, "refund",
         # Not "receipts for reimbursement": an expense claim is the customer's, not ours to pay.
         r"\brefund\w*\b|\bmoney back\b|\breimburse (?:me|us)\b|\bpay (?:me|us) back\b|"
         r"\breverse (?:the|this|that|my) (?:charge|payment)\b"),
    )
)
# "no refund needed", "I don't need my money back": said so that nobody offers one.
_DECLINED_REFUND = re.compile(r"\b(?:no|not|don'?t (?:need|want)|do not (?:need|want)|without)\b[^.?!,]{0,20}"
                              r"\b(?:refund|money back)", re.IGNORECASE)


def money_request(text: str | None) -> tuple[str, list[str]] | None:
    """The intent a billing question really is (a dispute before a refund: a charge the customer
    did not make is disputed, whatever they ask for) and the signal labels; None without one."""
    if not text:
        return None
    text = straight_apostrophes(text)
    found = [(intent, label) for intent, label, pattern in _SIGNALS if pattern.search(text)
             and not (intent == REFUND_INTENT and _DECLINED_REFUND.search(text))]
    if not found:
        return None
    intent = DISPUTE_INTENT if any(i == DISPUTE_INTENT for i, _ in found) else REFUND_INTENT
    return intent, [label for _, label in found]
