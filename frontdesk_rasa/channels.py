"""Rasa input channels with the input checks Frontdesk needs in front of the dialogue engine.

Rasa's stock REST channel accepts a missing sender (every such message then lands in one shared
"default" conversation), runs NLU on megabytes of text (tens of seconds of CPU per message) and
logs message text on errors. ``BoundedRestInput`` answers those cases itself, clearly, and
otherwise behaves like Rasa's REST channel at the same URL. It also passes the body's optional
``metadata`` object to the dialogue engine (the stock channel drops it), which is how a REST
client sends the support site's signed customer token (``{"metadata": {"customer_token": …}}``).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import uuid
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from frontdesk.conversations import AGENT_METADATA_KEY
from frontdesk.privacy import strip_card_numbers
from frontdesk_rasa import speedups

log = logging.getLogger(__name__)

# Every Rasa server imports this module (credentials.yml) before it loads the model: the place
# to apply the profiled speed-ups to Rasa's message path (FRONTDESK_SPEEDUPS=0 turns them off).
speedups.install()

MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
MAX_METADATA_CHARS = 8192
# Conversation ids travel in URLs (Rasa's HTTP API, the agent API): no characters that need quoting.
SENDER = re.compile(rf"[A-Za-z0-9_.:@+-]{{1,{MAX_SENDER_CHARS}}}")
TOO_LONG = (
    f"That message is too long for me (over {MAX_MESSAGE_CHARS:,} characters). Please send a shorter "
    'summary of what you need, or say "agent" to reach a person.'
)
EMPTY = "It looks like your message was empty. What can I help you with?"
CARD_REMOVED = (
    "For your security, I've removed the card number from your message and it isn't stored. Please never "
    "type card details in a chat: you can update your card safely in the billing portal."
)


def check_message(sender: Any, text: Any) -> tuple[str | None, str | None]:
    """(problem for the HTTP caller, reply for the customer); both None when the message is fine."""
    if not isinstance(sender, str) or not SENDER.fullmatch(sender):
        return (f"'sender' must be 1-{MAX_SENDER_CHARS} characters: letters, digits and _ . : @ + -"), None
    if text is not None and not isinstance(text, str):
        return "'message' must be a string", None
    if text is None or not text.strip():
        return None, EMPTY
    if len(text) > MAX_MESSAGE_CHARS:
        return None, TOO_LONG
    return None, None


class BoundedRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"  # same webhook URL as Rasa's REST channel

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/messages", methods=["GET"])
        async def agent_messages(request: Request) -> HTTPResponse:
            """REST has no push: a waiting client polls here for what a support agent wrote.

            ``?sender=<id>&since=<unix seconds>`` lists the agent's messages after ``since``;
            each carries its ``timestamp`` for the next poll."""
            sender = request.args.get("sender")
            problem, _ = check_message(sender, "poll")
            try:
                since = float(request.args.get("since", "0"))
            except ValueError:
                problem = "'since' must be a number of seconds"
            if problem:
                return response.json({"error": problem}, status=400)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(sender)
            events = tracker.events if tracker is not None else []
            return response.json([
                {"recipient_id": sender, "text": e.text, "agent": e.metadata[AGENT_METADATA_KEY],
                 "timestamp": e.timestamp}
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
            sender, text = body.get("sender"), body.get("message")
            problem, reply = check_message(sender, text)
            metadata = body.get("metadata")
            oversized = metadata is not None and len(json.dumps(metadata)) > MAX_METADATA_CHARS
            if oversized or (metadata is not None and not isinstance(metadata, dict)):
                problem = f"'metadata' must be a JSON object of at most {MAX_METADATA_CHARS} characters"
            if problem:
                return response.json({"error": problem}, status=400)
            if reply:
                return response.json([{"recipient_id": sender, "text": reply}])
            # A card number never reaches NLU, the tracker store, logs or tickets.
            text, had_card = strip_card_numbers(text)
            collector = CollectingOutputChannel()
            if had_card:
                collector.messages.append({"recipient_id": sender, "text": CARD_REMOVED})
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name(),
                                metadata=metadata)
                )
            except CancelledError:
                log.error("rest: message handling timed out (sender %s)", sender)
            except Exception:
                # No message text here: logs must not carry what customers typed.
                log.exception("rest: message handling failed (sender %s)", sender)
            return response.json(collector.messages)

        return webhook


class PersistentSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel (the website widget) with two repairs.

    - Session persistence: Rasa 3.6.21 calls ``sio.enter_room`` without awaiting it. From
      python-socketio 5.10 on it is a coroutine, so the session never joins its room and no
      reply ever arrives ("coroutine 'AsyncServer.enter_room' was never awaited"). This handler
      awaits it when it is awaitable, so it works with the pinned 5.9 and with later releases.
    - The same input checks as the REST channel: empty or over-long messages are answered
      without NLU, malformed metadata is ignored, and card numbers are removed first.
    """

    @classmethod
    def name(cls) -> str:
        return "socketio"  # same URL and name as Rasa's channel: agent replies find it as "latest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None
        output = self.get_output_channel

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not session_id or len(session_id) > MAX_SENDER_CHARS:
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, session_id, namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            sender = data.get("session_id") if self.session_persistence else sid
            problem, reply = check_message(sender, data.get("message"))
            if problem:
                log.warning("socketio: message refused (%s)", problem)
                return
            channel = output()
            assert channel is not None
            if reply:
                await channel.send_text_message(sender, reply)
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict) or len(json.dumps(metadata)) > MAX_METADATA_CHARS:
                metadata = {}
            text, had_card = strip_card_numbers(data["message"])
            if had_card:
                await channel.send_text_message(sender, CARD_REMOVED)
            try:
                await on_new_message(UserMessage(text, channel, sender, input_channel=self.name(),
                                                 metadata=metadata))
            except Exception:
                log.exception("socketio: message handling failed (sender %s)", sender)

        return webhook
