"""The agent API: HTTP endpoints for the inbox page and the ``frontdesk agent`` CLI.

Every endpoint but the OpenAPI document needs ``Authorization: Bearer <token>``: no or a bad
token gets 401, a token without the ``agent`` role gets 403. Repeated bad tokens from one
address are slowed down with 429. Blocking work (SQL, calls to Rasa) runs off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from frontdesk.agent_workspace import AgentWorkspace, WorkspaceError
from frontdesk.agents import AgentDirectory, Principal
from frontdesk.conversations import ConversationUnavailable
from frontdesk.db import Database

log = logging.getLogger(__name__)

FAILED_AUTH_LIMIT = 20  # per client address per minute
_JSON_HEADERS = {"Cache-Control": "no-store"}


class FailedAuthLimiter:
    def __init__(self, limit: int = FAILED_AUTH_LIMIT, window_seconds: float = 60.0) -> None:
        self.limit, self.window = limit, window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, client: str) -> bool:
        failures = self._failures[client]
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return len(failures) >= self.limit

    def failed(self, client: str) -> None:
        self._failures[client].append(time.monotonic())


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers={**_JSON_HEADERS, **(headers or {})})


def _ok(body: Any, status: int = 200) -> HTTPResponse:
    return response.json(body, status=status, headers=_JSON_HEADERS, default=str)


Handler = Callable[..., Awaitable[HTTPResponse]]


def create_agent_api(db: Database, workspace: AgentWorkspace, directory: AgentDirectory) -> Blueprint:
    api = Blueprint("agent_api", url_prefix="/api/agent")
    limiter = FailedAuthLimiter()

    async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))

    def authenticate(request: Request) -> Principal | None:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with db.transaction() as session:
            return directory.authenticate(session, token.strip())

    def requires_agent(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            client = request.remote_addr or request.ip or "unknown"
            if limiter.blocked(client):
                return _error(429, "too many failed sign-ins; wait a minute", {"Retry-After": "60"})
            principal = await blocking(authenticate, request)
            if principal is None:
                limiter.failed(client)
                return _error(401, "a valid agent token is required", {"WWW-Authenticate": 'Bearer realm="frontdesk"'})
            if not principal.has("agent"):
                return _error(403, "this token does not have the agent role")
            try:
                return await handler(request, principal, *args, **kwargs)
            except WorkspaceError as refused:
                return _error(refused.status, str(refused))
            except ConversationUnavailable as problem:
                log.error("agent API: %s", problem)
                return _error(503, "the assistant could not be reached; nothing was sent, please try again",
                              {"Retry-After": "5"})
        return guarded

    def body_of(request: Request) -> dict[str, Any]:
        try:
            body = request.json
        except Exception as problem:
            raise WorkspaceError(400, "the body must be JSON") from problem
        if not isinstance(body, dict):
            raise WorkspaceError(400, "the body must be a JSON object")
        return body

    @api.get("/openapi.json")
    async def openapi(_request: Request) -> HTTPResponse:
        return _ok(OPENAPI)

    @api.get("/me")
    @requires_agent
    async def me(_request: Request, agent: Principal) -> HTTPResponse:
        return _ok({"name": agent.name, "roles": sorted(agent.roles)})

    @api.get("/queues")
    @requires_agent
    async def queues(_request: Request, agent: Principal) -> HTTPResponse:
        return _ok([asdict(q) for q in await blocking(workspace.queues)])

    @api.get("/handoffs")
    @requires_agent
    async def handoffs(request: Request, agent: Principal) -> HTTPResponse:
        return _ok(await blocking(workspace.open_handoffs, request.args.get("queue")))

    @api.get("/handoffs/<reference:str>")
    @requires_agent
    async def ticket(_request: Request, agent: Principal, reference: str) -> HTTPResponse:
        return _ok(await blocking(workspace.ticket, reference))

    @api.post("/handoffs/<reference:str>/claim")
    @requires_agent
    async def claim(_request: Request, agent: Principal, reference: str) -> HTTPResponse:
        return _ok(await blocking(workspace.claim, reference, agent))

    @api.post("/handoffs/<reference:str>/reply")
    @requires_agent
    async def reply(request: Request, agent: Principal, reference: str) -> HTTPResponse:
        await blocking(workspace.reply, reference, agent, body_of(request).get("text"))
        return _ok({"status": "sent"})

    @api.post("/handoffs/<reference:str>/notes")
    @requires_agent
    async def note(request: Request, agent: Principal, reference: str) -> HTTPResponse:
        await blocking(workspace.note, reference, agent, body_of(request).get("text"))
        return _ok({"status": "added"}, status=201)

    @api.post("/handoffs/<reference:str>/close")
    @requires_agent
    async def close(_request: Request, agent: Principal, reference: str) -> HTTPResponse:
        await blocking(workspace.close, reference, agent)
        return _ok({"status": "closed"})

    @api.post("/handoffs/<reference:str>/feedback")
    @requires_agent
    async def feedback(request: Request, agent: Principal, reference: str) -> HTTPResponse:
        body = body_of(request)
        correct = body.get("intent_correct")
        if not isinstance(correct, bool):
            return _error(422, "'intent_correct' must be true or false")
        await blocking(workspace.record_feedback, reference, agent, correct, body.get("correct_intent"))
        return _ok({"status": "recorded"})

    return api


def _operation(summary: str, body: dict[str, Any] | None = None, path_ref: bool = True) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"agentToken": []}],
        "responses": {
            "200": {"description": "OK"}, "401": {"description": "no or invalid token"},
            "403": {"description": "token lacks the agent role"}, "404": {"description": "no such handoff"},
            "409": {"description": "claimed by someone else, or already closed"},
            "422": {"description": "invalid input"}, "429": {"description": "too many failed sign-ins"},
            "503": {"description": "the assistant is unreachable; nothing was sent"},
        },
    }
    if path_ref:
        operation["parameters"] = [{"name": "reference", "in": "path", "required": True,
                                    "schema": {"type": "string", "pattern": "^HO-[0-9]+$"}}]
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


_TEXT = {"type": "object", "required": ["text"],
         "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 4000}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Frontdesk agent API", "version": "1.0.0",
             "description": "Work handed-off conversations: read, claim, reply in the customer's channel, close."},
    "components": {"securitySchemes": {"agentToken": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/api/agent/me": {"get": _operation("who the token belongs to", path_ref=False)},
        "/api/agent/queues": {"get": _operation("queues with open, unclaimed and overdue counts", path_ref=False)},
        "/api/agent/handoffs": {"get": {
            **_operation("open handoffs, most urgent first", path_ref=False),
            "parameters": [{"name": "queue", "in": "query", "schema": {"type": "string"}}]}},
        "/api/agent/handoffs/{reference}": {"get": _operation("a handoff: agent assist, profile, live transcript")},
        "/api/agent/handoffs/{reference}/claim": {"post": _operation("claim it")},
        "/api/agent/handoffs/{reference}/reply": {"post": _operation("reply to the customer in their channel", _TEXT)},
        "/api/agent/handoffs/{reference}/notes": {"post": _operation("add an internal note to the ticket", _TEXT)},
        "/api/agent/handoffs/{reference}/close": {"post": _operation("close: the bot resumes and asks for CSAT")},
        "/api/agent/handoffs/{reference}/feedback": {"post": _operation(
            "mark the bot's reading of the customer's intent", {
                "type": "object", "required": ["intent_correct"],
                "properties": {"intent_correct": {"type": "boolean"}, "correct_intent": {"type": "string"}}})},
    },
}
