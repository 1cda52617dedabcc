"""Possible duplicate households: the lookups that find them, and each pair's life.

- `HouseholdIndex`: the households registered under one key of an incident
  (commune, folded head's name and members; or a citizen id's keyed hash).
  Its id derives from the key, so a registration finds its candidates by
  reading a few records by id, never by scanning households; and two
  registrations under one key, saved concurrently, collide on the index's
  version, so the retry of the later one sees the earlier.
- `DuplicatePair`: two households that may be one. Suspected when found;
  resolved by a coordinator as different households or the same one (a
  merge); reopened by a later event (which undoes a merge); payments made
  while it was open, by a coordinator's override, are recorded on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventMeta, EventPayload, Payload
from emergency.errors import Conflict

OUTCOMES = ("different", "same")

# ----- what the events store -------------------------------------------------------
# Household ids are kept as text (a UUID's), as the households' own events keep ids.


class Resolution(Payload):
    """A coordinator's answer on a pair. `same`: `survivor_id` keeps both
    histories and `absorbed_id` is merged into it (`merged` false when the two
    were one household already, through other pairs)."""

    outcome: Literal["different", "same"]
    reason: str
    resolved_by: str
    resolved_at: datetime
    survivor_id: str | None
    absorbed_id: str | None
    merged: bool


class Reopening(Payload):
    reason: str
    reopened_by: str
    reopened_at: datetime


class HouseholdIndexStarted(EventPayload):
    kind = "HouseholdIndex.Started"
    household_id: str


class HouseholdIndexAdded(EventPayload):
    kind = "HouseholdIndex.Added"
    household_id: str


class DuplicatePairSuspected(EventPayload):
    kind = "DuplicatePair.Suspected"
    incident_id: UUID
    province_code: str
    commune_code: str
    household_ids: list[str]
    reasons: list[str]  # "name", "citizen_id" or both


class DuplicatePairResolved(EventPayload):
    kind = "DuplicatePair.Resolved"
    resolution: Resolution


class DuplicatePairReopened(EventPayload):
    kind = "DuplicatePair.Reopened"
    reopening: Reopening


class DuplicatePairPaymentOverridden(EventPayload):
    kind = "DuplicatePair.PaymentOverridden"
    household_id: str
    disbursement_id: str
    reason: str


# ----- the aggregates ----------------------------------------------------------------


class HouseholdIndex(AidAggregate):
    @staticmethod
    def id_for(*key: str) -> UUID:
        return uuid5(NAMESPACE_URL, "emergency:household-index:" + "|".join(key))

    @event("Started")
    def __init__(self, id: UUID, household_id: str, meta: EventMeta):
        self.household_ids = [household_id]

    @event("Added")
    def add(self, household_id: str, meta: EventMeta) -> None:
        self.household_ids.append(household_id)


class DuplicatePair(AidAggregate):
    @staticmethod
    def id_for(first: UUID | str, second: UUID | str) -> UUID:
        a, b = sorted((str(first), str(second)))
        return uuid5(NAMESPACE_URL, f"emergency:duplicate-pair:{a}|{b}")

    @event("Suspected")
    def __init__(self, id: UUID, incident_id: UUID, province_code: str, commune_code: str,
                 household_ids: list[str], reasons: list[str], meta: EventMeta):
        self.incident_id = incident_id
        self.province_code = province_code
        self.commune_code = commune_code
        self.household_ids = household_ids
        self.reasons = reasons
        self.status = "unresolved"
        self.resolution: Resolution | None = None

    @property
    def unresolved(self) -> bool:
        return self.status == "unresolved"

    def other(self, household_id: UUID | str) -> str:
        return next(h for h in self.household_ids if h != str(household_id))

    def check_unresolved(self) -> None:
        if not self.unresolved:
            raise Conflict(f"this pair is already resolved as {self.status} households", field="pair_id",
                           code="already_resolved")

    def check_resolved(self) -> None:
        if self.unresolved:
            raise Conflict("this pair is not resolved", field="pair_id", code="not_resolved")

    @event("Resolved")
    def resolve(self, resolution: Resolution, meta: EventMeta) -> None:
        """(The caller checks `check_unresolved` before changing anything.)"""
        self.status = resolution.outcome
        self.resolution = resolution

    @event("Reopened")
    def reopen(self, reopening: Reopening, meta: EventMeta) -> None:
        """(The caller checks `check_resolved` before changing anything.)"""
        self.status = "unresolved"
        self.resolution = None

    @event("PaymentOverridden")
    def record_override(self, household_id: str, disbursement_id: str, reason: str, meta: EventMeta) -> None:
        """A payment to one of an unresolved pair, let through by a coordinator."""
