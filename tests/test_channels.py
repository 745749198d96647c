from __future__ import annotations

import pytest

from frontdesk_rasa.channels import EMPTY, MAX_MESSAGE_CHARS, TOO_LONG, check_message


@pytest.mark.parametrize(
    ("sender", "text", "problem", "reply"),
    [
        ("u1", "hello", None, None),
        ("u1", "x" * MAX_MESSAGE_CHARS, None, None),
        ("u1", "x" * (MAX_MESSAGE_CHARS + 1), None, TOO_LONG),
        ("u1", "", None, EMPTY),
        ("u1", "  \n ", None, EMPTY),
        ("u1", None, None, EMPTY),
        (None, "hello", "sender", None),
        ("", "hello", "sender", None),
        ("s" * 129, "hello", "sender", None),
        (42, "hello", "sender", None),
        ("u1", ["hello"], "message", None),
    ],
)
def test_check_message(sender, text, problem, reply):
    found_problem, found_reply = check_message(sender, text)
    assert (found_problem is None) == (problem is None)
    if problem:
        assert problem in found_problem
    assert found_reply == reply
