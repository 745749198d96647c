from __future__ import annotations

import pytest

from frontdesk.accounts.identity import extract_email
from frontdesk.accounts.passwords import PasswordPolicyError, check_password_policy, hash_password, verify_password


def test_scrypt_hash_round_trip_and_salt():
    first, second = hash_password("a long enough secret"), hash_password("a long enough secret")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("a long enough secret", first)
    assert not verify_password("a long enough secreT", first)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "garbage$hash")


@pytest.mark.parametrize(
    "password",
    ["short", "a" * 129, "passwordpassword", "aaaaaaaaaaaaaaaa", "ada.lovelace-rocks-2026"],
)
def test_policy_refuses(password):
    with pytest.raises(PasswordPolicyError):
        check_password_policy(password, "ada.lovelace@example.com")


def test_policy_accepts_a_passphrase():
    check_password_policy("correct horse battery staple", "ada.lovelace@example.com")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ada.lovelace@example.com", "ada.lovelace@example.com"),
        ("it's Ada.Lovelace@Example.COM thanks", "ada.lovelace@example.com"),
        ("my email is sam+work@mail.example.org.", "sam+work@mail.example.org"),
        ("jane at example dot com", None),
        ("a@b.com or c@d.com", None),
        ("", None),
        (None, None),
        ("x" * 2000 + "@example.com", None),
        ("not-an-email@", None),
        ("two..dots@example.com", None),
    ],
)
def test_extract_email(text, expected):
    assert extract_email(text) == expected
