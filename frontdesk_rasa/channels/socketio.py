"""Socket.io (the website widget): Rasa's channel behind the channel gate, its sessions repaired."""


from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from frontdesk_rasa.channels.gate import (
    MAX_SOCKET_PACKET_BYTES,
    SESSION_UNKNOWN,
    SLOW_DOWN,
    bounded_metadata,
    channel_gate,
    check_text,
    without_payment_details,
)

log = logging.getLogger(__name__)


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
            metadata = await gate.metadata_off_loop(bounded_metadata(data.get(self.metadata_key)), conversation_id,
                                                    client)
            try:
                await on_new_message(UserMessage(text, channel, conversation_id, input_channel=self.name(),
                                                 metadata=metadata))
            except Exception:
                log.exception("socketio: message handling failed (conversation %s)", conversation_id)

        return webhook
