"""Support staff and their tokens, with roles (frontdesk/agents/roles.py says what each may do).

A token is shown once when it is issued and stored only as a SHA-256 hash (it carries 256 bits
of randomness, so a slow hash adds nothing). It expires (90 days unless issued otherwise): a
token forgotten in a script or on a former agent's laptop stops working on its own. A token
may name the queues its holder works. A request needs a valid token (else 401) whose roles
allow it (else 403), and every refusal of someone signed in is an audit record.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Session

from frontdesk.agents import roles as access
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.schema import Base, utcnow

ROLES = frozenset(access.ROLES)
TOKEN_PREFIX = "fdat_"  # noqa: S105 - makes a leaked token recognisable to secret scanners
MAX_TOKEN_CHARS = 200


class AgentRow(Base):
    __tablename__ = "agents"

    id = Column(Integer, primary_key=True, autoincrement=True)
    name = Column(String(80), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class ApiTokenRow(Base):
    __tablename__ = "agent_api_tokens"

    id = Column(Integer, primary_key=True, autoincrement=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False, index=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    roles = Column(String(80), nullable=False)  # comma-separated
    queues = Column(String(400), nullable=True)  # comma-separated; None: the unrestricted queues
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_used_at = Column(DateTime, nullable=True)
    revoked_at = Column(DateTime, nullable=True)
    expires_at = Column(DateTime, nullable=False)


@dataclass(frozen=True)
class Principal:
    agent_id: int
    name: str
    roles: frozenset[str]
    token_id: int
    queues: frozenset[str] | None = None  # None: the unrestricted queues (or all, for a supervisor)

    def has(self, role: str) -> bool:
        return role in self.roles

    def may(self, permission: str | None) -> bool:
        return access.may(self.roles, permission)

    def sees_queue(self, queue: str) -> bool:
        return access.queue_visible(self.roles, self.queues, queue)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AgentDirectory:
    def __init__(self, clock: Callable[[], datetime] = utcnow, token_days: int = 90) -> None:
        self.clock = clock
        self.token_days = token_days

    def issue_token(self, session: Session, name: str, roles: set[str], days: int | None = None,
                    queues: set[str] | None = None) -> tuple[int, str]:
        """Creates the agent if needed and returns (token id, raw token): show it once. The token
        expires after ``days`` (the configured default when None); ``queues`` limits the holder to
        those queues (the caller checks they exist)."""
        unknown = set(roles) - ROLES
        if unknown or not roles:
            raise ValueError(f"roles must be among {sorted(ROLES)}; got {sorted(roles)}")
        if queues is not None and (not queues or any("," in queue for queue in queues)):
            raise ValueError("name at least one queue, without commas")
        days = self.token_days if days is None else days
        if not 1 <= days <= 366:
            raise ValueError("a token lives 1-366 days")
        name = name.strip()
        if not name or len(name) > 80:
            raise ValueError("an agent name is 1-80 characters")
        agent = session.execute(select(AgentRow).where(AgentRow.name == name)).scalar_one_or_none()
        if agent is None:
            agent = AgentRow(name=name, created_at=self.clock())
            session.add(agent)
            session.flush()
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        row = ApiTokenRow(agent_id=agent.id, token_hash=_hash(raw), roles=",".join(sorted(roles)),
                          queues=",".join(sorted(queues)) if queues else None,
                          created_at=now, expires_at=now + timedelta(days=days))
        session.add(row)
        session.flush()
        return int(row.id), raw

    def revoke(self, session: Session, token_id: int) -> bool:
        row = session.get(ApiTokenRow, token_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = self.clock()
        return True

    def authenticate(self, session: Session, raw: str | None) -> Principal | None:
        if not raw or len(raw) > MAX_TOKEN_CHARS or not raw.startswith(TOKEN_PREFIX):
            return None
        found = session.execute(
            select(ApiTokenRow, AgentRow).join(AgentRow, AgentRow.id == ApiTokenRow.agent_id)
            .where(ApiTokenRow.token_hash == _hash(raw))
        ).first()
        if found is None:
            return None
        token, agent = found
        if token.revoked_at is not None or token.expires_at <= self.clock():
            return None
        token.last_used_at = self.clock()
        return Principal(int(agent.id), agent.name, frozenset(token.roles.split(",")), int(token.id),
                         frozenset(token.queues.split(",")) if token.queues else None)

    def has_active_admin(self, session: Session) -> bool:
        """Whether any unexpired, unrevoked token holds the admin role: until one does, the first
        admin token may be issued without a token (docs/roles.md, "The first admin")."""
        now = self.clock()
        rows = session.execute(select(ApiTokenRow.roles).where(
            ApiTokenRow.revoked_at.is_(None), ApiTokenRow.expires_at > now)).scalars()
        return any("admin" in roles.split(",") for roles in rows)

    def list_tokens(self, session: Session) -> list[dict[str, object]]:
        rows = session.execute(
            select(ApiTokenRow, AgentRow).join(AgentRow, AgentRow.id == ApiTokenRow.agent_id).order_by(ApiTokenRow.id)
        ).all()
        return [
            {"id": t.id, "agent": a.name, "roles": t.roles, "queues": t.queues or "", "created_at": t.created_at,
             "expires_at": t.expires_at, "expired": t.expires_at <= self.clock(),
             "last_used_at": t.last_used_at, "revoked": t.revoked_at is not None}
            for t, a in rows
        ]


def record_denial(session: Session, who: str, permission: str | None, via: str, target: str) -> None:
    """An audit record of a refused request: who (a staff name, or "unauthenticated"), what it
    needed, through which door (api or cli) and what it asked for (a route or a command)."""
    AuditLog().record(session, DecisionContext(conversation_id=None), "access.denied",
                      reason=permission or "a valid token", who=who, via=via, target=target)
