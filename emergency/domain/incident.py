"""A disaster incident: what happened, where, since when, and whether it is closed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventMeta, EventPayload
from emergency.errors import Conflict

INCIDENT_TYPES = (
    "storm", "flood", "landslide", "fire", "epidemic", "drought", "crop_failure", "tet_shortage", "other",
)

# province code -> commune codes affected in it
Areas = dict[str, list[str]]


class IncidentOpened(EventPayload):
    kind = "Incident.Opened"
    incident_type: str
    title: str
    started_at: datetime
    areas: Areas


class IncidentAreasExtended(EventPayload):
    kind = "Incident.AreasExtended"
    areas: Areas  # only what was added


class IncidentClosed(EventPayload):
    kind = "Incident.Closed"
    closed_at: datetime
    reason: str


class Incident(AidAggregate):
    @event("Opened")
    def __init__(self, id: UUID, incident_type: str, title: str, started_at: datetime,
                 areas: Areas, meta: EventMeta):
        self.incident_type = incident_type
        self.title = title
        self.started_at = started_at
        self.areas = {province: list(communes) for province, communes in areas.items()}
        self.closed_at: datetime | None = None
        self.close_reason: str | None = None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def province_of(self, commune: str) -> str | None:
        for province, communes in self.areas.items():
            if commune in communes:
                return province
        return None

    def check_open(self, field: str = "incident_id") -> None:
        if self.is_closed:
            raise Conflict(f"incident {self.id} was closed at {self.closed_at.isoformat()}",
                           field=field, code="incident_closed")

    def extend_areas(self, areas: Areas, meta: EventMeta) -> None:
        """Add provinces or communes found affected later; existing ones stay."""
        self.check_open()
        added = {p: sorted(set(c) - set(self.areas.get(p, []))) for p, c in areas.items()}
        added = {p: c for p, c in added.items() if c or p not in self.areas}
        if added:
            self._areas_extended(added, meta)

    @event("AreasExtended")
    def _areas_extended(self, areas: Areas, meta: EventMeta) -> None:
        for province, communes in areas.items():
            self.areas.setdefault(province, []).extend(communes)

    def close(self, closed_at: datetime, reason: str, meta: EventMeta) -> None:
        self.check_open()
        if closed_at < self.started_at:
            raise Conflict("an incident cannot close before it started", field="closed_at",
                           code="closed_before_start")
        self._closed(closed_at, reason, meta)

    @event("Closed")
    def _closed(self, closed_at: datetime, reason: str, meta: EventMeta) -> None:
        self.closed_at = closed_at
        self.close_reason = reason

    def summary(self) -> dict[str, Any]:
        return {
            "incident_id": self.id, "incident_type": self.incident_type, "title": self.title,
            "started_at": self.started_at, "areas": self.areas, "closed_at": self.closed_at,
            "close_reason": self.close_reason, "version": self.version,
        }
