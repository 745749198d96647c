"""Rasa input channels with the checks Frontdesk needs in front of the dialogue engine.

Both public channels (REST and the widget's socket.io) go through one ``ChannelGate``:

- **Conversation ids are issued, not chosen** (frontdesk/chat_sessions.py). A client gets a
  session token with its first reply and sends it back; the conversation id is derived from it.
  A made-up or another channel's token, a Slack-shaped id or a bare conversation id opens
  nothing.
- **The customer token never reaches the tracker store**: it is checked here and replaced by an
  attestation (frontdesk/customer_token.py); keys of our own namespace sent by a client are
  dropped.
- **Rate limits** per conversation, per client address (rotating ids does not help) and for the
  whole process, answered with a clear "try again later".
- **Input checks**: empty or over-long messages are answered without NLU, request bodies are
  capped before they are parsed (frontdesk/runtime.py, engine.io's buffer), card numbers and
  IBANs are removed before anything stores them (frontdesk/privacy.py: every common separator,
  Luhn- and mod-97-checked, an IBAN never called a card), and logs never carry message text.

REST (``/webhooks/rest/webhook``): Rasa's request and reply shapes. Leave ``sender`` out to start a
conversation; the reply's ``X-Frontdesk-Session`` header (and each message's ``recipient_id``)
carries the session token, which later messages send as ``sender``. ``GET
/webhooks/rest/messages?since=<unix seconds>`` with the token in ``X-Frontdesk-Session`` lists
what a support agent wrote. ``{"metadata": {"customer_token": …}}`` vouches for a logged-in
customer.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from frontdesk.chat_sessions import CLIENT_KEY, SESSION_HEADER, ChatSessions
from frontdesk.conversations import AGENT_METADATA_KEY
from frontdesk.customer_token import (
    CustomerAttestations,
    CustomerTokenVerifier,
    TokenReplayGuard,
    admitted_metadata,
)
from frontdesk.db import Database
from frontdesk.privacy import strip_payment_details
from frontdesk.ratelimit import SlidingWindowLimiter, client_identity
from frontdesk.settings import Settings
from frontdesk_rasa import speedups

log = logging.getLogger(__name__)

# Every Rasa server imports this module (credentials.yml) before it loads the model: the place
# to apply the profiled speed-ups to Rasa's message path (FRONTDESK_SPEEDUPS=0 turns them off).
speedups.install()

MAX_MESSAGE_CHARS = 2000
MAX_METADATA_CHARS = 8192
MAX_SOCKET_PACKET_BYTES = 64 * 1024
POLLS_PER_CLIENT_PER_MINUTE = 120  # a poll every half second; each reads the conversation
TOO_LONG = (
    f"That message is too long for me (over {MAX_MESSAGE_CHARS:,} characters). Please send a shorter "
    'summary of what you need, or say "agent" to reach a person.'
)
EMPTY = "It looks like your message was empty. What can I help you with?"
SLOW_DOWN = "You're sending messages faster than I can answer them. Please wait a minute and try again."
SESSION_UNKNOWN = "This chat session is no longer valid. Please reload the page to start a new chat."
CARD_REMOVED = (
    "For your security, I've removed the card number from your message and it isn't stored. Please never "
    "type card details in a chat: you can update your card safely in the billing portal."
)
IBAN_REMOVED = (
    "For your security, I've removed the bank account number (IBAN) from your message and it isn't stored. "
    "Please don't send bank details in a chat: if a person needs them, they will ask you safely."
)


def without_payment_details(text: str) -> tuple[str, list[str]]:
    """The text with card numbers and IBANs removed, and what to tell the customer about it."""
    stripped = strip_payment_details(text)
    notices = ([CARD_REMOVED] if stripped.cards else []) + ([IBAN_REMOVED] if stripped.ibans else [])
    return stripped.text, notices


def check_text(text: Any) -> tuple[str | None, str | None]:
    """(problem for the HTTP caller, reply for the customer); both None when the text is fine."""
    if text is not None and not isinstance(text, str):
        return "'message' must be a string", None
    if text is None or not text.strip():
        return None, EMPTY
    if len(text) > MAX_MESSAGE_CHARS:
        return None, TOO_LONG
    return None, None


@dataclass
class ChannelGate:
    """What every public channel checks before a message reaches the dialogue engine."""

    sessions: ChatSessions
    attestations: CustomerAttestations | None
    settings: Settings
    per_conversation: SlidingWindowLimiter
    per_client: SlidingWindowLimiter
    overall: SlidingWindowLimiter
    polls: SlidingWindowLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> ChannelGate:
        attestations = None
        if settings.customer_token.configured:
            attestations = CustomerAttestations(CustomerTokenVerifier(settings.customer_token),
                                                TokenReplayGuard(Database(settings.database_url)), settings.secret_key)
        limits = settings.abuse
        return cls(ChatSessions(settings.secret_key), attestations, settings,
                   SlidingWindowLimiter(limits.messages_per_conversation_per_minute, 60),
                   SlidingWindowLimiter(limits.messages_per_client_per_minute, 60),
                   SlidingWindowLimiter(limits.messages_per_minute, 60, max_keys=1),
                   SlidingWindowLimiter(POLLS_PER_CLIENT_PER_MINUTE, 60))

    def client(self, peer: str | None, headers: Mapping[str, str]) -> str:
        return self.sessions.client_key(client_identity(peer, headers, self.settings.client_address))

    def admit(self, client: str, conversation_id: str | None) -> bool:
        """Counts the message against its client, its conversation, then everyone's limit; False
        when one refuses it. What a client's own limit refuses never reaches the overall one: one
        client hammering away cannot use up everyone's share."""
        if not self.per_client.allow(client):
            return False
        if conversation_id is not None and not self.per_conversation.allow(conversation_id):
            return False
        return self.overall.allow("all")

    def admit_poll(self, client: str) -> bool:
        """A waiting REST client polls every few seconds: its own, more generous limit."""
        return self.polls.allow(client)

    def metadata(self, client_metadata: dict[str, Any] | None, conversation_id: str, client: str) -> dict[str, Any]:
        """What the message stores: the client's metadata (already ``bounded_metadata``) admitted,
        and the client's pseudonym."""
        metadata = admitted_metadata(client_metadata or {}, conversation_id, self.attestations)
        metadata[CLIENT_KEY] = client
        return metadata


def bounded_metadata(value: Any) -> dict[str, Any] | None:
    """A client's metadata as an object of at most MAX_METADATA_CHARS (the widget may send it as
    a JSON string), or None when it is not one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict) or len(json.dumps(value)) > MAX_METADATA_CHARS:
        return None
    return value


@functools.lru_cache(maxsize=1)
def channel_gate() -> ChannelGate:
    """One per Rasa process, built when the channels are (a bad setting stops Rasa starting)."""
    return ChannelGate.from_settings(Settings.from_env())


def _unauthorized(problem: str) -> HTTPResponse:
    return response.json({"error": problem}, status=401, headers={"WWW-Authenticate": "Frontdesk-Session"})


class BoundedRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"  # same webhook URL as Rasa's REST channel

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        gate = channel_gate()

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/messages", methods=["GET"])
        async def agent_messages(request: Request) -> HTTPResponse:
            """REST has no push: a waiting client polls here for what a support agent wrote, with
            its session token in the X-Frontdesk-Session header (never in the URL)."""
            if not gate.admit_poll(gate.client(request.ip, request.headers)):
                return response.json({"error": "too many requests; wait a minute"}, status=429,
                                     headers={"Retry-After": "60"})
            conversation_id = gate.sessions.conversation_id("rest", request.headers.get(SESSION_HEADER))
            if conversation_id is None:
                return _unauthorized(f"send the session token of your conversation in the {SESSION_HEADER} header")
            try:
                since = float(request.args.get("since", "0"))
            except ValueError:
                return response.json({"error": "'since' must be a number of seconds"}, status=400)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(conversation_id)
            events = tracker.events if tracker is not None else []
            return response.json([
                {"text": e.text, "agent": e.metadata[AGENT_METADATA_KEY], "timestamp": e.timestamp}
                for e in events
                if isinstance(e, BotUttered) and (e.metadata or {}).get(AGENT_METADATA_KEY) and e.timestamp > since
            ])

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except InvalidUsage:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "the body must be a JSON object"}, status=400)
            client = gate.client(request.ip, request.headers)
            token = body.get("sender")
            if token is None:
                token = gate.sessions.issue("rest")
            conversation_id = gate.sessions.conversation_id("rest", token)
            if not gate.admit(client, conversation_id):
                return response.json([{"recipient_id": token, "text": SLOW_DOWN}], status=429,
                                     headers={"Retry-After": "60"})
            if conversation_id is None:
                return _unauthorized("'sender' must be the session token this server issued (the "
                                     f"{SESSION_HEADER} header of an earlier reply); leave it out to start a "
                                     "new conversation")
            text = body.get("message")
            problem, reply = check_text(text)
            metadata = bounded_metadata(body.get("metadata"))
            if body.get("metadata") is not None and metadata is None:
                problem = f"'metadata' must be a JSON object of at most {MAX_METADATA_CHARS} characters"
            if problem:
                return response.json({"error": problem}, status=400)
            session = {SESSION_HEADER: token}
            if reply:
                return response.json([{"recipient_id": token, "text": reply}], headers=session)
            # A card number or IBAN never reaches NLU, the tracker store, logs or tickets.
            text, notices = without_payment_details(text)
            collector = CollectingOutputChannel()
            collector.messages.extend({"recipient_id": conversation_id, "text": notice} for notice in notices)
            try:
                await on_new_message(UserMessage(text, collector, conversation_id, input_channel=self.name(),
                                                 metadata=gate.metadata(metadata, conversation_id, client)))
            except CancelledError:
                log.error("rest: message handling timed out (conversation %s)", conversation_id)
            except Exception:
                # No message text here: logs must not carry what customers typed.
                log.exception("rest: message handling failed (conversation %s)", conversation_id)
            # The client knows its conversation by its token: that is what it sends back.
            return response.json([{**m, "recipient_id": token} for m in collector.messages], headers=session)

        return webhook


class PersistentSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel (the website widget) with issued sessions and the REST checks.

    - ``session_request`` confirms the client's ``session_id`` only when it is a session token
      this server issued for socket.io; otherwise it issues a new one (rasa-webchat then stores
      it and starts afresh). The socket joins the room of the conversation derived from the
      token, which is where replies and agents' messages are sent; a socket that knows only a
      conversation id can never join it. Each message must carry a valid token.
    - Session persistence: Rasa 3.6.21 calls ``sio.enter_room`` without awaiting it. From
      python-socketio 5.10 on it is a coroutine, so the session never joins its room and no
      reply ever arrives. It is awaited here when it is awaitable.
    - The REST channel's checks: rate limits, empty or over-long messages answered without NLU,
      malformed metadata ignored, the customer token replaced by its attestation, card numbers
      removed first, and engine.io packets capped at 64 KB.
    """

    @classmethod
    def name(cls) -> str:
        return "socketio"  # same URL and name as Rasa's channel: agent replies find it as "latest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        gate = channel_gate()
        sio = self.sio
        assert sio is not None
        sio.eio.max_http_buffer_size = MAX_SOCKET_PACKET_BYTES
        output = self.get_output_channel
        clients: dict[str, str] = {}  # socket id -> pseudonym of its client address
        rooms: dict[str, str] = {}  # socket id -> the conversation room it joined

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, _auth: Any = None) -> bool:
            request = environ.get("sanic.request")
            clients[sid] = gate.client(getattr(request, "ip", None), getattr(request, "headers", {}) or {})
            return True

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str) -> None:
            clients.pop(sid, None)
            rooms.pop(sid, None)

        async def tell(sid: str, text: str) -> None:
            await sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=self.namespace)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            if not gate.admit(clients.get(sid) or gate.client(None, {}), None):
                return  # a client asking for sessions in a loop: nothing to confirm
            token = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = gate.sessions.conversation_id("socketio", token)
            if conversation_id is None:
                token = gate.sessions.issue("socketio")
                conversation_id = gate.sessions.conversation_id("socketio", token)
            if self.session_persistence:
                previous = rooms.get(sid)
                if previous is not None and previous != conversation_id:  # one conversation a socket
                    left = sio.leave_room(sid, previous, namespace=self.namespace)
                    if inspect.isawaitable(left):
                        await left
                rooms[sid] = conversation_id
                joined = sio.enter_room(sid, conversation_id, namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", token, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            client = clients.get(sid) or gate.client(None, {})
            conversation_id = gate.sessions.conversation_id("socketio", data.get("session_id"))
            if not gate.admit(client, conversation_id):
                await tell(sid, SLOW_DOWN)
                return
            if conversation_id is None:
                log.warning("socketio: a message without a session this server issued was refused")
                await tell(sid, SESSION_UNKNOWN)
                return
            problem, reply = check_text(data.get("message"))
            if problem:
                log.warning("socketio: message refused (%s)", problem)
                return
            channel = output()
            assert channel is not None
            if reply:
                await channel.send_text_message(conversation_id, reply)
                return
            text, notices = without_payment_details(data["message"])
            for notice in notices:
                await channel.send_text_message(conversation_id, notice)
            metadata = gate.metadata(bounded_metadata(data.get(self.metadata_key)), conversation_id, client)
            try:
                await on_new_message(UserMessage(text, channel, conversation_id, input_channel=self.name(),
                                                 metadata=metadata))
            except Exception:
                log.exception("socketio: message handling failed (conversation %s)", conversation_id)

        return webhook
