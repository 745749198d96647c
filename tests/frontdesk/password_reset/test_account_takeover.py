"""Takeover signals: what turns a message read as a password reset into a security handoff."""

from __future__ import annotations

import pytest

from frontdesk.password_reset.account_takeover import account_takeover_signals


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
    # Phones type curly apostrophes.
    ("my password was changed and it wasn\u2019t me", ["not_me"]),
    ("someone\u2019s changed my password", ["someone_acted"]),
    ("my password was changed, I didn't do it", ["did_not_request"]),
    ("my pw was reset by someone", ["someone_else"]),
    ("unathorized login on my account", ["unauthorised"]),
    ("they took over my account", ["taken_over"]),
    ("I got phished and now I can't log in", ["phished"]),
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
    "I get a 401 Unauthorized error when I try to log in",
    "clicking reset password does not trigger any email",
    "I'm an admin and need to reset the password for someone else on my team",
    "please have someone reset my password",
    "please, someone reset my password",
    "has someone got a minute? I forgot my password",
    "I've taken over the account from my predecessor and don't know the password",
    "is there a hack to reset my password",
    "I changed my password last week and now I can't remember it",
    "",
    None,
])
def test_ordinary_resets_have_no_signal(text: str | None) -> None:
    assert account_takeover_signals(text) == []
