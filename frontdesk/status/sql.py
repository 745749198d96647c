"""The ``incidents`` table and the default status source that reads it.

Operators keep the table with ``frontdesk status incident …`` (``IncidentService``); the source
turns its open incidents into a ``ServiceStatus``: the worst impact is the overall indicator, and
each incident's component is affected to match its impact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String, Text, select
from sqlalchemy.exc import SQLAlchemyError

from frontdesk.core.db import Database
from frontdesk.core.schema import Base, utcnow
from frontdesk.status.port import (
    COMPONENT_STATUS_FOR_IMPACT,
    COMPONENT_STATUSES,
    DESCRIPTIONS,
    OPEN_INCIDENT_STATUSES,
    ComponentStatus,
    Incident,
    ServiceStatus,
    unknown_status,
    worst_indicator,
)

log = logging.getLogger(__name__)


class IncidentRow(Base):
    __tablename__ = "incidents"

    id = Column(Integer, primary_key=True, autoincrement=True)
    title = Column(String(200), nullable=False)
    component = Column(String(80), nullable=False, index=True)
    status = Column(String(16), nullable=False, index=True)  # investigating | identified | monitoring | resolved
    impact = Column(String(10), nullable=False)  # minor | major | critical
    message = Column(Text, nullable=False)  # the latest update, for customers
    started_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)
    resolved_at = Column(DateTime, nullable=True)


def incident_from_row(row: IncidentRow) -> Incident:
    return Incident(
        id=str(row.id), title=row.title, status=row.status, impact=row.impact, components=(row.component,),
        message=row.message, started_at=row.started_at, updated_at=row.updated_at, resolved_at=row.resolved_at,
    )


class IncidentTableSource:
    """The default ``StatusSource``: the open incidents of the ``incidents`` table."""

    name = "incidents"

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    def current(self) -> ServiceStatus:
        try:
            with self.db.transaction() as session:
                rows = session.execute(select(IncidentRow).where(IncidentRow.status.in_(OPEN_INCIDENT_STATUSES))
                                       .order_by(IncidentRow.updated_at.desc(), IncidentRow.id.desc())).scalars()
                incidents = tuple(incident_from_row(row) for row in rows)
        except SQLAlchemyError as problem:
            # The port promises no exceptions; the class says what broke without any statement.
            log.warning("incidents table unreadable (%s): service status unknown", type(problem).__name__)
            return unknown_status(self.name)
        indicator = worst_indicator([incident.impact for incident in incidents])
        worst_by_component: dict[str, str] = {}
        for incident in incidents:
            status = COMPONENT_STATUS_FOR_IMPACT.get(incident.impact, "degraded_performance")
            for component in incident.components:
                known = worst_by_component.get(component, "operational")
                worst_by_component[component] = max(known, status, key=COMPONENT_STATUSES.index)
        affected = tuple(ComponentStatus(name, status) for name, status in sorted(worst_by_component.items()))
        return ServiceStatus(indicator, DESCRIPTIONS[indicator], affected, incidents, stale=False,
                             as_of=self.clock(), source=self.name)
