"""Presidio recognizers for what support chat holds and Presidio's own set misses.

Postal addresses and postcodes, passwords and one-time codes a customer pastes, API keys and
other secrets, phone numbers in international formats, lower-case names (spaCy only finds
capitalised ones) and the company's configured identifiers. ``Redactor`` in
``frontdesk.core.privacy`` registers them; this module imports Presidio, so only the redactor's
lazy loader imports it.

Every pattern is linear: bounded quantifiers, and anything that needs a second look (entropy,
stop words) is plain Python over the match.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer
from spacy.lang.en.stop_words import STOP_WORDS

# Words that follow a cue ("my password is …", "this is …") without being the secret or the
# name: the message talks about the thing instead of giving it.
_NOT_A_VALUE_WORDS = """
    a an the my your our their his her its this that these those it is was be been being are were
    not no never wrong incorrect invalid expired correct right ok okay fine too still also just now
    already same new old reset changed change changing working broken locked blocked sent send
    required needed missing empty long short strong weak simple easy hard very so really quite
    for to from in on at of by with and or but if when then than as about into after before
    again here there where what which who why how please pls plz thanks thank ty hi hello hey
    i im i'm me you we they he she them us someone something anything nothing everything
    urgent stuck trying unable able going gonna want wanted need needing having getting got
    sure sorry confused frustrated annoyed happy glad back available online offline done
    case only more less sms email mail text code codes password passwords pin login account
    issue problem question request help support team agent customer user admin owner
    one two three ever even yet didnt doesnt dont isnt wont cant wasnt werent havent
    didn't doesn't don't isn't won't can't wasn't
"""
_NOT_A_VALUE = frozenset(_NOT_A_VALUE_WORDS.split())
# After a name cue, English's common words are not names either ("thanks, that's great", "this is
# all", "cheers, mate"): spaCy's stop words (a word list, no model) but the two that are also first
# names, and what people write after a sign-off.
_PLEASANTRIES = """
    great good nice awesome perfect brilliant amazing cool wonderful excellent lovely helpful
    appreciated appreciate much lot lots bye goodbye everyone everybody guys team folks anyway
    mate buddy dude man again guess
"""
_NOT_A_NAME = _NOT_A_VALUE | (STOP_WORDS - {"will", "may"}) | frozenset(_PLEASANTRIES.split())
_CLITIC = re.compile(r"(?:['\u2019](?:s|re|ll|ve|d|m|t)|n['\u2019]t)$")

# Cues after which the next one or two words are a person's name, whatever their case.
_NAME_CUE = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name\s*:|names\s*:|call\s+me|signed|"
    r"(?:mr|mrs|ms|miss|dr)\.?|"
    r"(?:kind\s+|best\s+|warm\s+)?regards\s*,?|cheers\s*,|thanks\s*,|thank\s+you\s*,|thx\s*,|ty\s*,|"
    r"best\s*,|br\s*,|-{1,2}|"
    r"name\s+on\s+(?:the\s+)?card(?:\s+is)?|card\s*holder(?:\s+is)?|"
    r"it'?s\s+me(?:\s+again)?\s*,|this\s+is|it'?s|i'?m|i\s+am|spoke\s+(?:to|with)|talked\s+to|talking\s+to|"
    r"(?:agent|colleague|manager|wife|husband|boss|partner|coworker|co-worker)(?:\s+called|\s+named)?|"
    r"account\s+(?:holder|owner)\s+is|on\s+behalf\s+of|behalf\s+of|named|called)"
    r"\s+", re.IGNORECASE)
# Cues that name a person only when the name ends a clause ("this is anna, …", "i'm tom from
# acme"): "this is urgent" and "i'm stuck" must not become names.
_WEAK_NAME_CUES = re.compile(r"(?:it'?s\s+me(?:\s+again)?\s*,|this\s+is|it'?s|i'?m|i\s+am|--?|"
                             r"thanks\s*,|cheers\s*,|best\s*,)\s+$", re.IGNORECASE)
_NAME_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'\u2019-]{0,24}")
# Titles before a name are skipped, not taken for the name ("regards, dr. ahmed khan").
_TITLE = re.compile(r"(?:mr|mrs|ms|miss|dr|prof|sir|madam)\.?\s+", re.IGNORECASE)
_CLAUSE_END = re.compile(r"\s*(?:$|[,.;:!?)\n]|-|\s(?:from|here|at|with|and\s+(?:i|my)|again|speaking|"
                         r"\(|my|i|calling|writing)\b)", re.IGNORECASE)


def _context(*words: str) -> list[str]:
    return list(words)


def _shannon_bits(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def _result(recognizer: LocalRecognizer, entity: str, start: int, end: int, score: float) -> RecognizerResult:
    # The explanation is where Presidio's context enhancer records the word that lifted a score.
    return RecognizerResult(entity, start, end, score,
                            analysis_explanation=AnalysisExplanation(recognizer.name, score),
                            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
                                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id})


class CaptureRecognizer(LocalRecognizer):
    """A recognizer over regular expressions whose ``value`` group is the entity, with an
    optional check of each value: context decides where the entity is, the group what it is."""

    def __init__(self, entity: str, patterns: Sequence[re.Pattern[str]], score: float,
                 accept: Callable[[str], bool] | None = None, context: list[str] | None = None,
                 name: str | None = None) -> None:
        self.patterns = list(patterns)
        self.score = score
        self.accept = accept or (lambda value: True)
        super().__init__(supported_entities=[entity], supported_language="en", context=context,
                         name=name or f"{entity.title().replace('_', '')}Recognizer")

    def load(self) -> None:  # nothing to load: plain regular expressions
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                start, end = match.span("value")
                value = text[start:end]
                if value and self.accept(value):
                    results.append(_result(self, self.supported_entities[0], start, end, self.score))
        return results


# --- Postal addresses and postcodes -------------------------------------------------------------

_STREET_TYPES = (r"street|st|road|rd|avenue|ave|av|lane|ln|drive|dr|boulevard|blvd|close|way|court|ct|"
                 r"place|pl|square|sq|terrace|crescent|cres|gardens|grove|hill|row|mews|parade|park|walk|"
                 r"highway|hwy|parkway|pkwy|circle|cir|trail|rue|via|calle")
_FLAT = r"(?:(?:flat|apt|apartment|unit|suite|ste|room)\.?\s{0,3}#?\s{0,3}\d{1,4}[a-z]?\s{0,3},?\s{1,3})?"
STREET_LINE = re.compile(
    rf"(?<![\w-])(?P<value>{_FLAT}\d{{1,5}}[a-z]?(?:-\d{{1,4}})?,?\s+(?:[A-Za-zÀ-ÿ'\u2019.-]{{2,20}}\s+){{0,3}}"
    rf"(?:{_STREET_TYPES})\b\.?(?:\s+(?:north|south|east|west|[nsew]{{1,2}})\b)?)", re.IGNORECASE)
# German, Dutch, Austrian, Swiss: the street name first, the number after ("Hauptstraße 12",
# "keizersgracht 123-2").
# Up to two words of the street's name come before its type ("Karl Marx Allee 5"), but never the
# words of the sentence around it ("address prinsengracht 263", "i live in hauptstraße 4").
_NOT_A_STREET_WORD = (r"(?!(?:in|at|on|to|is|my|our|the|and|live|lives|address|adress|moved|ship|send|it|of|from|"
                      r"new|old|now|wohne|jetzt|bitte)\s)")
STREET_LINE_NUMBER_AFTER = re.compile(
    rf"(?<![\w-])(?P<value>(?:{_NOT_A_STREET_WORD}[A-Za-zÀ-ÿ'\u2019.-]{{2,20}}\s+){{0,2}}{_NOT_A_STREET_WORD}"
    r"[A-Za-zÀ-ÿ'\u2019-]{0,20}"
    r"(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|laan|straat|gracht|plein|kade|singel|dijk)"
    r"\s+\d{1,4}[a-z]?(?:-\d{1,4})?)\b", re.IGNORECASE)

POSTCODE_PATTERNS = [
    # UK: outward and inward code (SW1A 1AA, m1 1ae, EC1V 9HX); both halves shaped.
    Pattern("uk postcode", r"(?<![\w-])[A-Za-z]{1,2}\d[A-Za-z\d]?\s?\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\b", 0.5),
    # Canada: A1A 1A1, letters D F I O Q U never used.
    Pattern("canadian postcode", r"(?<![\w-])[ABCEGHJ-NPRSTVXYabceghj-nprstvxy]\d[ABCEGHJ-NPRSTV-Zabceghj-nprstv-z]"
            r"\s?\d[ABCEGHJ-NPRSTV-Zabceghj-nprstv-z]\d\b", 0.6),
    # US ZIP+4: shaped enough on its own; plain five digits only with context (below).
    Pattern("us zip+4", r"(?<![\w-])\d{5}-\d{4}\b", 0.5),
    # A US state's code before a ZIP ("Washington DC 20500", "CA 90068"), case as written.
    Pattern("state and zip", r"(?-i:\b(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|"
            r"MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)),?\s+"
            r"\d{5}(?:-\d{4})?\b", 0.6),
    # Netherlands: 1234 AB (SA, SD, SS unused).
    Pattern("dutch postcode", r"(?<![\w-])[1-9]\d{3}\s?(?!SA|SD|SS|sa|sd|ss)[A-Z]{2}\b", 0.45),
    # Five digits (US ZIP, German, French, Spanish PLZ) or four (Austria, Switzerland, Belgium) are
    # any number: only with context ("zip", "plz", a city after it).
    Pattern("five digits", r"(?<![\w$€£#-])(?<!\d[.,])\d{5}(?![\w%-]|[.,]\d)", 0.05),
    Pattern("digits before a city",
            r"(?<![\w$€£#-])(?<!\d[.,])\d{4,5}\s+(?-i:[A-ZÄÖÜ][a-zäöüß]{2,20})\b(?!\s+\d)", 0.3),
]
POSTCODE_CONTEXT = _context("zip", "zipcode", "postcode", "postal", "plz", "postleitzahl", "post", "code",
                            "address", "street", "road", "lane", "avenue", "straße", "strasse", "city", "town",
                            "deliver", "ship", "live", "moved")


# --- Secrets a customer pastes ------------------------------------------------------------------

# Bounded spaces around ":" and "=": two unbounded \s* around an optional mark split a run of
# spaces in quadratically many ways.
_ASSIGN = (r"(?:\s+(?:is|was|=|:|to|as|now|would\s+be|should\s+be|it'?s|its|currently|set\s+to|changed\s+to))*"
           r"\s{0,3}(?:[:=]\s{0,3})?")
_PASTED_VALUE = r"[\"'\u201c\u2018`]?(?P<value>[^\s\"'\u201d\u2019`]{3,64}?)[\"'\u201d\u2019`]?(?=[.,;)]?(?:\s|$))"
PASSWORD = re.compile(
    rf"(?<![-/_.])\b(?:my\s+pass|pass\s?words?|passwd|pwd|pw|passwort|mot\s+de\s+passe|passphrase|pin(?:\s+code)?|"
    rf"login\s+is\s+\S+\s+(?:and|/)\s+(?:the\s+)?(?:pass|pw))\b{_ASSIGN}{_PASTED_VALUE}", re.IGNORECASE)
# "my password by mistake: qwerty!234": a colon a few words after the cue.
PASSWORD_AFTER_COLON = re.compile(
    rf"(?<![-/_.])\b(?:pass\s?words?|passwd|pwd|pw|passwort|passphrase)\b[^:\n]{{1,30}}:\s*{_PASTED_VALUE}",
    re.IGNORECASE)
# "user anna / pass Hunter2" and "login: anna:Summer2024"
PASSWORD_SHORT = re.compile(rf"\b(?:pass|pwd|pw)\s{{0,3}}[:=]\s{{0,3}}{_PASTED_VALUE}", re.IGNORECASE)


def _is_a_secret(value: str) -> bool:
    bare = value.rstrip("!?")
    return bool(bare) and bare.lower() not in _NOT_A_VALUE and not bare.lower().endswith(("ing", "ed"))


_CODE_CUE = (r"\b(?<!error\s)(?<!status\s)(?<!promo\s)(?<!discount\s)(?<!coupon\s)(?<!zip\s)(?<!postal\s)"
             r"(?<!area\s)(?<!country\s)(?<!reference\s)"
             r"(?:codes?|otp|one[\s-]time(?:\s+(?:code|password|pin))?|2fa|mfa|pin|passcode|"
             r"verification|security\s+code|sms|token|digits)\b")
ONE_TIME_CODE = re.compile(
    rf"{_CODE_CUE}(?:\s+(?:is|was|=|:|of|i\s+got|they\s+sent|you\s+sent|sent|says|reads|shows|number|code|"
    rf"me|i|received|got|just|the|it|was|still|in|sms|text|email|mail|from|app)){{0,5}}\s{{0,3}}(?:[:=#-]\s{{0,3}})?"
    r"(?P<value>\d(?:[ -]?\d){3,7})(?![\w/-]|[.,]\d)", re.IGNORECASE)
# The cue after the code: "482913 is the code".
ONE_TIME_CODE_BEFORE_CUE = re.compile(
    r"(?<![\w.,/#-])(?P<value>\d{3}[\s-]?\d{3}|\d{4,8})\s+(?:is|was|=)\s+(?:the|my)\s+(?:code|otp|pin|2fa)\b",
    re.IGNORECASE)

API_KEY_PATTERNS = [
    re.compile(r"(?<![\w-])(?P<value>(?:sk|pk|rk|fd|whsec)_(?:live|test)_[A-Za-z0-9]{8,99})\b"),
    re.compile(r"(?<![\w-])(?P<value>gh[pousr]_[A-Za-z0-9]{20,255})\b"),
    re.compile(r"(?<![\w-])(?P<value>github_pat_[A-Za-z0-9_]{20,255})\b"),
    re.compile(r"(?<![\w-])(?P<value>(?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    re.compile(r"(?<![\w-])(?P<value>xox[abprs]-[A-Za-z0-9-]{10,99})\b"),
    re.compile(r"(?<![\w-])(?P<value>AIza[0-9A-Za-z_-]{35})"),
    re.compile(r"(?<![\w-])(?P<value>eyJ[\w-]{5,999}\.[\w-]{5,999}\.[\w-]{5,999})"),
    re.compile(r"(?<![\w-])(?P<value>-----BEGIN[A-Z ]{0,30}PRIVATE KEY-----)"),
]
# After a cue: "api key is 8f3k2…", "secret: …", "bearer …"; the value must hold a digit.
API_KEY_AFTER_CUE = [
    re.compile(r"\b(?:api[\s_-]?key|apikey|secret(?:\s+key)?|access[\s_-]?key|access[\s_-]?token|auth[\s_-]?token|"
               r"bearer|client[\s_-]?secret|webhook[\s_-]?secret|token)\b(?:\s+(?:is|was|=|:|here|it'?s)){0,2}"
               r"\s{0,3}(?:[:=]\s{0,3})?"
               r"[\"'`]?(?P<value>[A-Za-z0-9_\-+/=.]{12,200})", re.IGNORECASE),
]
# A long random token anywhere: letters and digits mixed, high entropy. Identifiers made of words
# (ERR_CONNECTION_RESET, invoice numbers, versions) have neither the length nor the entropy.
RANDOM_TOKEN = re.compile(r"(?<![\w/@.-])(?P<value>[A-Za-z0-9_\-+/=]{24,200})(?![\w@-])")


def _is_random(value: str) -> bool:
    letters = sum(c.isalpha() for c in value)
    digits = sum(c.isdigit() for c in value)
    if letters < 4 or digits < 3 or value.count("-") > 6:
        return False
    return _shannon_bits(value) >= 3.6


def _is_a_key(value: str) -> bool:
    return any(c.isdigit() for c in value) and not re.fullmatch(r"v?\d+(?:\.\d+)+", value)


# --- Phone numbers ------------------------------------------------------------------------------

PHONE_REGIONS = ("US", "GB", "DE", "FR", "NL", "BE", "ES", "IT", "IE", "AT", "CH", "PL", "CA", "AU", "IN", "BR")
# International numbers phonenumbers does not find (unassigned ranges, odd grouping): "+" or "00"
# and a country code, then digit groups.
INTERNATIONAL_PHONE = re.compile(
    r"(?<![\w+])(?P<value>(?:\+|00)[1-9]\d{0,2}(?:[\s.-]{0,2}\(?0?\d{1,5}\)?){1,5}(?:[\s.-]{0,2}\d{2,5}))(?![\w-])")
PHONE_CONTEXT = _context("phone", "number", "telephone", "tel", "cell", "cellphone", "mobile", "call", "reach",
                         "whatsapp", "text", "landline", "ring", "nummer", "handy")


def _phone_digits_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    return 8 <= digits <= 15


# --- E-mail addresses ---------------------------------------------------------------------------

# Presidio's e-mail recognizer drops addresses whose domain has no public suffix (tldextract), so
# "noreply@frontdesk.example" or "anna@corp.local" would leak; this one only wants the shape.
EMAIL_SHAPE = re.compile(r"(?<![\w.+-])(?P<value>[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
                         r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?){1,8})(?![\w@-])")


# --- IP addresses -------------------------------------------------------------------------------

# Presidio's IP recognizer misses compressed IPv6 ("2001:db8:85a3::8a2e:370:7334"); the standard
# library decides what is an address, so times ("14:32") and MACs stay out.
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])(?P<value>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
                            r"(?:%\w{1,15})?)(?![\w:])")


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value.split("%")[0])
    except ValueError:
        return False
    return True


# --- Names --------------------------------------------------------------------------------------


class LowerCaseNameRecognizer(LocalRecognizer):
    """A name after a cue, whatever its case: "my name is anna kowalski", "thanks, tom", "this is
    maria from acme". spaCy's NER only tags capitalised names, and support chat is often lower
    case. Weak cues ("this is", "i'm", a signature) count only when the name ends the clause."""

    SCORE = 0.6

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], supported_language="en", name="LowerCaseNameRecognizer")

    def load(self) -> None:  # nothing to load
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for cue in _NAME_CUE.finditer(text):
            weak = _WEAK_NAME_CUES.search(cue.group()) is not None
            if weak and cue.group().lstrip().startswith("-") and cue.start() > 0 and text[cue.start() - 1].isalnum():
                continue  # a hyphen inside a word
            span = self._name_after(text, cue.end(), weak)
            if span:
                results.append(_result(self, "PERSON", span[0], span[1], self.SCORE))
        return results

    @staticmethod
    def _name_after(text: str, pos: int, weak: bool) -> tuple[int, int] | None:
        words: list[tuple[int, int]] = []
        title = _TITLE.match(text, pos)
        if title:
            pos = title.end()
        while len(words) < 3:
            word = _NAME_WORD.match(text, pos)
            if word is None or _CLITIC.sub("", word.group().lower().strip("'\u2019-")) in _NOT_A_NAME:
                break
            words.append(word.span())
            gap = re.match(r"[ \t]{1,2}", text[word.end():word.end() + 2])
            if gap is None:
                break
            pos = word.end() + len(gap.group())
        if not words:
            return None
        if weak and (len(words) > 2 or _CLAUSE_END.match(text, words[-1][1]) is None):
            return None
        return words[0][0], words[-1][1]


# --- The company's configured identifiers -------------------------------------------------------


def sensitive_identifier_recognizer(patterns: Iterable[str]) -> PatternRecognizer | None:
    """One recognizer for the configured regular expressions (``FRONTDESK_SENSITIVE_IDENTIFIERS``),
    scored like an e-mail address: configured means certain. Presidio matches them ignoring case."""
    configured = [Pattern(f"configured {n}", regex, 1.0) for n, regex in enumerate(patterns) if regex]
    if not configured:
        return None
    for pattern in configured:
        re.compile(pattern.regex)  # a broken setting fails at start-up, not on the first ticket
    return PatternRecognizer(supported_entity="SENSITIVE_ID", patterns=configured, name="SensitiveIdRecognizer",
                             supported_language="en")


def project_recognizers(sensitive_identifiers: Iterable[str] = ()) -> list[LocalRecognizer]:
    """Every recognizer this module adds, for ``Redactor`` to register."""
    recognizers: list[LocalRecognizer] = [
        CaptureRecognizer("ADDRESS", [STREET_LINE], 0.6, name="StreetLineRecognizer",
                          context=_context("address", "live", "street", "deliver", "ship", "moved")),
        CaptureRecognizer("ADDRESS", [STREET_LINE_NUMBER_AFTER], 0.5, name="StreetLineNumberAfterRecognizer"),
        PatternRecognizer(supported_entity="POSTCODE", patterns=POSTCODE_PATTERNS, context=POSTCODE_CONTEXT,
                          name="PostcodeRecognizer", supported_language="en"),
        CaptureRecognizer("PASSWORD", [PASSWORD, PASSWORD_SHORT, PASSWORD_AFTER_COLON], 0.7, accept=_is_a_secret),
        CaptureRecognizer("ONE_TIME_CODE", [ONE_TIME_CODE, ONE_TIME_CODE_BEFORE_CUE], 0.6),
        CaptureRecognizer("API_KEY", API_KEY_PATTERNS, 0.8, name="ApiKeyRecognizer"),
        CaptureRecognizer("API_KEY", API_KEY_AFTER_CUE, 0.8, accept=_is_a_key, name="ApiKeyAfterCueRecognizer"),
        CaptureRecognizer("API_KEY", [RANDOM_TOKEN], 0.6, accept=_is_random, name="RandomTokenRecognizer"),
        PhoneRecognizer(supported_regions=PHONE_REGIONS, context=PHONE_CONTEXT, leniency=1),
        CaptureRecognizer("PHONE_NUMBER", [INTERNATIONAL_PHONE], 0.45, accept=_phone_digits_ok,
                          context=PHONE_CONTEXT, name="InternationalPhoneRecognizer"),
        LowerCaseNameRecognizer(),
        CaptureRecognizer("EMAIL_ADDRESS", [EMAIL_SHAPE], 0.9, name="EmailShapeRecognizer"),
        CaptureRecognizer("IP_ADDRESS", [IPV6_CANDIDATE], 0.7, accept=_is_ipv6, name="Ipv6Recognizer"),
    ]
    configured = sensitive_identifier_recognizer(sensitive_identifiers)
    if configured is not None:
        recognizers.append(configured)
    return recognizers
