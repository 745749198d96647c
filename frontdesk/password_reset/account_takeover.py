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

from frontdesk.core.text import straight_apostrophes

# The parse-data key that says an intent was relabelled: {"from", "confidence", "signals"}.
INTENT_OVERRIDE_KEY = "intent_override"

# Not a request for help: "can someone reset my password", "please have someone reset it".
_NOT_A_REQUEST = "".join(f"(?<!\\b{word} )" for word in (
    "can", "could", "would", "will", "please", "please,", "pls", "have", "let", "get", "or", "has", "is", "for"))
_SOMEONE = r"some?(?:one|body|1)(?:'s)?"

_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        ("hacked", r"\bhack(?:ed|d|er|ers|ing)\b"),
        ("compromised", r"\bcompromi[sz]e?d?\b"),
        # Passive or third-party forms only: "I took over the account from a colleague" is a new admin.
        ("taken_over", r"\b(?:hi-?jack\w*|takeover|(?:been|was|got|being) taken over)\b|"
                       r"(?<!\bi )(?<!\bwe )\btook over (?:my|our) (?:account|login|profile)"),
        ("phished", r"\bphish(?:ed|ing)?\b"),
        # Not a bare "unauthorized": "401 Unauthorized" is an ordinary login error.
        ("unauthorised", r"\bun-?au?th?ori[sz]ed (?:access|log ?-?ins?|sign ?-?ins?|activity|use|users?|"
                         r"person|people|party|devices?|sessions?|changes?|password|reset|e-?mail)\b|"
                         r"\bwithout (?:my |our )?authori[sz]ation\b"),
        ("breach", r"\bbreach(?:ed|es)?\b"),
        ("stolen", r"\b(?:stolen|stole)\b"),
        ("not_me", r"\b(?:was ?n'?t|was not|were ?n'?t|were not|is ?n'?t|is not|not) me\b|\bnot by (?:me|us)\b"),
        ("did_not_request",
         r"\b(?:did ?n'?t|did not|never) (?:request|requested|ask for|asked for|initiate|initiated|"
         r"authori[sz]e|authori[sz]ed)\b|\b(?:i|we) (?:did ?n'?t|did not|never) do (?:it|that|this)\b"),
        ("without_consent",
         r"\bwithout (?:my|our) (?:permission|consent|knowledge|approval|say)\b|"
         r"\bwithout (?:asking|telling) (?:me|us)\b|\bwithout me (?:doing|knowing)\b"),
        ("someone_else", _NOT_A_REQUEST + r"\b(?:some?(?:one|body) else|a stranger|an? (?:unknown|strange) "
                         r"(?:person|device))\b|\bby (?:some(?:one|body)|a stranger|an? unknown)"),
        ("someone_acted",
         _NOT_A_REQUEST + r"\b" + _SOMEONE + r" (?:has|had|got|logged|signed|changed|reset|accessed|"
         r"used|stole|took|keeps|kept|is (?:using|in|logged|signed|accessing|trying)|"
         r"was (?:using|in|logged|signed|accessing|trying)|tried|trying|(?:may|might|must) have|"
         r"been)\b"),
    )
)
def account_takeover_signals(text: str | None) -> list[str]:
    """The labels of the takeover signals in ``text``, in a fixed order; empty when there are none."""
    if not text:
        return []
    text = straight_apostrophes(text)
    return [label for label, pattern in _SIGNALS if pattern.search(text)]
