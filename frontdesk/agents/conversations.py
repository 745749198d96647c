"""The conversation port: what the agent workspace needs from the dialogue engine.

``RasaConversations`` talks to the Rasa server's HTTP API (``rasa run --enable-api``). Rasa takes
a plain token only as a ``?token=`` query parameter, which ends up in proxy and access logs, so
the server is started with ``--jwt-secret`` instead and every call carries a short-lived JWT in
the ``Authorization`` header, signed with ``RASA_JWT_SECRET``.

An agent's reply is appended to the tracker as a bot message marked with the agent's name and
sent through the output channel the customer last wrote from (socket.io, Slack, ...), so the
customer sees it where they are, and transcripts and KPIs see it too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import jwt

log = logging.getLogger(__name__)

AGENT_METADATA_KEY = "frontdesk_agent"  # on a bot event: the name of the person who wrote it
CSAT_RESPONSE = "utter_ask_csat"


class ConversationUnavailable(Exception):
    """The dialogue engine could not be reached or refused the request; nothing was sent."""


@dataclass(frozen=True)
class TranscriptTurn:
    speaker: str  # customer | bot | agent
    text: str
    timestamp: float
    agent: str | None = None


class Conversations(Protocol):
    def transcript(self, conversation_id: str) -> list[TranscriptTurn]: ...

    def send_agent_message(self, conversation_id: str, text: str, agent: str) -> None: ...

    def resume_with_csat(self, conversation_id: str) -> None: ...


def turns_from_events(events: list[dict[str, Any]]) -> list[TranscriptTurn]:
    turns = []
    for event in events:
        text = event.get("text")
        if not text:
            continue
        if event.get("event") == "user":
            turns.append(TranscriptTurn("customer", text, float(event.get("timestamp") or 0)))
        elif event.get("event") == "bot":
            agent = (event.get("metadata") or {}).get(AGENT_METADATA_KEY)
            turns.append(TranscriptTurn("agent" if agent else "bot", text, float(event.get("timestamp") or 0),
                                        agent))
    return turns


class RasaApiAuth(httpx.Auth):
    """A fresh JWT per request, valid for a minute, with Rasa's admin role (what the agent
    workspace needs: any conversation's tracker, events and actions)."""

    LIFETIME_SECONDS = 60

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.clock = clock

    def token(self) -> str:
        now = int(self.clock())
        claims = {"user": {"username": "frontdesk-web", "role": "admin"}, "iat": now,
                  "exp": now + self.LIFETIME_SECONDS}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


class RasaConversations:
    def __init__(self, rasa_url: str, jwt_secret: str, timeout: float = 15.0) -> None:
        self._client = httpx.Client(base_url=rasa_url.rstrip("/"), timeout=httpx.Timeout(timeout),
                                    auth=RasaApiAuth(jwt_secret))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConversationUnavailable(f"the assistant is unreachable: {type(exc).__name__}") from exc
        if reply.status_code >= 300:
            # Rasa's error bodies can echo request content: log the status only.
            log.error("rasa API %s %s answered %s", method, path.split("?")[0], reply.status_code)
            raise ConversationUnavailable(f"the assistant answered {reply.status_code}")
        return reply.json()

    @staticmethod
    def _path(conversation_id: str, suffix: str) -> str:
        # Sanic hands Rasa its path parameters still percent-encoded: ids are kept to characters
        # that need none (the channels refuse others), and anything else is encoded.
        return f"/conversations/{quote(conversation_id, safe='_.:@+-')}/{suffix}"

    def transcript(self, conversation_id: str) -> list[TranscriptTurn]:
        tracker = self._call("GET", self._path(conversation_id, "tracker"), params={"include_events": "ALL"})
        return turns_from_events(tracker.get("events") or [])

    def send_agent_message(self, conversation_id: str, text: str, agent: str) -> None:
        event = {"event": "bot", "text": text, "metadata": {AGENT_METADATA_KEY: agent}}
        self._call("POST", self._path(conversation_id, "tracker/events"), json=[event],
                   params={"output_channel": "latest", "execute_side_effects": "true"})

    def resume_with_csat(self, conversation_id: str) -> None:
        """Un-pauses the bot (``ConversationResumed``) and asks the customer for a rating."""
        self._call("POST", self._path(conversation_id, "tracker/events"), json=[{"event": "resume"}])
        self._call("POST", self._path(conversation_id, "execute"), json={"name": CSAT_RESPONSE},
                   params={"output_channel": "latest"})
        # /execute runs one action and stops; the listen that ends a bot turn lets the dialogue
        # policies read the customer's answer as a reply to this question.
        self._call("POST", self._path(conversation_id, "tracker/events"),
                   json=[{"event": "action", "name": "action_listen"}])
