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


# --- Generalising to customers' messages nobody has written yet: street types of many languages,
# postcodes by their country's shape and the words around them, local phone numbers after a cue,
# names from a list of first names of many origins, after verbs and in signatures.


@pytest.mark.parametrize(("text", "street"), [
    pytest.param("please ship to 14 rue des lilas, 69003 lyon", "14 rue des lilas", id="french, number first"),
    pytest.param("spedite a viale monza 140, 20127 milano", "viale monza 140", id="italian, number after"),
    pytest.param("mi dirección: avenida de la constitución 20", "avenida de la constitución 20", id="spanish"),
    pytest.param("morada: travessa do carmo 7, lisboa", "travessa do carmo 7", id="portuguese"),
    pytest.param("adres: ul. Świętokrzyska 30/12, 00-116 Warszawa", "ul. Świętokrzyska 30/12", id="polish"),
    pytest.param("skicka till drottninggatan 53, 111 21 stockholm", "drottninggatan 53", id="swedish"),
    pytest.param("billing: 77 w 34th st, new york", "77 w 34th st", id="us, ordinal street"),
    pytest.param("kontor: Karl Johans gate 22, 0159 Oslo", "Karl Johans gate 22", id="street before a postcode"),
    pytest.param("PLZ 50667 Köln, Domkloster 4", "Domkloster 4", id="street after a postcode and city"),
    pytest.param("mail it to PO Box 4410, Austin", "PO Box 4410", id="po box"),
    pytest.param("2-7-2 marunouchi, chiyoda-ku, tokyo", "2-7-2 marunouchi", id="japanese block"),
])
def test_street_lines_of_many_countries_are_redacted(redactor: Redactor, text: str, street: str):
    assert "<ADDRESS>" in removed(redactor, text, street)


@pytest.mark.parametrize(("text", "postcode"), [
    pytest.param("14 rue de la paix, 75002 paris", "75002", id="five digits before a known city"),
    pytest.param("ul. długa 8, 00-950 warszawa", "00-950", id="polish"),
    pytest.param("rua augusta 100, 1100-048 lisboa", "1100-048", id="portuguese"),
    pytest.param("Tokyo 150-0002, shibuya office", "150-0002", id="japanese after a city"),
    pytest.param("cp 08001 barcelona", "08001", id="spanish cue"),
    pytest.param("melbourne VIC 3000", "3000", id="australian state before"),
    pytest.param("our eircode is D02 X285", "D02 X285", id="eircode"),
    pytest.param("sveavägen 44, 111 34 stockholm", "111 34", id="swedish after a street"),
    pytest.param("wohne in keizersgracht 1, 1016 dv amsterdam", "1016 dv", id="dutch in lower case with a city"),
])
def test_postcodes_are_redacted_where_something_says_they_are_one(redactor: Redactor, text: str, postcode: str):
    assert "<POSTCODE>" in removed(redactor, text, postcode)


@pytest.mark.parametrize("text", [
    pytest.param("since 2019 we use you in madrid, valencia and sevilla", id="year before a city"),
    pytest.param("room 4012 in the conference centre", id="room number"),
    pytest.param("the dashboard says 75002 visits this month", id="count"),
    pytest.param("order 77120 never arrived in paris", id="order number before a city"),
    pytest.param("place an order for 3 more seats via email", id="place and via as words"),
    pytest.param("os version 14 on route 66", id="os and route"),
    pytest.param("we are 12 people in berlin and 4 in lisbon", id="cities alone"),
])
def test_numbers_and_words_that_only_look_like_addresses_stay(redactor: Redactor, text: str):
    assert redactor.redact(text) == text


@pytest.mark.parametrize(("text", "phone"), [
    pytest.param("call me 555 0187 im at the office", "555 0187", id="local seven digits after a cue"),
    pytest.param("phone (415) 555-0132 ext. 204, thanks", "ext. 204", id="extension"),
    pytest.param("mi número es 612 345 678", "612 345 678", id="spanish cue"),
    pytest.param("telemóvel 912 345 678", "912 345 678", id="portuguese cue"),
    pytest.param("reach me on 030 22 48 66 19", "030 22 48 66 19", id="trunk zero, groups"),
])
def test_phone_numbers_after_a_cue_or_with_a_trunk_zero_are_redacted(redactor: Redactor, text: str, phone: str):
    assert "<PHONE_NUMBER>" in removed(redactor, text, phone)


@pytest.mark.parametrize(("text", "name"), [
    pytest.param("remove priya from the workspace pls", "priya", id="known first name, lower case"),
    pytest.param("please add juan ortega to our team", "juan ortega", id="first name and surname"),
    pytest.param("the user siobhan murphy cant see ticket 4", "siobhan murphy", id="listed surname"),
    pytest.param("refund it thanks, pieter de vries", "pieter de vries", id="particle and surname"),
    pytest.param("add lars and freya as agents", "freya", id="two names after one verb"),
    pytest.param("transfer the licence to oleksandra", "oleksandra", id="unknown name after a verb"),
    pytest.param("nico again, still broken after 2 days", "nico", id="name opening a message"),
    pytest.param("phone 555 0132, ask for will", "will", id="ambiguous name after a cue"),
    pytest.param("remove access for jan de vries", "jan de vries", id="ambiguous name with a surname"),
    pytest.param("Best regards,\nMark Devlin\nHead of Ops", "Mark Devlin", id="signature line"),
    pytest.param("--\nClaire Dubois | Office Manager", "Claire Dubois", id="signature with a title"),
    pytest.param("thanks a lot Paulina! - Wojtek", "Wojtek", id="dash after punctuation"),
    pytest.param("Freundliche Grüße\nMaximilian Roth", "Maximilian Roth", id="german sign-off"),
    pytest.param("hola, soy diego, mi correo cambió", "diego", id="spanish cue"),
    pytest.param("thx\n-- omar", "omar", id="spaCy's longer span does not hide ours"),
])
def test_names_of_many_origins_are_found_in_lower_case_and_mid_sentence(redactor: Redactor, text: str, name: str):
    assert "<PERSON>" in removed(redactor, text, name)


@pytest.mark.parametrize("text", [
    pytest.param("Will you refund invoice INV-2026-1187?", id="Will"),
    pytest.param("Mark the invoice as paid please", id="Mark"),
    pytest.param("April was billed twice", id="April"),
    pytest.param("Grace period ends on 15 march", id="Grace"),
    pytest.param("Jordan is not in the country list for VAT", id="Jordan"),
    pytest.param("ok, will try again tomorrow", id="will as a verb"),
    pytest.param("what happens to tickets when an agent leaves", id="agent cue before a verb"),
    pytest.param("xoxp-token is our user token", id="user cue before a word"),
    pytest.param("new HQ in san francisco", id="first name in a city"),
    pytest.param("someone called saying they are frontdesk", id="called before a verb"),
    # Found on the bot's NLU examples (thousands of customer messages without names).
    pytest.param("whats the quickest project we can do tonight", id="ambiguous name and a particle"),
    pytest.param("Officer here, we need subscriber details", id="capital at the start of a message"),
    pytest.param("please disable two-factor on my account", id="hyphenated word after a verb"),
    pytest.param("thank youuu", id="stretched word after thanks"),
    pytest.param("hi, sorry to bother, I'm looking at my bank app", id="weak cue before a verb"),
])
def test_words_that_look_like_names_stay(redactor: Redactor, text: str):
    assert "<PERSON>" not in redactor.redact(text)


def test_chat_words_after_a_password_cue_are_not_passwords(redactor: Redactor):
    assert redactor.redact("cant log in, forgot my pasword thx") == "cant log in, forgot my pasword thx"
    assert redactor.redact("mein Passwort funktioniert nicht") == "mein Passwort funktioniert nicht"
    assert "<PASSWORD>" in removed(redactor, "la contraseña es Gato_Azul77", "Gato_Azul77")


def test_spacy_names_lose_the_words_of_other_languages_around_them(redactor: Redactor):
    assert redactor.redact("hola, soy lucía fernández, mi tarjeta fue rechazada") == \
        "hola, soy <PERSON>, mi tarjeta fue rechazada"
    assert redactor.redact("Ich heiße Jonas Becker und mein Passwort ist weg") == \
        "Ich heiße <PERSON> und mein Passwort ist weg"


def test_the_word_lists_are_lower_case_data_files_with_names_of_many_origins():
    from frontdesk.core.recognizers import word_list

    plain, ambiguous = word_list("first_names.txt")
    assert len(plain) > 1500 and {"priya", "agnieszka", "oluwaseun", "björn", "joão", "haruto"} <= plain
    assert {"will", "mark", "april", "may", "grace", "sofia"} <= ambiguous and not plain & ambiguous
    assert all(name == name.lower() and " " not in name for name in plain | ambiguous)
    assert {"murphy", "kowalski", "ferrari"} <= word_list("surnames.txt")[0]
    assert {"paris", "münchen", "warszawa"} <= word_list("cities.txt")[0]


@pytest.mark.parametrize("text", [
    pytest.param("14 rue " + "de " * 3_000, id="street particles"),
    pytest.param("via " * 3_000, id="street types"),
    pytest.param("12345 paris " * 1_000, id="postcodes and cities"),
    pytest.param("1-1-1 " * 2_000, id="japanese blocks"),
    pytest.param("postfach " + "12 " * 3_000, id="po box groups"),
    pytest.param("anna " * 2_000, id="names"),
    pytest.param("add " * 3_000, id="name verbs"),
    pytest.param("Ab " * 4_000, id="capitalised words"),
    pytest.param("a'" * 5_000, id="apostrophes"),
    pytest.param("call me " + "1 " * 3_000, id="phone groups"),
])
def test_the_new_recognizers_stay_linear_on_hostile_input(text: str):
    from frontdesk.core import recognizers

    started = time.perf_counter()
    recognizers.postal_spans(text)
    recognizers.KnownNameRecognizer().analyze(text, ["PERSON"])
    recognizers.LowerCaseNameRecognizer().analyze(text, ["PERSON"])
    for pattern in (recognizers.CUED_PHONE, recognizers.TRUNK_PHONE, recognizers.PASSWORD_AFTER_LOGIN,
                    recognizers.ONE_TIME_CODE_MIXED, recognizers.JAPANESE_BLOCK, recognizers.PO_BOX):
        list(pattern.finditer(text))
    assert time.perf_counter() - started < 0.5


def test_a_link_is_found_token_by_token_in_linear_time_and_an_overlong_run_is_redacted_whole():
    redactor = Redactor()
    spans = redactor.find("see https://tracker.example.com/u?email=ana@x.org and www.evil-site.net/x please")
    assert {kind for _, _, kind in spans} >= {"URL"}
    hostile = "a." * 1000  # Presidio's "Non schema URL" pattern is quadratic on this: 6.5 s before
    started = time.perf_counter()
    found = redactor.find(hostile)
    assert time.perf_counter() - started < 1.0
    assert found and found[0][0] == 0 and found[-1][1] == len(hostile)  # over 256 characters: redacted whole
