"""A small campaign with numbers checked by hand: fund reports, donor types,
provinces, the donor trace (proportional attribution), the public list, and
conservation. On SQLite and PostgreSQL.

Money (million VND):
  central   A 600, B 400 (by bank), C 200 earmarked province 31 (anonymous),
            D 50 earmarked housing
  province  E 300 (receipt), rice 1,000 kg worth 15
  commune   G 10 earmarked household H1
  central → province 31: 500 undesignated (A 300, B 200), 200 earmarked 31 (all C)
  province → commune Hồng Bàng: 400 undesignated of its 800 (A 150, B 100, E 150),
            20 earmarked 31 (C), 200 kg rice (worth 3)
  H1 rebuild 40 = G 10 + earmarked 31 20 + undesignated 10 (A 3.75, B 2.5, E 3.75)
  H2 injured 5 undesignated (of 390: A 1.875), then voided: back to the fund
  H1 rice 60 kg (worth 0.9)
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from emergency import clock, commands
from emergency.errors import Conflict
from emergency.funding import commands as funding_commands
from emergency.service import AidService
from infra.settings import Settings
from projections import disclosure, fund_reports, trace
from tests.support.factories import COMMUNES, assess, register
from tests.support.fund_builders import (
    Funds,
    allocate,
    approve,
    bank,
    conservation,
    hours,
    open_funds,
    pay,
    receipt,
    views_of,
)

M = 1_000_000


@pytest.fixture
def campaign(service: AidService) -> tuple[Funds, dict[str, UUID]]:
    with clock.frozen_at(hours(72)):
        funds = open_funds(service)
        h1 = register(service, funds.incident, commune_code=COMMUNES[0], head_name="Lê Văn Hùng", flags=["poor"])
        h2 = register(service, funds.incident, commune_code=COMMUNES[0], head_name="Phạm Thị Lan", flags=[])
        assess(service, h1, dead=0, injured=0, house_damage="total", persons_short_of_food=4)
        assess(service, h2, dead=0, injured=1, house_damage="partial", persons_short_of_food=0)
        approve(service, h1, "HOUSE_REBUILD", "FOOD_DISASTER")
        approve(service, h2, "INJURED")
        for command in (
                bank(funds.central, "FT-A", 600 * M),
                bank(funds.central, "FT-B", 400 * M, donor_name="Công ty Hòa Bình", donor_type="enterprise"),
                bank(funds.central, "FT-C", 200 * M, donor_name="Trần Thị Bích", anonymous=True,
                     description="ủng hộ Yên Bái", earmark=funding_commands.Earmark(kind="province", province_code="31")),
                bank(funds.central, "FT-D", 50 * M, donor_name="Đỗ Minh", earmark=funding_commands.Earmark(kind="purpose",
                                                                                          purpose="housing")),
                receipt(funds.province, "PT-E", 300 * M),
                receipt(funds.province, "PN-R", None, donor_name="Công ty Lương thực", donor_type="enterprise",
                        form="in_kind", item="gạo", unit="kg rice", quantity=1000, valuation_vnd=15 * M),
                receipt(funds.commune, "PT-G", 10 * M, earmark=funding_commands.Earmark(kind="household", household_id=h1))):
            service.execute(command)
        allocate(service, funds.central, funds.province, 500 * M)
        allocate(service, funds.central, funds.province, 200 * M,
                 earmark=funding_commands.Earmark(kind="province", province_code="31"))
        allocate(service, funds.province, funds.commune, 400 * M)
        allocate(service, funds.province, funds.commune, 20 * M,
                 earmark=funding_commands.Earmark(kind="province", province_code="31"))
        allocate(service, funds.province, funds.commune, form="in_kind", item="gạo", unit="kg rice", quantity=200)
        service.execute(pay(funds.commune, h1, "HOUSE_REBUILD", 40 * M))
        injured = service.execute(pay(funds.commune, h2, "INJURED", 5 * M)).result["disbursement_id"]
        service.execute(commands.CorrectDisbursement(household_id=h2, disbursement_id=injured, void=True,
                                              reason="chi nhầm hộ"))
        service.execute(pay(funds.commune, h1, "FOOD_DISASTER", form="in_kind", item="gạo", unit="kg rice",
                            quantity=60, channel="in_kind_delivery"))
    return funds, {"H1": h1, "H2": h2}


def test_fund_balances_reports_and_conservation(campaign, service: AidService, settings: Settings):
    funds, _ = campaign
    views = views_of(service, settings.views_url())
    with views.store.read() as cur:
        report = {UUID(r["fund_id"]): r for r in fund_reports.fund_report(cur, str(funds.campaign))}
        donors = fund_reports.by_donor_type(cur, str(funds.campaign))
        provinces = fund_reports.by_province(cur, str(funds.campaign))
    assert report[funds.central]["cash"] == {"from_donors": 1250 * M, "from_funds": 0, "allocated_out": 700 * M,
                                             "disbursed": 0, "balance": 550 * M}
    assert report[funds.province]["cash"] == {"from_donors": 300 * M, "from_funds": 700 * M,
                                              "allocated_out": 420 * M, "disbursed": 0, "balance": 580 * M}
    assert report[funds.province]["in_kind"] == {"from_donors": 15 * M, "from_funds": 0, "allocated_out": 3 * M,
                                                 "disbursed": 0, "balance": 12 * M}
    assert report[funds.province]["items"] == {"gạo|kg rice": 800}
    assert report[funds.commune]["cash"] == {"from_donors": 10 * M, "from_funds": 420 * M, "allocated_out": 0,
                                             "disbursed": 40 * M, "balance": 390 * M}
    assert report[funds.commune]["in_kind"]["disbursed"] == 900_000
    assert report[funds.commune]["items"] == {"gạo|kg rice": 140}
    assert donors == [
        {"donor_type": "enterprise", "contributions": 2, "cash_vnd": 400 * M, "in_kind_vnd": 15 * M},
        {"donor_type": "individual", "contributions": 3, "cash_vnd": 850 * M, "in_kind_vnd": 0},
        {"donor_type": "organisation", "contributions": 2, "cash_vnd": 310 * M, "in_kind_vnd": 0}]
    assert provinces == [{"province_code": "31", "raised_locally": 325 * M, "from_central": 700 * M,
                          "from_other_provinces": 0, "sent_out": 0, "disbursed": 40_900_000,
                          "balance": 984_100_000}]
    result = conservation(service, views)
    assert result.ok, result.violations
    assert (result.received_from_donors, result.disbursed, result.balance) == (1575 * M, 40_900_000, 1_534_100_000)
    # The fund aggregates hold the same buckets (rebuilt cold, from snapshots and events).
    commune = service.funding.fund(funds.commune)
    assert commune.balances["none"]["cash"] == [390 * M, 390 * M]
    assert commune.balances["province:31"]["cash"] == [0, 0]


def _trace(cur, reference: str) -> dict:
    [contribution_id] = trace.find_contributions(cur, reference)
    return trace.trace(cur, contribution_id)


def test_a_donor_follows_a_transfer_to_households(campaign, service: AidService, settings: Settings):
    funds, households = campaign
    views = views_of(service, settings.views_url())
    with views.store.read() as cur:
        a, c_, g = _trace(cur, "FT-A"), _trace(cur, "FT-C"), _trace(cur, "PT-G")
    central = a["path"]
    assert (central["fund_id"], central["arrived_vnd"], central["still_held_vnd"]) == (
        str(funds.central), "600000000.00", "300000000.00")
    [province] = central["allocated"]
    assert (province["fund_id"], province["arrived_vnd"], province["still_held_vnd"]) == (
        str(funds.province), "300000000.00", "150000000.00")
    [commune] = province["allocated"]
    assert (commune["fund_id"], commune["arrived_vnd"], commune["still_held_vnd"]) == (
        str(funds.commune), "150000000.00", "146250000.00")
    # H2's payment was voided: A's 1,875,000 of it came back, so only H1 is funded.
    assert [(f["household_id"], f["support_type"], f["amount_vnd"]) for f in commune["funded"]] == [
        (str(households["H1"]), "HOUSE_REBUILD", "3750000.00")]
    assert (a["households"], a["funded_vnd"]) == (1, "3750000.00")
    # C was earmarked for province 31: all of it went there, 20 million on to the commune, all to H1.
    assert c_["path"]["allocated"][0]["allocated"][0]["funded"][0]["amount_vnd"] == "20000000.00"
    assert c_["funded_vnd"] == "20000000.00"
    assert g["funded_vnd"] == "10000000.00" and g["path"]["still_held_vnd"] == "0.00"


def test_the_public_list_is_searchable_and_keeps_anonymous_donors_anonymous(campaign, service: AidService,
                                                                            settings: Settings):
    funds, households = campaign
    views = views_of(service, settings.views_url())
    campaign_id = str(funds.campaign)
    with views.store.read() as cur:
        by_reference = disclosure.contributions(cur, campaign_id, "FT-C")
        by_plain_name = disclosure.contributions(cur, campaign_id, "nguyen van an")
        by_hidden_name = disclosure.contributions(cur, campaign_id, "Trần Thị Bích")
        by_amount = disclosure.contributions(cur, campaign_id, str(400 * M))
        paid = disclosure.disbursements(cur, campaign_id)
        paid_to_lan = disclosure.disbursements(cur, campaign_id, "pham thi lan")
        totals = disclosure.totals(cur, campaign_id)
        everything = disclosure.contributions(cur, campaign_id, limit=100)
    assert [(r["donor_name"], r["description"], r["value_vnd"]) for r in by_reference] == [
        (disclosure.ANONYMOUS, "", 200 * M)]
    assert [r["reference"] for r in by_plain_name] == ["FT-A"]
    assert by_hidden_name == []
    assert [r["reference"] for r in by_amount] == ["FT-B"]
    assert sorted((r["head_name"], r["support_type"], r["amount_vnd"], r["quantity"]) for r in paid) == [
        ("Lê Văn Hùng", "FOOD_DISASTER", None, 60), ("Lê Văn Hùng", "HOUSE_REBUILD", 40 * M, None)]
    assert paid_to_lan == []  # her payment was voided
    assert totals == {"contributions": 7, "received_cash_vnd": 1560 * M, "received_in_kind_vnd": 15 * M,
                      "disbursements": 2, "households": 1, "disbursed_cash_vnd": 40 * M}
    assert len(everything) == 7 and all("Trần" not in r["donor_name"] for r in everything)


def damaged(service: AidService, settings: Settings, statement: str, params: tuple[str, ...]) -> Any:
    """A cursor on the campaign's funds rows after `statement` changed them behind the projection's back."""
    views = views_of(service, settings.views_url())
    with views.store.transaction() as cur:
        cur.execute(statement, params)
    return views.store.read()


def checked(service: AidService, cur: Any) -> fund_reports.CheckResult:
    return fund_reports.check(cur, lambda f, v: service.funding.fund(UUID(f), v).balances)


def test_the_check_finds_money_the_rows_lost(campaign, service: AidService, settings: Settings):
    funds, _ = campaign
    with damaged(service, settings, "DELETE FROM funds_movement WHERE kind = 'charge' AND fund_id = ? "
                                    "AND asset = 'cash'", (str(funds.commune),)) as cur:
        result = checked(service, cur)
    assert not result.ok
    assert {"conservation", "disbursement", "flows"} <= {v.rule for v in result.violations}
    assert all(v.fund_id == str(funds.commune) for v in result.violations if v.rule == "conservation")


def test_the_check_finds_report_sums_that_are_not_the_movements(campaign, service: AidService, settings: Settings):
    funds, _ = campaign
    with damaged(service, settings, "UPDATE funds_flow SET value_vnd = value_vnd + 1 WHERE kind = 'contribution' "
                                    "AND fund_id = ?", (str(funds.central),)) as cur:
        result = checked(service, cur)
        reported = sum(r["cash"]["from_donors"] + r["in_kind"]["from_donors"] for r in fund_reports.fund_report(cur))
    assert [(v.fund_id, v.rule) for v in result.violations] == [(str(funds.central), "flows")]
    assert reported == result.received_from_donors + 1  # the reports read the sums; the check, the movements


def test_an_extension_opens_the_window_again(service: AidService):
    with clock.frozen_at(hours(24 * 120)):
        funds = open_funds(service, receiving_until=hours(24 * 30))
        late = bank(funds.central, "FT-LATE", 1 * M, received_at=hours(24 * 40))
        with pytest.raises(Conflict) as refused:
            service.execute(late)
        assert (refused.value.code, refused.value.field) == ("outside_campaign_window", "received_at")
        service.execute(funding_commands.ExtendCampaign(campaign_id=funds.campaign, receiving_until=hours(24 * 60),
                                          reason="kéo dài theo đề nghị của tỉnh", decided_by="Ban Thường trực"))
        assert service.execute(late).result["value_vnd"] == 1 * M
