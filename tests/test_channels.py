from __future__ import annotations

import warnings

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
        ("a/b", "hello", "sender", None),  # ids travel in URLs: nothing that needs quoting
        ("user 1", "hello", "sender", None),
        ("U0AB_D0CD_1764235000.123456", "hello", None, None),  # a Slack thread conversation
        ("e2e-billing-postgres+redis", "hello", None, None),
        ("u1", ["hello"], "message", None),
    ],
)
def test_check_message(sender, text, problem, reply):
    found_problem, found_reply = check_message(sender, text)
    assert (found_problem is None) == (problem is None)
    if problem:
        assert problem in found_problem
    assert found_reply == reply


async def test_socketio_sessions_join_their_room_even_when_enter_room_is_a_coroutine(monkeypatch):
    """The trap: python-socketio >= 5.10 made ``enter_room`` a coroutine, which Rasa 3.6.21 never
    awaits, so replies never reach the widget. The channel must await it (and still work with
    the pinned 5.9, where it is a plain function)."""
    from frontdesk_rasa.channels import PersistentSocketIOInput

    channel = PersistentSocketIOInput(session_persistence=True, user_message_evt="user_uttered",
                                      bot_message_evt="bot_uttered")

    async def on_new_message(message):
        received.append(message)

    received: list = []
    channel.blueprint(on_new_message)
    sio = channel.sio
    joined: list[tuple[str, str]] = []
    emitted: list[tuple[str, object, str]] = []

    async def coroutine_enter_room(sid, room, namespace=None):  # python-socketio >= 5.10
        joined.append((sid, room))

    async def emit(event, data=None, room=None, **kwargs):
        emitted.append((event, data, room))

    monkeypatch.setattr(sio, "enter_room", coroutine_enter_room)
    monkeypatch.setattr(sio, "emit", emit)
    handlers = sio.handlers["/"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
        await handlers["session_request"]("sid-1", {"session_id": "widget-session-1"})
    assert joined == [("sid-1", "widget-session-1")]
    assert emitted == [("session_confirm", "widget-session-1", "sid-1")]

    monkeypatch.setattr(sio, "enter_room", lambda sid, room, namespace=None: joined.append((sid, room)))
    await handlers["session_request"]("sid-2", {"session_id": "widget-session-2"})  # python-socketio 5.9
    assert joined[-1] == ("sid-2", "widget-session-2")

    # The widget's messages get the same checks as REST: a card number never reaches Rasa.
    await handlers["user_uttered"]("sid-1", {"session_id": "widget-session-1", "message": "card 4111 1111 1111 1111",
                                             "customData": "{not json"})
    [message] = received
    assert message.text == "card [card number removed]" and message.metadata == {}
    assert emitted[-1][0] == "bot_uttered" and "removed the card number" in emitted[-1][1]["text"]
    await handlers["user_uttered"]("sid-1", {"session_id": "widget-session-1", "message": "x" * 5000})
    assert len(received) == 1 and "too long" in emitted[-1][1]["text"]


def test_slack_is_off_without_credentials_and_threads_agent_replies():
    from frontdesk_rasa.slack import FrontdeskSlackBot, FrontdeskSlackInput

    off = FrontdeskSlackInput.from_credentials({"slack_token": "", "slack_signing_secret": ""})
    assert not off.configured  # Rasa's own connector refuses to start the server here
    on = FrontdeskSlackInput.from_credentials({"slack_token": "xoxb-1", "slack_signing_secret": "s",
                                               "slack_api_url": "http://127.0.0.1:9/api"})
    bot = on.get_output_channel()
    assert isinstance(bot, FrontdeskSlackBot) and str(bot.client.base_url) == "http://127.0.0.1:9/api/"
