"""An affected household's case: assessments, entitlements, decisions, disbursements.

One aggregate per household keeps everything owed to it and paid to it in one
consistent sequence: a disbursement can never exceed what was decided, and a
correction is always a later event of the same case.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.errors import Conflict, InvalidInput, NotFound
from emergency.policy import ComputedEntitlement, Need, Policy

FLAGS = ("poor", "near_poor", "hardship", "elderly", "disabled", "child", "ethnic_minority")
HOUSE_DAMAGE = ("none", "partial", "heavy", "very_heavy", "total")
HOUSE_CLASSES = ("permanent", "semi_permanent", "non_durable", "makeshift")
DECISIONS = ("approve", "adjust", "reject")
LEVELS = ("commune", "province", "central", "district")  # district: records before 2025-07-01 only


class HouseholdCase(AidAggregate):
    @event("Registered")
    def __init__(self, id: UUID, incident_id: UUID, province_code: str, commune_code: str, head_name: str,
                 members: int, flags: list[str], meta: dict[str, Any]):
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

    def correct_details(self, changes: dict[str, Any], reason: str, meta: dict[str, Any]) -> None:
        changes = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changes:
            self._details_corrected(changes, reason, meta)

    @event("DetailsCorrected")
    def _details_corrected(self, changes: dict[str, Any], reason: str, meta: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, sorted(value) if name == "flags" else value)

    # ----- assessments and entitlements --------------------------------------

    def assess(self, assessment: dict[str, Any], meta: dict[str, Any]) -> None:
        """Record a damage assessment (a snapshot of the household's situation)."""
        assessment_id = str(assessment["assessment_id"])
        if assessment_id in self.assessments:
            raise Conflict(f"assessment {assessment_id} is already recorded for this household",
                           field="assessment_id", code="duplicate_assessment")
        supersedes = assessment.get("supersedes")
        if supersedes is not None and str(supersedes) not in self.assessments:
            raise NotFound(f"assessment {supersedes} to supersede is not recorded for this household",
                           field="supersedes")
        self._damage_assessed(dict(assessment, assessment_id=assessment_id,
                                   supersedes=str(supersedes) if supersedes else None), meta)

    class DamageAssessed(AidAggregate.Event):
        """Version 2 assessments count the seriously injured (`seriously_injured`,
        paid under INJURED) among the injured (all counted for Sendai B-2).
        Version 1 had `injured` alone, and every injured person was paid as
        seriously injured: its upcast keeps that reading."""

        class_version = 2
        assessment: dict[str, Any]
        meta: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            assessment = state["assessment"]
            assessment["seriously_injured"] = assessment["injured"]

    @event(DamageAssessed)
    def _damage_assessed(self, assessment: dict[str, Any], meta: dict[str, Any]) -> None:
        self.assessments[assessment["assessment_id"]] = assessment
        current = self.assessments.get(self.current_assessment or "")
        # The newest situation in the field wins; a late report of an earlier
        # moment is kept in the history but does not rewrite the current one.
        if current is None or assessment["supersedes"] == current["assessment_id"] \
                or assessment["assessed_at"] >= current["assessed_at"]:
            self.current_assessment = assessment["assessment_id"]

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

    def reconcile_entitlements(self, policy: Policy, incident_type: str, meta: dict[str, Any]) -> None:
        """Bring entitlements in line with the current assessment and details.

        New or changed supports get a new revision (needing a new decision);
        supports no longer qualified for are withdrawn. Unchanged ones stay.
        """
        need = self.need(incident_type)
        if need is None:
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

    def _determine(self, code: str, entitlement: ComputedEntitlement, basis: str, meta: dict[str, Any]) -> None:
        current = self.entitlements.get(code)
        data = entitlement.as_event_data()
        live = current is not None and current["status"] != "withdrawn"
        # The household has been in need since the first assessment showed it:
        # a revision keeps the original deadline rather than restarting it.
        if live:
            data["due_at"] = current["due_at"]
        data["revision"] = (current["revision"] + 1) if current else 1
        self._entitlement_determined(data, basis, meta)

    @event("EntitlementDetermined")
    def _entitlement_determined(self, entitlement: dict[str, Any], basis: str, meta: dict[str, Any]) -> None:
        self.entitlements[entitlement["support_type"]] = dict(
            entitlement, basis=basis, status="pending", decided_amount_vnd=None, decided_quantity=None)

    @event("EntitlementWithdrawn")
    def _entitlement_withdrawn(self, support_type: str, basis: str, meta: dict[str, Any]) -> None:
        self.entitlements[support_type]["status"] = "withdrawn"

    def entitlement(self, support_type: str, field: str = "support_type") -> dict[str, Any]:
        found = self.entitlements.get(support_type)
        if found is None or found["status"] == "withdrawn":
            raise NotFound(f"household {self.id} has no current {support_type} entitlement", field=field,
                           code="no_entitlement")
        return found

    # ----- decisions ---------------------------------------------------------

    def decide(self, decision: dict[str, Any], meta: dict[str, Any]) -> None:
        current = self.entitlement(decision["support_type"])
        if decision.get("revision") is not None and decision["revision"] != current["revision"]:
            raise Conflict(f"entitlement is at revision {current['revision']}, not {decision['revision']}",
                           field="revision", code="stale_revision")
        if decision["decision"] == "adjust" and decision.get("amount_vnd") is None \
                and decision.get("quantity") is None:
            raise InvalidInput("an adjustment needs amount_vnd or quantity", field="amount_vnd",
                               code="missing_amount")
        if current["amount_vnd"] is None and current["quantity"] is None and decision["decision"] == "approve":
            raise InvalidInput(f"{decision['support_type']} has no computed amount: adjust it with one",
                               field="decision", code="amount_required")
        self._decided(dict(decision, revision=current["revision"]), meta)

    @event("Decided")
    def _decided(self, decision: dict[str, Any], meta: dict[str, Any]) -> None:
        entitlement = self.entitlements[decision["support_type"]]
        entitlement["status"] = {"approve": "approved", "adjust": "adjusted", "reject": "rejected"}[
            decision["decision"]]
        if decision["decision"] == "adjust":
            entitlement["decided_amount_vnd"] = decision.get("amount_vnd")
            entitlement["decided_quantity"] = decision.get("quantity")

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

    def disburse(self, disbursement: dict[str, Any], meta: dict[str, Any]) -> None:
        disbursement_id = str(disbursement["disbursement_id"])
        if disbursement_id in self.disbursements:
            raise Conflict(f"disbursement {disbursement_id} is already recorded", field="disbursement_id",
                           code="duplicate_disbursement")
        code = disbursement["support_type"]
        current = self.entitlement(code)
        if current["status"] == "rejected":
            raise Conflict(f"the {code} entitlement was rejected", field="support_type",
                           code="entitlement_rejected")
        self._check_within_owed(code, disbursement.get("amount_vnd"), disbursement.get("quantity"))
        self._disbursed(dict(disbursement, disbursement_id=disbursement_id), meta)

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
    def _disbursed(self, disbursement: dict[str, Any], meta: dict[str, Any]) -> None:
        self.disbursements[disbursement["disbursement_id"]] = dict(
            disbursement, voided=False, receipt=None)

    def _disbursement(self, disbursement_id: str) -> dict[str, Any]:
        found = self.disbursements.get(disbursement_id)
        if found is None:
            raise NotFound(f"disbursement {disbursement_id} is not recorded for household {self.id}",
                           field="disbursement_id")
        return found

    def confirm_receipt(self, receipt: dict[str, Any], meta: dict[str, Any]) -> None:
        disbursement_id = str(receipt["disbursement_id"])
        found = self._disbursement(disbursement_id)
        if found["voided"]:
            raise Conflict("a voided disbursement cannot be confirmed", field="disbursement_id",
                           code="disbursement_voided")
        if found["receipt"] is not None:
            raise Conflict("receipt already confirmed", field="disbursement_id", code="already_confirmed")
        self._receipt_confirmed(dict(receipt, disbursement_id=disbursement_id), meta)

    @event("ReceiptConfirmed")
    def _receipt_confirmed(self, receipt: dict[str, Any], meta: dict[str, Any]) -> None:
        self.disbursements[receipt["disbursement_id"]]["receipt"] = receipt

    def correct_disbursement(self, correction: dict[str, Any], meta: dict[str, Any]) -> None:
        """A mistaken disbursement is voided or its amount restated, never edited."""
        disbursement_id = str(correction["disbursement_id"])
        found = self._disbursement(disbursement_id)
        if found["voided"]:
            raise Conflict("this disbursement is already voided", field="disbursement_id",
                           code="disbursement_voided")
        if not correction["void"]:
            self._check_within_owed(found["support_type"], correction.get("amount_vnd"),
                                    correction.get("quantity"), replacing=found)
        self._disbursement_corrected(dict(correction, disbursement_id=disbursement_id), meta)

    @event("DisbursementCorrected")
    def _disbursement_corrected(self, correction: dict[str, Any], meta: dict[str, Any]) -> None:
        found = self.disbursements[correction["disbursement_id"]]
        if correction["void"]:
            found["voided"] = True
        else:
            for key in ("amount_vnd", "quantity"):
                if correction.get(key) is not None:
                    found[key] = correction[key]
        found.setdefault("corrections", []).append(correction["reason"])

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
    def suspect_duplicate(self, pair_id: str, other_id: str, meta: dict[str, Any]) -> None:
        self.__dict__.setdefault("suspected_pairs", {})[pair_id] = other_id

    def merge_into(self, pair_id: str, survivor_id: str, meta: dict[str, Any]) -> None:
        """Retire this household's cases: from now on the survivor is owed and paid for both."""
        self._merged_into(pair_id, survivor_id, meta)
        for code, current in list(self.entitlements.items()):
            if current["status"] != "withdrawn":
                self._entitlement_withdrawn(code, self.current_assessment, meta)

    @event("MergedInto")
    def _merged_into(self, pair_id: str, survivor_id: str, meta: dict[str, Any]) -> None:
        self.survivor_id = survivor_id

    @event("Restored")
    def restore(self, pair_id: str, meta: dict[str, Any]) -> None:
        """Undo a merge into another household (the caller reconciles entitlements after)."""
        self.survivor_id = None

    def absorb(self, pair_id: str, other: HouseholdCase, meta: dict[str, Any]) -> None:
        """Take in the other's assessments and live payments, so what was paid
        to either counts toward what this household is owed."""
        payments = {k: d for k, d in other.disbursements.items() if not d["voided"]}
        clash = sorted(set(payments) & set(self.disbursements))
        if clash:
            raise Conflict(f"disbursement {clash[0]} is recorded for both households", field="survivor_id",
                           code="disbursement_id_clash")
        self._absorbed(pair_id, str(other.id), dict(other.assessments), payments, meta)

    @event("Absorbed")
    def _absorbed(self, pair_id: str, household_id: str, assessments: dict[str, Any],
                  disbursements: dict[str, Any], meta: dict[str, Any]) -> None:
        for key, assessment in assessments.items():
            self.assessments[key] = dict(assessment, from_household=household_id)
        for key, disbursement in disbursements.items():
            self.disbursements[key] = dict(disbursement, from_household=household_id)
        self.__dict__.setdefault("absorbed_households", {})[household_id] = pair_id
        self._choose_current()

    def separate(self, pair_id: str, household_id: str, meta: dict[str, Any]) -> None:
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
    def _separated(self, pair_id: str, household_id: str, meta: dict[str, Any]) -> None:
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

