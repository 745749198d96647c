"""A ``TicketingBackend`` for Zendesk Support (API v2), over ``httpx``.

Idempotency of creates: the draft's idempotency key is stored as the ticket's ``external_id``
and looked up before every create, so a create whose response was lost (timeout, outage) is
found, not duplicated, when the caller retries. The create also sends Zendesk's documented
``Idempotency-Key`` header (Support API introduction, "Idempotency": ticket creation only, keys
kept for two hours, a replay answers with the original response and ``x-idempotency-lookup:
hit``), which covers what the lookup cannot: two *concurrent* creates for the same handoff.
Should both still exist (a key older than two hours), the lookup returns the oldest, so every
caller converges on one reference.

Idempotency of comments: Zendesk offers no key for ``PUT /api/v2/tickets/{id}.json``, and a
comment's ``metadata`` is read-only, so a keyed comment carries its key as its last line
(``frontdesk.ticketing.port.keyed_body``). Before adding one, the newest comments of the ticket are
listed (List Comments, ``sort_order=desc``); a comment that already carries the key means an
earlier attempt was applied and only its answer was lost, and the PUT is skipped.

Erasure (``erase_requester_data``, for data-subject requests) uses the documented calls only:
Delete Ticket (``DELETE /api/v2/tickets/{id}``, to the deleted tickets) then Delete Ticket
Permanently (``DELETE /api/v2/deleted_tickets/{id}``); the requester is found with Search Users
(``query=email:...``), their tickets with List Requested Tickets, and they are removed with Delete
User then Permanently Delete User (``DELETE /api/v2/deleted_users/{id}``). Only *end users* are
ever deleted: agents and admins -- the API user that requests every handoff ticket is one -- never.
A 404 means already gone, so a repeated erasure is harmless.

Ticket contents (subject, summary, transcript, comments) are personal data even after
redaction: they are sent to Zendesk and nowhere else -- never logged, never put in exception
messages.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from frontdesk.core.schema import parse_utc
from frontdesk.ticketing.port import (
    TicketDraft,
    TicketErasure,
    TicketingRejected,
    TicketingUnavailable,
    TicketRef,
    TicketSnapshot,
    has_key,
    keyed_body,
)

log = logging.getLogger(__name__)

PRIORITIES = frozenset({"low", "normal", "high", "urgent"})
# Our names for the values a Zendesk custom field can carry; the deployment maps them to ids.
CUSTOM_FIELD_NAMES = frozenset({"summary", "suggested_reply", "conversation_id", "queue"})
# Zendesk caps a comment at roughly 64 KB; a longer one is rejected (422) and the handoff would
# never reach an agent. The transcript is shortened (oldest part first) to stay well below.
MAX_COMMENT_BYTES = 60_000
_TAG_DISALLOWED = re.compile(r"[^a-z0-9_:.\-]")
_TICKET_ID = re.compile(r"[0-9]+")
_MAX_ERROR_TEXT = 200
# How many of a ticket's newest comments are searched for a keyed comment (one page; Zendesk's
# maximum). A retry follows its lost attempt within minutes, far fewer comments than this.
COMMENT_LOOKBACK = 100
# Zendesk's idempotency keys are scoped to the account, which other integrations share.
IDEMPOTENCY_PREFIX = "frontdesk-ticket:"
# Pages of a user's requested tickets read at the most (100 each) when erasing them.
MAX_REQUESTED_PAGES = 50


def zendesk_tag(label: str) -> str:
    """A label as a Zendesk tag: lowercase, spaces to underscores, only ``[a-z0-9_:.-]``.

    Accents are folded to ASCII first so "Rückerstattung" stays readable instead of losing
    letters. Zendesk splits a tag on whitespace, so an unsanitized label would become several.
    """
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    tag = re.sub(r"\s+", "_", ascii_label.strip().lower())
    return _TAG_DISALLOWED.sub("", tag)


def zendesk_tags(labels: tuple[str, ...] | list[str]) -> list[str]:
    """Sanitized, de-duplicated (first wins), non-empty tags in label order."""
    tags: list[str] = []
    for label in labels:
        tag = zendesk_tag(label)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def comment_body(draft: TicketDraft, max_bytes: int = MAX_COMMENT_BYTES) -> str:
    """The internal note an agent reads first: summary, suggested reply, then the transcript.

    Plain text, because Zendesk renders a comment ``body`` as text; if the whole note is too
    large the start of the transcript is dropped, since the latest turns matter most at handoff.
    """
    context = [f"Conversation: {draft.conversation_id}", f"Channel: {draft.channel}", f"Queue: {draft.queue}"]
    if draft.customer_id:
        context.append(f"Customer: {draft.customer_id}")
    context.extend(f"{key}: {value}" for key, value in sorted(draft.profile.items()))

    def render(transcript: str) -> str:
        sections = [
            ("Summary", draft.summary),
            ("Suggested reply", draft.suggested_reply),
            ("Transcript (redacted)", transcript),
            ("Context", "\n".join(context)),
        ]
        return "\n\n".join(f"{title}\n{'-' * len(title)}\n{text.strip() or '(none)'}" for title, text in sections)

    body = render(draft.transcript)
    excess = len(body.encode("utf-8")) - max_bytes
    if excess <= 0:
        return body
    marker = "[... earlier part of the transcript omitted ...]\n"
    encoded = draft.transcript.encode("utf-8")
    kept = encoded[min(len(encoded), excess + len(marker.encode("utf-8"))) :].decode("utf-8", "ignore")
    return render(marker + kept)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from ``Retry-After`` (Zendesk sends seconds; an HTTP date is also valid)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _error_text(response: httpx.Response) -> str:
    """Zendesk's ``error``/``description`` only: ``details`` can quote the submitted values."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    error = data.get("error")
    if isinstance(error, dict):  # some endpoints answer {"error": {"title": ..., "message": ...}}
        error = error.get("title") or error.get("message")
    for value in (error, data.get("description")):
        if isinstance(value, str) and value.strip():
            parts.append(value.strip()[:_MAX_ERROR_TEXT])
    return ": ".join(parts)


class _Missing(Exception):
    """A 404 where the caller said it may be (``_request(missing_ok=True)``)."""


class ZendeskTicketing:
    """Opens handoff tickets in Zendesk Support, authenticated with an API token."""

    name = "zendesk"

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        timeout: float = 10.0,
        custom_fields: Mapping[str, int] | None = None,
        group_ids: Mapping[str, int] | None = None,
    ) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("Zendesk base_url must start with https:// (e.g. https://acme.zendesk.com)")
        unknown = set(custom_fields or {}) - CUSTOM_FIELD_NAMES
        if unknown:
            raise ValueError(f"unknown Zendesk custom field names: {sorted(unknown)}")
        self.base_url = base_url
        self.custom_fields = dict(custom_fields or {})
        self.group_ids = dict(group_ids or {})
        self._client = httpx.Client(
            base_url=base_url,
            auth=httpx.BasicAuth(f"{email}/token", api_token),
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "User-Agent": "frontdesk-zendesk/1"},
            # A redirect means a misconfigured base_url; following it could leak credentials.
            follow_redirects=False,
        )

    def close(self) -> None:
        """Closes pooled connections."""
        self._client.close()

    def __enter__(self) -> ZendeskTicketing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the port -------------------------------------------------------------------------------

    def create_ticket(self, draft: TicketDraft) -> TicketRef:
        """Creates the ticket, or returns the one already carrying this idempotency key."""
        payload = self._payload(draft)  # first: a draft Zendesk would refuse costs no request
        existing = self._find_by_external_id(draft.idempotency_key)
        if existing is not None:
            log.info("Zendesk ticket #%s already exists for this handoff; reusing it", existing)
            return self._ref(existing)
        data = self._request("POST", "/api/v2/tickets.json", "create ticket", json={"ticket": payload},
                             headers={"Idempotency-Key": IDEMPOTENCY_PREFIX + draft.idempotency_key})
        ticket_id = self._ticket_id(data.get("ticket"), "create ticket")
        log.info("Zendesk ticket #%s created", ticket_id)
        return self._ref(ticket_id)

    def add_comment(self, ticket: TicketRef, body: str, public: bool = False, key: str | None = None) -> None:
        """Appends a comment; internal by default so nothing reaches the customer by accident.

        With ``key``, a comment already carrying it (an earlier attempt whose answer was lost)
        is not added again."""
        ticket_id = self._checked_id(ticket)
        if key is not None:
            if self._has_keyed_comment(ticket_id, body, key):
                log.info("Comment already on Zendesk ticket #%s; not adding it again", ticket_id)
                return
            body = keyed_body(body, key)
        self._request(
            "PUT",
            f"/api/v2/tickets/{ticket_id}.json",
            "add comment",
            json={"ticket": {"comment": {"body": body, "public": public}}},
        )
        log.info("Comment added to Zendesk ticket #%s (public=%s)", ticket_id, public)

    def close_ticket(self, ticket: TicketRef) -> None:
        """Sets the ticket to ``solved`` (Zendesk closes solved tickets itself later)."""
        ticket_id = self._checked_id(ticket)
        self._request("PUT", f"/api/v2/tickets/{ticket_id}.json", "solve ticket",
                      json={"ticket": {"status": "solved"}})

    def ticket_status(self, external_id: str) -> str:
        """The ticket's Zendesk status (new, open, pending, hold, solved, closed)."""
        return self.ticket_snapshot(external_id).status

    def ticket_snapshot(self, external_id: str) -> TicketSnapshot:
        """The ticket's Zendesk status and ``updated_at`` (Show Ticket)."""
        ticket_id = self._checked_id(TicketRef(self.name, external_id, f"#{external_id}"))
        data = self._request("GET", f"/api/v2/tickets/{ticket_id}.json", "get ticket")
        ticket = data.get("ticket")
        status = ticket.get("status") if isinstance(ticket, dict) else None
        if not isinstance(status, str):
            raise TicketingUnavailable("Zendesk get ticket: response has no ticket status")
        return TicketSnapshot(status, parse_utc(ticket.get("updated_at")))

    def erase_requester_data(self, external_ids: Sequence[str], requester_email: str | None) -> TicketErasure:
        """Deletes the tickets for good, then the end user with this address (and every ticket
        they requested). Stops at the first failure and reports what is left."""
        ticket_ids = [ticket_id for ticket_id in dict.fromkeys(external_ids) if _TICKET_ID.fullmatch(ticket_id)]
        tickets_erased = users_erased = users_done = 0
        erased: set[str] = set()
        users: list[int] | None = None
        try:
            users = self._end_users_with_email(requester_email) if requester_email else []
            for user_id in users:
                ticket_ids.extend(t for t in self._requested_ticket_ids(user_id) if t not in ticket_ids)
            for ticket_id in ticket_ids:
                tickets_erased += self._delete_for_good("tickets", "deleted_tickets", ticket_id, "delete ticket")
                erased.add(ticket_id)
            for user_id in users:
                users_erased += self._delete_for_good("users", "deleted_users", str(user_id), "delete user")
                users_done += 1
        except (TicketingUnavailable, TicketingRejected) as problem:
            log.warning("Zendesk erasure incomplete: %s", problem)
            return TicketErasure(
                tickets_erased, users_erased, tuple(t for t in ticket_ids if t not in erased),
                requester_pending=bool(requester_email) and (users is None or users_done < len(users)),
                problem=str(problem))
        log.info("Zendesk erasure: %s tickets and %s users deleted for good", tickets_erased, users_erased)
        return TicketErasure(tickets_erased, users_erased)

    # -- helpers --------------------------------------------------------------------------------

    def _payload(self, draft: TicketDraft) -> dict[str, Any]:
        priority = draft.priority.strip().lower()
        if priority not in PRIORITIES:
            # Zendesk would answer 422; failing here says which value is wrong without a call.
            raise TicketingRejected(f"priority {draft.priority!r} is not one of {sorted(PRIORITIES)}")
        values = {
            "summary": draft.summary,
            "suggested_reply": draft.suggested_reply,
            "conversation_id": draft.conversation_id,
            "queue": draft.queue,
        }
        ticket: dict[str, Any] = {
            "subject": draft.subject,
            "comment": {"body": comment_body(draft), "public": False},
            "priority": priority,
            "tags": zendesk_tags(draft.labels),
            "external_id": draft.idempotency_key,
        }
        custom = [{"id": field_id, "value": values[name]} for name, field_id in self.custom_fields.items()]
        if custom:
            ticket["custom_fields"] = custom
        group_id = self.group_ids.get(draft.queue)
        if group_id is not None:
            ticket["group_id"] = group_id
        return ticket

    def _find_by_external_id(self, key: str) -> int | None:
        """The oldest ticket with this external id (Zendesk does not make them unique)."""
        data = self._request("GET", "/api/v2/tickets.json", "find ticket", params={"external_id": key})
        tickets = data.get("tickets")
        if not isinstance(tickets, list):
            raise TicketingUnavailable("Zendesk find ticket: response has no ticket list")
        # The filter is an exact match in Zendesk; checking again keeps a lax proxy or stand-in honest.
        ids = [
            self._ticket_id(ticket, "find ticket")
            for ticket in tickets
            if isinstance(ticket, dict) and ticket.get("external_id") == key
        ]
        return min(ids) if ids else None

    def _end_users_with_email(self, email: str) -> list[int]:
        """Ids of the end users with exactly this address (Search Users); never agents or admins."""
        wanted = email.strip().lower()
        data = self._request("GET", "/api/v2/users/search.json", "search users", params={"query": f"email:{wanted}"})
        users = data.get("users")
        if not isinstance(users, list):
            raise TicketingUnavailable("Zendesk search users: response has no user list")
        return [
            user["id"] for user in users
            if isinstance(user, dict) and isinstance(user.get("id"), int) and user.get("role") == "end-user"
            and str(user.get("email") or "").strip().lower() == wanted
        ]

    def _requested_ticket_ids(self, user_id: int) -> list[str]:
        """The ids of every ticket this user requested (List Requested Tickets, page by page)."""
        found: list[str] = []
        for page in range(1, MAX_REQUESTED_PAGES + 1):
            data = self._request("GET", f"/api/v2/users/{user_id}/tickets/requested.json", "list requested tickets",
                                 params={"page": str(page), "per_page": str(COMMENT_LOOKBACK)})
            tickets = data.get("tickets")
            if not isinstance(tickets, list):
                raise TicketingUnavailable("Zendesk list requested tickets: response has no ticket list")
            found.extend(str(self._ticket_id(ticket, "list requested tickets")) for ticket in tickets)
            if not data.get("next_page"):
                break
        return found

    def _delete_for_good(self, live: str, deleted: str, record_id: str, action: str) -> int:
        """Delete, then delete permanently: 1 if the record was there in either state, 0 if not."""
        found = False
        for path, step in ((f"/api/v2/{live}/{record_id}.json", action),
                           (f"/api/v2/{deleted}/{record_id}.json", action + " permanently")):
            try:
                self._request("DELETE", path, step, missing_ok=True)
                found = True
            except _Missing:
                pass  # gone already (or never there): nothing to do
        return int(found)

    def _has_keyed_comment(self, ticket_id: str, body: str, key: str) -> bool:
        """Whether one of the ticket's newest comments is this keyed comment (List Comments)."""
        data = self._request(
            "GET", f"/api/v2/tickets/{ticket_id}/comments.json", "list comments",
            params={"sort_order": "desc", "per_page": str(COMMENT_LOOKBACK)},
        )
        comments = data.get("comments")
        if not isinstance(comments, list):
            raise TicketingUnavailable("Zendesk list comments: response has no comment list")
        return any(
            isinstance(comment, dict) and isinstance(comment.get(field), str) and has_key(comment[field], body, key)
            for comment in comments
            for field in ("body", "plain_body")
        )

    def _request(
        self,
        method: str,
        path: str,
        action: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        """One API call, with failures sorted into "try again later" and "will never work".

        ``missing_ok``: a 404 raises ``_Missing`` (a deletion of what is gone already). A 204 answers {}."""
        try:
            response = self._client.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise TicketingUnavailable(f"Zendesk {action}: timed out") from exc
        except httpx.TransportError as exc:
            raise TicketingUnavailable(f"Zendesk {action}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        log.debug("Zendesk %s %s -> HTTP %s", method, path, status)
        if status == 429:
            retry_after = _retry_after(response)
            raise TicketingUnavailable(f"Zendesk {action}: rate limited (HTTP 429)", retry_after=retry_after)
        if status >= 500 or status == 409:  # 409: a concurrent request (same key, same ticket) is in flight
            detail = _error_text(response)
            raise TicketingUnavailable(
                f"Zendesk {action}: HTTP {status}" + (f" {detail}" if detail else ""),
                retry_after=_retry_after(response),
            )
        if status == 404 and missing_ok:
            raise _Missing(action)
        if status == 204:
            return {}
        if status >= 300:
            detail = _error_text(response)
            raise TicketingRejected(f"Zendesk {action}: HTTP {status}" + (f" {detail}" if detail else ""))
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TicketingUnavailable(f"Zendesk {action}: HTTP {status} with an unreadable body")
        return data

    def _ticket_id(self, ticket: object, action: str) -> int:
        ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            raise TicketingUnavailable(f"Zendesk {action}: response has no ticket id")
        return ticket_id

    def _checked_id(self, ticket: TicketRef) -> str:
        """The numeric id, checked so a foreign or malformed reference cannot build a bad URL."""
        if ticket.backend != self.name or not _TICKET_ID.fullmatch(ticket.external_id):
            raise TicketingRejected(f"not a Zendesk ticket reference: {ticket.backend}/{ticket.external_id!r}")
        return ticket.external_id

    def _ref(self, ticket_id: int) -> TicketRef:
        return TicketRef(backend=self.name, external_id=str(ticket_id), reference=f"#{ticket_id}")
