"""An affected household's case: assessments, entitlements, decisions, disbursements.

One aggregate per household keeps everything owed to it and paid to it in one
consistent sequence: a disbursement can never exceed what was decided, and a
correction is always a later event of the same case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventMeta, EventPayload, Payload, Sparse
from emergency.errors import Conflict, InvalidInput, NotFound
from emergency.policy import ComputedEntitlement, Need, Policy

FLAGS = ("poor", "near_poor", "hardship", "elderly", "disabled", "child", "ethnic_minority")
HOUSE_DAMAGE = ("none", "partial", "heavy", "very_heavy", "total")
HOUSE_CLASSES = ("permanent", "semi_permanent", "non_durable", "makeshift")
DECISIONS = ("approve", "adjust", "reject")
LEVELS = ("commune", "province", "central", "district")  # district: records before 2025-07-01 only
DECIDED_STATUS = {"approve": "approved", "adjust": "adjusted", "reject": "rejected"}

# ----- what the events store -------------------------------------------------------
# Ids of assessments and disbursements are kept as text (a UUID's), as events always stored them.


class HouseholdChanges(Sparse):
    """Corrected details: only those that changed are stored."""

    head_name: str | None = None
    members: int | None = None
    flags: list[str] | None = None


class Assessment(Payload):
    """A damage assessment: the household's situation at `assessed_at`.
    `seriously_injured` counts those of the `injured` paid under INJURED (since class version 2)."""

    assessment_id: str
    assessed_at: datetime
    dead: int
    missing: int
    injured: int
    seriously_injured: int
    house_damage: str
    house_class: str | None
    persons_short_of_food: int
    food_months: int
    orphaned_children: int
    relocation_ordered: bool
    livelihood_lost: bool
    evacuated: bool
    supersedes: str | None  # the assessment this one corrects
    notes: str


class Entitlement(Payload):
    """A support the rules give, as computed from an assessment, in its `revision`."""

    support_type: str
    units: int
    amount_vnd: int | None  # None: in kind, or set by the deciding officer
    quantity: int | None
    unit: str | None
    due_at: datetime
    rule_version: str
    base_level_vnd: int | None
    base_level_from: str | None  # ISO date
    confirmed: bool
    revision: int


class Decision(Payload):
    """An officer's decision on an entitlement: approved, adjusted (to an amount or quantity) or rejected."""

    support_type: str
    decision: Literal["approve", "adjust", "reject"]
    revision: int | None  # of the entitlement decided on; None until the case fills in its current one
    amount_vnd: int | None
    quantity: int | None
    reason: str | None
    decided_by: str
    level: str
    decided_at: datetime


class Disbursement(Payload):
    """Cash or goods delivered to the household under an entitlement, perhaps from a fund."""

    disbursement_id: str
    support_type: str
    form: Literal["cash", "in_kind"]
    amount_vnd: int | None
    quantity: int | None
    unit: str | None
    # Absent from the first version's disbursements, recorded before goods could be drawn from a fund's stock.
    item: str | None = None
    valuation_vnd: int | None
    channel: str
    funding_source: str
    fund_id: UUID | None
    delivered_at: datetime
    delivered_by: str


class Receipt(Payload):
    disbursement_id: str
    confirmed_at: datetime
    confirmed_by: str
    method: str


class DisbursementCorrection(Payload):
    """A disbursement voided, or its amount or quantity restated."""

    disbursement_id: str
    void: bool
    amount_vnd: int | None
    quantity: int | None
    reason: str


class HouseholdCaseRegistered(EventPayload):
    kind = "HouseholdCase.Registered"
    incident_id: UUID
    province_code: str
    commune_code: str
    head_name: str
    members: int
    flags: list[str]


class HouseholdCaseDetailsCorrected(EventPayload):
    kind = "HouseholdCase.DetailsCorrected"
    changes: HouseholdChanges
    reason: str


class HouseholdCaseDamageAssessed(EventPayload):
    kind = "HouseholdCase.DamageAssessed"
    assessment: Assessment


class HouseholdCaseEntitlementDetermined(EventPayload):
    kind = "HouseholdCase.EntitlementDetermined"
    entitlement: Entitlement
    basis: str  # the assessment it was computed from


class HouseholdCaseEntitlementWithdrawn(EventPayload):
    kind = "HouseholdCase.EntitlementWithdrawn"
    support_type: str
    basis: str  # the assessment that no longer qualifies for it


class HouseholdCaseDecided(EventPayload):
    kind = "HouseholdCase.Decided"
    decision: Decision


class HouseholdCaseDisbursed(EventPayload):
    kind = "HouseholdCase.Disbursed"
    disbursement: Disbursement


class HouseholdCaseReceiptConfirmed(EventPayload):
    kind = "HouseholdCase.ReceiptConfirmed"
    receipt: Receipt


class HouseholdCaseDisbursementCorrected(EventPayload):
    kind = "HouseholdCase.DisbursementCorrected"
    correction: DisbursementCorrection


class HeldDisbursement(Disbursement):
    """A disbursement as a household's case holds it: taken in whole by the
    household it is merged into (`emergency.duplicates`)."""

    voided: bool
    receipt: Receipt | None
    corrections: list[str] | None = None  # the reasons of its restatements, if any


class HouseholdCaseDuplicateSuspected(EventPayload):
    kind = "HouseholdCase.DuplicateSuspected"
    pair_id: str
    other_id: str


class HouseholdCaseMergedInto(EventPayload):
    kind = "HouseholdCase.MergedInto"
    pair_id: str
    survivor_id: str


class HouseholdCaseRestored(EventPayload):
    kind = "HouseholdCase.Restored"
    pair_id: str


class HouseholdCaseAbsorbed(EventPayload):
    kind = "HouseholdCase.Absorbed"
    pair_id: str
    household_id: str  # the household merged into this one
    assessments: dict[str, Assessment]
    disbursements: dict[str, HeldDisbursement]


class HouseholdCaseSeparated(EventPayload):
    kind = "HouseholdCase.Separated"
    pair_id: str
    household_id: str


# ----- the aggregate -----------------------------------------------------------------


class HouseholdCase(AidAggregate):
    @event("Registered")
    def __init__(self, id: UUID, incident_id: UUID, province_code: str, commune_code: str, head_name: str,
                 members: int, flags: list[str], meta: EventMeta):
        self.incident_id = incident_id
        self.province_code = province_code
        self.commune_code = commune_code
        self.head_name = head_name
        self.members = members
        self.flags = sorted(flags)
        self.assessments: dict[str, dict[str, Any]] = {}
        self.current_assessment: str | None = None
        # support type -> the current entitlement and its decision
        self.entitlements: dict[str, dict[str, Any]] = {}
        self.disbursements: dict[str, dict[str, Any]] = {}

    # ----- household details -------------------------------------------------

    def correct_details(self, changes: HouseholdChanges, reason: str, meta: EventMeta) -> None:
        changed = {k: v for k, v in changes.model_dump().items() if getattr(self, k) != v}
        if changed:
            self._details_corrected(HouseholdChanges(**changed), reason, meta)

    @event("DetailsCorrected")
    def _details_corrected(self, changes: HouseholdChanges, reason: str, meta: EventMeta) -> None:
        for name, value in changes.model_dump().items():
            setattr(self, name, sorted(value) if name == "flags" else value)

    # ----- assessments and entitlements --------------------------------------

    def assess(self, assessment: Assessment, meta: EventMeta) -> None:
        """Record a damage assessment (a snapshot of the household's situation)."""
        if assessment.assessment_id in self.assessments:
            raise Conflict(f"assessment {assessment.assessment_id} is already recorded for this household",
                           field="assessment_id", code="duplicate_assessment")
        if assessment.supersedes is not None and assessment.supersedes not in self.assessments:
            raise NotFound(f"assessment {assessment.supersedes} to supersede is not recorded for this household",
                           field="supersedes")
        self._damage_assessed(assessment, meta)

    class DamageAssessed(AidAggregate.Event):
        """Version 2 assessments count the seriously injured (`seriously_injured`,
        paid under INJURED) among the injured (all counted for Sendai B-2).
        Version 1 had `injured` alone, and every injured person was paid as
        seriously injured: its upcast keeps that reading."""

        class_version = 2
        assessment: Assessment
        meta: EventMeta

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            assessment = state["assessment"]
            assessment["seriously_injured"] = assessment["injured"]

    @event(DamageAssessed)
    def _damage_assessed(self, assessment: Assessment, meta: EventMeta) -> None:
        self.assessments[assessment.assessment_id] = assessment.model_dump()
        current = self.assessments.get(self.current_assessment or "")
        # The newest situation in the field wins; a late report of an earlier
        # moment is kept in the history but does not rewrite the current one.
        if current is None or assessment.supersedes == current["assessment_id"] \
                or assessment.assessed_at >= current["assessed_at"]:
            self.current_assessment = assessment.assessment_id

    def need(self, incident_type: str) -> Need | None:
        if self.current_assessment is None:
            return None
        a = self.assessments[self.current_assessment]
        return Need(
            incident_type=incident_type, flags=frozenset(self.flags), house_damage=a["house_damage"],
            persons_short_of_food=a["persons_short_of_food"], food_months=a["food_months"],
            injured=a["injured"], seriously_injured=a["seriously_injured"], dead=a["dead"], missing=a["missing"],
            orphaned_children=a["orphaned_children"], relocation_ordered=a["relocation_ordered"],
            livelihood_lost=a["livelihood_lost"])

    def reconcile_entitlements(self, policy: Policy, incident_type: str, meta: EventMeta) -> None:
        """Bring entitlements in line with the current assessment and details.

        New or changed supports get a new revision (needing a new decision);
        supports no longer qualified for are withdrawn. Unchanged ones stay.
        """
        need = self.need(incident_type)
        if need is None or self.current_assessment is None:
            return
        basis = self.assessments[self.current_assessment]
        computed = {e.support_type: e for e in
                    policy.entitlements(need, basis["assessed_at"], self.province_code)}
        for code, entitlement in computed.items():
            if self._differs(code, entitlement):
                self._determine(code, entitlement, basis["assessment_id"], meta)
        for code, current in list(self.entitlements.items()):
            if code not in computed and current["status"] != "withdrawn":
                self._entitlement_withdrawn(code, basis["assessment_id"], meta)

    def _differs(self, code: str, entitlement: ComputedEntitlement) -> bool:
        current = self.entitlements.get(code)
        if current is None or current["status"] == "withdrawn":
            return True
        return any(current[k] != getattr(entitlement, k) for k in ("units", "amount_vnd", "quantity", "rule_version"))

    def _determine(self, code: str, computed: ComputedEntitlement, basis: str, meta: EventMeta) -> None:
        current = self.entitlements.get(code)
        # The household has been in need since the first assessment showed it:
        # a revision keeps the original deadline rather than restarting it.
        live = current is not None and current["status"] != "withdrawn"
        entitlement = Entitlement(
            support_type=computed.support_type, units=computed.units, amount_vnd=computed.amount_vnd,
            quantity=computed.quantity, unit=computed.unit,
            due_at=current["due_at"] if current is not None and live else computed.due_at,
            rule_version=computed.rule_version, base_level_vnd=computed.base_level_vnd,
            base_level_from=computed.base_level_from.isoformat() if computed.base_level_from else None,
            confirmed=computed.confirmed, revision=current["revision"] + 1 if current else 1)
        self._entitlement_determined(entitlement, basis, meta)

    @event("EntitlementDetermined")
    def _entitlement_determined(self, entitlement: Entitlement, basis: str, meta: EventMeta) -> None:
        self.entitlements[entitlement.support_type] = dict(
            entitlement.model_dump(), basis=basis, status="pending", decided_amount_vnd=None, decided_quantity=None)

    @event("EntitlementWithdrawn")
    def _entitlement_withdrawn(self, support_type: str, basis: str, meta: EventMeta) -> None:
        self.entitlements[support_type]["status"] = "withdrawn"

    def entitlement(self, support_type: str, field: str = "support_type") -> dict[str, Any]:
        found = self.entitlements.get(support_type)
        if found is None or found["status"] == "withdrawn":
            raise NotFound(f"household {self.id} has no current {support_type} entitlement", field=field,
                           code="no_entitlement")
        return found

    # ----- decisions ---------------------------------------------------------

    def decide(self, decision: Decision, meta: EventMeta) -> None:
        current = self.entitlement(decision.support_type)
        if decision.revision is not None and decision.revision != current["revision"]:
            raise Conflict(f"entitlement is at revision {current['revision']}, not {decision.revision}",
                           field="revision", code="stale_revision")
        if decision.decision == "adjust" and decision.amount_vnd is None and decision.quantity is None:
            raise InvalidInput("an adjustment needs amount_vnd or quantity", field="amount_vnd",
                               code="missing_amount")
        if current["amount_vnd"] is None and current["quantity"] is None and decision.decision == "approve":
            raise InvalidInput(f"{decision.support_type} has no computed amount: adjust it with one",
                               field="decision", code="amount_required")
        self._decided(decision.model_copy(update={"revision": current["revision"]}), meta)

    @event("Decided")
    def _decided(self, decision: Decision, meta: EventMeta) -> None:
        entitlement = self.entitlements[decision.support_type]
        entitlement["status"] = DECIDED_STATUS[decision.decision]
        if decision.decision == "adjust":
            entitlement["decided_amount_vnd"] = decision.amount_vnd
            entitlement["decided_quantity"] = decision.quantity

    # ----- disbursements -----------------------------------------------------

    def owed(self, support_type: str) -> tuple[int | None, int | None]:
        """(amount VND, quantity) currently owed under an entitlement."""
        e = self.entitlement(support_type)
        if e["status"] == "rejected":
            return 0, 0
        if e["status"] == "adjusted":
            return e["decided_amount_vnd"], e["decided_quantity"]
        return e["amount_vnd"], e["quantity"]

    def delivered(self, support_type: str) -> tuple[int, int]:
        amount = quantity = 0
        for d in self.disbursements.values():
            if d["support_type"] == support_type and not d["voided"]:
                amount += d["amount_vnd"] or 0
                quantity += d["quantity"] or 0
        return amount, quantity

    def disburse(self, disbursement: Disbursement, meta: EventMeta) -> None:
        if disbursement.disbursement_id in self.disbursements:
            raise Conflict(f"disbursement {disbursement.disbursement_id} is already recorded",
                           field="disbursement_id", code="duplicate_disbursement")
        code = disbursement.support_type
        current = self.entitlement(code)
        if current["status"] == "rejected":
            raise Conflict(f"the {code} entitlement was rejected", field="support_type",
                           code="entitlement_rejected")
        self._check_within_owed(code, disbursement.amount_vnd, disbursement.quantity)
        self._disbursed(disbursement, meta)

    def _check_within_owed(self, code: str, amount: int | None, quantity: int | None,
                           replacing: dict[str, Any] | None = None) -> None:
        owed_amount, owed_quantity = self.owed(code)
        paid_amount, paid_quantity = self.delivered(code)
        if replacing is not None and not replacing["voided"]:
            paid_amount -= replacing["amount_vnd"] or 0
            paid_quantity -= replacing["quantity"] or 0
        if amount:
            if owed_amount is None:
                raise Conflict(f"{code} has no decided cash amount yet", field="amount_vnd",
                               code="amount_not_decided")
            if paid_amount + amount > owed_amount:
                raise Conflict(f"{code}: {paid_amount + amount} VND would exceed the {owed_amount} VND owed",
                               field="amount_vnd", code="exceeds_entitlement")
        if quantity:
            if owed_quantity is None:
                raise Conflict(f"{code} is not owed in kind", field="quantity", code="not_in_kind")
            if paid_quantity + quantity > owed_quantity:
                raise Conflict(f"{code}: {paid_quantity + quantity} would exceed the {owed_quantity} owed",
                               field="quantity", code="exceeds_entitlement")

    @event("Disbursed")
    def _disbursed(self, disbursement: Disbursement, meta: EventMeta) -> None:
        self.disbursements[disbursement.disbursement_id] = dict(disbursement.model_dump(), voided=False, receipt=None)

    def _disbursement(self, disbursement_id: str) -> dict[str, Any]:
        found = self.disbursements.get(disbursement_id)
        if found is None:
            raise NotFound(f"disbursement {disbursement_id} is not recorded for household {self.id}",
                           field="disbursement_id")
        return found

    def confirm_receipt(self, receipt: Receipt, meta: EventMeta) -> None:
        found = self._disbursement(receipt.disbursement_id)
        if found["voided"]:
            raise Conflict("a voided disbursement cannot be confirmed", field="disbursement_id",
                           code="disbursement_voided")
        if found["receipt"] is not None:
            raise Conflict("receipt already confirmed", field="disbursement_id", code="already_confirmed")
        self._receipt_confirmed(receipt, meta)

    @event("ReceiptConfirmed")
    def _receipt_confirmed(self, receipt: Receipt, meta: EventMeta) -> None:
        self.disbursements[receipt.disbursement_id]["receipt"] = receipt.model_dump()

    def correct_disbursement(self, correction: DisbursementCorrection, meta: EventMeta) -> None:
        """A mistaken disbursement is voided or its amount restated, never edited."""
        found = self._disbursement(correction.disbursement_id)
        if found["voided"]:
            raise Conflict("this disbursement is already voided", field="disbursement_id",
                           code="disbursement_voided")
        if not correction.void:
            self._check_within_owed(found["support_type"], correction.amount_vnd, correction.quantity,
                                    replacing=found)
        self._disbursement_corrected(correction, meta)

    @event("DisbursementCorrected")
    def _disbursement_corrected(self, correction: DisbursementCorrection, meta: EventMeta) -> None:
        found = self.disbursements[correction.disbursement_id]
        if correction.void:
            found["voided"] = True
        else:
            for key, value in (("amount_vnd", correction.amount_vnd), ("quantity", correction.quantity)):
                if value is not None:
                    found[key] = value
        found.setdefault("corrections", []).append(correction.reason)

    # ----- possible duplicates (emergency.duplicates) --------------------------

    def duplicate_pairs(self) -> dict[str, str]:
        """Pair id -> the other household, for every pair this household was found in."""
        return getattr(self, "suspected_pairs", {})

    def merged_into(self) -> str | None:
        """The household this one was merged into, while it is."""
        return getattr(self, "survivor_id", None)

    def absorbed(self) -> dict[str, str]:
        """Household merged into this one -> the pair that merged it."""
        return getattr(self, "absorbed_households", {})

    @event("DuplicateSuspected")
    def suspect_duplicate(self, pair_id: str, other_id: str, meta: EventMeta) -> None:
        self.__dict__.setdefault("suspected_pairs", {})[pair_id] = other_id

    def merge_into(self, pair_id: str, survivor_id: str, meta: EventMeta) -> None:
        """Retire this household's cases: from now on the survivor is owed and paid for both."""
        self._merged_into(pair_id, survivor_id, meta)
        for code, current in list(self.entitlements.items()):
            if current["status"] != "withdrawn":
                self._entitlement_withdrawn(code, self.current_assessment, meta)

    @event("MergedInto")
    def _merged_into(self, pair_id: str, survivor_id: str, meta: EventMeta) -> None:
        self.survivor_id = survivor_id

    @event("Restored")
    def restore(self, pair_id: str, meta: EventMeta) -> None:
        """Undo a merge into another household (the caller reconciles entitlements after)."""
        self.survivor_id = None

    def absorb(self, pair_id: str, other: HouseholdCase, meta: EventMeta) -> None:
        """Take in the other's assessments and live payments, so what was paid
        to either counts toward what this household is owed."""
        payments = {k: d for k, d in other.disbursements.items() if not d["voided"]}
        clash = sorted(set(payments) & set(self.disbursements))
        if clash:
            raise Conflict(f"disbursement {clash[0]} is recorded for both households", field="survivor_id",
                           code="disbursement_id_clash")
        self._absorbed(pair_id, str(other.id),
                       {k: Assessment.model_validate(a) for k, a in other.assessments.items()},
                       {k: HeldDisbursement.model_validate(d) for k, d in payments.items()}, meta)

    @event("Absorbed")
    def _absorbed(self, pair_id: str, household_id: str, assessments: dict[str, Assessment],
                  disbursements: dict[str, HeldDisbursement], meta: EventMeta) -> None:
        for key, assessment in assessments.items():
            self.assessments[key] = dict(assessment.model_dump(), from_household=household_id)
        for key, disbursement in disbursements.items():
            held = disbursement.model_dump(exclude={"corrections"} if disbursement.corrections is None else set())
            self.disbursements[key] = dict(held, from_household=household_id)
        self.__dict__.setdefault("absorbed_households", {})[household_id] = pair_id
        self._choose_current()

    def separate(self, pair_id: str, household_id: str, meta: EventMeta) -> None:
        """Undo a merge: drop what was taken in from `household_id` (the caller
        reconciles entitlements after). With no assessment of its own left,
        this household's entitlements are withdrawn."""
        basis = self.current_assessment
        self._separated(pair_id, household_id, meta)
        if self.current_assessment is None:
            for code, current in list(self.entitlements.items()):
                if current["status"] != "withdrawn":
                    self._entitlement_withdrawn(code, basis, meta)

    @event("Separated")
    def _separated(self, pair_id: str, household_id: str, meta: EventMeta) -> None:
        for records in (self.assessments, self.disbursements):
            for key in [k for k, v in records.items() if v.get("from_household") == household_id]:
                del records[key]
        self.absorbed_households.pop(household_id, None)
        if self.current_assessment not in self.assessments:
            self.current_assessment = None
        self._choose_current()

    def _choose_current(self) -> None:
        """After a merge or its undoing: the newest assessed situation is current."""
        if not self.assessments:
            return
        current = self.assessments.get(self.current_assessment or "")
        newest = max(self.assessments.values(), key=lambda a: a["assessed_at"])
        if current is None or newest["assessed_at"] > current["assessed_at"]:
            self.current_assessment = newest["assessment_id"]

    def summary(self) -> dict[str, Any]:
        return {
            "household_id": self.id, "incident_id": self.incident_id, "province_code": self.province_code,
            "commune_code": self.commune_code, "head_name": self.head_name, "members": self.members,
            "flags": self.flags, "current_assessment": self.assessments.get(self.current_assessment or ""),
            "assessments": len(self.assessments), "entitlements": list(self.entitlements.values()),
            "disbursements": list(self.disbursements.values()), "version": self.version,
        }

