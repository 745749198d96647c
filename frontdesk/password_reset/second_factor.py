"""Words that make a sign-in problem a lost second factor, not a forgotten password.

Customers call their password a PIN, key or passcode, so "key" and "code" alone mean a reset
(docs/decisions/0002-customer-understanding.md). A lost second factor is named: an authenticator,
2FA / two-factor / MFA, a security or hardware key, backup or recovery codes, a verification or
SMS code. When one of these appears in a message read as a password reset, the message is a lost
second factor (``SecondFactorGuard`` in the NLU pipeline): a reset e-mail cannot help, and a
person checks the customer's identity before removing the factor.
"""

from __future__ import annotations

import re

LOST_SECOND_FACTOR_INTENT = "report_lost_2fa"

_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        ("authenticator", r"\bauthenticat(?:or|er)s?\b|\bauthy\b|\bduo (?:mobile|push|app)\b"),
        # "factor" as customers type it too: "2 fator", "two faactor", "2factr" (the closed beta
        # sent two such lockouts a reset e-mail on 4 Dec, `make beta`).
        ("two_factor", r"\b(?:2|two|multi|second)[- ]?(?:fa|fa+c?t[eo]?r|step)\b|\bmfa\b|\b2sv\b|\btfa\b"),
        ("security_key", r"\b(?:security|hardware|usb|fido2?|u2f|physical) ?-?keys?\b|\byubi ?-?keys?\b"),
        ("backup_codes", r"\b(?:backup|back-up|recovery|one-time|one time) codes?\b"),
        ("verification_code", r"\b(?:verification|verify|sms|text|texted|2fa|otp|6[- ]digit|six[- ]digit) codes?\b"),
    )
)


def second_factor_signals(text: str | None) -> list[str]:
    """The labels of the second-factor words in ``text``, in a fixed order; empty when none."""
    if not text:
        return []
    return [label for label, pattern in _SIGNALS if pattern.search(text)]
