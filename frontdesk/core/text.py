"""Text normalisation the phrase-matching checks share."""

from __future__ import annotations

# Phones and Slack type curly apostrophes (U+2019); the patterns use the straight one.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def straight_apostrophes(text: str) -> str:
    return text.translate(_APOSTROPHES)
