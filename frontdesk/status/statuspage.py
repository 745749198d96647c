"""A ``StatusSource`` reading a Statuspage feed: ``GET {url}`` answering ``/api/v2/summary.json``.

The documented shape (Statuspage's public Status API, "Summary")::

    {"page": {"id", "name", "url", "updated_at"},
     "status": {"indicator": "none|minor|major|critical", "description": "..."},
     "components": [{"id", "name", "status": "operational|degraded_performance|partial_outage|
                     major_outage|under_maintenance", "group", ...}],
     "incidents": [{"id", "name", "status", "impact", "created_at", "started_at", "updated_at",
                    "resolved_at", "components": [{"name", ...}], "incident_updates": [{"body", ...}]}],
     "scheduled_maintenances": [{"id", "name", "status": "scheduled|in_progress|verifying|completed", ...}]}

A customer is waiting for the answer, so the request has a short timeout and a good answer is
cached for ``cache_seconds``. When the feed is down, slow or malformed, the last good answer is
returned marked ``stale`` with its ``as_of`` time (or "unknown" when there is none), and the feed
is not asked again before ``cache_seconds`` have passed: a hanging feed costs one timeout per
cache period, not one per customer message. Nothing here raises to the caller.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from frontdesk.core.schema import parse_utc, utcnow
from frontdesk.status.port import (
    COMPONENT_STATUSES,
    DESCRIPTIONS,
    INCIDENT_STATUSES,
    INDICATORS,
    ComponentStatus,
    Incident,
    ServiceStatus,
    unknown_status,
)

log = logging.getLogger(__name__)

# Statuspage also has "postmortem" (resolved, with a write-up) and maintenance impacts/indicators.
_INCIDENT_STATUS_ALIASES = {"postmortem": "resolved"}
_IMPACTS = ("none", "minor", "major", "critical", "maintenance")
MAX_FEED_BYTES = 2_000_000  # a status summary is a few KB; anything far bigger is not one


class MalformedFeed(ValueError):
    """The feed answered, but not with a summary.json."""


class StatuspageSource:
    name = "statuspage"

    def __init__(
        self,
        url: str,
        timeout_seconds: float = 2.0,
        cache_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.cache_for = timedelta(seconds=cache_seconds)
        self.clock = clock
        self._transport = transport
        self._client: httpx.Client | None = None
        self._last_good: ServiceStatus | None = None
        self._next_fetch: datetime | None = None
        # One fetch at a time: callers arriving during a fetch wait for it rather than repeat it.
        self._lock = threading.Lock()

    def current(self) -> ServiceStatus:
        with self._lock:
            now = self.clock()
            if self._next_fetch is not None and now < self._next_fetch:
                return self._cached()
            self._next_fetch = now + self.cache_for
            try:
                status = parse_summary(self._fetch(), as_of=now)
            except Exception as problem:  # down, slow, malformed or anything else: the port never raises
                # The class and, for HTTP, the status code: the feed's body is not ours to log.
                log.warning("status feed unavailable (%s); answering with the last good status",
                            describe(problem))
                return self._cached()
            self._last_good = status
            return status

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _cached(self) -> ServiceStatus:
        """The last good answer: fresh while it is within its cache period, stale after a failure."""
        if self._last_good is None:
            return unknown_status(self.name)
        if self._last_good.as_of is not None and self.clock() - self._last_good.as_of < self.cache_for:
            return self._last_good
        return dataclasses.replace(self._last_good, stale=True)

    def _fetch(self) -> Any:
        if self._client is None:  # on first use, not at start-up: most processes never ask
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout_seconds), transport=self._transport, follow_redirects=False,
                headers={"Accept": "application/json", "User-Agent": "frontdesk-status/1"})
        with self._client.stream("GET", self.url) as response:
            response.raise_for_status()
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_FEED_BYTES:
                    raise MalformedFeed("larger than a status summary")
        try:
            return json.loads(body)
        except ValueError as problem:
            raise MalformedFeed("not JSON") from problem


def describe(problem: Exception) -> str:
    if isinstance(problem, httpx.HTTPStatusError):
        return f"HTTP {problem.response.status_code}"
    if isinstance(problem, MalformedFeed):
        return f"malformed: {problem}"
    return type(problem).__name__


def parse_summary(data: Any, as_of: datetime) -> ServiceStatus:
    """A summary.json as a ``ServiceStatus``; ``MalformedFeed`` when it is not one."""
    if not isinstance(data, dict):
        raise MalformedFeed("not an object")
    overall = data.get("status")
    indicator = overall.get("indicator") if isinstance(overall, dict) else None
    if indicator == "maintenance":
        indicator = "minor"
    if indicator not in INDICATORS:
        raise MalformedFeed("no status indicator")
    description = overall.get("description") if isinstance(overall.get("description"), str) else None
    components = _list(data, "components")
    affected = []
    for component in components:
        name, status = component.get("name"), component.get("status")
        if not isinstance(name, str) or status not in COMPONENT_STATUSES:
            raise MalformedFeed("a component without a name or a known status")
        if status != "operational" and not component.get("group"):  # a group repeats its members
            affected.append(ComponentStatus(name, status))
    incidents = [_incident(item) for item in _list(data, "incidents")]
    # Maintenance under way affects customers as much as an incident does; scheduled ones do not yet.
    incidents += [_incident(item, maintenance=True) for item in _list(data, "scheduled_maintenances", required=False)
                  if item.get("status") in ("in_progress", "verifying")]
    open_incidents = sorted((i for i in incidents if i.is_open),
                            key=lambda i: i.updated_at or datetime.min, reverse=True)
    return ServiceStatus(indicator, description or DESCRIPTIONS[indicator], tuple(affected), tuple(open_incidents),
                         stale=False, as_of=as_of, source=StatuspageSource.name)


def _list(data: dict[str, Any], key: str, required: bool = True) -> list[dict[str, Any]]:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedFeed(f"{key} is not a list of objects")
    return value


def _incident(item: dict[str, Any], maintenance: bool = False) -> Incident:
    incident_id, name = item.get("id"), item.get("name")
    if not isinstance(incident_id, str) or not isinstance(name, str):
        raise MalformedFeed("an incident without an id or a name")
    if maintenance:
        status = "resolved" if item.get("status") == "completed" else "monitoring"
        impact = "minor"
    else:
        status = _INCIDENT_STATUS_ALIASES.get(item.get("status"), item.get("status"))
        impact = item.get("impact")
        if status not in INCIDENT_STATUSES or impact not in _IMPACTS:
            raise MalformedFeed("an incident with an unknown status or impact")
        impact = "minor" if impact == "maintenance" else impact
    updates = item.get("incident_updates") or []
    # Newest first in the feed; the body is what the status page tells customers.
    latest = next((u.get("body") for u in updates if isinstance(u, dict) and isinstance(u.get("body"), str)), "")
    components = tuple(c["name"] for c in item.get("components") or []
                       if isinstance(c, dict) and isinstance(c.get("name"), str))
    return Incident(
        id=incident_id, title=name, status=status, impact=impact, components=components, message=latest.strip(),
        started_at=parse_utc(item.get("started_at") or item.get("created_at")),
        updated_at=parse_utc(item.get("updated_at")), resolved_at=parse_utc(item.get("resolved_at")),
    )
