"""A possible duplicate pair's resolutions, as given events, a command, then events."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from emergency.domain.duplicates import (
    DuplicatePair,
    DuplicatePairReopened,
    DuplicatePairResolved,
    DuplicatePairSuspected,
    Reopening,
    Resolution,
)
from emergency.domain.household import (
    HeldDisbursement,
    HouseholdCaseAbsorbed,
    HouseholdCaseDamageAssessed,
    HouseholdCaseDecided,
    HouseholdCaseDisbursed,
    HouseholdCaseDuplicateSuspected,
    HouseholdCaseEntitlementDetermined,
    HouseholdCaseEntitlementWithdrawn,
    HouseholdCaseMergedInto,
)
from emergency.duplicate_commands import ReopenDuplicate, ResolveDuplicate
from emergency.errors import Conflict
from tests.domain.given import Scenario
from tests.domain.household_events import (
    FIRST,
    HOUSEHOLD,
    INCIDENT,
    PROVINCE,
    SECOND,
    STORM,
    assessment,
    burial,
    decision,
    disburse,
    disbursement,
    opened,
    registered,
)

OTHER = UUID("20000000-0000-4000-8000-000000000002")  # the same household, registered again by another team
PAIR = DuplicatePair.id_for(HOUSEHOLD, OTHER)
COMMUNE = "11311"
RESOLVED_AT = STORM + timedelta(days=1, hours=6)
BURIAL = burial(rule_version="ND20-2021")  # as the rules compute it today: the survivor's needs no new revision


@pytest.fixture
def pair() -> Scenario:
    """Two records of one household, each assessed (one dead), the second paid its burial support."""
    scenario = Scenario().given(INCIDENT, opened())
    scenario.given(HOUSEHOLD, registered(), HouseholdCaseDuplicateSuspected(pair_id=str(PAIR), other_id=str(OTHER)),
                   HouseholdCaseDamageAssessed(assessment=assessment()),
                   HouseholdCaseEntitlementDetermined(entitlement=BURIAL, basis=FIRST))
    scenario.given(OTHER, registered(head_name="NGUYEN VAN AN"),
                   HouseholdCaseDuplicateSuspected(pair_id=str(PAIR), other_id=str(HOUSEHOLD)),
                   HouseholdCaseDamageAssessed(assessment=assessment(SECOND)),
                   HouseholdCaseEntitlementDetermined(entitlement=BURIAL, basis=SECOND),
                   HouseholdCaseDisbursed(disbursement=disbursement(10_000_000)))
    return scenario.given(PAIR, DuplicatePairSuspected(
        incident_id=INCIDENT, province_code=PROVINCE, commune_code=COMMUNE,
        household_ids=[str(HOUSEHOLD), str(OTHER)], reasons=["name"]))


def resolve(outcome: str, survivor: UUID | None = None) -> ResolveDuplicate:
    return ResolveDuplicate(pair_id=PAIR, outcome=outcome, survivor_id=survivor, reason="xác minh tại thôn",
                            resolved_by="Chủ tịch UBND xã", resolved_at=RESOLVED_AT)


def resolution(outcome: str, **merge: object) -> Resolution:
    fields: dict[str, object] = dict(survivor_id=None, absorbed_id=None, merged=False)
    return Resolution(outcome=outcome, reason="xác minh tại thôn", resolved_by="Chủ tịch UBND xã",
                      resolved_at=RESOLVED_AT, **(fields | merge))


def test_a_merge_moves_the_others_assessments_and_payments_to_the_survivor_and_retires_its_cases(pair: Scenario):
    pair.when(resolve("same", HOUSEHOLD))
    held = HeldDisbursement(**disbursement(10_000_000).model_dump(), voided=False, receipt=None)
    pair.then((PAIR, DuplicatePairResolved(resolution=resolution(
                  "same", survivor_id=str(HOUSEHOLD), absorbed_id=str(OTHER), merged=True))),
              (HOUSEHOLD, HouseholdCaseAbsorbed(pair_id=str(PAIR), household_id=str(OTHER),
                                                assessments={SECOND: assessment(SECOND)},
                                                disbursements={held.disbursement_id: held})),
              (OTHER, HouseholdCaseMergedInto(pair_id=str(PAIR), survivor_id=str(HOUSEHOLD))),
              (OTHER, HouseholdCaseEntitlementWithdrawn(support_type="BURIAL", basis=SECOND)))


def test_different_households_record_only_the_pairs_resolution(pair: Scenario):
    pair.when(resolve("different"))
    pair.then((PAIR, DuplicatePairResolved(resolution=resolution("different"))))


def test_a_resolved_pair_is_not_resolved_again(pair: Scenario):
    pair.given(PAIR, DuplicatePairResolved(resolution=resolution("different")))
    pair.when(resolve("same", HOUSEHOLD))
    pair.then_refused(Conflict, "already_resolved", "pair_id")


def test_an_open_pair_is_not_reopened(pair: Scenario):
    pair.when(ReopenDuplicate(pair_id=PAIR, reason="xác minh lại", reopened_by="Chủ tịch UBND xã",
                              reopened_at=RESOLVED_AT))
    pair.then_refused(Conflict, "not_resolved", "pair_id")


def test_reopening_different_households_records_only_the_reopening(pair: Scenario):
    pair.given(PAIR, DuplicatePairResolved(resolution=resolution("different")))
    pair.when(ReopenDuplicate(pair_id=PAIR, reason="xác minh lại", reopened_by="Chủ tịch UBND xã",
                              reopened_at=RESOLVED_AT))
    pair.then((PAIR, DuplicatePairReopened(reopening=Reopening(
        reason="xác minh lại", reopened_by="Chủ tịch UBND xã", reopened_at=RESOLVED_AT))))


def test_a_payment_to_either_of_an_open_pair_is_refused_and_records_nothing(pair: Scenario):
    pair.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision()))
    pair.when(disburse(5_000_000))
    pair.then_refused(Conflict, "possible_duplicate", "household_id")
