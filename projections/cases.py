"""The entitlement cases: what each household is owed per support type, by
when, and what has been delivered when, as rows in the view store.

Every timeliness question (coverage, overdue list, live changes) starts from
these rows. The fold reads only the events of one household, in its version
order, so the rows come out the same whatever the interleaving of households:
from the in-process runner, a replay up to a past point, or a Kafka consumer
fed from a topic partitioned by aggregate id. Nothing here reads a clock:
times are the occurred times reported by the field (assessment, decision,
delivery), stored as epoch microseconds, and "overdue" is decided at query
time by comparing them with the moment asked about (`projections.coverage`).

Tables (prefix `case_`):
- `case_incidents`: title, type, start, close.
- `case_households`: area, members, head's name, assessment times, version
  (events at or below the stored version are skipped: duplicate deliveries
  from an at-least-once feed change nothing).
- `case_entitlements`: one row per household and support type.
- `case_deliveries`: one row per disbursement (voided ones kept).
- `case_changes`: the state of each case after each event that changed it,
  keyed by notification id: the feed live push resumes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from emergency.domain.household import (
    DECIDED_STATUS,
    HouseholdCaseAbsorbed,
    HouseholdCaseDamageAssessed,
    HouseholdCaseDecided,
    HouseholdCaseDetailsCorrected,
    HouseholdCaseDisbursed,
    HouseholdCaseDisbursementCorrected,
    HouseholdCaseEntitlementDetermined,
    HouseholdCaseEntitlementWithdrawn,
    HouseholdCaseRegistered,
    HouseholdCaseSeparated,
)
from emergency.domain.incident import IncidentClosed, IncidentOpened
from emergency.envelope import Envelope
from projections.base import Projection
from projections.rows import iso, newer, select_in, to_micros, upsert
from projections.store import Cursor

RICE_UNIT = "kg rice"


@dataclass
class Delivery:
    disbursement_id: str
    support_type: str
    delivered_at: int
    amount_vnd: int
    quantity: int
    voided: int = 0


@dataclass
class Case:
    """One household's entitlement to one support type."""

    support_type: str
    need_at: int  # when the need was first assessed (occurred): the clock starts here
    due_at: int
    amount_vnd: int | None  # owed: computed, or as adjusted by the decision
    quantity: int | None
    unit: str | None
    revision: int
    status: str = "pending"  # pending | approved | adjusted | rejected | withdrawn
    decided_at: int | None = None
    withdrawn_at: int | None = None
    delivered_vnd: int = 0
    delivered_quantity: int = 0
    completed_at: int | None = None  # when cumulative deliveries first covered what is owed
    changed_at: int = 0  # notification id of the last change


@dataclass
class Household:
    household_id: str
    incident_id: str
    province_code: str
    commune_code: str
    head_name: str
    members: int
    version: int
    assessed: dict[str, int] = field(default_factory=dict)  # assessment id -> assessed at
    cases: dict[str, Case] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    dirty_cases: set[str] = field(default_factory=set)
    dirty_deliveries: set[str] = field(default_factory=set)

    def settle(self, support_type: str) -> None:
        """Recompute what was delivered, and when the case was completed."""
        case = self.cases[support_type]
        live = sorted((d for d in self.deliveries.values() if d.support_type == support_type and not d.voided),
                      key=lambda d: (d.delivered_at, d.disbursement_id))
        case.delivered_vnd = sum(d.amount_vnd for d in live)
        case.delivered_quantity = sum(d.quantity for d in live)
        case.completed_at = None
        if case.amount_vnd is None and case.quantity is None:
            return  # the amount is still to be decided
        amount = quantity = 0
        for delivery in live:
            amount += delivery.amount_vnd
            quantity += delivery.quantity
            if amount >= (case.amount_vnd or 0) and quantity >= (case.quantity or 0):
                case.completed_at = delivery.delivered_at
                return


DDL = (
    """CREATE TABLE IF NOT EXISTS case_incidents (
        incident_id TEXT PRIMARY KEY, title TEXT NOT NULL, incident_type TEXT NOT NULL,
        started_at BIGINT NOT NULL, closed_at BIGINT, version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS case_households (
        household_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, province_code TEXT NOT NULL,
        commune_code TEXT NOT NULL, head_name TEXT NOT NULL, members INTEGER NOT NULL,
        assessed TEXT NOT NULL, version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS case_entitlements (
        household_id TEXT NOT NULL, support_type TEXT NOT NULL, incident_id TEXT NOT NULL,
        province_code TEXT NOT NULL, commune_code TEXT NOT NULL, members INTEGER NOT NULL,
        need_at BIGINT NOT NULL, due_at BIGINT NOT NULL, amount_vnd BIGINT, quantity BIGINT, unit TEXT,
        revision INTEGER NOT NULL, status TEXT NOT NULL, decided_at BIGINT, withdrawn_at BIGINT,
        delivered_vnd BIGINT NOT NULL, delivered_quantity BIGINT NOT NULL, completed_at BIGINT,
        changed_at BIGINT NOT NULL,
        PRIMARY KEY (household_id, support_type))""",
    "CREATE INDEX IF NOT EXISTS case_entitlements_due ON case_entitlements (incident_id, due_at)",
    """CREATE TABLE IF NOT EXISTS case_deliveries (
        disbursement_id TEXT PRIMARY KEY, household_id TEXT NOT NULL, incident_id TEXT NOT NULL,
        support_type TEXT NOT NULL, delivered_at BIGINT NOT NULL, amount_vnd BIGINT NOT NULL,
        quantity BIGINT NOT NULL, voided INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS case_deliveries_household ON case_deliveries (household_id)",
    "CREATE INDEX IF NOT EXISTS case_deliveries_incident ON case_deliveries (incident_id)",
    """CREATE TABLE IF NOT EXISTS case_changes (
        notification_id BIGINT NOT NULL, household_id TEXT NOT NULL, support_type TEXT NOT NULL,
        incident_id TEXT NOT NULL, province_code TEXT NOT NULL, commune_code TEXT NOT NULL,
        members INTEGER NOT NULL, need_at BIGINT NOT NULL, due_at BIGINT NOT NULL, amount_vnd BIGINT,
        quantity BIGINT, unit TEXT, revision INTEGER NOT NULL, status TEXT NOT NULL, decided_at BIGINT,
        withdrawn_at BIGINT, delivered_vnd BIGINT NOT NULL, delivered_quantity BIGINT NOT NULL,
        completed_at BIGINT)""",
    # No primary key: the runner applies each event once, and one index is cheaper to keep.
    "CREATE INDEX IF NOT EXISTS case_changes_incident ON case_changes (incident_id, notification_id)",
)
TABLES = ("case_changes", "case_deliveries", "case_entitlements", "case_households", "case_incidents")

CASE_COLUMNS = ("household_id", "support_type", "incident_id", "province_code", "commune_code", "members",
                "need_at", "due_at", "amount_vnd", "quantity", "unit", "revision", "status", "decided_at",
                "withdrawn_at", "delivered_vnd", "delivered_quantity", "completed_at", "changed_at")
HOUSEHOLD_COLUMNS = ("household_id", "incident_id", "province_code", "commune_code", "head_name", "members",
                     "assessed", "version")
DELIVERY_COLUMNS = ("disbursement_id", "household_id", "incident_id", "support_type", "delivered_at",
                    "amount_vnd", "quantity", "voided")
INCIDENT_COLUMNS = ("incident_id", "title", "incident_type", "started_at", "closed_at", "version")


def case_row(household: Household, case: Case) -> tuple[Any, ...]:
    """A case's row: CASE_COLUMNS in order (its change feed row ends with
    `changed_at` as its first column instead)."""
    h, c = household, case
    return (h.household_id, c.support_type, h.incident_id, h.province_code, h.commune_code, h.members,
            c.need_at, c.due_at, c.amount_vnd, c.quantity, c.unit, c.revision, c.status, c.decided_at,
            c.withdrawn_at, c.delivered_vnd, c.delivered_quantity, c.completed_at, c.changed_at)


CHANGE_COLUMNS = ("notification_id",) + CASE_COLUMNS[:-1]


def case_state(row: dict[str, Any]) -> dict[str, Any]:
    """A case row as the API and the live feed show it: times in ISO form."""
    state = {k: v for k, v in row.items() if k != "changed_at"}
    for name in ("need_at", "due_at", "decided_at", "withdrawn_at", "completed_at"):
        state[name] = iso(state[name])
    return state


class _TouchedRows:
    """The households and incidents one batch of events touches, read once, written once."""

    def __init__(self, cur: Cursor):
        self.cur = cur
        self.households: dict[str, Household] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.changes: list[tuple[Any, ...]] = []

    def load(self, events: Sequence[Envelope]) -> None:
        stored = sorted({e.aggregate_id for e in events if e.aggregate_type == "HouseholdCase"})
        for values in select_in(self.cur, "case_households", HOUSEHOLD_COLUMNS, "household_id", stored):
            values["assessed"] = json.loads(values["assessed"])
            self.households[values["household_id"]] = Household(**values)
        for values in select_in(self.cur, "case_entitlements", CASE_COLUMNS, "household_id", stored):
            owner = self.households[values.pop("household_id")]
            for name in ("incident_id", "province_code", "commune_code", "members"):
                del values[name]
            owner.cases[values["support_type"]] = Case(**values)
        for values in select_in(self.cur, "case_deliveries", DELIVERY_COLUMNS, "household_id", stored):
            owner = self.households[values.pop("household_id")]
            del values["incident_id"]
            owner.deliveries[values["disbursement_id"]] = Delivery(**values)
        incidents = sorted({e.aggregate_id for e in events if e.aggregate_type == "Incident"})
        for values in select_in(self.cur, "case_incidents", INCIDENT_COLUMNS, "incident_id", incidents):
            self.incidents[values["incident_id"]] = values

    def save(self) -> None:
        cur = self.cur
        households = [self.households[k] for k in sorted(self.households)]
        cur.insert_many(upsert("case_households", HOUSEHOLD_COLUMNS, ("household_id",)), [
            (h.household_id, h.incident_id, h.province_code, h.commune_code, h.head_name, h.members,
             json.dumps(h.assessed, sort_keys=True), h.version) for h in households])
        cur.insert_many(upsert("case_entitlements", CASE_COLUMNS, ("household_id", "support_type")), [
            case_row(h, h.cases[code]) for h in households for code in sorted(h.dirty_cases)])
        cur.insert_many(upsert("case_deliveries", DELIVERY_COLUMNS, ("disbursement_id",)), [
            (d.disbursement_id, h.household_id, h.incident_id, d.support_type, d.delivered_at, d.amount_vnd,
             d.quantity, d.voided) for h in households for d in (h.deliveries[i] for i in sorted(h.dirty_deliveries))])
        cur.insert_many(upsert("case_incidents", INCIDENT_COLUMNS, ("incident_id",)),
                        [tuple(i.values()) for _, i in sorted(self.incidents.items())])
        cur.copy_rows("case_changes", CHANGE_COLUMNS, self.changes)


class CaseProjection(Projection):
    name = "cases"
    version = 1
    kinds = frozenset({
        "Incident.Opened", "Incident.Closed", "HouseholdCase.Registered", "HouseholdCase.DetailsCorrected",
        "HouseholdCase.DamageAssessed", "HouseholdCase.EntitlementDetermined",
        "HouseholdCase.EntitlementWithdrawn", "HouseholdCase.Decided", "HouseholdCase.Disbursed",
        "HouseholdCase.DisbursementCorrected", "HouseholdCase.Absorbed", "HouseholdCase.Separated",
    })

    ddl = DDL
    tables = TABLES

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        batch = _TouchedRows(cur)
        batch.load(events)
        for event in events:
            if event.aggregate_type == "Incident":
                _fold_incident(batch, event)
            else:
                _fold_household(batch, event)
        batch.save()


def _fold_incident(batch: _TouchedRows, e: Envelope) -> None:
    if e.type == "Opened":
        if e.aggregate_id in batch.incidents:
            return
        opened = IncidentOpened.decode(e)
        batch.incidents[e.aggregate_id] = {
            "incident_id": e.aggregate_id, "title": opened.title, "incident_type": opened.incident_type,
            "started_at": to_micros(opened.started_at), "closed_at": None, "version": e.version}
        return
    incident = newer(batch.incidents, e)
    if incident is not None and e.type == "Closed":
        incident["closed_at"] = to_micros(IncidentClosed.decode(e).closed_at)


def _fold_household(batch: _TouchedRows, e: Envelope) -> None:
    if e.type == "Registered":
        if e.aggregate_id not in batch.households:
            registered = HouseholdCaseRegistered.decode(e)
            batch.households[e.aggregate_id] = Household(
                e.aggregate_id, str(registered.incident_id), registered.province_code, registered.commune_code,
                registered.head_name, registered.members, e.version)
        return
    household = newer(batch.households, e)
    if household is None:
        return
    touched = HANDLERS[e.type](household, e)
    for support_type in touched:
        case = household.cases[support_type]
        case.changed_at = e.notification_id or 0
        household.dirty_cases.add(support_type)
        row = case_row(household, case)
        batch.changes.append((row[-1],) + row[:-1])


def _details_corrected(h: Household, e: Envelope) -> list[str]:
    changes = HouseholdCaseDetailsCorrected.decode(e).changes
    if changes.head_name is not None:
        h.head_name = changes.head_name
    if changes.members is None:
        return []
    h.members = changes.members
    return sorted(h.cases)


def _damage_assessed(h: Household, e: Envelope) -> list[str]:
    assessment = HouseholdCaseDamageAssessed.decode(e).assessment
    h.assessed[assessment.assessment_id] = to_micros(assessment.assessed_at)
    return []


def _entitlement_determined(h: Household, e: Envelope) -> list[str]:
    determined = HouseholdCaseEntitlementDetermined.decode(e)
    entitlement = determined.entitlement
    code = entitlement.support_type
    previous = h.cases.get(code)
    # A revision keeps the moment the need was first seen, as the deadline does.
    need_at = h.assessed[determined.basis]
    if previous is not None and previous.status != "withdrawn":
        need_at = previous.need_at
    h.cases[code] = Case(code, need_at, to_micros(entitlement.due_at), entitlement.amount_vnd, entitlement.quantity,
                         entitlement.unit, entitlement.revision)
    h.settle(code)
    return [code]


def _entitlement_withdrawn(h: Household, e: Envelope) -> list[str]:
    withdrawn = HouseholdCaseEntitlementWithdrawn.decode(e)
    case = h.cases[withdrawn.support_type]
    case.status = "withdrawn"
    case.withdrawn_at = h.assessed[withdrawn.basis]
    return [case.support_type]


def _decided(h: Household, e: Envelope) -> list[str]:
    decision = HouseholdCaseDecided.decode(e).decision
    case = h.cases[decision.support_type]
    case.status = DECIDED_STATUS[decision.decision]
    case.decided_at = to_micros(decision.decided_at)
    if decision.decision == "adjust":
        case.amount_vnd, case.quantity = decision.amount_vnd, decision.quantity
    h.settle(case.support_type)
    return [case.support_type]


def _disbursed(h: Household, e: Envelope) -> list[str]:
    paid = HouseholdCaseDisbursed.decode(e).disbursement
    h.deliveries[paid.disbursement_id] = Delivery(
        paid.disbursement_id, paid.support_type, to_micros(paid.delivered_at), paid.amount_vnd or 0,
        paid.quantity or 0)
    h.dirty_deliveries.add(paid.disbursement_id)
    h.settle(paid.support_type)
    return [paid.support_type]


def _disbursement_corrected(h: Household, e: Envelope) -> list[str]:
    correction = HouseholdCaseDisbursementCorrected.decode(e).correction
    delivery = h.deliveries[correction.disbursement_id]
    if correction.void:
        delivery.voided = 1
    if correction.amount_vnd is not None:
        delivery.amount_vnd = correction.amount_vnd
    if correction.quantity is not None:
        delivery.quantity = correction.quantity
    h.dirty_deliveries.add(delivery.disbursement_id)
    h.settle(delivery.support_type)
    return [delivery.support_type]


def _absorbed(h: Household, e: Envelope) -> list[str]:
    """A merge (`emergency.duplicates`): the other household's assessments and
    payments become this one's (its payments under ids of their own here)."""
    absorbed = HouseholdCaseAbsorbed.decode(e)
    for key, assessment in absorbed.assessments.items():
        h.assessed[key] = to_micros(assessment.assessed_at)
    for key, d in absorbed.disbursements.items():
        taken = f"{absorbed.household_id}/{key}"
        h.deliveries[taken] = Delivery(taken, d.support_type, to_micros(d.delivered_at), d.amount_vnd or 0,
                                       d.quantity or 0)
        h.dirty_deliveries.add(taken)
    return _resettled(h, {d.support_type for d in absorbed.disbursements.values()})


def _separated(h: Household, e: Envelope) -> list[str]:
    prefix = f"{HouseholdCaseSeparated.decode(e).household_id}/"
    touched = set()
    for key, delivery in h.deliveries.items():
        if key.startswith(prefix) and not delivery.voided:
            delivery.voided = 1
            h.dirty_deliveries.add(key)
            touched.add(delivery.support_type)
    return _resettled(h, touched)


def _resettled(h: Household, support_types: set[str]) -> list[str]:
    touched = sorted(support_types & set(h.cases))
    for code in touched:
        h.settle(code)
    return touched


HANDLERS = {
    "DetailsCorrected": _details_corrected, "DamageAssessed": _damage_assessed,
    "EntitlementDetermined": _entitlement_determined, "EntitlementWithdrawn": _entitlement_withdrawn,
    "Decided": _decided, "Disbursed": _disbursed, "DisbursementCorrected": _disbursement_corrected,
    "Absorbed": _absorbed, "Separated": _separated,
}
