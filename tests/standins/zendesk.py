"""A local stand-in for the slice of the Zendesk Support API v2 that Frontdesk uses.

A real HTTP server (HTTP/1.1, keep-alive) on 127.0.0.1, so the adapter's whole stack -- auth
header, JSON, connection pool, timeouts -- is exercised, not a mocked transport. Implemented:

    GET  /api/v2/tickets.json[?external_id=...]   list tickets (filtered by exact external id)
    POST /api/v2/tickets.json                     create  -> 201 {"ticket": {...}}; honours the
                                                  Idempotency-Key header (see ``_create``)
    GET  /api/v2/tickets/{id}.json                show    -> 200 {"ticket": {...}} | 404
    PUT  /api/v2/tickets/{id}.json                update (comment, status, priority) -> 200
    GET  /api/v2/tickets/{id}/comments[.json]     list comments (sort_order, page, per_page)
    DELETE /api/v2/tickets/{id}.json              delete  -> 204; the ticket moves to the deleted tickets
    DELETE /api/v2/deleted_tickets/{id}.json      delete permanently -> 200 {"job_status": {...}} | 404
    GET  /api/v2/users/search.json?query=...      search users (``email:<address>`` or an exact address)
    GET  /api/v2/users/{id}/tickets/requested.json  list requested tickets (page, per_page)
    DELETE /api/v2/users/{id}.json                delete user -> 200 {"user": {..., "active": false}}
    DELETE /api/v2/deleted_users/{id}.json        permanently delete user -> 200 {"deleted_user": {...}} | 404

A create may name its requester with ``requester_id`` (the API user otherwise). ``add_user``
adds an end user (as Zendesk does when an agent e-mails a new address); the API user itself is
an admin. Permanent deletions are applied at once (Zendesk queues them as a job).

Shapes follow Zendesk's documentation. Faults for tests: ``rate_limit_next``, ``fail_next``,
``lose_next_responses`` (the request is applied, the answer never arrives) and
``stop()``/``start()`` (an outage on the same port; the tickets survive it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import html
import json
import re
import socket
import threading
import time
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PRIORITIES = {"low", "normal", "high", "urgent"}
STATUSES = {"new", "open", "pending", "hold", "solved", "closed"}
API_USER_ID = 9001  # the user the API token belongs to: requester and author of what it creates

_TICKET_PATH = re.compile(r"/api/v2/tickets/([0-9]+)\.json")
_COMMENTS_PATH = re.compile(r"/api/v2/tickets/([0-9]+)/comments(?:\.json)?")
_DELETED_TICKET_PATH = re.compile(r"/api/v2/deleted_tickets/([0-9]+)\.json")
_USER_PATH = re.compile(r"/api/v2/users/([0-9]+)\.json")
_DELETED_USER_PATH = re.compile(r"/api/v2/deleted_users/([0-9]+)\.json")
_REQUESTED_PATH = re.compile(r"/api/v2/users/([0-9]+)/tickets/requested(?:\.json)?")
IDEMPOTENCY_TTL_SECONDS = 2 * 60 * 60  # Zendesk keeps an idempotency key for two hours
MAX_PER_PAGE = 100

Reply = tuple[int, dict[str, Any], dict[str, str]]
# A reply with this status is not sent: the connection is closed instead (a lost response).
DROP_CONNECTION = 0


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid(description: str) -> Reply:
    """Zendesk's 422 shape for a record that fails validation."""
    details = {"base": [{"description": description, "error": "InvalidValue"}]}
    return 422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details}, {}


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop`` can drop keep-alive clients like a real outage."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: ZendeskStandIn) -> None:
        self.standin = standin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, headers = self.server.standin.dispatch(
            method, self.path, self.headers.get("Authorization"), body, self.headers.get("Idempotency-Key")
        )
        if status == DROP_CONNECTION:
            self.close_connection = True  # applied, but the client never hears back
            return
        # A 204 has no body (Delete Ticket answers one).
        data = b"" if status == HTTPStatus.NO_CONTENT else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # keep test output quiet
        pass


class ZendeskStandIn:
    """The fake Zendesk account. ``tickets`` and ``requests`` are live, for tests to inspect."""

    def __init__(self, email: str = "bot@acme.test", api_token: str = "test-api-token", first_id: int = 4711):
        self.email = email
        self.api_token = api_token
        self.tickets: dict[int, dict[str, Any]] = {}
        self.deleted_tickets: dict[int, dict[str, Any]] = {}  # soft-deleted, until deleted permanently
        self.users: dict[int, dict[str, Any]] = {API_USER_ID: self._user(API_USER_ID, "Frontdesk bot", email, "admin")}
        self.deleted_users: dict[int, dict[str, Any]] = {}
        self._next_user_id = API_USER_ID + 1
        self.requests: list[tuple[str, str]] = []  # (method, request target incl. query string)
        self._next_ticket_id = first_id
        self._next_comment_id = 1
        self._faults: list[Reply] = []
        self._responses_to_lose: list[str | None] = []  # one entry per answer to lose: its method, or any
        # Idempotency-Key -> (parsed request body, the reply, when it was stored)
        self._idempotent: dict[str, tuple[Any, Reply, float]] = {}
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the stand-in has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ZendeskStandIn:
        """Binds (a free port the first time, the same port afterwards) and serves in a thread."""
        with self._lifecycle:
            if self._server is not None:
                return self
            server = _Server(("127.0.0.1", self._port or 0), self)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="zendesk-standin", daemon=True
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stops serving, drops open connections and releases the port; data is kept."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            server.shutdown()
            server.drop_connections()
            server.server_close()  # closes the listening socket, joins the handler threads
            thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> ZendeskStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- fault injection ------------------------------------------------------------------------

    def rate_limit_next(self, n: int, retry_after: int = 1) -> None:
        """The next ``n`` requests get 429 with ``Retry-After``, as Zendesk's rate limiter sends."""
        reply: Reply = (429, {"error": "APIRateLimitExceeded"}, {"Retry-After": str(retry_after)})
        with self._lock:
            self._faults.extend([reply] * n)

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` requests fail with ``status``."""
        phrase = HTTPStatus(status).phrase
        reply: Reply = (status, {"error": phrase.replace(" ", ""), "description": phrase}, {})
        with self._lock:
            self._faults.extend([reply] * n)

    def lose_next_responses(self, n: int, method: str | None = None) -> None:
        """The next ``n`` requests (with ``method``, if given) are applied, then the connection
        closes without an answer: what a client sees when a response is lost on the way back."""
        with self._lock:
            self._responses_to_lose.extend([method] * n)

    # -- people ---------------------------------------------------------------------------------

    @staticmethod
    def _user(user_id: int, name: str, email: str, role: str) -> dict[str, Any]:
        now = _now()
        return {"id": user_id, "url": f"/api/v2/users/{user_id}.json", "name": name, "email": email,
                "role": role, "active": True, "created_at": now, "updated_at": now}

    def add_user(self, name: str, email: str, role: str = "end-user") -> int:
        """An end user (or agent), as Zendesk creates one when an agent e-mails a new address."""
        with self._lock:
            user_id = self._next_user_id
            self._next_user_id += 1
            self.users[user_id] = self._user(user_id, name, email, role)
            return user_id

    # -- the API --------------------------------------------------------------------------------

    def dispatch(
        self, method: str, target: str, authorization: str | None, body: bytes, idempotency_key: str | None = None
    ) -> Reply:
        with self._lock:
            self.requests.append((method, target))
            if self._faults:
                return self._faults.pop(0)
            reply = self._route(method, target, authorization, body, idempotency_key)
            if self._responses_to_lose and self._responses_to_lose[0] in (None, method):
                self._responses_to_lose.pop(0)
                return DROP_CONNECTION, {}, {}
            return reply

    def _route(
        self, method: str, target: str, authorization: str | None, body: bytes, idempotency_key: str | None
    ) -> Reply:
        if not self._authorized(authorization):
            return 401, {"error": "Couldn't authenticate you"}, {"WWW-Authenticate": 'Basic realm="Web Password"'}
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        if parts.path == "/api/v2/tickets.json":
            if method == "GET":
                return self._list(query.get("external_id", [None])[0])
            if method == "POST":
                return self._idempotent_create(body, idempotency_key)
        if parts.path == "/api/v2/users/search.json" and method == "GET":
            return self._search_users(query.get("query", [""])[0])
        match = _REQUESTED_PATH.fullmatch(parts.path)
        if match and method == "GET":
            return self._requested(int(match.group(1)), query)
        match = _DELETED_TICKET_PATH.fullmatch(parts.path)
        if match and method == "DELETE":
            return self._delete_permanently(self.deleted_tickets, int(match.group(1)), "ticket")
        match = _USER_PATH.fullmatch(parts.path)
        if match and method == "DELETE":
            return self._delete_user(int(match.group(1)))
        match = _DELETED_USER_PATH.fullmatch(parts.path)
        if match and method == "DELETE":
            return self._delete_permanently(self.deleted_users, int(match.group(1)), "user")
        match = _COMMENTS_PATH.fullmatch(parts.path)
        if match and method == "GET":
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
            return self._list_comments(ticket, query)
        match = _TICKET_PATH.fullmatch(parts.path)
        if match:
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
            if method == "GET":
                return 200, {"ticket": self._public(ticket)}, {}
            if method == "PUT":
                return self._update(ticket, body)
            if method == "DELETE":
                self.deleted_tickets[ticket["id"]] = self.tickets.pop(ticket["id"])
                return HTTPStatus.NO_CONTENT, {}, {}
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.email}/token:{self.api_token}"

    def _list(self, external_id: str | None) -> Reply:
        tickets = [
            self._public(ticket)
            for ticket in self.tickets.values()
            if external_id is None or ticket["external_id"] == external_id
        ]
        return 200, {"tickets": tickets, "next_page": None, "previous_page": None, "count": len(tickets)}, {}

    def _idempotent_create(self, body: bytes, key: str | None) -> Reply:
        """Zendesk's documented idempotency for ticket creation: a key seen in the last two hours
        with the same request replays the original answer (``x-idempotency-lookup: hit``); with
        different parameters it is refused (400); a new key creates (``miss``). Only successful
        creates are remembered here, so a refused request can be corrected and sent again."""
        if key is None:
            return self._create(body)
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = body
        now = time.monotonic()
        stored = self._idempotent.get(key)
        if stored is not None and now - stored[2] < IDEMPOTENCY_TTL_SECONDS:
            if stored[0] != request:
                return 400, {"error": "IdempotentRequestError",
                             "description": "Request parameters don't match the given idempotency key"}, {}
            status, payload, headers = stored[1]
            return status, copy.deepcopy(payload), {**headers, "x-idempotency-lookup": "hit"}
        status, payload, headers = self._create(body)
        if status < 300:
            self._idempotent[key] = (request, (status, copy.deepcopy(payload), headers), now)
        return status, payload, {**headers, "x-idempotency-lookup": "miss"}

    def _search_users(self, search: str) -> Reply:
        """Search Users, as far as Frontdesk uses it: ``email:<address>`` (or a bare address)."""
        wanted = search.removeprefix("email:").strip().lower()
        users = [copy.deepcopy(user) for user in self.users.values() if user["email"].lower() == wanted]
        return 200, {"users": users, "next_page": None, "previous_page": None, "count": len(users)}, {}

    def _requested(self, user_id: int, query: dict[str, list[str]]) -> Reply:
        if user_id not in self.users:
            return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
        page = max(int(query.get("page", ["1"])[0]), 1)
        per_page = min(max(int(query.get("per_page", [str(MAX_PER_PAGE)])[0]), 1), MAX_PER_PAGE)
        tickets = [self._public(t) for t in self.tickets.values() if t["requester_id"] == user_id]
        start = (page - 1) * per_page
        more = start + per_page < len(tickets)
        return 200, {"tickets": tickets[start : start + per_page], "count": len(tickets), "previous_page": None,
                     "next_page": f"{self.url}/api/v2/users/{user_id}/tickets/requested.json?page={page + 1}"
                     if more else None}, {}

    def _delete_user(self, user_id: int) -> Reply:
        user = self.users.get(user_id)
        if user is None:
            return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
        if user_id == API_USER_ID:
            return 403, {"error": "Forbidden", "description": "You cannot delete yourself"}, {}
        user["active"] = False
        self.deleted_users[user_id] = self.users.pop(user_id)
        return 200, {"user": copy.deepcopy(user)}, {}

    def _delete_permanently(self, deleted: dict[int, dict[str, Any]], record_id: int, kind: str) -> Reply:
        """Only a soft-deleted record can be deleted permanently, as in Zendesk."""
        record = deleted.pop(record_id, None)
        if record is None:
            return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
        if kind == "user":
            return 200, {"deleted_user": {"id": record_id, "name": "Permanently Deleted User", "active": False}}, {}
        job = {"id": f"job-{record_id}", "status": "queued", "total": 1, "progress": None, "message": None}
        return 200, {"job_status": job}, {}

    def _list_comments(self, ticket: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """List Comments: oldest first unless ``sort_order=desc``; offset pagination."""
        sort_order = query.get("sort_order", ["asc"])[0]
        if sort_order not in ("asc", "desc"):
            return 400, {"error": "InvalidPaginationParameter", "description": "sort_order must be asc or desc"}, {}
        try:
            page = max(int(query.get("page", ["1"])[0]), 1)
            per_page = min(max(int(query.get("per_page", [str(MAX_PER_PAGE)])[0]), 1), MAX_PER_PAGE)
        except ValueError:
            return 400, {"error": "InvalidPaginationParameter", "description": "page and per_page are numbers"}, {}
        comments = list(ticket["comments"])
        if sort_order == "desc":
            comments.reverse()
        start = (page - 1) * per_page
        selected = comments[start : start + per_page]

        def page_url(number: int) -> str:
            return (f"{self.url}/api/v2/tickets/{ticket['id']}/comments.json"
                    f"?page={number}&per_page={per_page}&sort_order={sort_order}")

        return 200, {
            "comments": copy.deepcopy(selected),
            "next_page": page_url(page + 1) if start + per_page < len(comments) else None,
            "previous_page": page_url(page - 1) if page > 1 else None,
            "count": len(comments),
        }, {}

    def _create(self, body: bytes) -> Reply:
        fields = self._ticket_param(body)
        if not isinstance(fields, dict):
            return fields
        comment = fields.get("comment")
        if not isinstance(comment, dict) or not str(comment.get("body") or "").strip():
            return _invalid("Description: cannot be blank")
        priority = fields.get("priority")
        if priority is not None and priority not in PRIORITIES:
            return _invalid(f"Priority: {priority} is not a valid priority")
        tags = fields.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            return _invalid("Tags: must be a list of strings")
        custom_fields = fields.get("custom_fields", [])
        if not isinstance(custom_fields, list) or not all(
            isinstance(item, dict) and isinstance(item.get("id"), int) for item in custom_fields
        ):
            return _invalid("Custom fields: must be a list of {id, value}")
        requester_id = fields.get("requester_id", API_USER_ID)
        if requester_id not in self.users:
            return _invalid("Requester: is invalid")
        now = _now()
        ticket_id = self._next_ticket_id
        self._next_ticket_id += 1
        ticket: dict[str, Any] = {
            "url": f"{self.url}/api/v2/tickets/{ticket_id}.json",
            "id": ticket_id,
            "external_id": fields.get("external_id"),
            "type": None,
            "subject": fields.get("subject"),
            "raw_subject": fields.get("subject"),
            "description": comment["body"],
            "priority": priority,
            "status": "new",
            "requester_id": requester_id,
            "submitter_id": API_USER_ID,
            "assignee_id": None,
            "group_id": fields.get("group_id"),
            "tags": list(tags),
            "custom_fields": [{"id": item["id"], "value": item.get("value")} for item in custom_fields],
            "created_at": now,
            "updated_at": now,
            "comments": [],
        }
        ticket["comments"].append(self._comment(comment, now))
        self.tickets[ticket_id] = ticket
        return 201, {"ticket": self._public(ticket)}, {"Location": ticket["url"]}

    def _update(self, ticket: dict[str, Any], body: bytes) -> Reply:
        fields = self._ticket_param(body)
        if not isinstance(fields, dict):
            return fields
        if ticket["status"] == "closed":
            return _invalid("Status: closed prevents ticket update")
        comment = fields.get("comment")
        if comment is not None and (not isinstance(comment, dict) or not str(comment.get("body") or "").strip()):
            return _invalid("Comment: cannot be blank")
        if "status" in fields and fields["status"] not in STATUSES:
            return _invalid(f"Status: {fields['status']} is not a valid status")
        if "priority" in fields and fields["priority"] not in PRIORITIES | {None}:
            return _invalid(f"Priority: {fields['priority']} is not a valid priority")
        now = _now()
        if comment is not None:
            ticket["comments"].append(self._comment(comment, now))
        for name in ("status", "priority"):
            if name in fields:
                ticket[name] = fields[name]
        ticket["updated_at"] = now
        return 200, {"ticket": self._public(ticket)}, {}

    @staticmethod
    def _ticket_param(body: bytes) -> dict[str, Any] | Reply:
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return 400, {"error": "InvalidJSON", "description": "The request body is not valid JSON"}, {}
        if not isinstance(data, dict) or not isinstance(data.get("ticket"), dict):
            return 400, {"error": "ParameterMissing", "description": "Parameter 'ticket' is required"}, {}
        return data["ticket"]

    def _comment(self, comment: dict[str, Any], now: str) -> dict[str, Any]:
        comment_id = self._next_comment_id
        self._next_comment_id += 1
        body = str(comment["body"])
        return {
            "id": comment_id,
            "type": "Comment",
            "author_id": API_USER_ID,
            "body": body,
            "html_body": "".join(f"<p>{html.escape(line)}</p>" for line in body.split("\n") if line.strip()),
            "plain_body": body,
            "public": bool(comment.get("public", True)),  # Zendesk's default is public
            "attachments": [],
            "audit_id": comment_id,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {}, "custom": {}},
            "created_at": now,
        }

    @staticmethod
    def _public(ticket: dict[str, Any]) -> dict[str, Any]:
        """The API representation: Zendesk serves comments from a separate endpoint."""
        return copy.deepcopy({key: value for key, value in ticket.items() if key != "comments"})
