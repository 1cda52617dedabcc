"""A synthetic campaign at scale, on SQLite and PostgreSQL: 100,000 bank
transfers imported from a statement into the central fund, money and rice
raised in four provinces, allocations to provinces and twelve communes,
several hundred households paid from the commune funds (a few payments
voided). Conservation holds; a donor follows a transfer to households;
re-importing the statement changes nothing."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emergency.campaign_scenario import CENTRAL_ACCOUNT, CampaignConfig, run_campaign
from emergency.service import AidService
from emergency.statement import import_statement, read_statement
from infra.settings import Settings
from projections import trace
from tests.support.fund_builders import conservation, views_of

pytestmark = pytest.mark.slow
LINES = 100_000
CENT = Decimal("0.01")


def _accounted(stop: dict[str, Any]) -> Decimal:
    """What a trace says became of the money that reached a stop, less what reached it
    (zero up to rounding: every part is held, passed on or spent)."""
    spent = sum(Decimal(f["amount_vnd"]) for f in stop["funded"])
    passed = sum(Decimal(s["arrived_vnd"]) for s in stop["allocated"])
    gap = Decimal(stop["still_held_vnd"]) + spent + passed - Decimal(stop["arrived_vnd"])
    return abs(gap) + sum((_accounted(s) for s in stop["allocated"]), Decimal(0))


def _stops(stop: dict[str, Any]) -> list[dict[str, Any]]:
    return [stop] + [s for child in stop["allocated"] for s in _stops(child)]


def test_a_campaign_of_100000_transfers(service: AidService, settings: Settings, tmp_path: Path):
    statement = tmp_path / "statement.csv"
    report = run_campaign(service, CampaignConfig(statement=statement, contributions=LINES))
    assert report.refused == {}
    assert report.import_report is not None and report.import_report.recorded == LINES
    with statement.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    transferred = sum(int(line["amount"]) for line in lines)

    views = views_of(service, settings.views_url())
    result = conservation(service, views)
    assert result.ok, result.violations
    assert result.funds == 1 + 4 + 12
    with views.store.read() as cur:
        central_in = cur.execute("SELECT SUM(value_vnd) FROM funds_movement WHERE fund_id = ? AND kind = "
                                 "'contribution'", (str(report.central_fund),)).fetchone()[0]
    assert central_in == transferred
    assert result.disbursed > 0 and result.allocated > 0
    assert result.received_from_donors == result.disbursed + result.balance

    # A donor looks up an early transfer: it reached the provinces, the communes and households.
    with views.store.read() as cur:
        [contribution] = trace.find_contributions(cur, lines[0]["reference"], CENTRAL_ACCOUNT)
        followed = trace.trace(cur, contribution)
        earmarked = next(line for line in lines if line["earmark"].startswith("province:"))
        province = earmarked["earmark"].split(":")[1]
        followed_earmarked = trace.trace(cur, trace.find_contributions(cur, earmarked["reference"])[0])
    levels = {stop["level"] for stop in _stops(followed["path"])}
    assert levels == {"central", "province", "commune"}
    assert followed["households"] > 10 and Decimal(followed["funded_vnd"]) > 0
    assert _accounted(followed["path"]) <= CENT * len(_stops(followed["path"]))
    # money earmarked for a province never leaves it
    assert {s["province_code"] for s in _stops(followed_earmarked["path"])} - {None} == {province}
    paid_to = {f["household_id"] for s in _stops(followed_earmarked["path"]) for f in s["funded"]}
    assert paid_to and {service.household(h)["province_code"] for h in paid_to} == {province}

    # Re-importing the statement changes nothing.
    position = service.last_notification_id()
    with statement.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        again = import_statement(service, read_statement(handle), report.central_fund, CENTRAL_ACCOUNT)
    assert (again.recorded, len(again.already_recorded), again.rejected) == (0, LINES, [])
    assert service.last_notification_id() == position
    assert conservation(service, views).ok
