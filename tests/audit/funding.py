"""A relief campaign recorded through the service, for the IATI export tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

from emergency import clock, commands
from emergency.funding import commands as funding_commands
from emergency.service import AidService
from tests.support.factories import assess, open_incident, register
from tests.support.fund_builders import ACCOUNT, hours

RICE_VALUE = 7_500_000  # 500 kg at 15,000 VND
DISTRIBUTION_UNTIL = datetime(2025, 1, 31, 10, 0, tzinfo=timezone.utc)


@dataclass
class Campaign:
    campaign_id: str
    central: str
    province: str
    household: UUID


def record_campaign(service: AidService) -> Campaign:
    """Donations in VND, USD and rice; an allocation central → province; a household
    paid from the province fund, one payment voided and given back."""
    with clock.frozen_at(hours(72)):
        incident = open_incident(service)
        launched = service.execute(funding_commands.LaunchCampaign(
            title="Cứu trợ đồng bào bị thiệt hại do bão số 3", mobiliser_type="fatherland_front",
            mobiliser_name="Ủy ban Trung ương MTTQ Việt Nam", incident_id=incident, launched_at=hours(1)))
        campaign_id = launched.result["campaign_id"]
        service.execute(funding_commands.ExtendCampaign(campaign_id=campaign_id, distribution_until=DISTRIBUTION_UNTIL,
                                          reason="cam kết với nhà tài trợ", decided_by="Ban Thường trực"))
        central = service.execute(funding_commands.OpenFund(campaign_id=campaign_id, level="central", bank_accounts=[ACCOUNT],
                                              committee_name="Ban Vận động cứu trợ Trung ương")).result["fund_id"]
        province = service.execute(funding_commands.OpenFund(campaign_id=campaign_id, level="province", province_code="31",
                                               committee_name="Ban Vận động cứu trợ tỉnh")).result["fund_id"]
        for reference, extra in (
                ("FT001", dict(donor_name="Nguyễn Văn Bình", amount_vnd=5_000_000)),
                ("FT002", dict(donor_name="Trần Thị Mai", anonymous=True, amount_vnd=2_000_000,
                               description="TRAN THI MAI UNG HO BAO SO 3")),
                ("FT003", dict(donor_name="Friends of Viet Nam", donor_type="overseas", currency="USD",
                               original_amount=Decimal("100"), amount_vnd=2_540_000))):
            service.execute(funding_commands.RecordContribution(**{
                "fund_id": central, "donor_type": "individual", "channel": "bank", "account": ACCOUNT,
                "reference": reference, "received_at": hours(10), **extra}))
        service.execute(funding_commands.RecordContribution(
            fund_id=province, donor_name="Công ty Lương thực", donor_type="enterprise", channel="receipt",
            receipt_number="PT-0001", received_at=hours(12), form="in_kind", item="gạo", unit="kg rice",
            quantity=500, valuation_vnd=RICE_VALUE))
        service.execute(funding_commands.AllocateFunds(from_fund_id=central, to_fund_id=province, amount_vnd=6_000_000,
                                         allocated_at=hours(20), decided_by="Thường trực Ủy ban"))
        household = register(service, incident, members=4)
        assess(service, household, dead=0, injured=1, house_damage="partial", persons_short_of_food=4)
        for support in ("INJURED", "FOOD_DISASTER"):
            service.execute(commands.RecordDecision(household_id=household, support_type=support, decision="approve",
                                             decided_by="Chủ tịch UBND xã", decided_at=hours(30)))
        paid = dict(household_id=household, funding_source="fatherland_front", fund_id=UUID(province),
                    delivered_at=hours(40), delivered_by="cán bộ xã")
        first = service.execute(commands.RecordDisbursement(support_type="INJURED", form="cash", amount_vnd=5_000_000,
                                                     channel="cash_in_hand", **paid)).result["disbursement_id"]
        service.execute(commands.CorrectDisbursement(household_id=household, disbursement_id=first, void=True,
                                              reason="chi nhầm hộ"))
        service.execute(commands.RecordDisbursement(support_type="INJURED", form="cash", amount_vnd=5_000_000,
                                             channel="bank_transfer", **paid))
        service.execute(commands.RecordDisbursement(support_type="FOOD_DISASTER", form="in_kind", item="gạo", unit="kg rice",
                                             quantity=60, channel="in_kind_delivery", **paid))
    return Campaign(campaign_id, central, province, household)
