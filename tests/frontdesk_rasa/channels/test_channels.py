"""The channels' own logic, without a Rasa server: text checks, issued socket.io sessions (the
room a socket joins is derived from a token only the server issues), and the metadata a message
may carry into the tracker store."""

from __future__ import annotations

import warnings

import pytest

from frontdesk.core.chat_sessions import ChatSessions
from frontdesk.settings import Settings
from frontdesk_rasa.channels import gate as channels
from frontdesk_rasa.channels.gate import EMPTY, MAX_MESSAGE_CHARS, SESSION_UNKNOWN, TOO_LONG, ChannelGate, check_text

SECRET = "channel-test-secret-key-0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "problem", "reply"),
    [
        ("hello", None, None),
        ("x" * MAX_MESSAGE_CHARS, None, None),
        ("x" * (MAX_MESSAGE_CHARS + 1), None, TOO_LONG),
        ("", None, EMPTY),
        ("  \n ", None, EMPTY),
        (None, None, EMPTY),
        (["hello"], "message", None),
        (42, "message", None),
    ],
)
def test_check_text(text, problem, reply):
    found_problem, found_reply = check_text(text)
    assert (found_problem is None) == (problem is None)
    if problem:
        assert problem in found_problem
    assert found_reply == reply


@pytest.fixture
def gate(monkeypatch, tmp_path) -> ChannelGate:
    settings = Settings(env="development", secret_key=SECRET, database_url=f"sqlite:///{tmp_path / 'fd.db'}")
    built = ChannelGate.from_settings(settings)
    monkeypatch.setattr(channels, "channel_gate", lambda: built)
    return built


def test_metadata_keeps_the_client_s_keys_but_never_our_namespace_or_the_token(gate):
    stored = gate.metadata({"page": "/billing", "frontdesk_customer": {"customer_id": "AC-100001"},
                            "frontdesk_client": "forged", "customer_token": "eyJ..."}, "rest-1", "client-key")
    # No customer-token key is configured here: the token is refused, and never stored.
    assert stored == {"page": "/billing", "frontdesk_customer": {"rejected": "not_configured"},
                      "frontdesk_client": "client-key"}
    assert gate.metadata("{not json", "rest-1", "k") == {"frontdesk_client": "k"}


def test_one_client_hammering_away_cannot_use_up_everyone_s_share(tmp_path):
    from frontdesk.settings import AbuseLimits

    settings = Settings(env="development", secret_key=SECRET, database_url=f"sqlite:///{tmp_path / 'fd.db'}",
                        abuse=AbuseLimits(messages_per_client_per_minute=5, messages_per_minute=20))
    gate = ChannelGate.from_settings(settings)
    admitted = [gate.admit("attacker", None) for _ in range(500)]
    assert admitted.count(True) == 5
    assert all(gate.admit(f"customer-{n}", f"conversation-{n}") for n in range(15))  # the rest of the share


async def test_socketio_sessions_are_issued_and_join_the_derived_room(gate, monkeypatch):
    """A socket joins the room of the conversation derived from a token the server issued; a
    made-up session id gets a new token instead. The trap of python-socketio >= 5.10, where
    ``enter_room`` is a coroutine Rasa 3.6.21 never awaits, is covered too (and the pinned 5.9,
    where it is a plain function)."""
    from frontdesk_rasa.channels.socketio import PersistentSocketIOInput

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
    sessions = ChatSessions(SECRET)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
        await handlers["session_request"]("sid-1", {"session_id": "widget-session-1"})  # made up: refused
    [(event, token, room)] = emitted
    assert (event, room) == ("session_confirm", "sid-1") and token != "widget-session-1"
    conversation = sessions.conversation_id("socketio", token)
    assert conversation is not None and joined == [("sid-1", conversation)]

    # A reload sends the token back and gets the same conversation.
    monkeypatch.setattr(sio, "enter_room", lambda sid, room, namespace=None: joined.append((sid, room)))
    await handlers["session_request"]("sid-2", {"session_id": token})  # python-socketio 5.9
    assert joined[-1] == ("sid-2", conversation) and emitted[-1] == ("session_confirm", token, "sid-2")
    # A socket is in one conversation's room at a time: asking again leaves the previous one.
    left: list[tuple[str, str]] = []
    monkeypatch.setattr(sio, "leave_room", lambda sid, room, namespace=None: left.append((sid, room)))
    await handlers["session_request"]("sid-2", {"session_id": None})
    assert left == [("sid-2", conversation)] and joined[-1][1] != conversation

    # A REST token, a bare conversation id or a Slack-shaped id is not a socket.io session.
    for forged in (sessions.issue("rest"), conversation, "U0AB_D0CD_1764235000.123456"):
        await handlers["user_uttered"]("sid-3", {"session_id": forged, "message": "show my invoices"})
        assert emitted[-1] == ("bot_uttered", {"text": SESSION_UNKNOWN}, "sid-3")
    assert received == []

    # The widget's messages get the same checks as REST: a card number never reaches Rasa.
    await handlers["user_uttered"]("sid-1", {"session_id": token, "message": "card 4111 1111 1111 1111",
                                             "customData": "{not json"})
    [message] = received
    assert message.sender_id == conversation and message.text == "card [card number removed]"
    assert set(message.metadata) == {"frontdesk_client"}
    assert emitted[-1][0] == "bot_uttered" and "removed the card number" in emitted[-1][1]["text"]
    await handlers["user_uttered"]("sid-1", {"session_id": token, "message": "x" * 5000})
    assert len(received) == 1 and "too long" in emitted[-1][1]["text"]


def test_slack_is_off_without_credentials_and_threads_agent_replies():
    from frontdesk_rasa.channels.slack import FrontdeskSlackBot, FrontdeskSlackInput

    off = FrontdeskSlackInput.from_credentials({"slack_token": "", "slack_signing_secret": ""})
    assert not off.configured  # Rasa's own connector refuses to start the server here
    on = FrontdeskSlackInput.from_credentials({"slack_token": "xoxb-1", "slack_signing_secret": "s",
                                               "slack_api_url": "http://127.0.0.1:9/api"})
    bot = on.get_output_channel()
    assert isinstance(bot, FrontdeskSlackBot) and str(bot.client.base_url) == "http://127.0.0.1:9/api/"
