"""Events of a household in a storm, as payload models, and the commands that
would follow them: the givens of the household and fund tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from emergency.commands import AssessDamage, RecordDecision, RecordDisbursement
from emergency.domain.household import Assessment, Decision, Disbursement, Entitlement, HouseholdCaseRegistered
from emergency.domain.incident import IncidentOpened

STORM = datetime(2024, 9, 7, 1, 0, tzinfo=timezone.utc)
INCIDENT = UUID("10000000-0000-4000-8000-000000000001")
HOUSEHOLD = UUID("20000000-0000-4000-8000-000000000001")
FIRST = "30000000-0000-4000-8000-000000000001"  # assessment ids
SECOND = "30000000-0000-4000-8000-000000000002"
PAID = "40000000-0000-4000-8000-000000000001"  # a disbursement id
PROVINCE, COMMUNE = "31", "11311"  # Hải Phòng, Phường Hồng Bàng


def opened() -> IncidentOpened:
    return IncidentOpened(incident_type="storm", title="Bão Yagi", started_at=STORM, areas={PROVINCE: [COMMUNE]})


def registered(**changes: Any) -> HouseholdCaseRegistered:
    fields: dict[str, Any] = dict(incident_id=INCIDENT, province_code=PROVINCE, commune_code=COMMUNE,
                                  head_name="Nguyễn Văn An", members=4, flags=["poor"])
    return HouseholdCaseRegistered(**(fields | changes))


def assessment(assessment_id: str = FIRST, **changes: Any) -> Assessment:
    fields: dict[str, Any] = dict(
        assessment_id=assessment_id, assessed_at=STORM + timedelta(hours=20), dead=1, missing=0, injured=0,
        seriously_injured=0, house_damage="none", house_class=None, persons_short_of_food=0, food_months=1,
        orphaned_children=0, relocation_ordered=False, livelihood_lost=False, evacuated=False, supersedes=None,
        notes="")
    return Assessment(**(fields | changes))


def burial(revision: int = 1, **changes: Any) -> Entitlement:
    fields: dict[str, Any] = dict(
        support_type="BURIAL", units=1, amount_vnd=25_000_000, quantity=None, unit=None,
        due_at=STORM + timedelta(days=10), rule_version="2024-07-01", base_level_vnd=500_000,
        base_level_from="2024-07-01", confirmed=True, revision=revision)
    return Entitlement(**(fields | changes))


def decision(**changes: Any) -> Decision:
    fields: dict[str, Any] = dict(support_type="BURIAL", decision="approve", revision=1, amount_vnd=None,
                                  quantity=None, reason=None, decided_by="Chủ tịch UBND xã", level="commune",
                                  decided_at=STORM + timedelta(days=1))
    return Decision(**(fields | changes))


def disbursement(amount_vnd: int = 25_000_000) -> Disbursement:
    return Disbursement(disbursement_id=PAID, support_type="BURIAL", form="cash", amount_vnd=amount_vnd,
                        quantity=None, unit=None, item=None, valuation_vnd=None, channel="cash_in_hand",
                        funding_source="state_budget", fund_id=None, delivered_at=STORM + timedelta(days=1, hours=2),
                        delivered_by="cán bộ xã")


def decide(**changes: Any) -> RecordDecision:
    fields: dict[str, Any] = dict(household_id=HOUSEHOLD, support_type="BURIAL", decision="approve",
                                  decided_by="Chủ tịch UBND xã", decided_at=STORM + timedelta(days=1))
    return RecordDecision(**(fields | changes))


def disburse(amount_vnd: int) -> RecordDisbursement:
    return RecordDisbursement(household_id=HOUSEHOLD, disbursement_id=UUID(PAID), support_type="BURIAL", form="cash",
                              amount_vnd=amount_vnd, channel="cash_in_hand", funding_source="state_budget",
                              delivered_at=STORM + timedelta(days=1, hours=2), delivered_by="cán bộ xã")


def assess(assessment_id: str, **changes: Any) -> AssessDamage:
    return AssessDamage(household_id=HOUSEHOLD, assessment_id=UUID(assessment_id),
                        assessed_at=STORM + timedelta(hours=30), **changes)
