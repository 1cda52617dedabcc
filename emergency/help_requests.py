"""Handlers of requests for help, run inside `AidService` batches.

A request is filed in a known commune (its province follows from the
commune list), gets a reference to follow it by and a deadline from the
rule data, and is ended once: by an assessment of a household case of its
commune, a rejection, or a merge into another request. Officers write only
in their scope; the public form writes anywhere, as no one.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from emergency import clock
from emergency.application import AidApplication
from emergency.areas import AreaRegistry
from emergency.batch import Batch, Handler, Scope
from emergency.commands import Command
from emergency.domain.help_request import HelpRequest, request_id_for
from emergency.domain.household import HouseholdCase
from emergency.domain.incident import Incident
from emergency.domain.payload import EventMeta
from emergency.envelope import plain
from emergency.errors import InvalidInput, NotFound
from emergency.policy.request_deadline import RequestDeadlines
from emergency.request_commands import AssessRequest, FilePublicRequest, FileRequest, MergeRequest, RejectRequest


def new_reference() -> str:
    """50 random bits as 10 base32 characters: short enough to read aloud over
    a phone, and 2^50 of them leave nothing to guess."""
    return base64.b32encode(secrets.token_bytes(7)).decode()[:10]


class HelpRequests:
    def __init__(self, app: AidApplication, areas: AreaRegistry, deadlines: RequestDeadlines):
        self.app = app
        self.areas = areas
        self.deadlines = deadlines

    def handlers(self) -> dict[type[Command], Handler]:
        return {
            FilePublicRequest: self._file_public,
            FileRequest: self._file,
            AssessRequest: self._assess,
            RejectRequest: self._reject,
            MergeRequest: self._merge,
        }

    def _province_of(self, commune_code: str) -> str:
        commune = self.areas.communes.get(commune_code)
        if commune is None:
            raise InvalidInput(f"unknown commune code {commune_code!r}", field="commune_code",
                               code="unknown_commune")
        return commune.province_code

    @staticmethod
    def _request(batch: Batch, request_id: UUID, scope: Scope, field: str = "request_id") -> HelpRequest:
        request = batch.get(HelpRequest, request_id, field)
        scope.check(request.province_code, request.commune_code, field, named=False)
        return request

    def _new(self, batch: Batch, cmd: FilePublicRequest, meta: EventMeta, source: str, province: str,
             filed_at: datetime | None = None, incident_id: UUID | None = None,
             household_id: UUID | None = None) -> HelpRequest:
        filed_at = filed_at or clock.now()
        due_at, rule = self.deadlines.due_at(filed_at)
        reference = new_reference()
        request = HelpRequest(
            id=request_id_for(reference), reference=reference, incident_id=incident_id, province_code=province,
            commune_code=cmd.commune_code, village=cmd.village, phone=cmd.phone, description=cmd.description,
            request_kind=cmd.kind, household_id=household_id, filed_at=filed_at, due_at=due_at,
            rule_version=rule.version_id, source=source, meta=meta)
        batch.create(request, "reference")
        return request

    @staticmethod
    def _filed(request: HelpRequest) -> dict[str, Any]:
        return {"request_id": request.id, "reference": request.reference, "incident_id": request.incident_id,
                "filed_at": request.filed_at, "due_at": request.due_at}

    def _file_public(self, batch: Batch, cmd: FilePublicRequest, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        return self._filed(self._new(batch, cmd, meta, "public", self._province_of(cmd.commune_code)))

    def _file(self, batch: Batch, cmd: FileRequest, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        province = self._province_of(cmd.commune_code)
        scope.check(province, cmd.commune_code, "commune_code")
        if cmd.incident_id is not None:
            self._incident_covering(batch, cmd.incident_id, cmd.commune_code)
        if cmd.household_id is not None:
            self._household_of(batch, cmd.household_id, cmd.commune_code, scope)
        request = self._new(batch, cmd, meta, "officer", province, cmd.filed_at, cmd.incident_id, cmd.household_id)
        return self._filed(request)

    @staticmethod
    def _incident_covering(batch: Batch, incident_id: UUID, commune_code: str) -> Incident:
        incident = batch.get(Incident, incident_id, "incident_id")
        if incident.province_of(commune_code) is None:
            raise InvalidInput(f"commune {commune_code} is not among the areas of incident {incident.id}",
                               field="commune_code", code="commune_not_in_incident")
        return incident

    @staticmethod
    def _household_of(batch: Batch, household_id: UUID, commune_code: str, scope: Scope) -> HouseholdCase:
        household = batch.get(HouseholdCase, household_id, "household_id")
        scope.check(household.province_code, household.commune_code, "household_id", named=False)
        if household.commune_code != commune_code:
            raise InvalidInput(f"household {household.id} is not in commune {commune_code}", field="household_id",
                               code="household_not_in_commune")
        return household

    def _assess(self, batch: Batch, cmd: AssessRequest, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        request = self._request(batch, cmd.request_id, scope)
        household = self._household_of(batch, cmd.household_id, request.commune_code, scope)
        if str(cmd.assessment_id) not in household.assessments:
            raise NotFound(f"household {household.id} has no assessment {cmd.assessment_id}", field="assessment_id")
        request.assess(household.id, cmd.assessment_id, cmd.resolved_at, cmd.resolved_by, meta)
        return self._ended(request)

    def _reject(self, batch: Batch, cmd: RejectRequest, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        request = self._request(batch, cmd.request_id, scope)
        request.reject(cmd.reason, cmd.resolved_at, cmd.resolved_by, meta)
        return self._ended(request)

    def _merge(self, batch: Batch, cmd: MergeRequest, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        request = self._request(batch, cmd.request_id, scope)
        into = self._request(batch, cmd.into_request_id, scope, "into_request_id")
        request.merge(into, cmd.resolved_at, cmd.resolved_by, meta)
        return self._ended(request)

    @staticmethod
    def _ended(request: HelpRequest) -> dict[str, Any]:
        return {"request_id": request.id, "reference": request.reference, "status": request.status(),
                "ended_at": request.ended_at}

    # ----- queries -------------------------------------------------------------

    def _load(self, request_id: UUID, field: str) -> HelpRequest:
        try:
            found = self.app.repository.get(request_id)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, HelpRequest):
            raise NotFound(f"no request for help {request_id}", field=field)
        return found

    def summary(self, request_id: UUID, scope: Scope) -> dict[str, Any]:
        """A request as recorded, for an officer of its area."""
        request = self._load(request_id, "request_id")
        scope.check(request.province_code, request.commune_code, "request_id", named=False)
        return plain(request.summary())

    def public_status(self, reference: str) -> dict[str, Any]:
        """Status and dates of the request with this reference, for whoever holds it."""
        return plain(self._load(request_id_for(reference), "reference").public_status())
