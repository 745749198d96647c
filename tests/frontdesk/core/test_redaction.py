"""Issue 19: the one redaction service finds every kind of personal data support chat carries,
whatever its case, and leaves what an agent needs (invoice and ticket numbers, prices, versions).

These tests load the spaCy pipeline once (a few seconds), as the existing ticket-redactor test does."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from frontdesk.core.privacy import Redactor, default_redactor

LICENCE_KEY = r"(?i)\bLIC(?:-[A-Z0-9]{4}){3}\b"


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(sensitive_identifiers=(LICENCE_KEY,))


def removed(redactor: Redactor, text: str, *values: str) -> str:
    redacted = redactor.redact(text)
    for value in values:
        assert value not in redacted, f"{value!r} left in {redacted!r}"
    return redacted


@pytest.mark.parametrize(("text", "value", "placeholder"), [
    pytest.param("my email is anna.kowalski@gmail.com", "anna.kowalski@gmail.com", "<EMAIL_ADDRESS>", id="e-mail"),
    pytest.param("mail me at anna@corp.local", "anna@corp", "<EMAIL_ADDRESS>", id="e-mail, no public suffix"),
    pytest.param("call me on +44 20 7946 0958", "7946 0958", "<PHONE_NUMBER>", id="phone, international"),
    pytest.param("or (415) 555-0134 after 5", "555-0134", "<PHONE_NUMBER>", id="phone, us"),
    pytest.param("my number 0049 30 1234567", "1234567", "<PHONE_NUMBER>", id="phone, 00 prefix"),
    pytest.param("card 4111.1111.1111.1111 pls", "1111", "<CREDIT_CARD>", id="card, dotted"),
    pytest.param("iban DE89 3704 0044 0532 0130 00", "3704", "<IBAN_CODE>", id="iban"),
    pytest.param("our server 192.168.10.44 is blocked", "192.168", "<IP_ADDRESS>", id="ipv4"),
    pytest.param("ip 2001:db8:85a3::8a2e:370:7334 too", "2001:db8", "<IP_ADDRESS>", id="ipv6, compressed"),
    pytest.param("I am Olivia Brown, the account owner", "Olivia", "<PERSON>", id="person, capitalised"),
    pytest.param("i moved to 221b baker st, london", "baker st", "<ADDRESS>", id="street line"),
    pytest.param("new address flat 3, 14 High Road", "14 High Road", "<ADDRESS>", id="street line with flat"),
    pytest.param("Hauptstraße 12 in Berlin", "Hauptstraße 12", "<ADDRESS>", id="street line, number after"),
    pytest.param("new address herengracht 40 pls", "herengracht 40", "<ADDRESS>", id="street line after words"),
    pytest.param("postcode is SW1A 1AA", "SW1A", "<POSTCODE>", id="uk postcode"),
    pytest.param("postal code M5V 3L9 toronto", "M5V", "<POSTCODE>", id="canadian postcode"),
    pytest.param("zip 94103-1234", "94103", "<POSTCODE>", id="zip+4"),
    pytest.param("wohne in 1015 CJ amsterdam", "1015 CJ", "<POSTCODE>", id="dutch postcode"),
    pytest.param("address: Hauptstraße 12, 10115 Berlin", "10115", "<POSTCODE>", id="german postcode before the city"),
    pytest.param("my password is hunter2! sorry", "hunter2", "<PASSWORD>", id="password"),
    pytest.param("the code 482913 didnt work", "482913", "<ONE_TIME_CODE>", id="one-time code"),
    pytest.param("otp: 123 456 expired", "123 456", "<ONE_TIME_CODE>", id="one-time code, grouped"),
    pytest.param("key sk_live_51HxYz8kLmN0pQr2StUvWx3 leaked", "sk_live", "<API_KEY>", id="stripe-style key"),
    pytest.param("token ghp_R7cX2mLq9vT4nB8kW1yZ5pD3sF6hJ0aQeUiO", "ghp_", "<API_KEY>", id="github token"),
    pytest.param("aws AKIAIOSFODNN7EXAMPLE in the log", "AKIA", "<API_KEY>", id="aws key"),
    pytest.param("see a8F3kL9mQ2xR7tV1wZ4nB6yC0dE5gH in curl", "a8F3kL9", "<API_KEY>", id="random token"),
    pytest.param("key -----BEGIN RSA PRIVATE KEY----- attached", "PRIVATE KEY", "<API_KEY>", id="private key"),
    pytest.param("licence LIC-7KQ2-M9XA-44TB fails", "LIC-7KQ2", "<SENSITIVE_ID>", id="configured identifier"),
])
def test_each_kind_of_personal_data_is_replaced_by_its_placeholder(redactor: Redactor, text: str, value: str,
                                                                   placeholder: str):
    redacted = removed(redactor, text, value)
    assert placeholder in redacted


@pytest.mark.parametrize(("text", "redacted"), [
    pytest.param("my name is anna kowalski and i cant log in", "my name is <PERSON> and i cant log in",
                 id="my name is"),
    pytest.param("this is tom from acme", "this is <PERSON> from acme", id="this is"),
    pytest.param("hi, i'm jonas, the admin", "hi, i'm <PERSON>, the admin", id="i'm"),
    pytest.param("thanks, maria", "thanks, <PERSON>", id="signature"),
    pytest.param("kind regards, dr. ahmed khan", "kind regards, dr. <PERSON>", id="regards with a title"),
    pytest.param("name on card j doe", "name on card <PERSON>", id="name on card"),
])
def test_lower_case_names_are_found_after_their_cue(redactor: Redactor, text: str, redacted: str):
    assert redactor.redact(text) == redacted


@pytest.mark.parametrize("text", [
    pytest.param("this is urgent, our whole team is locked out", id="this is urgent"),
    pytest.param("i'm stuck on the login page since friday", id="i'm stuck"),
    pytest.param("my password is not working", id="password talked about"),
    pytest.param("the reset-password didnt help", id="password in a slug"),
    # Found by the inbox end-to-end test after the held-out run: a sign-off cue before ordinary words.
    pytest.param("thanks, that's great", id="thanks, that's great"),
    pytest.param("thanks, great job everyone", id="thanks, great job"),
    pytest.param("cheers, mate", id="cheers, mate"),
])
def test_cue_words_without_a_name_or_secret_leave_the_message_alone(redactor: Redactor, text: str):
    assert redactor.redact(text) == text


@pytest.mark.parametrize("trap", [
    pytest.param("INV-2024-0042", id="invoice number"),
    pytest.param("#4821", id="short invoice number"),
    pytest.param("HO-00012", id="ticket reference"),
    pytest.param("FD-123", id="ticket reference, short"),
    pytest.param("AC-100004", id="account id"),
    pytest.param("Frontdesk Pro", id="product name"),
    pytest.param("Premium", id="plan name"),
    pytest.param("$49.00", id="price"),
    pytest.param("€1,200", id="price, euro"),
    pytest.param("12 March 2024", id="date"),
    pytest.param("14:32", id="time"),
    pytest.param("v2.3.1", id="version"),
    pytest.param("3.6.21", id="version, bare"),
    pytest.param("E1042", id="error code"),
    pytest.param("HTTP 503", id="http status"),
    pytest.param("ERR_CONNECTION_RESET", id="browser error"),
    pytest.param("100234567", id="order number"),
    pytest.param("https://help.frontdesk.example/articles/reset-password", id="help-centre link"),
])
def test_what_agents_need_is_not_redacted(redactor: Redactor, trap: str):
    text = (f"hi, about {trap} pls: it still fails" if not trap.startswith("1")
            else f"order {trap} arrived broken")
    assert trap in redactor.redact(text)


def test_a_trap_next_to_personal_data_survives_while_the_data_goes(redactor: Redactor):
    text = ("invoice INV-2024-0042 for Frontdesk Pro ($49.00) was charged to 4526 0181 5908 3012, "
            "ticket HO-00012, mail anna@example.org")
    redacted = redactor.redact(text)
    assert redacted == ("invoice INV-2024-0042 for Frontdesk Pro ($49.00) was charged to <CREDIT_CARD>, "
                        "ticket HO-00012, mail <EMAIL_ADDRESS>")


def test_context_words_raise_a_weak_pattern_over_the_threshold(redactor: Redactor):
    # Five digits are any number; "zip" before them makes them a postcode.
    assert "<POSTCODE>" in redactor.redact("my zip code is 60614")
    assert redactor.redact("we sent 60614 messages last month") == "we sent 60614 messages last month"


def test_context_words_lower_the_score_of_reference_numbers(redactor: Redactor):
    # Phone-shaped, but an order number or an error's code: agents need them.
    assert "0612345678" in redactor.redact("order no. 0612345678 was charged twice")
    assert "<PHONE_NUMBER>" in redactor.redact("my mobile 0612345678")
    assert "4003" in redactor.redact("the error says quota exceeded (code 4003)")
    assert "4003" not in redactor.redact("the code they sent me is 4003")


def test_configured_identifiers_are_redacted_only_when_configured():
    text = "licence LIC-7KQ2-M9XA-44TB is not activating"
    assert "<SENSITIVE_ID>" in Redactor(sensitive_identifiers=(LICENCE_KEY,)).redact(text)
    assert "LIC-7KQ2-M9XA-44TB" in default_redactor().redact(text)
    configured = default_redactor((LICENCE_KEY,))  # what a caller with settings passes
    assert configured is default_redactor((LICENCE_KEY,)) and "<SENSITIVE_ID>" in configured.redact(text)


def test_a_broken_configured_pattern_fails_at_construction():
    with pytest.raises(re.error):
        Redactor(sensitive_identifiers=("LIC-(",))


def test_several_entities_in_one_sentence_each_get_their_placeholder(redactor: Redactor):
    text = ("Hi, my name is Grace O'Malley, card 5901 0928 1590 1398, iban IE14AIBK19792376092603, "
            "phone 07911 123456, password: Summer2024")
    assert redactor.redact(text) == ("Hi, my name is <PERSON>, card <CREDIT_CARD>, iban <IBAN_CODE>, "
                                     "phone <PHONE_NUMBER>, password: <PASSWORD>")


def test_find_returns_sorted_non_overlapping_spans(redactor: Redactor):
    text = "mail a.b@example.org, card 4111 1111 1111 1111, ip 10.0.0.17"
    spans = redactor.find(text)
    assert [kind for _, _, kind in spans] == ["EMAIL_ADDRESS", "CREDIT_CARD", "IP_ADDRESS"]
    assert all(end <= start for (_, end, _), (start, _, _) in itertools.pairwise(spans))


@pytest.mark.parametrize("text", [
    pytest.param("code" + " " * 5_000 + "x", id="spaces after a code cue"),
    pytest.param("flat" + " " * 5_000 + "x", id="spaces after a flat number cue"),
    pytest.param("api key" + " " * 5_000 + "x", id="spaces after a key cue"),
    pytest.param("password" + " is" * 1_500 + "x", id="repeated assignment words"),
    pytest.param("+1 " * 1_500, id="phone starts"),
    pytest.param("1:" * 2_500, id="ipv6-like run"),
    pytest.param("12 ab " * 800, id="street-like run"),
    pytest.param("a@" * 2_500, id="e-mail-like run"),
])
def test_our_patterns_stay_linear_on_hostile_input(text: str):
    from frontdesk.core import recognizers

    patterns = [recognizers.ONE_TIME_CODE, recognizers.ONE_TIME_CODE_BEFORE_CUE, recognizers.PASSWORD,
                recognizers.PASSWORD_AFTER_COLON, recognizers.PASSWORD_SHORT, recognizers.STREET_LINE,
                recognizers.STREET_LINE_NUMBER_AFTER, recognizers.INTERNATIONAL_PHONE, recognizers.RANDOM_TOKEN,
                recognizers.IPV6_CANDIDATE, recognizers.EMAIL_SHAPE, *recognizers.API_KEY_PATTERNS,
                *recognizers.API_KEY_AFTER_CUE]
    started = time.perf_counter()
    for pattern in patterns:
        list(pattern.finditer(text))
    assert time.perf_counter() - started < 0.25
