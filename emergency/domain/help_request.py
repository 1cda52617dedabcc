"""A request for help (yêu cầu trợ giúp, phản ánh): a household, or someone
for it, reports that it was not assessed or disputes an entitlement or a
payment.

It is filed once and ended once: assessed (linked to an assessment of a
household case), rejected with a reason, or merged into another request.
Every step is an event with who and when; an ended request refuses a second
ending (409 `request_ended`), so its history is never rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventMeta, EventPayload
from emergency.errors import Conflict, InvalidInput

REQUEST_KINDS = ("not_assessed", "disputes_entitlement", "disputes_payment")
REQUEST_SOURCES = ("officer", "public")
ENDINGS = ("assessed", "rejected", "merged")
# Request ids derive from their reference, so a reference is looked up without an index.
_REFERENCES = UUID("6f1d3c52-8a2e-4c7b-9d0e-5b4a7e2f1c90")


def request_id_for(reference: str) -> UUID:
    return uuid5(_REFERENCES, reference.upper())


# ----- what the events store -------------------------------------------------------


class HelpRequestFiled(EventPayload):
    """`incident_id`: the incident it was filed under, when the filer named one;
    otherwise the read side ties it to the open incident covering its commune
    (`projections.help_requests`)."""

    kind = "HelpRequest.Filed"
    reference: str
    incident_id: UUID | None
    province_code: str
    commune_code: str
    village: str
    phone: str
    description: str
    request_kind: str
    household_id: UUID | None
    filed_at: datetime
    due_at: datetime
    rule_version: str
    source: str


class HelpRequestAssessed(EventPayload):
    kind = "HelpRequest.Assessed"
    household_id: UUID
    assessment_id: UUID
    resolved_at: datetime
    resolved_by: str


class HelpRequestRejected(EventPayload):
    kind = "HelpRequest.Rejected"
    reason: str
    resolved_at: datetime
    resolved_by: str


class HelpRequestMerged(EventPayload):
    kind = "HelpRequest.Merged"
    into_request_id: UUID
    resolved_at: datetime
    resolved_by: str


# ----- the aggregate -----------------------------------------------------------------


class HelpRequest(AidAggregate):
    @event("Filed")
    def __init__(self, id: UUID, reference: str, incident_id: UUID | None, province_code: str, commune_code: str,
                 village: str, phone: str, description: str, request_kind: str, household_id: UUID | None,
                 filed_at: datetime, due_at: datetime, rule_version: str, source: str, meta: EventMeta):
        self.reference = reference
        self.incident_id = incident_id
        self.province_code = province_code
        self.commune_code = commune_code
        self.village = village
        self.phone = phone
        self.description = description
        self.request_kind = request_kind
        self.household_id = household_id
        self.filed_at = filed_at
        self.due_at = due_at
        self.rule_version = rule_version
        self.source = source
        self.ended: str | None = None
        self.ended_at: datetime | None = None
        self.ended_by: str | None = None
        self.assessment: dict[str, UUID] | None = None
        self.reason: str | None = None
        self.merged_into: UUID | None = None

    def _check_open(self, resolved_at: datetime) -> None:
        if self.ended is not None:
            assert self.ended_at is not None
            raise Conflict(f"request {self.reference} was already {self.ended} at {self.ended_at.isoformat()}",
                           field="request_id", code="request_ended")
        if resolved_at < self.filed_at:
            raise InvalidInput("a request cannot end before it was filed", field="resolved_at",
                               code="before_filing")

    def assess(self, household_id: UUID, assessment_id: UUID, resolved_at: datetime, resolved_by: str,
               meta: EventMeta) -> None:
        self._check_open(resolved_at)
        self._assessed(household_id, assessment_id, resolved_at, resolved_by, meta)

    @event("Assessed")
    def _assessed(self, household_id: UUID, assessment_id: UUID, resolved_at: datetime, resolved_by: str,
                  meta: EventMeta) -> None:
        self._end("assessed", resolved_at, resolved_by)
        self.assessment = {"household_id": household_id, "assessment_id": assessment_id}

    def reject(self, reason: str, resolved_at: datetime, resolved_by: str, meta: EventMeta) -> None:
        self._check_open(resolved_at)
        self._rejected(reason, resolved_at, resolved_by, meta)

    @event("Rejected")
    def _rejected(self, reason: str, resolved_at: datetime, resolved_by: str, meta: EventMeta) -> None:
        self._end("rejected", resolved_at, resolved_by)
        self.reason = reason

    def merge(self, into: HelpRequest, resolved_at: datetime, resolved_by: str, meta: EventMeta) -> None:
        self._check_open(resolved_at)
        if into.id == self.id:
            raise InvalidInput("a request cannot be merged into itself", field="into_request_id",
                               code="merge_into_self")
        if into.ended == "merged":
            raise Conflict(f"request {into.reference} was itself merged into another; merge into that one",
                           field="into_request_id", code="merged_target")
        self._merged(into.id, resolved_at, resolved_by, meta)

    @event("Merged")
    def _merged(self, into_request_id: UUID, resolved_at: datetime, resolved_by: str, meta: EventMeta) -> None:
        self._end("merged", resolved_at, resolved_by)
        self.merged_into = into_request_id

    def _end(self, how: str, at: datetime, by: str) -> None:
        self.ended, self.ended_at, self.ended_by = how, at, by

    def status(self) -> str:
        return self.ended or "open"

    def summary(self) -> dict[str, Any]:
        """Everything recorded: for officers of its area, never for the public."""
        return {
            "request_id": self.id, "reference": self.reference, "incident_id": self.incident_id,
            "province_code": self.province_code, "commune_code": self.commune_code, "village": self.village,
            "phone": self.phone, "description": self.description, "kind": self.request_kind,
            "household_id": self.household_id, "source": self.source, "filed_at": self.filed_at,
            "due_at": self.due_at, "rule_version": self.rule_version, "status": self.status(),
            "ended_at": self.ended_at, "ended_by": self.ended_by, "assessment": self.assessment,
            "reason": self.reason, "merged_into": self.merged_into, "version": self.version,
        }

    def public_status(self) -> dict[str, Any]:
        """What the sender may follow by reference: status and dates only."""
        return {"reference": self.reference, "status": self.status(), "filed_at": self.filed_at,
                "due_at": self.due_at, "ended_at": self.ended_at}
