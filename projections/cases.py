"""The entitlement case file: a pure fold of the event stream.

Every projection about timeliness starts from the same question per household
and support type: what is owed, by when, and what has been delivered when.
`CaseFile.apply(envelope)` answers it for any prefix of the log; nothing here
reads a clock, so the same events always give the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emergency.envelope import Envelope


@dataclass
class Delivery:
    disbursement_id: str
    delivered_at: datetime
    amount_vnd: int
    quantity: int
    voided: bool = False


@dataclass
class Case:
    """One household's entitlement to one support type."""

    household_id: str
    incident_id: str
    province_code: str
    commune_code: str
    support_type: str
    members: int
    need_recorded_at: datetime
    due_at: datetime
    amount_vnd: int | None
    quantity: int | None
    unit: str | None
    revision: int
    status: str = "pending"  # pending | approved | adjusted | rejected | withdrawn
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def in_need(self) -> bool:
        return self.status not in ("rejected", "withdrawn")

    @property
    def decided(self) -> bool:
        return self.status in ("approved", "adjusted", "rejected")

    def delivered(self) -> tuple[int, int]:
        live = [d for d in self.deliveries if not d.voided]
        return sum(d.amount_vnd for d in live), sum(d.quantity for d in live)

    def completed_at(self) -> datetime | None:
        """When cumulative deliveries first covered what is owed (occurred time)."""
        if self.amount_vnd is None and self.quantity is None:
            return None  # amount still to be decided
        amount = quantity = 0
        for delivery in sorted((d for d in self.deliveries if not d.voided), key=lambda d: d.delivered_at):
            amount += delivery.amount_vnd
            quantity += delivery.quantity
            if amount >= (self.amount_vnd or 0) and quantity >= (self.quantity or 0):
                return delivery.delivered_at
        return None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class CaseFile:
    """Households and their cases, folded from envelopes in log order."""

    def __init__(self) -> None:
        self.households: dict[str, dict[str, Any]] = {}
        self.cases: dict[tuple[str, str], Case] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.position = 0

    def apply(self, e: Envelope) -> list[tuple[str, str]]:
        """Fold one event in; return the (household, support type) cases it touched."""
        if e.notification_id is not None:
            self.position = e.notification_id
        handler = getattr(self, "_" + e.kind.replace(".", "_"), None)
        return handler(e) if handler else []

    def _Incident_Opened(self, e: Envelope) -> list[tuple[str, str]]:
        self.incidents[e.aggregate_id] = {"title": e.data["title"], "incident_type": e.data["incident_type"],
                                          "started_at": _time(e.data["started_at"]), "closed_at": None}
        return []

    def _Incident_Closed(self, e: Envelope) -> list[tuple[str, str]]:
        self.incidents[e.aggregate_id]["closed_at"] = _time(e.data["closed_at"])
        return []

    def _HouseholdCase_Registered(self, e: Envelope) -> list[tuple[str, str]]:
        self.households[e.aggregate_id] = {
            "incident_id": e.data["incident_id"], "province_code": e.data["province_code"],
            "commune_code": e.data["commune_code"], "members": e.data["members"], "assessed": {}}
        return []

    def _HouseholdCase_DetailsCorrected(self, e: Envelope) -> list[tuple[str, str]]:
        household = self.households[e.aggregate_id]
        if "members" in e.data["changes"]:
            household["members"] = e.data["changes"]["members"]
            for (hh, _), case in self.cases.items():
                if hh == e.aggregate_id:
                    case.members = household["members"]
            return [key for key in self.cases if key[0] == e.aggregate_id]
        return []

    def _HouseholdCase_DamageAssessed(self, e: Envelope) -> list[tuple[str, str]]:
        assessment = e.data["assessment"]
        self.households[e.aggregate_id]["assessed"][assessment["assessment_id"]] = _time(assessment["assessed_at"])
        return []

    def _HouseholdCase_EntitlementDetermined(self, e: Envelope) -> list[tuple[str, str]]:
        ent = e.data["entitlement"]
        household = self.households[e.aggregate_id]
        key = (e.aggregate_id, ent["support_type"])
        previous = self.cases.get(key)
        need_recorded_at = household["assessed"][e.data["basis"]]
        if previous is not None and previous.status != "withdrawn":
            need_recorded_at = previous.need_recorded_at
        self.cases[key] = Case(
            household_id=e.aggregate_id, incident_id=household["incident_id"],
            province_code=household["province_code"], commune_code=household["commune_code"],
            support_type=ent["support_type"], members=household["members"], need_recorded_at=need_recorded_at,
            due_at=_time(ent["due_at"]), amount_vnd=ent["amount_vnd"], quantity=ent["quantity"], unit=ent["unit"],
            revision=ent["revision"], deliveries=previous.deliveries if previous else [])
        return [key]

    def _HouseholdCase_EntitlementWithdrawn(self, e: Envelope) -> list[tuple[str, str]]:
        key = (e.aggregate_id, e.data["support_type"])
        self.cases[key].status = "withdrawn"
        return [key]

    def _HouseholdCase_Decided(self, e: Envelope) -> list[tuple[str, str]]:
        decision = e.data["decision"]
        key = (e.aggregate_id, decision["support_type"])
        case = self.cases[key]
        case.status = {"approve": "approved", "adjust": "adjusted", "reject": "rejected"}[decision["decision"]]
        if decision["decision"] == "adjust":
            case.amount_vnd, case.quantity = decision.get("amount_vnd"), decision.get("quantity")
        return [key]

    def _HouseholdCase_Disbursed(self, e: Envelope) -> list[tuple[str, str]]:
        d = e.data["disbursement"]
        key = (e.aggregate_id, d["support_type"])
        self.cases[key].deliveries.append(Delivery(
            d["disbursement_id"], _time(d["delivered_at"]), d.get("amount_vnd") or 0, d.get("quantity") or 0))
        return [key]

    def _HouseholdCase_DisbursementCorrected(self, e: Envelope) -> list[tuple[str, str]]:
        correction = e.data["correction"]
        for key, case in self.cases.items():
            if key[0] != e.aggregate_id:
                continue
            for delivery in case.deliveries:
                if delivery.disbursement_id == correction["disbursement_id"]:
                    if correction["void"]:
                        delivery.voided = True
                    if correction.get("amount_vnd") is not None:
                        delivery.amount_vnd = correction["amount_vnd"]
                    if correction.get("quantity") is not None:
                        delivery.quantity = correction["quantity"]
                    return [key]
        return []
