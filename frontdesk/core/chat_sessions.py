"""Conversation ids no client chooses, and the proof that a client owns its conversation.

A public channel (REST, the widget's socket.io) never takes a conversation id from its client.
The server issues a *session token*: 128 random bits and a MAC that binds them to the channel.
The conversation id is a one-way function of the token (``rest-<32 hex>``). The client keeps the
token; the tracker store, the audit trail, logs and agents only ever see the id, and knowing an
id gives no way back to the token. So:

- a second client that learns an id (from a ticket, a log, a screenshot) cannot continue that
  conversation, read its replies or use its billing verification: it would need the token;
- a token issued for one channel is refused by another, and no token maps to a Slack-shaped id,
  so one channel cannot write into another channel's conversation;
- a token a client made up is refused (the MAC), so nobody can pick a guessable one.

Tickets and the agent API show an opaque reference of the conversation, not its id.
Rotating FRONTDESK_SECRET_KEY ends every session: clients get a new token on their next message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

TOKEN_VERSION = "fds1"  # noqa: S105 - a format marker, not a secret
_RANDOM_BYTES = 16  # 128 bits: not guessable, not enumerable
_MAC_BYTES = 16
_TOKEN = re.compile(rf"{TOKEN_VERSION}\.([A-Za-z0-9_-]{{22}})\.([A-Za-z0-9_-]{{22}})")
CHANNELS = frozenset({"rest", "socketio"})
# The HTTP header that carries the session token (REST replies; the REST poll's request).
SESSION_HEADER = "X-Frontdesk-Session"
# The message-metadata key the channels put the client's pseudonym under (see ``client_key``).
CLIENT_KEY = "frontdesk_client"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class ChatSessions:
    """Issues session tokens, checks them, and derives conversation ids and references."""

    def __init__(self, secret_key: str) -> None:
        # A key of its own: a MAC made here cannot be replayed as any other HMAC of the project.
        self._key = hmac.new(secret_key.encode("utf-8"), b"frontdesk chat sessions v1", hashlib.sha256).digest()

    def _mac(self, *parts: str | bytes) -> bytes:
        message = b"\x1f".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in parts)
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def issue(self, channel: str) -> str:
        if channel not in CHANNELS:
            raise ValueError(f"no sessions on channel {channel!r}")
        nonce = secrets.token_bytes(_RANDOM_BYTES)
        return f"{TOKEN_VERSION}.{_b64(nonce)}.{_b64(self._mac('session', channel, nonce)[:_MAC_BYTES])}"

    def conversation_id(self, channel: str, token: object) -> str | None:
        """The conversation a token opens on this channel, or None when the token is not one this
        server issued for this channel."""
        if channel not in CHANNELS or not isinstance(token, str):
            return None
        match = _TOKEN.fullmatch(token)
        nonce = _unb64(match.group(1)) if match else None
        tag = _unb64(match.group(2)) if match else None
        if nonce is None or tag is None or len(nonce) != _RANDOM_BYTES:
            return None
        if not hmac.compare_digest(tag, self._mac("session", channel, nonce)[:_MAC_BYTES]):
            return None
        return f"{channel}-{self._mac('conversation', channel, nonce)[:16].hex()}"

    def reference(self, conversation_id: str) -> str:
        """What tickets and agents call a conversation: stable, opaque, not the id."""
        # 64 bits: tickets' idempotency keys are built on it, so two conversations must not share one.
        return "CV-" + self._mac("reference", conversation_id)[:8].hex().upper()

    def client_key(self, address: str) -> str:
        """A pseudonym for a client address (an IP, a Slack user): rate limits count by it, and it
        can be stored with the conversation without storing the address."""
        return self._mac("client", address)[:9].hex()
