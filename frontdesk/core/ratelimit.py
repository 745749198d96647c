"""Rate limits that hold whatever conversation id a client uses.

Two kinds, for two costs:

- ``SlidingWindowLimiter``: in memory, per process, for what happens on every message (chat
  messages, failed agent sign-ins). Microseconds a check, bounded memory: the least recently
  seen keys are forgotten first.
- ``SqlRateLimiter``: rows in the app database, shared by every process, for what is rare and
  costly (reset and code e-mails, handoffs and their tickets): one indexed count per key.

``client_address`` says which client a request comes from, honouring a reverse proxy's header
only when the request really comes from a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Index, Integer, String, delete, func, select
from sqlalchemy.orm import Session

from frontdesk.core.schema import Base, utcnow
from frontdesk.settings import ClientAddressSettings


class SlidingWindowLimiter:
    """At most ``limit`` events per key in any ``window_seconds``."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.max_keys, self.clock = limit, window_seconds, max_keys, clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, self.clock())) >= self.limit

    def record(self, key: str) -> None:
        self.allow(key)

    def allow(self, key: str) -> bool:
        """Records the event and says whether it was within the limit (a refused one counts too:
        a client that keeps hammering stays refused)."""
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            allowed = len(events) < self.limit
            events.append(now)
            if len(events) > self.limit:  # only the last `limit` matter
                events.popleft()
            return allowed

    def __len__(self) -> int:
        return len(self._events)


class RateLimitHitRow(Base):
    __tablename__ = "rate_limit_hits"

    id = Column(Integer, primary_key=True, autoincrement=True)
    bucket = Column(String(40), nullable=False)  # e.g. "reset_email:client"
    key = Column(String(64), nullable=False)  # a pseudonym (client key, HMAC of an address), never PII
    at = Column(DateTime, nullable=False, default=utcnow, index=True)

    __table_args__ = (Index("ix_rate_limit_hits_bucket_key_at", "bucket", "key", "at"),)


@dataclass(frozen=True)
class Limit:
    bucket: str
    key: str
    limit: int
    window: timedelta


class SqlRateLimiter:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    def exceeded(self, session: Session, limits: Iterable[Limit]) -> Limit | None:
        """The first limit already reached, or None."""
        now = self.clock()
        for limit in limits:
            count = session.execute(select(func.count()).select_from(RateLimitHitRow).where(
                RateLimitHitRow.bucket == limit.bucket, RateLimitHitRow.key == limit.key,
                RateLimitHitRow.at > now - limit.window)).scalar_one()
            if count >= limit.limit:
                return limit
        return None

    def record(self, session: Session, limits: Iterable[Limit]) -> None:
        now = self.clock()
        session.add_all(RateLimitHitRow(bucket=limit.bucket, key=limit.key, at=now) for limit in limits)

    def allow(self, session: Session, limits: list[Limit]) -> Limit | None:
        """Checks every limit and, when none is reached, records the event against all of them.
        Returns the limit that refused it, or None when it is allowed."""
        refused = self.exceeded(session, limits)
        if refused is None:
            self.record(session, limits)
        return refused

    def purge(self, session: Session, older_than: timedelta = timedelta(days=2)) -> int:
        result = session.execute(delete(RateLimitHitRow).where(RateLimitHitRow.at < self.clock() - older_than))
        return int(result.rowcount or 0)


@dataclass(frozen=True)
class EmailRequestLimits:
    """Reset and code e-mails asked for in an hour: per client address (whatever conversation or
    address it names) and for everyone together (one bucket for both kinds)."""

    limiter: SqlRateLimiter
    kind: str  # "reset" or "code"
    per_client: int
    overall: int

    def allow(self, session: Session, client: str | None) -> Limit | None:
        hour = timedelta(hours=1)
        limits = [Limit("email:all", "all", self.overall, hour)]
        if client:
            limits.append(Limit(f"{self.kind}_email:client", client, self.per_client, hour))
        return self.limiter.allow(session, limits)


def client_address(peer: str | None, headers: Mapping[str, str], settings: ClientAddressSettings) -> str:
    """The client's IP address: the peer's, or -- when the peer is a trusted proxy -- the one the
    proxy put in the configured header. ``X-Forwarded-For`` is read from the right: each trusted
    proxy appended one entry, and what the client wrote itself is further left."""
    peer = peer or "unknown"
    if not settings.header or not _trusted(peer, settings.trusted_networks):
        return peer
    # Every line of the header, in order: a proxy may add its own line after the client's.
    getall = getattr(headers, "getall", None)
    lines = getall(settings.header, []) if getall else [headers.get(settings.header) or
                                                         headers.get(settings.header.lower()) or ""]
    entries = [entry.strip() for line in lines for entry in str(line).split(",") if entry.strip()]
    if not entries:
        return peer
    candidate = entries[max(len(entries) - settings.proxies, 0)]
    if "%" in candidate:  # an IPv6 zone id names an interface, not a client
        return peer
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def client_identity(peer: str | None, headers: Mapping[str, str], settings: ClientAddressSettings) -> str:
    """What rate limits count a client by: its IPv4 address, or its IPv6 /64 (one subscriber
    has a whole /64 and could rotate through it otherwise)."""
    address = client_address(peer, headers, settings)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6 and not parsed.is_loopback:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def _trusted(peer: str, networks: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
