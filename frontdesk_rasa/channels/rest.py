"""REST (``/webhooks/rest/webhook``): Rasa's REST channel behind the channel gate, with Rasa's
request and reply shapes. Leave ``sender`` out to start a conversation; the reply's
``X-Frontdesk-Session`` header (and each message's ``recipient_id``) carries the session token,
which later messages send as ``sender``. ``GET /webhooks/rest/messages?since=<unix seconds>``
with the token in ``X-Frontdesk-Session`` lists what a support agent wrote. ``{"metadata":
{"customer_token": …}}`` vouches for a logged-in customer.
"""

from __future__ import annotations

import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from frontdesk.agents.conversations import AGENT_METADATA_KEY
from frontdesk.core.chat_sessions import SESSION_HEADER
from frontdesk_rasa.channels.gate import (
    MAX_METADATA_CHARS,
    SLOW_DOWN,
    bounded_metadata,
    channel_gate,
    check_text,
    unauthorized,
    without_payment_details,
)

log = logging.getLogger(__name__)


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
                return unauthorized(f"send the session token of your conversation in the {SESSION_HEADER} header")
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
                return unauthorized("'sender' must be the session token this server issued (the "
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
                admitted = await gate.metadata_off_loop(metadata, conversation_id, client)
                await on_new_message(UserMessage(text, collector, conversation_id, input_channel=self.name(),
                                                 metadata=admitted))
            except CancelledError:
                log.error("rest: message handling timed out (conversation %s)", conversation_id)
            except Exception:
                # No message text here: logs must not carry what customers typed.
                log.exception("rest: message handling failed (conversation %s)", conversation_id)
            # The client knows its conversation by its token: that is what it sends back.
            return response.json([{**m, "recipient_id": token} for m in collector.messages], headers=session)

        return webhook


