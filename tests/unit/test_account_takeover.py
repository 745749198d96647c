"""Takeover signals: what turns a message read as a password reset into a security handoff."""

from __future__ import annotations

import pytest

from frontdesk.account_takeover import account_takeover_signals


@pytest.mark.parametrize("text, signals", [
    ("my account was hacked and the password changed", ["hacked"]),
    ("i think my acount is compromized", ["compromised"]),
    ("my login got hijacked", ["taken_over"]),
    ("there was an unauthorised password change", ["unauthorised"]),
    ("my password was changed and it wasn't me", ["not_me"]),
    ("got a reset email I never requested", ["did_not_request"]),
    ("my password was reset without my permission", ["without_consent"]),
    ("somebody else is using my login", ["someone_else"]),
    ("somone changed my pasword", ["someone_acted"]),
    ("someone keeps trying to reset my password", ["someone_acted"]),
    ("my credentials were stolen, someone logged in", ["stolen", "someone_acted"]),
])
def test_takeover_phrases_are_signals(text: str, signals: list[str]) -> None:
    assert account_takeover_signals(text) == signals


@pytest.mark.parametrize("text", [
    "I forgot my password",
    "can someone reset my password for me",
    "could somebody help, I'm locked out",
    "please someone reset it, I have a demo in ten minutes",
    "I took over the account from a colleague and need a new password",
    "my account is locked after too many attempts",
    "the reset link never arrived",
    "I changed my password last week and now I can't remember it",
    "",
    None,
])
def test_ordinary_resets_have_no_signal(text: str | None) -> None:
    assert account_takeover_signals(text) == []
