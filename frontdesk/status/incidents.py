"""Incidents operators declare, and the status desk the dialogue layer asks.

``IncidentService`` keeps the ``incidents`` table: every change is one audit record (the
incident's id, status, impact and component: never its title or message, which are free text).
``StatusDesk`` bundles the configured ``StatusSource`` with it, and finds the incident behind a
component so a ticket about that component can carry the incident's tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.schema import utcnow
from frontdesk.status.port import (
    IMPACTS,
    INCIDENT_STATUSES,
    OPEN_INCIDENT_STATUSES,
    Incident,
    ServiceStatus,
    StatusSource,
    incident_for_component,
)
from frontdesk.status.sql import IncidentRow, incident_from_row

MAX_TITLE_CHARS = 200
MAX_COMPONENT_CHARS = 80
MAX_MESSAGE_CHARS = 4000
# Audit rows need a conversation; incidents belong to none (as with other operator decisions).
_OPERATOR = DecisionContext(conversation_id="", action="status_incident")


class IncidentError(ValueError):
    """An incident change that cannot be made: unknown id, a bad value, or already resolved."""


def _text(value: str, name: str, most: int) -> str:
    cleaned = " ".join(value.split()) if name != "message" else value.strip()
    if not cleaned:
        raise IncidentError(f"{name} must not be empty")
    if len(cleaned) > most:
        raise IncidentError(f"{name} is longer than {most} characters")
    return cleaned


def _choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    cleaned = value.strip().lower()
    if cleaned not in allowed:
        raise IncidentError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return cleaned


class IncidentService:
    def __init__(self, audit: AuditLog, clock: Callable[[], datetime] = utcnow) -> None:
        self.audit = audit
        self.clock = clock

    def open(self, session: Session, title: str, component: str, impact: str, message: str) -> Incident:
        """Declares an incident (status ``investigating``)."""
        now = self.clock()
        row = IncidentRow(
            title=_text(title, "title", MAX_TITLE_CHARS), component=_text(component, "component", MAX_COMPONENT_CHARS),
            status="investigating", impact=_choice(impact, "impact", IMPACTS),
            message=_text(message, "message", MAX_MESSAGE_CHARS), started_at=now, updated_at=now,
        )
        session.add(row)
        session.flush()
        self._audit(session, "status.incident_opened", row)
        return incident_from_row(row)

    def update(self, session: Session, incident_id: int, status: str, message: str,
               impact: str | None = None) -> Incident:
        """A new update on an open incident; status ``resolved`` resolves it."""
        status = _choice(status, "status", INCIDENT_STATUSES)
        row = self._open_row(session, incident_id)
        row.status, row.message = status, _text(message, "message", MAX_MESSAGE_CHARS)
        if impact is not None:
            row.impact = _choice(impact, "impact", IMPACTS)
        row.updated_at = self.clock()
        if status == "resolved":
            row.resolved_at = row.updated_at
        self._audit(session, "status.incident_resolved" if status == "resolved" else "status.incident_updated", row)
        return incident_from_row(row)

    def resolve(self, session: Session, incident_id: int, message: str) -> Incident:
        return self.update(session, incident_id, "resolved", message)

    def get(self, session: Session, incident_id: int) -> Incident | None:
        row = session.get(IncidentRow, incident_id)
        return incident_from_row(row) if row is not None else None

    def list(self, session: Session, open_only: bool = True, limit: int = 100) -> list[Incident]:
        """Newest first; open ones only unless ``open_only`` is False."""
        query = select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit)
        if open_only:
            query = query.where(IncidentRow.status.in_(OPEN_INCIDENT_STATUSES))
        return [incident_from_row(row) for row in session.execute(query).scalars()]

    def _open_row(self, session: Session, incident_id: int) -> IncidentRow:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            raise IncidentError(f"no incident {incident_id}")
        if row.status == "resolved":
            raise IncidentError(f"incident {incident_id} is already resolved")
        return row

    def _audit(self, session: Session, decision: str, row: IncidentRow) -> None:
        self.audit.record(session, _OPERATOR, decision, incident_id=row.id, status=row.status, impact=row.impact,
                          component=row.component)


@dataclass(frozen=True)
class StatusDesk:
    """What the dialogue layer and the CLI ask about the service: ``current()`` from the configured
    source, the incidents operators keep, and the tag for tickets about an affected component."""

    source: StatusSource
    incidents: IncidentService

    def current(self) -> ServiceStatus:
        return self.source.current()

    def incident_tag(self, component: str, status: ServiceStatus | None = None) -> str | None:
        """``incident-<id>`` of the open incident affecting ``component``; None when there is none."""
        incident = incident_for_component(status or self.current(), component)
        return incident.tag if incident is not None else None
