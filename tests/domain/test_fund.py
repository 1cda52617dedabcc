"""Funds' rules, as given events, a command, then events: money moves between
funds and to households in draws from the buckets donors designated."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from emergency.commands import RecordDisbursement
from emergency.domain.campaign import CampaignLaunched
from emergency.domain.fund import (
    CASH,
    AllocationDecision,
    Draw,
    Fund,
    FundAllocatedIn,
    FundAllocatedOut,
    FundCharge,
    FundChargeCharged,
    FundCharged,
    FundContributionReceived,
    FundOpened,
)
from emergency.domain.household import HouseholdCaseDecided, HouseholdCaseDisbursed
from emergency.errors import Conflict
from emergency.funding.commands import AllocateFunds, Earmark
from emergency.funding.rules import load_funding_policy
from tests.domain.given import Scenario
from tests.domain.household_events import HOUSEHOLD, INCIDENT, PAID, STORM, decision, disbursement

CAMPAIGN = UUID("50000000-0000-4000-8000-000000000001")
CENTRAL = Fund.id_for(CAMPAIGN, "central", None, None)
HAI_PHONG = Fund.id_for(CAMPAIGN, "province", "31", None)
CONTRIBUTION = UUID("60000000-0000-4000-8000-000000000001")
FOR_HAI_PHONG = "province:31"  # the bucket of money earmarked for the province


def campaign_and_funds(scenario: Scenario, incident_id: UUID | None = None) -> Scenario:
    """A central campaign with a central and a Hải Phòng fund, the central one given 10,000,000 VND for Hải Phòng."""
    return scenario.given(CAMPAIGN, CampaignLaunched(
        title="Ủng hộ đồng bào bị bão số 3", mobiliser_type="fatherland_front",
        mobiliser_name="Ủy ban Trung ương MTTQ Việt Nam", level="central", province_code=None, commune_code=None,
        incident_id=incident_id, launched_at=STORM, receiving_until=STORM + timedelta(days=30),
        distribution_until=STORM + timedelta(days=60), distribution_commitment=None,
        rule_version=load_funding_policy().on(STORM.date()).id)).given(
        CENTRAL, FundOpened(campaign_id=CAMPAIGN, level="central", province_code=None, commune_code=None,
                            committee_name="Ban Vận động Trung ương", bank_accounts=[]),
        FundContributionReceived(contribution_id=CONTRIBUTION, draw=cash(FOR_HAI_PHONG, 10_000_000))).given(
        HAI_PHONG, FundOpened(campaign_id=CAMPAIGN, level="province", province_code="31", commune_code=None,
                              committee_name="Ban Vận động tỉnh Hải Phòng", bank_accounts=[]))


def cash(bucket: str, amount: int) -> Draw:
    return Draw(bucket=bucket, asset=CASH, quantity=amount, value_vnd=amount)


def allocate(amount: int) -> AllocateFunds:
    return AllocateFunds(from_fund_id=CENTRAL, to_fund_id=HAI_PHONG, amount_vnd=amount,
                         earmark=Earmark(kind="province", province_code="31"), allocated_at=STORM + timedelta(days=1),
                         decided_by="Ban Thường trực")


def test_an_allocation_moves_one_draw_out_of_one_fund_and_into_the_other():
    scenario = campaign_and_funds(Scenario())
    scenario.when(allocate(4_000_000))
    allocation = UUID(scenario.result["allocation_id"])
    decided = AllocationDecision(allocated_at=STORM + timedelta(days=1), decided_by="Ban Thường trực", note="")
    scenario.then((CENTRAL, FundAllocatedOut(allocation_id=allocation, to_fund_id=HAI_PHONG,
                                             draw=cash(FOR_HAI_PHONG, 4_000_000), decision=decided)),
                  (HAI_PHONG, FundAllocatedIn(allocation_id=allocation, from_fund_id=CENTRAL,
                                              draw=cash(FOR_HAI_PHONG, 4_000_000), decision=decided)))


def test_a_fund_allocates_no_more_than_it_holds_in_the_bucket():
    scenario = campaign_and_funds(Scenario())
    scenario.when(allocate(10_000_001))
    scenario.then_refused(Conflict, "insufficient_funds", "amount_vnd")


def test_money_for_one_province_goes_to_no_other_province_fund():
    scenario = campaign_and_funds(Scenario())
    scenario.when(AllocateFunds(from_fund_id=CENTRAL, to_fund_id=HAI_PHONG, amount_vnd=1_000_000,
                                earmark=Earmark(kind="province", province_code="22"),
                                allocated_at=STORM + timedelta(days=1), decided_by="Ban Thường trực"))
    scenario.then_refused(Conflict, "earmark_mismatch", "earmark")


def test_a_disbursement_paid_from_a_fund_charges_it_from_the_province_bucket(case: Scenario):
    scenario = campaign_and_funds(case, incident_id=INCIDENT)
    scenario.given(HOUSEHOLD, HouseholdCaseDecided(decision=decision()))
    scenario.when(RecordDisbursement(
        household_id=HOUSEHOLD, disbursement_id=UUID(PAID), support_type="BURIAL", form="cash", amount_vnd=6_000_000,
        channel="cash_in_hand", funding_source="fatherland_front", fund_id=CENTRAL,
        delivered_at=STORM + timedelta(days=1, hours=2), delivered_by="cán bộ xã"))
    paid = disbursement(6_000_000).model_copy(update={"funding_source": "fatherland_front", "fund_id": CENTRAL})
    scenario.then((HOUSEHOLD, HouseholdCaseDisbursed(disbursement=paid)),
                  (CENTRAL, FundCharged(disbursement_id=UUID(PAID), household_id=HOUSEHOLD, support_type="BURIAL",
                                        delivered_at=paid.delivered_at, draws=[cash(FOR_HAI_PHONG, 6_000_000)])),
                  (FundCharge.id_for(PAID), FundChargeCharged(
                      fund_id=CENTRAL, household_id=HOUSEHOLD, disbursement_id=UUID(PAID), support_type="BURIAL",
                      draws=[cash(FOR_HAI_PHONG, 6_000_000)])))
