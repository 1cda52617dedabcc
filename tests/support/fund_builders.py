"""A small campaign to build on: each test states only what matters to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from emergency import commands
from emergency.funding import commands as funding_commands
from emergency.service import AidService
from infra.cli.money import recorded_balances
from projections import fund_reports
from projections.funds import FundsProjection
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import open_view_store
from tests.support.factories import COMMUNES, STORM_START, open_incident

ACCOUNT = "0011001932418"


def hours(n: float) -> datetime:
    return STORM_START + timedelta(hours=n)


@dataclass
class Funds:
    incident: UUID
    campaign: UUID
    central: UUID
    province: UUID  # 31
    commune: UUID  # Phường Hồng Bàng (COMMUNES[0])
    other_province: UUID  # 22


def open_funds(service: AidService, **launch: Any) -> Funds:
    """Incident, a Fatherland Front campaign launched an hour after the storm,
    and funds at the centre (with a bank account), province 31, its commune
    Phường Hồng Bàng and province 22."""
    incident = open_incident(service)
    fields: dict[str, Any] = dict(title="Ủng hộ đồng bào bão số 3", mobiliser_type="fatherland_front",
                                  mobiliser_name="Ban Cứu trợ Trung ương", incident_id=incident, launched_at=hours(1))
    fields.update(launch)
    campaign = UUID(service.execute(funding_commands.LaunchCampaign(**fields)).result["campaign_id"])

    def fund(level: str, **area: Any) -> UUID:
        return UUID(service.execute(funding_commands.OpenFund(campaign_id=campaign, level=level, committee_name=f"Ban {level}",
                                                **area)).result["fund_id"])
    return Funds(incident, campaign, fund("central", bank_accounts=[ACCOUNT]),
                 fund("province", province_code="31"), fund("commune", province_code="31", commune_code=COMMUNES[0]),
                 fund("province", province_code="22"))


def bank(fund_id: UUID, reference: str, amount: int, **changes: Any) -> funding_commands.RecordContribution:
    fields: dict[str, Any] = dict(fund_id=fund_id, donor_name="Nguyễn Văn An", donor_type="individual",
                                  channel="bank", account=ACCOUNT, reference=reference, received_at=hours(10),
                                  amount_vnd=amount)
    fields.update(changes)
    return funding_commands.RecordContribution(**fields)


def receipt(fund_id: UUID, number: str, amount: int | None = None, **changes: Any) -> funding_commands.RecordContribution:
    fields: dict[str, Any] = dict(fund_id=fund_id, donor_name="Hội Phụ nữ xã", donor_type="organisation",
                                  channel="receipt", receipt_number=number, received_at=hours(12), amount_vnd=amount)
    fields.update(changes)
    return funding_commands.RecordContribution(**fields)


def allocate(service: AidService, source: UUID, target: UUID, amount: int | None = None,
             **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(from_fund_id=source, to_fund_id=target, amount_vnd=amount, allocated_at=hours(20),
                                  decided_by="Thường trực")
    fields.update(changes)
    return service.execute(funding_commands.AllocateFunds(**fields)).result


def pay(fund_id: UUID, household: UUID, support_type: str, amount: int | None = None,
        **changes: Any) -> commands.RecordDisbursement:
    fields: dict[str, Any] = dict(household_id=household, support_type=support_type, form="cash", amount_vnd=amount,
                                  channel="cash_in_hand", funding_source="fatherland_front", fund_id=fund_id,
                                  delivered_at=hours(40), delivered_by="cán bộ xã")
    fields.update(changes)
    return commands.RecordDisbursement(**fields)


def approve(service: AidService, household: UUID, *supports: str) -> None:
    for support in supports:
        service.execute(commands.RecordDecision(household_id=household, support_type=support, decision="approve",
                                         decided_by="Chủ tịch UBND xã", decided_at=hours(30)))


def views_of(service: AidService, views_url: str) -> ProjectionSet:
    """The funds projection, caught up with the log."""
    views = ProjectionSet(open_view_store(views_url), [FundsProjection()])
    EmbeddedRunner(service.app.recorder, views).catch_up()
    return views


def conservation(service: AidService, views: ProjectionSet) -> fund_reports.CheckResult:
    EmbeddedRunner(service.app.recorder, views).catch_up()
    with views.store.read() as cur:
        return fund_reports.check(cur, recorded_balances(service))
