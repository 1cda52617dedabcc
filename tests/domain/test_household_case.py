"""The household case's rules, as given events, a command, then events."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from emergency.commands import ConfirmReceipt, CorrectDisbursement, CorrectHousehold, RegisterHousehold
from emergency.domain.duplicates import HouseholdIndexStarted
from emergency.domain.household import (
    DisbursementCorrection,
    HouseholdCaseDamageAssessed,
    HouseholdCaseDecided,
    HouseholdCaseDetailsCorrected,
    HouseholdCaseDisbursed,
    HouseholdCaseDisbursementCorrected,
    HouseholdCaseEntitlementDetermined,
    HouseholdCaseEntitlementWithdrawn,
    HouseholdChanges,
)
from emergency.domain.incident import IncidentClosed
from emergency.duplicates import name_key
from emergency.errors import Conflict, InvalidInput, NotFound
from tests.domain.given import Scenario
from tests.domain.household_events import (
    COMMUNE,
    FIRST,
    HOUSEHOLD,
    INCIDENT,
    PAID,
    SECOND,
    STORM,
    assess,
    assessment,
    burial,
    decide,
    decision,
    disburse,
    disbursement,
    opened,
    registered,
)

# ----- registration and details ----------------------------------------------------


def test_a_household_registers_in_an_open_incident_with_its_province_from_the_commune():
    """And is listed under its commune, folded name and size, where a later
    namesake of about its size finds it (`emergency.duplicates`)."""
    scenario = Scenario().given(INCIDENT, opened())
    scenario.when(RegisterHousehold(household_id=HOUSEHOLD, incident_id=INCIDENT, commune_code=COMMUNE,
                                    head_name="Nguyễn Văn An", members=4, flags=["poor"]))
    scenario.then((HOUSEHOLD, registered()), (name_key(INCIDENT, COMMUNE, "nguyen van an", 4),
                                              HouseholdIndexStarted(household_id=str(HOUSEHOLD))))


def test_a_closed_incident_registers_no_household():
    scenario = Scenario().given(INCIDENT, opened(), IncidentClosed(closed_at=STORM + timedelta(days=1),
                                                                   reason="khắc phục xong"))
    scenario.when(RegisterHousehold(household_id=HOUSEHOLD, incident_id=INCIDENT, commune_code=COMMUNE,
                                    head_name="Nguyễn Văn An", members=4))
    scenario.then_refused(Conflict, "incident_closed", "incident_id")


def test_a_correction_stores_only_the_details_that_changed():
    scenario = Scenario().given(INCIDENT, opened()).given(HOUSEHOLD, registered())
    scenario.when(CorrectHousehold(household_id=HOUSEHOLD, head_name="Nguyễn Văn Ân", members=4, flags=["poor"],
                                   reason="sai chính tả"))
    scenario.then((HOUSEHOLD, HouseholdCaseDetailsCorrected(changes=HouseholdChanges(head_name="Nguyễn Văn Ân"),
                                                            reason="sai chính tả")))


def test_a_correction_that_changes_nothing_records_nothing():
    scenario = Scenario().given(INCIDENT, opened()).given(HOUSEHOLD, registered())
    scenario.when(CorrectHousehold(household_id=HOUSEHOLD, members=4, reason="kiểm tra lại"))
    scenario.then()


# ----- assessments and entitlements --------------------------------------------------


def test_an_assessment_that_no_longer_qualifies_withdraws_the_entitlement(case: Scenario):
    case.when(assess(SECOND, supersedes=UUID(FIRST)))
    case.then((HOUSEHOLD, HouseholdCaseDamageAssessed(assessment=assessment(
                  SECOND, dead=0, assessed_at=STORM + timedelta(hours=30), supersedes=FIRST))),
              (HOUSEHOLD, HouseholdCaseEntitlementWithdrawn(support_type="BURIAL", basis=SECOND)))


def test_a_revised_entitlement_keeps_the_deadline_of_the_need_first_seen(case: Scenario):
    case.when(assess(SECOND, dead=2))
    [(_, assessed), (_, determined)] = case.recorded()
    assert isinstance(assessed, HouseholdCaseDamageAssessed) and assessed.assessment.dead == 2
    assert isinstance(determined, HouseholdCaseEntitlementDetermined)
    assert (determined.basis, determined.entitlement.revision, determined.entitlement.units) == (SECOND, 2, 2)
    assert determined.entitlement.due_at == burial().due_at


def test_an_assessment_id_is_recorded_once(case: Scenario):
    case.when(assess(FIRST, dead=2))
    case.then_refused(Conflict, "duplicate_assessment", "assessment_id")


def test_only_a_recorded_assessment_can_be_superseded(case: Scenario):
    case.when(assess(SECOND, supersedes=UUID("30000000-0000-4000-8000-00000000000f")))
    case.then_refused(NotFound, "not_found", "supersedes")


# ----- decisions -----------------------------------------------------------------------


def test_a_decision_is_recorded_on_the_entitlement_revision_it_was_made_on(case: Scenario):
    case.when(decide())
    case.then((HOUSEHOLD, HouseholdCaseDecided(decision=decision(revision=1))))


def test_a_decision_on_a_stale_revision_is_refused():
    scenario = Scenario().given(INCIDENT, opened()).given(
        HOUSEHOLD, registered(), HouseholdCaseDamageAssessed(assessment=assessment()),
        HouseholdCaseEntitlementDetermined(entitlement=burial(), basis=FIRST),
        HouseholdCaseDamageAssessed(assessment=assessment(SECOND, dead=2)),
        HouseholdCaseEntitlementDetermined(entitlement=burial(revision=2, units=2, amount_vnd=50_000_000),
                                           basis=SECOND))
    scenario.when(decide(revision=1))
    scenario.then_refused(Conflict, "stale_revision", "revision")


def test_an_adjustment_carries_its_amount(case: Scenario):
    case.when(decide(decision="adjust", amount_vnd=20_000_000, reason="đã nhận hỗ trợ khác"))
    case.then((HOUSEHOLD, HouseholdCaseDecided(decision=decision(
        decision="adjust", amount_vnd=20_000_000, reason="đã nhận hỗ trợ khác"))))


def test_an_adjustment_without_an_amount_or_quantity_is_refused(case: Scenario):
    case.when(decide(decision="adjust", reason="xem xét lại"))
    case.then_refused(InvalidInput, "missing_amount", "amount_vnd")


# ----- disbursements -------------------------------------------------------------------


def test_a_disbursement_within_what_is_owed_is_recorded(case: Scenario):
    case.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision()))
    case.when(disburse(25_000_000))
    case.then((HOUSEHOLD, HouseholdCaseDisbursed(disbursement=disbursement())))


def test_no_more_is_paid_than_is_owed(case: Scenario):
    case.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision()))
    case.when(disburse(25_000_001))
    case.then_refused(Conflict, "exceeds_entitlement", "amount_vnd")


def test_a_rejected_entitlement_is_not_paid(case: Scenario):
    case.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision(decision="reject", reason="không đủ điều kiện")))
    case.when(disburse(1_000_000))
    case.then_refused(Conflict, "entitlement_rejected", "support_type")


def test_a_voided_disbursement_is_corrected_by_a_new_event_and_cannot_be_confirmed(case: Scenario):
    case.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision()),
               HouseholdCaseDisbursed(disbursement=disbursement()))
    case.when(CorrectDisbursement(household_id=HOUSEHOLD, disbursement_id=UUID(PAID), void=True, reason="ghi nhầm"))
    case.then((HOUSEHOLD, HouseholdCaseDisbursementCorrected(correction=DisbursementCorrection(
        disbursement_id=PAID, void=True, amount_vnd=None, quantity=None, reason="ghi nhầm"))))
    case.when(ConfirmReceipt(household_id=HOUSEHOLD, disbursement_id=UUID(PAID),
                             confirmed_at=STORM + timedelta(days=1, hours=3), confirmed_by="Nguyễn Văn An"))
    case.then_refused(Conflict, "disbursement_voided", "disbursement_id")


def test_a_restated_disbursement_stays_within_what_is_owed(case: Scenario):
    case.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision()),
               HouseholdCaseDisbursed(disbursement=disbursement(20_000_000)))
    case.when(CorrectDisbursement(household_id=HOUSEHOLD, disbursement_id=UUID(PAID), amount_vnd=30_000_000,
                                  reason="ghi nhầm số tiền"))
    case.then_refused(Conflict, "exceeds_entitlement", "amount_vnd")
