"""Signs that a login problem is an account takeover, not a forgotten password.

"Someone changed my password" reads, word for word, much like "I changed my password": the intent
classifier puts both near password reset, and the bot would send a reset link where a security
agent is needed. These phrases say that somebody other than the customer acted; when one appears
in a message read as a password reset, the security queue takes it (``AccountTakeoverGuard`` in
the NLU pipeline). A false alarm costs an agent's minute; a missed takeover costs the account.

Each signal has a short label: the labels go into the parse data (``INTENT_OVERRIDE_KEY``) and the
audit trail, the text does not.
"""

from __future__ import annotations

import re

# The parse-data key that says an intent was relabelled: {"from", "confidence", "signals"}.
INTENT_OVERRIDE_KEY = "intent_override"

# Not after "can", "could", ...: "can someone reset my password" is a customer asking for help.
_NOT_A_REQUEST = r"(?<!\bcan )(?<!\bcould )(?<!\bwould )(?<!\bwill )(?<!\bplease )(?<!\bpls )"

_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        ("hacked", r"\bhack(?:ed|d|er|ers|ing)?\b"),
        ("compromised", r"\bcompromi[sz]e?d?\b"),
        # Passive forms only: "I took over the account from a colleague" is a new admin.
        ("taken_over", r"\b(?:hi-?jack\w*|takeover|taken over)\b"),
        ("unauthorised", r"\bun-?authori[sz]ed\b"),
        ("breach", r"\bbreach(?:ed|es)?\b"),
        ("stolen", r"\b(?:stolen|stole)\b"),
        ("not_me", r"\b(?:was ?n[o']?t|was not|were ?n[o']?t|were not|is ?n[o']?t|is not|not) me\b"),
        ("did_not_request",
         r"\b(?:did ?n[o']?t|did not|never|not) (?:request|requested|ask for|asked for|initiate|initiated|"
         r"authori[sz]e|authori[sz]ed|trigger|triggered)\b"),
        ("without_consent",
         r"\bwithout (?:my|our) (?:permission|consent|knowledge|approval|say)\b|"
         r"\bwithout (?:asking|telling) (?:me|us)\b|\bwithout me (?:doing|knowing)\b"),
        ("someone_else", r"\b(?:some?(?:one|body) else|a stranger|an? (?:unknown|strange) (?:person|device))\b"),
        ("someone_acted",
         _NOT_A_REQUEST + r"\bsome?(?:one|body|1) (?:has|had|got|logged|signed|changed|reset|accessed|"
         r"used|stole|took|keeps|kept|is (?:using|in|logged|signed|accessing|trying)|"
         r"was (?:using|in|logged|signed|accessing|trying)|tried|trying)\b"),
    )
)


def account_takeover_signals(text: str | None) -> list[str]:
    """The labels of the takeover signals in ``text``, in a fixed order; empty when there are none."""
    if not text:
        return []
    return [label for label, pattern in _SIGNALS if pattern.search(text)]
