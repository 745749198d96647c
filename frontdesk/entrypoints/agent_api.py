"""The agent API: HTTP endpoints for the inbox page and the ``frontdesk agent`` CLI.

Every endpoint but the OpenAPI document needs ``Authorization: Bearer <token>``: no or a bad
token gets 401, a token whose roles do not allow the endpoint (frontdesk/agents/roles.py,
docs/roles.md) or whose queues do not cover the handoff gets 403, recorded in the audit trail.
Repeated bad tokens get 429 (see ``FailedSignIns``); they are logged, not audited, so nobody
without a token can flood the audit trail. Blocking work (SQL, calls to Rasa) runs off the event
loop.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from frontdesk.agents import roles as access
from frontdesk.agents.conversations import ConversationUnavailable
from frontdesk.agents.directory import TOKEN_PREFIX, AgentDirectory, Principal, record_denial
from frontdesk.agents.workspace import AgentWorkspace, WorkspaceError
from frontdesk.core.db import Database
from frontdesk.core.ratelimit import SlidingWindowLimiter, client_identity
from frontdesk.insights.kpi import kpi_report
from frontdesk.settings import ClientAddressSettings

log = logging.getLogger(__name__)

_JSON_HEADERS = {"Cache-Control": "no-store"}
_PREFIX_CHARS = 8  # of the token's random part: tells one presented token from another


class FailedSignIns:
    """Slows down guessing without letting an attacker lock agents out.

    Failures count per (client address, token prefix) and per client address. A client that
    keeps presenting the same bad token (a revoked one in a script, a guess) is refused with 429
    before any lookup. A client that tries many tokens hits the per-address limit: its bad
    tokens get 429, but a valid token from the same address still gets in -- behind a proxy
    without a configured client-address header, every agent shares the proxy's address, and one
    attacker must not lock them all out. Memory is bounded (least recently seen keys go first);
    the limits are per process.
    """

    def __init__(self, per_token: int = 10, per_client: int = 100, window_seconds: float = 60.0) -> None:
        self._per_token = SlidingWindowLimiter(per_token, window_seconds, max_keys=20_000)
        self._per_client = SlidingWindowLimiter(per_client, window_seconds, max_keys=20_000)

    @staticmethod
    def _token_key(client: str, token: str) -> str:
        prefix = token[len(TOKEN_PREFIX):len(TOKEN_PREFIX) + _PREFIX_CHARS] if token.startswith(TOKEN_PREFIX) \
            else hashlib.sha256(token.encode("utf-8")).hexdigest()[:_PREFIX_CHARS]
        return f"{client}|{prefix}"

    def token_blocked(self, client: str, token: str) -> bool:
        return self._per_token.blocked(self._token_key(client, token))

    def client_blocked(self, client: str) -> bool:
        return self._per_client.blocked(client)

    def failed(self, client: str, token: str) -> None:
        self._per_token.record(self._token_key(client, token))
        self._per_client.record(client)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers={**_JSON_HEADERS, **(headers or {})})


def _ok(body: Any, status: int = 200) -> HTTPResponse:
    return response.json(body, status=status, headers=_JSON_HEADERS, default=str)


Handler = Callable[..., Awaitable[HTTPResponse]]


def create_agent_api(db: Database, workspace: AgentWorkspace, directory: AgentDirectory,
                     addresses: ClientAddressSettings | None = None,
                     limiter: FailedSignIns | None = None) -> Blueprint:
    api = Blueprint("agent_api", url_prefix="/api/agent")
    limiter = limiter or FailedSignIns()
    addresses = addresses or ClientAddressSettings()

    async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))

    def presented_token(request: Request) -> str:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def authenticate(token: str) -> Principal | None:
        with db.transaction() as session:
            return directory.authenticate(session, token)

    def record_refusal(agent: Principal, permission: str, target: str) -> None:
        with db.transaction() as session:
            record_denial(session, agent.name, permission, "api", target)

    async def denied(agent: Principal, permission: str, request: Request, message: str) -> HTTPResponse:
        await blocking(record_refusal, agent, permission, f"{request.method} {request.path}")
        return _error(403, message)

    def requires(permission: str) -> Callable[[Handler], Handler]:
        return functools.partial(guard, permission=permission)

    def guard(handler: Handler, permission: str) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            client = client_identity(request.ip, request.headers, addresses)
            token = presented_token(request)
            too_many = _error(429, "too many failed sign-ins; wait a minute", {"Retry-After": "60"})
            if limiter.token_blocked(client, token):
                return too_many
            principal = await blocking(authenticate, token) if token else None
            if principal is None:
                if token:  # no token at all is no guess: nothing to slow down
                    limiter.failed(client, token)
                    if limiter.client_blocked(client):
                        return too_many
                return _error(401, "a valid agent token is required", {"WWW-Authenticate": 'Bearer realm="frontdesk"'})
            if not principal.may(permission):
                return await denied(principal, permission, request,
                                    f"this token's roles do not allow this: {access.PERMISSIONS[permission]}")
            try:
                return await handler(request, principal, *args, **kwargs)
            except WorkspaceError as refused:
                if refused.status == 403:
                    return await denied(principal, "tickets.all-queues", request, str(refused))
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
    @requires("self")
    async def me(_request: Request, agent: Principal) -> HTTPResponse:
        return _ok({"name": agent.name, "roles": sorted(agent.roles)})

    @api.get("/queues")
    @requires("tickets.work")
    async def queues(_request: Request, agent: Principal) -> HTTPResponse:
        return _ok([asdict(q) for q in await blocking(workspace.queues, agent)])

    @api.get("/handoffs")
    @requires("tickets.work")
    async def handoffs(request: Request, agent: Principal) -> HTTPResponse:
        return _ok(await blocking(workspace.open_handoffs, request.args.get("queue"), agent))

    @api.get("/handoffs/<reference:str>")
    @requires("tickets.work")
    async def ticket(_request: Request, agent: Principal, reference: str) -> HTTPResponse:
        return _ok(await blocking(workspace.ticket, reference, agent))

    @api.post("/handoffs/<reference:str>/claim")
    @requires("tickets.work")
    async def claim(_request: Request, agent: Principal, reference: str) -> HTTPResponse:
        return _ok(await blocking(workspace.claim, reference, agent))

    @api.post("/handoffs/<reference:str>/reply")
    @requires("tickets.work")
    async def reply(request: Request, agent: Principal, reference: str) -> HTTPResponse:
        await blocking(workspace.reply, reference, agent, body_of(request).get("text"))
        return _ok({"status": "sent"})

    @api.post("/handoffs/<reference:str>/notes")
    @requires("tickets.work")
    async def note(request: Request, agent: Principal, reference: str) -> HTTPResponse:
        await blocking(workspace.note, reference, agent, body_of(request).get("text"))
        return _ok({"status": "added"}, status=201)

    @api.post("/handoffs/<reference:str>/close")
    @requires("tickets.work")
    async def close(_request: Request, agent: Principal, reference: str) -> HTTPResponse:
        await blocking(workspace.close, reference, agent)
        return _ok({"status": "closed"})

    @api.post("/handoffs/<reference:str>/feedback")
    @requires("tickets.work")
    async def feedback(request: Request, agent: Principal, reference: str) -> HTTPResponse:
        body = body_of(request)
        correct = body.get("intent_correct")
        if not isinstance(correct, bool):
            return _error(422, "'intent_correct' must be true or false")
        await blocking(workspace.record_feedback, reference, agent, correct, body.get("correct_intent"))
        return _ok({"status": "recorded"})

    @api.get("/kpi")
    @requires("kpi.read")
    async def kpi(_request: Request, agent: Principal) -> HTTPResponse:
        def report() -> dict[str, Any]:
            with db.transaction() as session:
                return kpi_report(session, workspace.feedback)
        return _ok(await blocking(report))

    @api.get("/training-candidates")
    @requires("training.export")
    async def training_candidates(_request: Request, agent: Principal) -> HTTPResponse:
        def export() -> dict[str, Any]:
            with db.transaction() as session:
                return workspace.feedback.training_export(session, workspace.handoffs.redactor.redact).as_dict()
        return _ok(await blocking(export))

    return api


def _operation(summary: str, body: dict[str, Any] | None = None, path_ref: bool = True) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"agentToken": []}],
        "responses": {
            "200": {"description": "OK"}, "401": {"description": "no or invalid token"},
            "403": {"description": "the token's roles or queues do not allow it (docs/roles.md)"},
            "404": {"description": "no such handoff"},
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
        "/api/agent/kpi": {"get": _operation("KPI report: aggregates, no transcripts (kpi.read)", path_ref=False)},
        "/api/agent/training-candidates": {"get": _operation(
            "agents' reviews as redacted training candidates (training.export)", path_ref=False)},
    },
}
