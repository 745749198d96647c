"""The checks Frontdesk puts in front of the dialogue engine, shared by every input channel.

Both public channels (REST and the widget's socket.io) go through one ``ChannelGate``:

- **Conversation ids are issued, not chosen** (frontdesk/core/chat_sessions.py). A client gets a
  session token with its first reply and sends it back; the conversation id is derived from it.
  A made-up or another channel's token, a Slack-shaped id or a bare conversation id opens
  nothing.
- **The customer token never reaches the tracker store**: it is checked here and replaced by an
  attestation (frontdesk/accounts/customer_token.py); keys of our own namespace sent by a client are
  dropped.
- **Rate limits** per conversation, per client address (rotating ids does not help) and for the
  whole process, answered with a clear "try again later".
- **Input checks**: empty or over-long messages are answered without NLU, request bodies are
  capped before they are parsed (frontdesk/entrypoints/runtime.py, engine.io's buffer), card numbers and
  IBANs are removed before anything stores them (frontdesk/core/privacy.py: every common separator,
  Luhn- and mod-97-checked, an IBAN never called a card), and logs never carry message text.
"""


from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanic import response
from sanic.response import HTTPResponse

from frontdesk.accounts.customer_token import (
    CustomerAttestations,
    CustomerTokenVerifier,
    TokenReplayGuard,
    admitted_metadata,
)
from frontdesk.core.chat_sessions import CLIENT_KEY, ChatSessions
from frontdesk.core.db import Database
from frontdesk.core.privacy import strip_payment_details
from frontdesk.core.ratelimit import SlidingWindowLimiter, client_identity
from frontdesk.settings import Settings

log = logging.getLogger(__name__)



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

    async def metadata_off_loop(self, client_metadata: dict[str, Any] | None, conversation_id: str,
                                client: str) -> dict[str, Any]:
        """``metadata`` for an async handler: checking a customer token writes its use to the
        database, so that runs in a worker thread; metadata without one needs no thread."""
        if not client_metadata:
            return self.metadata(client_metadata, conversation_id, client)
        return await asyncio.to_thread(self.metadata, client_metadata, conversation_id, client)


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


def unauthorized(problem: str) -> HTTPResponse:
    return response.json({"error": problem}, status=401, headers={"WWW-Authenticate": "Frontdesk-Session"})


