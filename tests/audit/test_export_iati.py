"""A campaign's IATI transactions read back from the exported XML: totals match the funds' own books."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from uuid import UUID

import pytest

from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from tests.audit.funding import RICE_VALUE, Campaign, record_campaign


@pytest.fixture
def campaign(service: AidService) -> Campaign:
    return record_campaign(service)


def fund_value(service: AidService, fund_id: str) -> int:
    """What the fund holds now, at recorded value, by its own aggregate."""
    fund = service.funding.fund(UUID(fund_id))
    return sum(value for assets in fund.balances.values() for _, value in assets.values())


def test_iati_transactions_add_up_to_each_funds_books(campaign: Campaign, service: AidService, settings: Settings,
                                                       tmp_path: Path):
    out = tmp_path / "iati.xml"
    assert main(["--database-url", settings.database_url, "export", "iati", "--campaign", campaign.campaign_id,
                 "--output", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag == "iati-activities" and root.get("version") == "2.03"
    activities = {a.find("reporting-org").get("ref"): a for a in root.findall("iati-activity")}
    assert set(activities) == {campaign.central, campaign.province}
    ends = {a.find("activity-date[@type='3']").get("iso-date") for a in activities.values()}
    assert ends == {"2025-01-31"}  # the extended distribution window

    def values(fund_id: str, code: str) -> list[int]:
        return [int(t.find("value").text) for t in activities[fund_id].findall("transaction")
                if t.find("transaction-type").get("code") == code]

    # Incoming funds: the central fund's three transfers, the province's rice and allocation.
    assert sorted(values(campaign.central, "1")) == [2_000_000, 2_540_000, 5_000_000]
    assert sorted(values(campaign.province, "1")) == [6_000_000, RICE_VALUE]
    # The allocation is committed and disbursed by the central fund.
    assert values(campaign.central, "2") == values(campaign.central, "3") == [6_000_000]
    # Expenditure: 5,000,000 paid, voided (given back), paid again, and 60 kg of the rice.
    spent = values(campaign.province, "4")
    assert sorted(spent) == [-5_000_000, 60 * RICE_VALUE // 500, 5_000_000, 5_000_000]
    for fund_id in (campaign.central, campaign.province):
        balance = sum(values(fund_id, "1")) - sum(values(fund_id, "3")) - sum(values(fund_id, "4"))
        assert balance == fund_value(service, fund_id)

    donors = [t.find("provider-org/narrative").text for t in activities[campaign.central].findall("transaction")
              if t.find("transaction-type").get("code") == "1"]
    # An anonymous donor's bank text often carries the sender's name: it is left out too.
    exported = out.read_text(encoding="utf-8")
    assert "Anonymous" in donors and "Trần Thị Mai" not in exported and "TRAN THI MAI" not in exported
    allocation_in = next(t for t in activities[campaign.province].findall("transaction")
                         if t.find("value").text == "6000000")
    assert allocation_in.find("provider-org").get("provider-activity-id").endswith(campaign.central)
    assert allocation_in.find("provider-org/narrative").text == "Ban Vận động cứu trợ Trung ương"


def test_iati_export_names_its_campaign(campaign: Campaign, settings: Settings, capsys):
    assert main(["--database-url", settings.database_url, "export", "iati"]) == 2
    assert "field campaign_id" in capsys.readouterr().err
    assert main(["--database-url", settings.database_url, "export", "iati", "--campaign",
                 "00000000-0000-4000-8000-00000000dead"]) == 2
    assert "no campaign" in capsys.readouterr().err
