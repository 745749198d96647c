"""The status port: what the service's status looks like, whichever source says it.

A ``StatusSource`` answers ``current()`` with a ``ServiceStatus`` and never raises: a customer
asking "is something down?" gets what was last known, marked ``stale`` with its ``as_of`` time,
or "unknown" -- never an error. The words follow Statuspage's (indicator none/minor/major/
critical; incident status investigating/identified/monitoring/resolved), so both sources read
the same to the dialogue layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
OPEN_INCIDENT_STATUSES = ("investigating", "identified", "monitoring")
IMPACTS = ("minor", "major", "critical")
# The overall indicator, in rising severity; "unknown" when no source could be read.
INDICATORS = ("none", "minor", "major", "critical")
UNKNOWN = "unknown"
# Statuspage's component statuses, in rising severity.
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
# What an incident of each impact means for the component it names (the incidents table has no
# component status of its own).
COMPONENT_STATUS_FOR_IMPACT = {"none": "operational", "minor": "degraded_performance",
                               "major": "partial_outage", "critical": "major_outage"}
DESCRIPTIONS = {
    "none": "All systems operational",
    "minor": "Minor service disruption",
    "major": "Partial system outage",
    "critical": "Major system outage",
    UNKNOWN: "Service status unknown",
}
_TAG_UNSAFE = re.compile(r"[^a-z0-9_-]")


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    status: str  # one of COMPONENT_STATUSES


@dataclass(frozen=True)
class Incident:
    id: str  # the incidents table's id, or the Statuspage incident id
    title: str
    status: str  # one of INCIDENT_STATUSES
    impact: str  # none | minor | major | critical
    components: tuple[str, ...]
    message: str  # the latest update, written for customers
    started_at: datetime | None
    updated_at: datetime | None
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def tag(self) -> str:
        return tag_for(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "status": self.status, "impact": self.impact,
            "components": list(self.components), "message": self.message, "tag": self.tag,
            "started_at": _iso(self.started_at), "updated_at": _iso(self.updated_at),
            "resolved_at": _iso(self.resolved_at),
        }


@dataclass(frozen=True)
class ServiceStatus:
    indicator: str  # one of INDICATORS, or "unknown"
    description: str
    affected: tuple[ComponentStatus, ...]  # components not operational
    incidents: tuple[Incident, ...]  # open ones, newest first
    stale: bool  # True: the source could not be read; this is what it said at ``as_of``
    as_of: datetime | None  # naive UTC; None when nothing was ever read
    source: str  # incidents | statuspage

    @property
    def known(self) -> bool:
        return self.indicator != UNKNOWN

    @property
    def all_operational(self) -> bool:
        return self.indicator == "none" and not self.affected and not self.incidents

    @property
    def affected_components(self) -> tuple[str, ...]:
        return tuple(component.name for component in self.affected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator, "description": self.description, "source": self.source,
            "stale": self.stale, "as_of": _iso(self.as_of),
            "affected_components": [{"name": c.name, "status": c.status} for c in self.affected],
            "incidents": [incident.as_dict() for incident in self.incidents],
        }


def unknown_status(source: str) -> ServiceStatus:
    """What a source says when it has never been read: unknown, and stale."""
    return ServiceStatus(UNKNOWN, DESCRIPTIONS[UNKNOWN], (), (), stale=True, as_of=None, source=source)


def worst_indicator(impacts: list[str] | tuple[str, ...]) -> str:
    """The overall indicator for these incident impacts: the worst of them, "none" without any."""
    levels = [INDICATORS.index(impact) for impact in impacts if impact in INDICATORS]
    return INDICATORS[max(levels, default=0)]


def tag_for(incident: Incident) -> str:
    """The tag a ticket about this incident carries, e.g. ``incident-42``: lowercase and only
    ``[a-z0-9_-]``, so Zendesk keeps it as one tag."""
    return "incident-" + _TAG_UNSAFE.sub("", incident.id.strip().lower())


def incident_for_component(status: ServiceStatus, component: str) -> Incident | None:
    """The newest open incident naming ``component`` (case and surrounding space ignored)."""
    wanted = component.strip().casefold()
    if not wanted:
        return None
    return next((incident for incident in status.incidents
                 if incident.is_open and wanted in (name.strip().casefold() for name in incident.components)), None)


class StatusSource(Protocol):
    name: str

    def current(self) -> ServiceStatus:
        """The service's status now, or the last known one marked stale; never raises."""


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() + "Z" if when is not None else None
