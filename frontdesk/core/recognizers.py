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

import functools
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer, UrlRecognizer
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
    thx thnx tnx lol asap btw fyi idk
    funktioniert geht nicht falsch vergessen abgelaufen weg gesperrt funciona olvidé olvidado
    incorrecta incorrecto caducado oublié marche fonctionne expiré bloqué funziona dimenticato
    sbagliata errata scaduta não nao esqueci errada nie działa dziala zapomniałem werkt vergeten
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
    r"(?:\b(?:my\s+name\s+is|my\s+name's|name\s*:|names\s*:|call\s+me|signed|"
    r"(?:mr|mrs|ms|miss|dr)\.?|"
    r"(?:kind\s+|best\s+|warm\s+)?regards\s*,?|cheers\s*,|thanks\s*,|thank\s+you\s*,|thx\s*,|ty\s*,|"
    r"best\s*,|br\s*,|"
    r"name\s+on\s+(?:the\s+)?card(?:\s+is)?|card\s*holder(?:\s+is)?|"
    r"it'?s\s+me(?:\s+again)?\s*,|this\s+is|it'?s|i'?m|i\s+am|spoke\s+(?:to|with)|talked\s+to|talking\s+to|"
    r"(?:agent|colleague|manager|wife|husband|boss|partner|coworker|co-worker)(?:\s+called|\s+named)?|"
    r"account\s+(?:holder|owner)\s+is|on\s+behalf\s+of|behalf\s+of|named|called|"
    # Other languages: "me llamo", "je m'appelle", "ich heiße", "mi chiamo", "meu nome é" …
    r"me\s+llamo|mi\s+nombre\s+es|je\s+m'appelle|je\s+m\u2019appelle|mon\s+nom\s+est|ich\s+hei(?:ß|ss)e|"
    r"mein\s+name\s+ist|mi\s+chiamo|il\s+mio\s+nome\s+è|meu\s+nome\s+é|o\s+meu\s+nome\s+é|chamo-me|"
    r"mam\s+na\s+imię|nazywam\s+się|mijn\s+naam\s+is|ik\s+heet|jag\s+heter|jeg\s+heter|jeg\s+hedder|"
    r"per\s+conto\s+di|a\s+nome\s+di|de\s+la\s+part\s+de|em\s+nome\s+de|im\s+auftrag\s+von|"
    r"en\s+nombre\s+de|contact\s+person\s*:?|(?:the\s+)?user|sender\s*:|from\s*:|"
    r"soy|je\s+suis|ich\s+bin|sono|sou\s+(?:o|a)|sou|jestem|ik\s+ben|jag\s+är|"
    # Sign-offs, also on their own line before the name.
    r"(?:mit\s+)?freundliche[n]?\s+grü(?:ß|ss)e[n]?\s*,?|(?:viele|liebe|beste|herzliche)\s+grü(?:ß|ss)e\s*,?|"
    r"gru(?:ß|ss)\s*,?|lg\s*,|vg\s*,|mfg\s*,?|cordialement\s*,?|bien\s+à\s+vous\s*,?|merci\s*,|"
    r"(?:un\s+)?saludos?(?:\s+cordiales)?\s*,?|atentamente\s*,?|grazie(?:\s+mille)?\s*,|"
    r"(?:cordiali|distinti)?\s*saluti\s*,?|(?:met\s+)?vriendelijke\s+groet(?:en)?\s*,?|groetjes\s*,?|"
    r"groeten\s*,?|pozdrawiam\s*,?|pozdrowienia\s*,?|dzięki\s*,|dziękuję\s*,|atenciosamente\s*,?|"
    r"cumprimentos\s*,?|abraços\s*,?|obrigad[oa]\s*,|(?:med\s+)?vänliga\s+hälsningar\s*,?|mvh\s*,?|"
    r"(?:venlig\s+)?hilsen\s*,?|terveisin\s*,?|s\s+pozdravem\s*,?|üdvözlettel\s*,?|sincerely\s*,?|"
    r"yours(?:\s+sincerely|\s+truly)?\s*,|all\s+the\s+best\s*,?|many\s+thanks\s*,?|"
    r"thanks\s+(?:a\s+lot|again|so\s+much)\s*[,!]{1,3}|greetings\s*,|ciao\s*,|xo(?:xo)?\s*,|hugs\s*,|"
    r"take\s+care\s*,|talk\s+soon\s*,|speak\s+soon\s*,|love\s*,)"
    r"|(?<![^\s!.,])-{1,2})"
    r"\s+", re.IGNORECASE)
# Cues after which whatever follows is a name, even an English word ("my name is hope").
_CERTAIN_NAME_CUE = re.compile(
    r"my\s+name|name\s*:|names\s*:|call\s+me|signed|^(?:mr|mrs|ms|miss|dr)\b|name\s+on|card\s*holder|"
    r"account\s+(?:holder|owner)|llamo|nombre|appelle|mon\s+nom|hei(?:ß|ss)e|mein\s+name|chiamo|mio\s+nome|"
    r"meu\s+nome|chamo-me|imię|nazywam|mijn\s+naam|heet|heter|hedder|regards|grü|groet|pozdraw|saludos|cordialement|"
    r"atenciosamente|hälsningar|hilsen|terveisin|pozdravem|üdvözlettel|sincerely|yours|saluti|cumprimentos|abraços",
    re.IGNORECASE)
# Cues that name a person only when the name ends a clause ("this is anna, …", "i'm tom from
# acme"): "this is urgent" and "i'm stuck" must not become names.
_WEAK_NAME_CUES = re.compile(r"(?:it'?s\s+me(?:\s+again)?\s*,|this\s+is|it'?s|i'?m|i\s+am|--?|"
                             r"thanks\s*,|cheers\s*,|best\s*,|soy|je\s+suis|ich\s+bin|sono|sou(?:\s+[oa])?|jestem|"
                             r"ik\s+ben|jag\s+är|(?:the\s+)?user|from\s*:|merci\s*,|grazie(?:\s+mille)?\s*,|"
                             r"ciao\s*,|greetings\s*,|xo(?:xo)?\s*,|hugs\s*,|take\s+care\s*,|talk\s+soon\s*,|speak\s+soon\s*,|"
                             r"love\s*,|dzięki\s*,|dziękuję\s*,|obrigad[oa]\s*,|lg\s*,|vg\s*,|"
                             r"thanks\s+(?:a\s+lot|again|so\s+much)\s*[,!]{1,3})\s+$", re.IGNORECASE)
_NAME_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'\u2019-]{0,24}")
# Titles before a name are skipped, not taken for the name ("regards, dr. ahmed khan").
_TITLE = re.compile(r"(?:mr|mrs|ms|miss|dr|prof|sir|madam)\.?\s+", re.IGNORECASE)
_CLAUSE_END = re.compile(r"\s*(?:$|[,.;:!?)\n|<(]|-|\s(?:from|here|at|with|and\s+(?:i|my)|again|speaking|"
                         r"\(|my|i|calling|writing)\b)", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


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
                 r"highway|hwy|parkway|pkwy|circle|cir|trail|alley|plaza|quay|wharf|esplanade|embankment|"
                 r"heights|broadway")
_FLAT = r"(?:(?:flat|apt|apartment|unit|suite|ste|room)\.?\s{0,3}#?\s{0,3}\d{1,4}[a-z]?\s{0,3},?\s{1,3})?"
STREET_LINE = re.compile(
    rf"(?<![\w-])(?P<value>{_FLAT}\d{{1,5}}[a-z]?(?:-\d{{1,4}})?,?\s+"
    rf"(?:(?:[^\W\d_][\w'\u2019.-]{{1,19}}|\d{{1,3}}(?:st|nd|rd|th)|[nsew]\.?)\s+){{0,3}}"
    rf"(?:{_STREET_TYPES})\b\.?(?:\s+(?:north|south|east|west|[nsew]{{1,2}})\b)?)", re.IGNORECASE)
# German, Dutch, Austrian, Swiss: the street name first, the number after ("Hauptstraße 12",
# "keizersgracht 123-2").
# Up to two words of the street's name come before its type ("Karl Marx Allee 5"), but never the
# words of the sentence around it ("address prinsengracht 263", "i live in hauptstraße 4").
_NOT_A_STREET_WORD = (r"(?!(?:in|at|on|to|is|my|our|the|and|live|lives|address|adress|moved|ship|send|it|of|from|"
                      r"new|old|now|wohne|jetzt|bitte)\s)")
STREET_LINE_NUMBER_AFTER = re.compile(
    rf"(?<![\w-])(?P<value>(?:{_NOT_A_STREET_WORD}(?:[^\W\d_]|['\u2019.-]){{2,20}}\s+){{0,2}}{_NOT_A_STREET_WORD}"
    r"(?:[^\W\d_]|['\u2019-]){0,20}"
    r"(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|steig|pfad|markt|chaussee|laan|straat|gracht|"
    r"plein|kade|singel|dijk|gatan|gata|vägen|väg|gränd|torget|torg|vej|gade|veien|vei|katu|kuja|utca|ulice)"
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
    # Upper case alone; in lower case ("1016 dv amsterdam") only with context (PostalAddressRecognizer):
    # "2019 we", "4012 in" are a year and a room.
    Pattern("dutch postcode", r"(?<![\w-])[1-9]\d{3}\s?(?-i:(?!SA|SD|SS)[A-Z]{2})\b", 0.45),
    # Five digits (US ZIP, German, French, Spanish PLZ) or four (Austria, Switzerland, Belgium) are
    # any number: only with context ("zip", "plz", a city after it).
    Pattern("five digits", r"(?<![\w$€£#-])(?<!\d[.,])\d{5}(?![\w%-]|[.,]\d)", 0.05),
]
POSTCODE_CONTEXT = _context("zip", "zipcode", "postcode", "postal", "plz", "postleitzahl", "post", "code",
                            "address", "street", "road", "lane", "avenue", "straße", "strasse", "city", "town",
                            "deliver", "ship", "live", "moved")


# --- Secrets a customer pastes ------------------------------------------------------------------

# Bounded spaces around ":" and "=": two unbounded \s* around an optional mark split a run of
# spaces in quadratically many ways.
_ASSIGN = (r"(?:\s+(?:is|was|=|:|to|as|now|would\s+be|should\s+be|it'?s|its|currently|set\s+to|changed\s+to|"
           r"es|est|ist|è|é|era|war|jest|är|er|lautet|nuevo|nueva|nouveau|neues|nuova|nova))*"
           r"\s{0,3}(?:[:=]\s{0,3})?")
_PASTED_VALUE = r"[\"'\u201c\u2018`]?(?P<value>[^\s\"'\u201d\u2019`]{3,64}?)[\"'\u201d\u2019`]?(?=[.,;)]?(?:\s|$))"
PASSWORD = re.compile(
    rf"(?<![-/_.])\b(?:my\s+pass|pass\s?words?|passwd|pwd|pw|passwort|mot\s+de\s+passe|passphrase|pin(?:\s+code)?|"
    rf"pas+w(?:or|ro|o)d|passowrd|contraseña|contrasena|clave|kennwort|hasło|haslo|senha|wachtwoord|lösenord|"
    rf"salasana|heslo|jelszó|jelszo|parola(?:\s+d'ordine)?|set\s+the\s+pass\s+to|pass,?\s+(?:it'?s|its)|"
    rf"login\s+is\s+\S+\s+(?:and|/)\s+(?:the\s+)?(?:pass|pw))\b{_ASSIGN}{_PASTED_VALUE}", re.IGNORECASE)
# "my password by mistake: qwerty!234": a colon a few words after the cue.
PASSWORD_AFTER_COLON = re.compile(
    rf"(?<![-/_.])\b(?:pass\s?words?|passwd|pwd|pw|passwort|passphrase)\b[^:\n]{{1,30}}:\s*{_PASTED_VALUE}",
    re.IGNORECASE)
# "user anna / pass Hunter2" and "login: anna:Summer2024"
PASSWORD_SHORT = re.compile(rf"\b(?:pass|pwd|pw)\s{{0,3}}[:=]\s{{0,3}}{_PASTED_VALUE}", re.IGNORECASE)
# "user anna@x.io pass Praha99!": a login and its password side by side.
PASSWORD_AFTER_LOGIN = re.compile(rf"(?:@\S{{1,80}}|\buser(?:name)?\s{{1,3}}\S{{1,64}})\s{{1,3}}"
                                  rf"(?:pass|pw|pwd)\s{{1,3}}"
                                  rf"{_PASTED_VALUE}", re.IGNORECASE)


def _is_a_secret(value: str) -> bool:
    bare = value.rstrip("!?")
    # "password is expiring": a word; "Wint3r-is-coming": a password.
    wordy = bare.isalpha() and bare.lower().endswith(("ing", "ed"))
    return bool(bare) and bare.lower() not in _NOT_A_VALUE and not wordy


_CODE_CUE = (r"\b(?<!error\s)(?<!status\s)(?<!promo\s)(?<!discount\s)(?<!coupon\s)(?<!zip\s)(?<!postal\s)"
             r"(?<!area\s)(?<!country\s)(?<!reference\s)"
             r"(?:codes?|otp|one[\s-]time(?:\s+(?:code|password|pin))?|2fa|mfa|pin|passcode|"
             r"verification|security\s+code|sms|token|digits|código|codigo|kod|kód|codice|bestätigungscode|"
             r"verificatiecode|weryfikacyjny|authenticator(?:\s+app)?(?:\s+(?:shows|says|gives))?)\b")
ONE_TIME_CODE = re.compile(
    rf"{_CODE_CUE}(?:\s+(?:is|was|=|:|of|i\s+got|they\s+sent|you\s+sent|sent|says|reads|shows|number|code|"
    rf"me|i|received|got|just|the|it|was|still|in|sms|text|email|mail|from|app|es|est|é|è|ist|reçu|recu|recibido|"
    rf"ricevuto|recebido|otrzymany|weryfikacyjny|lautet|que|qui|di|de|do|da)){{0,5}}\s{{0,3}}(?:[:=#-]\s{{0,3}})?"
    r"(?P<value>\d(?:[ -]?\d){3,7})(?![\w/-]|[.,]\d)", re.IGNORECASE)
# Letters and digits in two halves: "magic link code is K7Q-2MX".
ONE_TIME_CODE_MIXED = re.compile(
    r"\b(?<!error\s)(?<!promo\s)(?<!discount\s)(?<!coupon\s)(?:code|otp|token)(?:\s+(?:is|was|:)){0,2}\s{0,3}:?\s{0,3}"
    r"(?P<value>(?-i:(?=[A-Z0-9]{0,3}\d)(?=[A-Z0-9]{0,3}[A-Z])[A-Z0-9]{3,4}-[A-Z0-9]{3,4}))(?![\w-])", re.IGNORECASE)
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


# A phone cue, then a few filler words, then digit groups: also local numbers of 7 digits
# ("call me 555 0187", "phone (415) 555-0132 ext. 204", "telemóvel 912 345 678").
_PHONE_CUE = (r"\b(?:phone|telephone|tel|tlf|tfn|ph|mobile|mob|cell|cellphone|landline|whatsapp|signal|call\s+me|"
              r"ring\s+me|text\s+me|reach\s+me|call|ring|text|number|nummer|numéro|numero|número|telefon|telefono|"
              r"teléfono|telefone|telemóvel|telemovel|móvil|movil|celular|cellulare|handy|portable|fax|komórka|"
              r"komorka|puhelin|mobil|tfno|tlf|direct\s+line|hotline)\b")
_PHONE_FILLER = (r"(?:\s{1,3}(?:is|was|on|at|me|my|number|no\.?|nr\.?|es|est|ist|é|è|to|under|unter|au|al|ao|the|"
                 r"mobile|cell|direct|office|work|home|private|privat|nummer|numero|número|numéro))")
CUED_PHONE = re.compile(
    rf"{_PHONE_CUE}\.?{_PHONE_FILLER}{{0,4}}\s{{0,3}}[:#,]?\s{{0,3}}"
    r"(?P<value>(?:\+|00)?\(?\d{1,5}\)?(?:[ .\-/]{1,2}\(?\d{1,5}\)?){0,6}"
    r"(?:\s{0,2}(?:ext\.?|x|extension|durchwahl|poste|int\.?|app\.?)\s{0,2}\d{1,6})?)(?![\w-]|[.,]\d)",
    re.IGNORECASE)
# A national number with its trunk 0 in groups, no cue needed ("030 22 48 66 19", "07911 123456").
TRUNK_PHONE = re.compile(r"(?<![\w+./:-])(?P<value>\(?0[1-9]\d{0,4}\)?(?:[ -]\d{2,6}){1,5})(?![\w-]|[.,:/]\d)")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def _cued_phone_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    return 7 <= digits <= 15 and _DATE_LIKE.fullmatch(value.strip()) is None


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


# Our name recognizers score above spaCy's 0.85: Presidio drops a span inside a longer one of the
# same type with a higher score, and spaCy's span is often longer and wrong ("thx\n-- omar").
NAME_SCORE = 0.86


class LowerCaseNameRecognizer(LocalRecognizer):
    """A name after a cue, whatever its case: "my name is anna kowalski", "thanks, tom", "this is
    maria from acme". spaCy's NER only tags capitalised names, and support chat is often lower
    case. Weak cues ("this is", "i'm", a signature) count only when the name ends the clause."""

    SCORE = NAME_SCORE

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
            if span and (weak or not _CERTAIN_NAME_CUE.search(cue.group())) and not _name_like(
                    text[span[0]:span[1]].split()[0], nlp_artifacts):
                continue  # "i know its bad", "our user token", "an agent leaves": a word, not a name
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
            if word is None:
                break
            bare = _CLITIC.sub("", word.group().lower().strip("'\u2019-"))
            if bare in _NOT_A_NAME or bare in _FOREIGN_WORDS:
                break
            if not words and bare.endswith(("ing", "ed")) and word.group().islower() and bare not in _first_names():
                break  # "called saying they are …"
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


# --- Postal addresses, many countries: street lines, PO boxes and postcodes in context ----------
#
# Word lists are data files next to this module (cities.txt, first_names.txt, surnames.txt).

_HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=8)
def word_list(filename: str) -> tuple[frozenset[str], frozenset[str]]:
    """(plain words, words marked " ?") of a data file: one lower-case entry a line, "#" comments."""
    plain: set[str] = set()
    marked: set[str] = set()
    for line in (_HERE / filename).read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        word, _, mark = entry.partition(" ")
        (marked if mark.strip() == "?" else plain).add(word.lower())
    return frozenset(plain), frozenset(marked)


_L = r"[^\W\d_]"  # one letter, any script
# A word of a street's name: letters, with inner apostrophes, hyphens and dots ("champs-élysées",
# "d'italia", "st."); each step consumes a letter, so the repetition cannot split ambiguously.
_SWORD = rf"{_L}(?:{_L}|['\u2019.-](?={_L})){{0,29}}\.?"
# Street types that come first, then the name, the house number before or after ("14 rue de la
# paix", "via garibaldi 7", "ul. długa 8", "calle de alcalá 48", "rua augusta 100").
_TYPE_FIRST = (r"rue|avenue|av|avda|ave|boulevard|bd|bld|blvd|chemin|impasse|allée|allee|quai|cours|route|"
               r"place|calle|c/|avenida|plaza|pza|paseo|pg|carrer|camino|carretera|ronda|travesía|"
               r"travesia|via|viale|piazza|piazzale|corso|largo|vicolo|strada|lungomare|contrada|rua|travessa|"
               r"praça|praca|alameda|estrada|ul|ulica|al|aleja|osiedle|pl|plac|calea|str|strada|bulevardul|"
               r"aleea|šetalište|trg|ulitsa|prospekt|caddesi|sokak|odos|leoforos")
_TYPE_FIRST_RE = re.compile(rf"(?<![\w-])(?:{_TYPE_FIRST})(?:\.|(?![\w'\u2019-]))", re.IGNORECASE)
# Words that may stand inside a street's name though they are short or common ("de la", "dos").
_STREET_PARTICLES = _words("""
    de del della delle dei degli di da das do dos du des la le les los las el al von vom van der
    den het ter ten y e et und of the saint st ste san santa santo são sao sainte dei d' l'
""")
# Words that end a street's name: the sentence goes on ("via email", "place an order").
_NOT_A_STREET_NAME = _words("""
    email mail e-mail chat phone sms text app api web website portal link paypal stripe slack teams
    zoom whatsapp telegram post courier dhl ups fedex order orders an a the my your our this that
    it them for to from in on at by with and or but please pls plz asap thanks is are was be been
    will would can could should you we they i he she me us new old next previous same another each
    every all call calls ticket tickets invoice invoices card account login settings support help
""") | STOP_WORDS - frozenset(_STREET_PARTICLES)
_HOUSE_NUMBER = re.compile(r"\d{1,5}(?:\s?[a-zA-Z](?![\w]))?(?:\s?[/-]\s?\d{1,4}[a-zA-Z]?)?(?![\w@.,]\d|[\w%€$£])")
_NUMBER_BEFORE = re.compile(r"(?<![\w.,/#€$£-])\d{1,5}[a-zA-Z]?(?:-\d{1,4})?,?\s{1,3}$")
# Japanese block addresses: "2-7-2 marunouchi, chiyoda-ku".
JAPANESE_BLOCK = re.compile(
    rf"(?<![\w-])(?P<value>\d{{1,2}}-\d{{1,2}}(?:-\d{{1,3}})?,?\s{{1,3}}{_L}{{3,20}}(?:-{_L}{{2,20}})?)"
    rf"(?=,?\s{{1,3}}(?:{_L}{{2,20}}-(?:ku|shi|cho|machi|gun)\b|\d{{3}}-\d{{4}}\b|tokyo|osaka|kyoto))", re.IGNORECASE)
PO_BOX = re.compile(
    r"(?<![\w-])(?P<value>(?:p\.?\s?o\.?\s?box|post\s+office\s+box|postfach|postbus|apartado(?:\s+de\s+correos)?|"
    r"caixa\s+postal|boîte\s+postale|casella\s+postale|skrytka\s+pocztowa|box)\s{1,3}(?:no\.?\s{0,2})?"
    r"\d{1,6}(?:\s\d{2,3}){0,3})\b",
    re.IGNORECASE)
PO_BOX_CUE = re.compile(r"(?i:p\.?\s?o\.?\s?box|post\s+office|postfach|postbus|apartado|caixa|boîte|casella|skrytka)")


def _type_first_streets(text: str) -> list[tuple[int, int]]:
    """Street lines whose type comes first, with the house number before the type or after the name."""
    spans = []
    for kind in _TYPE_FIRST_RE.finditer(text):
        before = _NUMBER_BEFORE.search(text, max(0, kind.start() - 14), kind.start())
        pos, words, last_end = kind.end(), 0, None
        number_end = None
        while words < 6:
            gap = re.match(r"[ \t]{1,3}", text[pos:pos + 3])
            if gap is None:
                break
            at = pos + len(gap.group())
            number = _HOUSE_NUMBER.match(text, at)
            if number and words:
                number_end = number.end()
                break
            word = re.match(_SWORD, text[at:at + 32])
            if word is None:
                break
            value = word.group().lower().rstrip(".")
            if value in _NOT_A_STREET_NAME or (value not in _STREET_PARTICLES and len(value) < 2):
                break
            words += 1
            pos = at + len(word.group())
            if value not in _STREET_PARTICLES:
                last_end = pos
        if last_end is None:
            continue
        if number_end is not None:
            spans.append(((before.start() if before else kind.start()), number_end))
        elif before is not None:
            spans.append((before.start(), last_end))
    return spans


# Postcodes by country shape. Each needs evidence around it (below) unless its shape is rare
# enough alone (UK, Canada, Ireland, ZIP+4 and the Dutch format keep their own patterns above).
_POSTCODE_SHAPES = re.compile(
    r"(?<![\w$€£#@.,/:+-])(?P<value>(?:(?:[A-Z]{1,2}|[A-Z]{2}-)-?)?"  # optional "D-", "CH-", "LT-"
    r"(?:\d{5}-\d{3}|\d{4}-\d{3}|\d{3}-\d{4}|\d{2}-\d{3}|\d{3}\s\d{2}|\d{4,6}))"
    r"(?![\w%€$£]|[.,:/-]\d)")
_EIRCODE = re.compile(r"(?<![\w-])(?P<value>(?:[AC-FHKNPRTV-Y]\d{2}|D6W)\s?(?=[0-9A-Z]{0,3}[A-Z])[0-9AC-FHKNPRTV-Y]{4})"
                      r"(?![\w-])", re.IGNORECASE)
_DUTCH_LOWER = re.compile(r"(?<![\w-])(?P<value>[1-9]\d{3}\s?[a-z]{2})(?![\w-])")
_POSTCODE_CUE = re.compile(
    r"(?:\b(?:zip(?:\s?code)?|post\s?code|postal(?:\s+code)?|plz|postleitzahl|cp|c\.p\.|code\s+postal|cap|c\.a\.p\.|"
    r"eircode|pin\s?code|pincode|kod\s+pocztowy|código\s+postal|codigo\s+postal|cep|postnummer|postinumero|"
    r"irányítószám|psč|psc|postcode|post\s+code)|〒)\s{0,2}(?:is|:|-|=|nr\.?|no\.?)?\s{0,3}$", re.IGNORECASE)
_REGION_BEFORE = re.compile(
    r"(?-i:\b(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
    r"NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|NSW|VIC|QLD|TAS|ACT|NT|ON|QC|BC|AB|MB|SK|NS)"
    r"|\b(?i:nsw|vic|qld|tas))\.?,?\s{1,2}$")
_CITY_WORDS = re.compile(rf"{_L}(?:{_L}|[.'\u2019-](?={_L})){{1,30}}(?:[ \t]{_L}(?:{_L}|[.'\u2019-](?={_L})){{1,30}})?")
_YEAR = re.compile(r"(?:19|20)\d\d")


def _is_city(words: str) -> bool:
    cities = word_list("cities.txt")[0]
    parts = words.lower().split()
    return bool(parts) and (parts[0] in cities or parts[-1] in cities or "-".join(parts) in cities)


def _city_after(text: str, end: int) -> bool:
    gap = re.match(r",?[ \t]{1,3}|\n", text[end:end + 4])
    if gap is None:
        return False
    words = _CITY_WORDS.match(text, end + len(gap.group()))
    return bool(words) and _is_city(words.group())


def _city_before(text: str, start: int) -> bool:
    head = text[max(0, start - 32):start]
    found = re.search(rf"({_L}{{2,30}}(?:[ \t-]{_L}{{2,30}})?),?[ \t]{{1,2}}$", head)
    if not found:
        return False
    words = found.group(1)
    return _is_city(words) or _is_city(words.split()[-1]) if words.split() else False


def _capitalised_word_after(text: str, end: int) -> bool:
    return re.match(r",?[ \t]{1,2}(?-i:[A-ZÀ-ÖØ-ÞŁŚŻŹĆŃÓ][a-zà-öø-ÿßłśżźćńóąęőűčřšžýíáéúůě]{2,20})\b(?![ \t]+\d)",
                    text[end:end + 26]) is not None


def postal_spans(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(street lines and PO boxes, postcodes) of text, from shapes and the words around them."""
    streets = _type_first_streets(text)
    for pattern in (STREET_LINE, STREET_LINE_NUMBER_AFTER, JAPANESE_BLOCK, PO_BOX):
        streets += [m.span("value") for m in pattern.finditer(text)]
    postcodes = []
    for pattern in (_POSTCODE_SHAPES, _EIRCODE, _DUTCH_LOWER):
        for match in pattern.finditer(text):
            start, end = match.span("value")
            value = match.group("value")
            if any(s <= start and end <= e for s, e in streets):
                continue  # the house number of a street line
            digits = sum(c.isdigit() for c in value)
            cue = _POSTCODE_CUE.search(text, max(0, start - 24), start) is not None
            region = _REGION_BEFORE.search(text, max(0, start - 6), start) is not None
            near_street = any((e <= start and start - e <= 40 and _no_sentence_break(text[e:start]))
                              or (s >= end and s - end <= 30 and _no_sentence_break(text[end:s]))
                              for s, e in streets)
            city = _city_after(text, end) or _city_before(text, start)
            if pattern is _DUTCH_LOWER:
                if (cue or near_street or city) and value[-2:].lower() not in ("sa", "sd", "ss"):
                    postcodes.append((start, end))
                continue
            if pattern is _EIRCODE:
                if cue or near_street or city or re.search(r"(?i)dublin|ireland", text[max(0, start - 30):start]):
                    postcodes.append((start, end))
                continue
            shaped = "-" in value or " " in value  # "00-950", "1100-048", "111 34", "100-0005"
            year = digits == 4 and _YEAR.fullmatch(value) is not None
            if cue or region or near_street or (city and not year) or (
                    shaped and _capitalised_word_after(text, end)) or (
                    digits == 5 and not shaped and _capitalised_word_after(text, end)):
                postcodes.append((start, end))
    for pattern in _STRONG_POSTCODES:
        postcodes += [m.span("value") for m in pattern.finditer(text)]
    for start, end in postcodes:
        street = _street_next_to(text, start, end)
        if street and not any(s < street[1] and street[0] < e for s, e in streets):
            streets.append(street)
    return streets, postcodes


_SW = r"[^\W\d_][\w'\u2019.-]{0,25}"  # a word of a street's or a city's name
# The street line written just before a postcode, maybe with its city between: "47 Kingsway,
# London WC2B 6TE", "Karl Johans gate 22, 0159 Oslo", "Nevsky Prospekt 28, 191186 St Petersburg".
_CITY_PART = rf"(?:{_SW}(?:[ \t]{{1,2}}{_SW}){{0,2}},?[ \t]{{0,2}})?"  # "London ", "Dublin 2, " is not
_STREET_BEFORE_POSTCODE = [
    re.compile(rf"(?P<street>\d{{1,5}}[a-zA-Z]?,?[ \t]{{1,2}}(?:{_SW}[ \t]{{1,2}}){{0,3}}{_SW}),[ \t]{{0,2}}"
               rf"{_CITY_PART}(?:[A-Z]{{2,3}}\.?[ \t]{{1,2}})?$"),
    re.compile(rf"(?P<street>(?:{_SW}[ \t]{{1,2}}){{0,3}}{_SW}[ \t]{{1,2}}\d{{1,5}}[a-zA-Z]?"
               rf"(?:[ \t]?[/-][ \t]?\d{{1,4}})?),?[ \t]{{0,2}}{_CITY_PART}$"),
]
# The street line just after a postcode and its city: "PLZ 50667 Köln, Domkloster 4".
_STREET_AFTER_POSTCODE = re.compile(
    rf"[ \t]{{0,2}}(?:{_SW}(?:[ \t]{{1,2}}{_SW})?)?,[ \t]{{0,2}}"
    rf"(?P<street>(?:{_SW}[ \t]{{1,2}}){{0,3}}{_SW}[ \t]{{1,2}}\d{{1,5}}[a-zA-Z]?)(?![\w-])")
_STRONG_POSTCODES = [
    re.compile(r"(?<![\w-])(?P<value>[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE),  # UK
    re.compile(r"(?<![\w-])(?P<value>[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d)\b",
               re.IGNORECASE),  # Canada
    re.compile(r"(?<![\w-])(?P<value>\d{5}-\d{4})\b"),  # ZIP+4
]


def _street_next_to(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The street line written right before (or right after) a postcode, if its words can be one."""
    head_start = max(0, start - 70)
    for pattern in _STREET_BEFORE_POSTCODE:
        found = pattern.search(text, head_start, start)
        if found:
            span = _street_words_ok(text, *found.span("street"))
            if span:
                return span
    after = _STREET_AFTER_POSTCODE.match(text[:end + 70], end)
    return _street_words_ok(text, *after.span("street")) if after else None


def _street_words_ok(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The street without sentence words before it ("kontor: Karl Johans gate 22"); None when a
    word says it is something else ("3 agents, 2 admins")."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"[^\s,]+", text[start:end])]
    def lower(w: tuple[int, int]) -> str:
        return text[w[0]:w[1]].lower().rstrip(".,:")
    while words and not text[words[0][0]].isdigit() and (lower(words[0]) in _NOT_A_STREET_NAME
                                                        or lower(words[0]) in _SUPPORT_NOUNS) and (
            text[words[0][0]:words[0][1]] not in _GERMAN_STREET_OPENERS):
        words.pop(0)
    names = [w for w in words if not text[w[0]].isdigit()]
    if not names or any((lower(w) in _NOT_A_STREET_NAME or lower(w) in _SUPPORT_NOUNS)
                        and text[w[0]:w[1]] not in _GERMAN_STREET_OPENERS for w in names):
        return None
    if not any(text[w[0]].isdigit() for w in words):
        return None
    if _is_city(" ".join(text[w[0]:w[1]] for w in names)) or _UNIT_BEFORE.search(text, max(0, words[0][0] - 12),
                                                                                  words[0][0]):
        return None  # "Dublin 2", "Apt 3B, Denver": a district, a flat
    return words[0][0], words[-1][1]


# "Am Rosenhang 4a", "An der Alster 12", "Zum Hafen 3": German street names open with these.
_GERMAN_STREET_OPENERS = frozenset({"Am", "An", "Im", "In", "Zum", "Zur", "Auf", "Unter", "Hinter", "Vor", "Bei",
                                    "Alte", "Alter", "Neue", "Neuer", "Große", "Grosse", "Kleine", "Der", "Den",
                                    "Dem"})
_UNIT_BEFORE = re.compile(r"(?i:\b(?:apt|apartment|unit|flat|suite|ste|room|floor|fl|no|nr)\.?|#)\s{0,2}$")


def _no_sentence_break(gap: str) -> bool:
    return len(gap) <= 40 and re.search(r"[.!?;](?:\s|$)|\n\s*\n|\b(?:order|invoice|ticket|ref|and|but|or)\b",
                                        gap, re.IGNORECASE) is None


class PostalAddressRecognizer(LocalRecognizer):
    """Street lines (many countries' styles), PO boxes, and postcodes of many countries' shapes
    where something says they are one: a cue ("zip", "PLZ", "CP"), a street line a few words
    away, a known city next to it, a state or province code before it."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["ADDRESS", "POSTCODE"], supported_language="en",
                         name="PostalAddressRecognizer")

    def load(self) -> None:  # word lists load on first use
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        streets, postcodes = postal_spans(text)
        return ([_result(self, "ADDRESS", s, e, 0.6) for s, e in streets]
                + [_result(self, "POSTCODE", s, e, 0.6) for s, e in postcodes])


# --- Names from a list of first names, and names after verbs ---------------------------------------

# Word boundaries for a name: letters of any script, inner apostrophes and hyphens ("o'brien",
# "anne-marie"); each step consumes a letter, so the repetition cannot split ambiguously.
_NAME_TOKEN = re.compile(rf"(?<![\w@./#\\:+-]){_L}(?:{_L}|['\u2019-](?={_L})){{0,30}}(?![\w@]|\.\w|-\d)")
_NAME_PARTICLES = _words("""
    van von de der den da das do dos di del della du des le la al el bin ibn ben ter ten mac mc st
    zu y
""")
_SURNAME_ENDING = re.compile(
    r"(?:ski|ska|cki|cka|dzki|wicz|sson|ssen|ez|ov|ova|ová|eva|enko|escu|elli|etti|ucci|oglu|oğlu|vić|"
    r"ić|idis|opoulos|akis|berg|mann|stein|qvist|kvist|ström|lund|gaard|chuk|ovich|evich|yan|ian)$")
_PLACE_PREFIX = re.compile(r"(?i:\b(?:san|santa|santo|são|sao|st\.?|saint|sainte|ste\.?|puerto|porto|fort|port|mount|"
                           r"mt\.?|lake|cape|villa|ciudad|bad|sankt))[ \t-]$")
_MONTHS = _words("""
    january february march april may june july august september october november december
""")
# Words of support chat that follow "add", "remove", "invite" … without being a person.
_SUPPORT_NOUNS = _words("""
    user users seat seats agent agents admin admins member members people person everyone everybody
    card cards payment payments license licence licenses licences access permission permissions
    role roles tag tags field fields item items link links invoice invoices account accounts
    workspace integration integrations app apps channel channels widget bot bots feature features
    plan plans billing sso saml domain domains email emails phone address addon add-on addons extra
    more another some any all none few many credits credit funds money seat user's group groups
    department teams manager managers employee employees staff colleagues colleague contact
    contacts customers clients client guest guests viewer viewers editor editors owner owners sir
    madam dear there all error errors problem issue bug step steps note notes comment comments
    label labels filter filters report reports export exports file files attachment attachments
    image images logo photo support sales billing accounts finance hr legal ops marketing it dev
    devs engineering please pls plz asap now today tomorrow later again too also back
    slack zapier hubspot salesforce shopify jira trello asana notion zendesk intercom freshdesk gmail
    outlook google microsoft teams whatsapp telegram messenger facebook instagram twitter linkedin
    mailchimp stripe paypal github gitlab okta azure aws quickbooks xero calendly zoom webhook webhooks
""")
_GREETINGS = (r"hi|hey|hello|dear|hiya|ciao|hola|hallo|bonjour|salut|olá|ola|cześć|czesc|hej|hoi|moin|servus|ahoj|"
              r"merhaba")
# Verbs after which a name comes in support chat ("add lars and freya", "ask for will",
# "assign it to bruno", "cc maria"); the name must be known, or end its clause.
_NAME_VERB_CUE = re.compile(
    r"\b(?:add|added|adding|remove|removed|removing|invite|invited|inviting|ask(?:\s+for)?|asked(?:\s+for)?|cc|bcc|"
    r"(?:re)?assign(?:ed)?(?:\s+(?:it|this|the\s+ticket|them))?\s+to|transfer(?:red)?(?:\s+(?:it|this|them))?\s+to|"
    r"forward(?:ed)?(?:\s+(?:it|this|them))?\s+to|hand(?:ed)?\s+(?:it\s+)?over\s+to|contact|tell|told|"
    # "transfer the licence to bruno", "give admin rights to ana": a few words, then "to".
    r"(?:transfer|assign|reassign|forward|hand|give|move|send|sent|invite|reply|write|wrote|email|mail)"
    r"(?:s|ed|red)?\s[^.!?\n]{0,40}?\bto|"
    r"thank|thanks(?:\s+to)?|thx|helped\s+by|spoke\s+with|speak\s+to|speak\s+with|deactivate|reactivate|"
    r"disable|enable|promote|demote|offboard|onboard|"
    rf"{_GREETINGS})\s+", re.IGNORECASE)
# A name opening a message or a line: "nico again, …", "lukas here", "marta here, …".
_NAME_OPENS = re.compile(
    rf"(?:^|\n)[ \t]{{0,3}}(?:(?:{_GREETINGS}|so|ok|okay)[ \t,]{{1,3}})?"
    rf"(?P<value>{_L}(?:{_L}|['\u2019-](?={_L})){{1,30}})"
    r"(?:[ \t]{1,2}(?P<second>[^\W\d_]{2,30}))?,?[ \t]{1,3}(?P<tail>here|again|speaking|back|writing|"
    r"from(?![ \t]+(?:now|today|tomorrow|next|then|time|day|week|month|year|the\s+start|\d)))\b",
    re.IGNORECASE)
_CLAUSE_AFTER_NAME = re.compile(r"[ \t]{0,2}(?:$|[,.;:!?)(\n|<]|[ \t](?:to|from|and|as|for|in|on|at|please|pls|"
                                r"plz|asap|too|also|&|who|she|he|they|is|was|has|had|when|if|because|about|so|but|"
                                r"or|since|before|after|instead|now|today|tomorrow)\b)", re.IGNORECASE)
# "add marguerite to the sales team", "remove joss from the workspace": the frame says a person.
_MEMBER_FRAME = re.compile(r"(?:add|added|remove|removed|invite|invited)[ \t]{1,3}$", re.IGNORECASE)
_MEMBER_FRAME_AFTER = re.compile(r"[ \t]{1,3}(?:to|from|as|in|on)[ \t]{1,3}(?:the|our|my|this|all|every)?\b",
                                 re.IGNORECASE)


def _tag(nlp_artifacts: NlpArtifacts | None, start: int) -> str:
    """The spaCy tag of the token starting at start ("" without one)."""
    tokens = getattr(nlp_artifacts, "tokens", None)
    if tokens is None:
        return ""
    for token in tokens:
        if token.idx == start:
            return token.tag_
        if token.idx > start:
            break
    return ""


def _first_names() -> frozenset[str]:
    return word_list("first_names.txt")[0]


_STUTTER = re.compile(r"(.)\1\1")  # "youuu", "sooo": chat, not a name


def _name_like(raw: str, nlp_artifacts: NlpArtifacts | None) -> bool:
    """A word that can be a name without context: a known first name, a capitalised word, or a
    word the spaCy model's vocabulary does not hold (the English words it holds are not names,
    rare names and other languages' names are mostly not in it)."""
    word = _CLITIC.sub("", raw.lower().strip("'\u2019-.,"))
    plain, ambiguous = word_list("first_names.txt")
    if word in plain or word in ambiguous or (raw[:1].isupper() and not raw.isupper()):
        return True
    if word.endswith(("ing", "ed", "ly")) or word in _SUPPORT_NOUNS or "-" in word or _STUTTER.search(word):
        return False
    tokens = getattr(nlp_artifacts, "tokens", None)
    return tokens is None or not tokens.vocab.has_vector(word)


def _surname_like(word: str, raw: str) -> bool:
    if word in _NOT_A_NAME or word in _SUPPORT_NOUNS or word in _MONTHS or word in _CHAT_FILLERS:
        return False
    if word in word_list("surnames.txt")[0] or word in word_list("first_names.txt")[0]:
        return True
    if raw[:1].isupper() and not raw.isupper():
        return True
    return len(word) >= 5 and _SURNAME_ENDING.search(word) is not None


_CHAT_FILLERS = _words("""
    pls plz thx ty asap btw fyi lol ok okay hi hey hello cant wont dont didnt doesnt isnt im ive ur
    u r yes no yeah yep nope nah cheers thanks thank regards best kind warm br
""")


def _extend_surname(text: str, end: int, listed_only: bool = False) -> int:
    """The end of a name whose first name ends at end, with up to two surname words after it
    ("siobhan murphy", "pieter de vries", "Mark Devlin"); listed_only: only surnames of the list,
    or any word after a particle ("de vries")."""
    taken = 0
    pos = end
    while taken < 2:
        gap = re.match(r"[ \t]{1,2}", text[pos:pos + 2])
        if gap is None:
            break
        word = _NAME_TOKEN.match(text, pos + len(gap.group()))
        if word is None:
            break
        lower = word.group().lower()
        if lower in _NAME_PARTICLES:
            nxt = re.match(r"[ \t]{1,2}", text[word.end():word.end() + 2])
            after = _NAME_TOKEN.match(text, word.end() + len(nxt.group())) if nxt else None
            if after is None or (after.group().lower() in _NOT_A_NAME and not after.group().istitle()) \
                    or after.group().lower() in _SUPPORT_NOUNS or (listed_only and not after.group().istitle() and (
                        after.group().lower() not in word_list("surnames.txt")[0])):
                break  # "jan de vries", but not "we can do tonight"
            end = pos = after.end()
            taken += 1
            continue
        if not _surname_like(lower, word.group()) or (listed_only and lower not in word_list("surnames.txt")[0]):
            break
        end = pos = word.end()
        taken += 1
    return end


def _sentence_start(text: str, start: int) -> bool:
    head = text[:start].rstrip(" \t\"'(")
    return not head or head[-1] in ".!?\n:"


class KnownNameRecognizer(LocalRecognizer):
    """Names whatever their case, from a list of first names of many origins (first_names.txt),
    with the surname after them; names after verbs support chat puts before people ("add …",
    "remove …", "ask for …", "thanks …"); a name opening a message ("nico again, …").

    A first name that is also a common word ("will", "mark", "april", "sofia") counts only after
    such a verb or a name cue, or with a capital mid-sentence followed by a surname."""

    SCORE = NAME_SCORE

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], supported_language="en", name="KnownNameRecognizer")

    def load(self) -> None:  # word lists load on first use
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        spans: list[tuple[int, int]] = []
        plain, ambiguous = word_list("first_names.txt")
        for token in _NAME_TOKEN.finditer(text):
            raw = token.group()
            word = _CLITIC.sub("", raw.lower())
            if _PLACE_PREFIX.search(text, max(0, token.start() - 8), token.start()):
                continue  # "san francisco", "st. helena", "são paulo"
            if (word in plain and not raw.isupper()) or (len(raw) > 3 and raw.isupper() and word in plain):
                spans.append((token.start(), _extend_surname(text, token.start() + len(word))))
            elif word in ambiguous and word not in _MONTHS:
                if raw[:1].isupper() and not raw.isupper() and not _sentence_start(text, token.start()):
                    end = _extend_surname(text, token.end())  # "Mark Devlin", not "Will" or "Jordan" alone
                else:
                    end = _extend_surname(text, token.end(), listed_only=True)  # "jan de vries", "will smith"
                if end > token.end() and not _is_city("-".join(text[token.start():end].split())):
                    spans.append((token.start(), end))  # but "rio de janeiro" is a city
        for cue in _NAME_VERB_CUE.finditer(text):
            pos = cue.end()
            for _ in range(3):  # "add lars and freya", "thanks igor and olena"
                word = _NAME_TOKEN.match(text, pos)
                if word is None:
                    break
                lower = word.group().lower()
                if lower in _NOT_A_NAME or lower in _SUPPORT_NOUNS or lower in _CHAT_FILLERS or lower in _MONTHS:
                    break
                known = lower in plain or lower in ambiguous
                end = _extend_surname(text, word.end())
                framed = (_MEMBER_FRAME.search(text, max(0, word.start() - 12), word.start()) is not None
                          and _MEMBER_FRAME_AFTER.match(text, end) is not None
                          and not lower.endswith(("s", "ing", "ed"))
                          and _tag(nlp_artifacts, word.start()) in ("", "NN", "NNP"))
                if not known and (len(lower) < 3 or _CLAUSE_AFTER_NAME.match(text, end) is None
                                  or not (framed or _name_like(word.group(), nlp_artifacts))):
                    break
                spans.append((word.start(), end))
                more = re.match(r"[ \t]{0,2}(?:,|and|&|und|et|y|e|i|og|och|en)[ \t]{1,2}", text[end:end + 8],
                                re.IGNORECASE)
                if more is None:
                    break
                pos = end + len(more.group())
        for opens in _NAME_OPENS.finditer(text):
            lower = opens.group("value").lower()
            if lower in _NOT_A_NAME or lower in _SUPPORT_NOUNS or lower in _CHAT_FILLERS or not _name_like(
                    lower, nlp_artifacts):  # its capital says nothing at the start of a message
                continue
            second = opens.group("second")
            end = opens.end("value")
            if second and not _surname_like(second.lower(), second):
                continue  # "ok, will try again": a sentence, not a name
            if second:
                end = opens.end("second")
            listed = lower in word_list("first_names.txt")[0] or lower in word_list("first_names.txt")[1]
            if opens.group("tail").lower() == "from" and (not listed or lower in _MONTHS):
                continue  # "Berlin from tomorrow …": only a known first name opens with "from"
            if lower in word_list("first_names.txt")[1] and not second and opens.group("tail").lower() != "from":
                continue
            spans.append((opens.start("value"), end))
        return [_result(self, "PERSON", start, end, self.SCORE) for start, end in spans]


# Words of other languages that spaCy's English model takes into names ("mi tarjeta", "Ich heiße",
# "la factura", "mit freundlichen grüßen"): they end or start no name.
_FOREIGN_WORDS = _words("""
    mi tu su la el lo los las un una uno ich du er sie wir mein meine meinen unser unsere und oder
    der die das dem den je tu il elle mon ma mes notre nos le les des du et ou o a os as meu minha
    nosso nossa é è e ed gli mio mia nostro nostra con per por para pour avec mit von zu
    hasło haslo kod karta można mozna odrzucona zamknąć zamknac dziękuję dzieki heiße heisse
    kreditkarte karte lizenz lizenzschlüssel schlüssel konto bestellung nummer adresse telefon handy firma
    ihr ihre ihren votre vos vostro vostra seu sua jouw uw din ditt bestätigungscode verificatiecode
    appelle m'appelle factura tarjeta fattura carta cartão cartao rechnung karte facture carte
    passwort contraseña senha password est ist es freundlichen freundliche grüßen grüße gruss
    escritório escritorio oficina ufficio büro bureau biuro weryfikacyjny código codigo code
    hola bonjour hallo ciao olá ola cześć hej hoi saludos cordialement pozdrawiam grazie merci
    danke gracias obrigado obrigada dank bedankt tack takk kiitos
    ltd gmbh inc llc plc bv ag sa srl sl oy ab kg co corp
    api-schlüssel schlüssel clé chiave clave llave
""")
_COMPANY_SUFFIX = _words("ltd ltd. gmbh inc inc. llc plc bv b.v. ag sa s.a. srl sl oy ab kg co co. corp corp.")
_PLACE_SUFFIX = re.compile(r"-(?:ku|shi|cho|machi|gun|ken|fu|to)$", re.IGNORECASE)


def clean_person_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """A name spaCy found, without the words of other languages around it; None when nothing of
    a name is left (a company, a Japanese ward, a lower-case phrase with no known name in it)."""
    # One line only (a signature's name, not the e-mail under it), and no e-mail, number or path in it.
    line_end = text.find("\n", start, end)
    if line_end == start:
        return None
    end = line_end if line_end != -1 else end
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    while words and re.search(r"[@\d_/=]", text[words[-1][0]:words[-1][1]]):
        words.pop()

    def bare(span: tuple[int, int]) -> str:
        return text[span[0]:span[1]].lower().strip(".,;:!?\"'()")

    if any(bare(w) in _COMPANY_SUFFIX or _PLACE_SUFFIX.search(bare(w)) for w in words):
        return None
    if len(words) == 1 and bare(words[0]) in word_list("first_names.txt")[1]:
        return None  # "Mark the invoice", "Jordan is not …", "Grace period": a word first (cues still find names)
    def not_a_name(span: tuple[int, int]) -> bool:  # "Van An" is a name, "an" a word
        return bare(span) in _FOREIGN_WORDS or (bare(span) in _NOT_A_NAME and not text[span[0]:span[1]].istitle())

    while words and not_a_name(words[0]):
        words.pop(0)
    while words and not_a_name(words[-1]):
        words.pop()
    if not words:
        return None
    kept = text[words[0][0]:words[-1][1]]
    if kept == kept.lower():
        first, _ = word_list("first_names.txt")
        surnames, _ = word_list("surnames.txt")
        if not any(bare(w) in first or bare(w) in surnames or (len(bare(w)) >= 5 and _SURNAME_ENDING.search(bare(w)))
                   for w in words):
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


# A whitespace-free run longer than this is not read by Presidio's URL patterns (one of which,
# "Non schema URL", is quadratic: 2,000 characters of "a.a.a." took 5 s): it is redacted whole.
# Real links in chat are shorter; a longer one is redacted whole, which fails closed.
MAX_URL_TOKEN = 256
_TOKEN = re.compile(r"\S+")


class BoundedUrlRecognizer(UrlRecognizer):
    """Presidio's URL recognizer, run token by token: the same patterns and validation on each
    whitespace-delimited token that could be a link, so its cost stays linear in the message."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for token in _TOKEN.finditer(text):
            value = token.group()
            if "." not in value and ":" not in value:
                continue
            if len(value) > MAX_URL_TOKEN:
                results.append(_result(self, "URL", token.start(), token.end(), 0.6))
                continue
            for found in super().analyze(value, entities, None, regex_flags):
                found.start += token.start()
                found.end += token.start()
                results.append(found)
        return results


def project_recognizers(sensitive_identifiers: Iterable[str] = ()) -> list[LocalRecognizer]:
    """Every recognizer this module adds, for ``Redactor`` to register."""
    recognizers: list[LocalRecognizer] = [
        CaptureRecognizer("ADDRESS", [STREET_LINE], 0.6, name="StreetLineRecognizer",
                          context=_context("address", "live", "street", "deliver", "ship", "moved")),
        CaptureRecognizer("ADDRESS", [STREET_LINE_NUMBER_AFTER], 0.5, name="StreetLineNumberAfterRecognizer"),
        PatternRecognizer(supported_entity="POSTCODE", patterns=POSTCODE_PATTERNS, context=POSTCODE_CONTEXT,
                          name="PostcodeRecognizer", supported_language="en"),
        CaptureRecognizer("PASSWORD", [PASSWORD, PASSWORD_SHORT, PASSWORD_AFTER_COLON, PASSWORD_AFTER_LOGIN], 0.7,
                          accept=_is_a_secret),
        CaptureRecognizer("ONE_TIME_CODE", [ONE_TIME_CODE, ONE_TIME_CODE_BEFORE_CUE, ONE_TIME_CODE_MIXED], 0.6),
        CaptureRecognizer("API_KEY", API_KEY_PATTERNS, 0.8, name="ApiKeyRecognizer"),
        CaptureRecognizer("API_KEY", API_KEY_AFTER_CUE, 0.8, accept=_is_a_key, name="ApiKeyAfterCueRecognizer"),
        CaptureRecognizer("API_KEY", [RANDOM_TOKEN], 0.6, accept=_is_random, name="RandomTokenRecognizer"),
        PhoneRecognizer(supported_regions=PHONE_REGIONS, context=PHONE_CONTEXT, leniency=1),
        CaptureRecognizer("PHONE_NUMBER", [INTERNATIONAL_PHONE], 0.45, accept=_phone_digits_ok,
                          context=PHONE_CONTEXT, name="InternationalPhoneRecognizer"),
        LowerCaseNameRecognizer(),
        KnownNameRecognizer(),
        PostalAddressRecognizer(),
        CaptureRecognizer("PHONE_NUMBER", [CUED_PHONE], 0.6, accept=_cued_phone_ok, name="CuedPhoneRecognizer"),
        CaptureRecognizer("PHONE_NUMBER", [TRUNK_PHONE], 0.45, accept=_phone_digits_ok, context=PHONE_CONTEXT,
                          name="TrunkPhoneRecognizer"),
        CaptureRecognizer("EMAIL_ADDRESS", [EMAIL_SHAPE], 0.9, name="EmailShapeRecognizer"),
        CaptureRecognizer("IP_ADDRESS", [IPV6_CANDIDATE], 0.7, accept=_is_ipv6, name="Ipv6Recognizer"),
        BoundedUrlRecognizer(),
    ]
    configured = sensitive_identifier_recognizer(sensitive_identifiers)
    if configured is not None:
        recognizers.append(configured)
    return recognizers
