"""A campaign's public routes over HTTP, with no token: totals checked
against the recorded events themselves, the disclosure list keeping anonymous
donors anonymous, and "find my transfer" naming no household."""

from __future__ import annotations

import base64
import csv
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from vietnam_provinces import Province, Ward

from emergency.campaign_scenario import CampaignConfig, run_campaign
from emergency.envelope import Envelope
from emergency.names import fold
from infra.settings import Settings
from infra.stores import build_service
from tests.support.api import running


@dataclass
class Public:
    session: aiohttp.ClientSession
    url: str
    campaign_id: str
    households: list[str]
    statement: list[dict[str, str]]
    events: list[Envelope]

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.url + path) as response:
            return response.status, await response.json()

    async def every(self, path: str, listed: str, limit: int = 200, query: str = "") -> list[dict[str, Any]]:
        """All of a paged list, page by page, each after the cursor the page before ended with."""
        found: list[dict[str, Any]] = []
        after = ""
        while True:
            page = await self.ok(f"{path}?limit={limit}{query}{after}")
            found += page[listed]
            if not page["more"]:
                assert page["next_after"] is None
                return found
            after = f"&after={page['next_after']}"

    async def ok(self, path: str) -> Any:
        status, body = await self.get(path)
        assert status == 200, (path, body)
        assert not any(household in str(body) for household in self.households), f"{path} names a household"
        return body


@pytest.fixture
async def public(settings: Settings, tmp_path: Path) -> AsyncIterator[Public]:
    service = build_service(settings)
    try:
        report = run_campaign(service, CampaignConfig(statement=tmp_path / "statement.csv", contributions=300,
                                                      provinces=2, communes_per_province=2, households_per_commune=6,
                                                      local_receipts_per_province=5))
        events: list[Envelope] = []
        while page := service.log(events[-1].notification_id if events else 0, 1000):
            events += page
    finally:
        service.app.close()
    with (tmp_path / "statement.csv").open(encoding="utf-8") as handle:
        statement = list(csv.DictReader(handle))
    async with running(settings) as url, aiohttp.ClientSession() as session:
        yield Public(session, url, str(report.campaign_id), [str(h) for h in report.households], statement, events)


def drawn(events: list[Envelope], kind: str, funds: set[str] | None = None) -> int:
    """The value moved by one kind of fund event (of some funds), from the events' own data."""
    return sum(draw["value_vnd"] for e in events if e.kind == kind and (funds is None or e.aggregate_id in funds)
               for draw in (e.data["draws"] if "draws" in e.data else [e.data["draw"]]))


async def test_totals_equal_what_the_events_record(public: Public):
    listed = await public.ok("/public/campaigns")
    assert [c["campaign_id"] for c in listed["campaigns"]] == [public.campaign_id]
    totals = await public.ok(f"/public/campaigns/{public.campaign_id}")
    recorded = [e for e in public.events if e.kind == "Contribution.Recorded"]
    assert totals["contributions"] == len(recorded)
    assert totals["received_cash_vnd"] + totals["received_in_kind_vnd"] == sum(e.data["value_vnd"] for e in recorded)
    assert totals["received_in_kind_vnd"] == sum(e.data["value_vnd"] for e in recorded if e.data["asset"] != "cash")
    central = {e.aggregate_id for e in public.events if e.kind == "Fund.Opened" and e.data["level"] == "central"}
    assert totals["allocated_to_provinces_vnd"] == drawn(public.events, "Fund.AllocatedOut", central) > 0
    paid = drawn(public.events, "Fund.Charged") - drawn(public.events, "Fund.Returned")
    assert totals["disbursed_vnd"] == paid == sum(p["disbursed"] for p in totals["by_province"])
    assert sum(p["from_central"] for p in totals["by_province"]) == totals["allocated_to_provinces_vnd"]
    assert all(p["province_name"] == Province.from_code(int(p["province_code"])).name for p in totals["by_province"])
    funds = (await public.ok(f"/public/campaigns/{public.campaign_id}/funds"))["funds"]
    communes = [f for f in funds if f["level"] == "commune"]
    assert communes and all(f["commune_name"] == Ward.from_code(int(f["commune_code"])).name for f in communes)


async def test_the_disclosure_list_keeps_anonymous_donors_anonymous(public: Public):
    path = f"/public/campaigns/{public.campaign_id}/contributions"
    hidden = next(line for line in public.statement if line["anonymous"] == "true")
    found = (await public.ok(f"{path}?search={hidden['reference']}"))["contributions"]
    assert len(found) == 1
    assert (found[0]["donor_name"], found[0]["description"], found[0]["anonymous"]) == ("(ẩn danh)", "", True)
    assert found[0]["value_vnd"] == int(hidden["amount"])
    by_name = (await public.ok(f"{path}?search={hidden['remitter'].lower()}&limit=200"))["contributions"]
    assert hidden["reference"] not in {c["reference"] for c in by_name}
    # Paging walks the whole list once, in the order received.
    seen = await public.every(path, "contributions")
    assert len(seen) == len({c["contribution_id"] for c in seen}) == len(
        [e for e in public.events if e.kind == "Contribution.Recorded"])
    household_earmarks = [c["earmark"] for c in seen if c["earmark"]["kind"] == "household"]
    assert household_earmarks and all(
        set(e) == {"kind", "province_code", "province_name", "commune_code", "commune_name", "purpose"}
        for e in household_earmarks)
    assert all(e["commune_name"] == Ward.from_code(int(e["commune_code"])).name for e in household_earmarks)


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["contribution_id"] for row in rows]


async def test_pages_follow_each_other_by_cursor_or_start_at_a_moment(public: Public):
    path = f"/public/campaigns/{public.campaign_id}/contributions"
    whole = await public.every(path, "contributions")
    assert whole == sorted(whole, key=lambda c: (datetime.fromisoformat(c["received_at"]), c["contribution_id"]))
    # Small pages walk the same list wherever their edges fall, between rows received in the same second too.
    assert len({c["received_at"] for c in whole}) < len(whole)
    assert ids(await public.every(path, "contributions", limit=7)) == ids(whole)
    # A moment starts the list at the first row received at or after it.
    moment = whole[len(whole) // 2]["received_at"]
    page = await public.ok(f"{path}?limit=5&since={moment.replace('+', '%2B')}")
    assert ids(page["contributions"]) == ids([c for c in whole if c["received_at"] >= moment][:5])
    # A search pages the same way: by name (without case or diacritics; never an anonymous donor's), by amount.
    named = await public.every(path, "contributions", limit=3, query="&search=Nguyễn")
    assert ids(named) == ids([c for c in whole if "nguyen" in fold(c["donor_name"]) and not c["anonymous"]])
    amount = Counter(c["value_vnd"] for c in whole).most_common(1)[0][0]
    paid_so = await public.every(path, "contributions", limit=3, query=f"&search={amount}")
    assert ids(paid_so) == ids([c for c in whole if c["value_vnd"] == amount]) and len(paid_so) > 3


def conserved(stop: dict[str, Any]) -> bool:
    """What reached a committee is what it still holds, paid out there and passed on (to the hundredth of a đồng
    per step)."""
    out = Decimal(stop["still_held_vnd"]) + Decimal(stop["funded_vnd"]) + sum(
        (Decimal(s["arrived_vnd"]) for s in stop["allocated"]), Decimal(0))
    slack = Decimal("0.01") * (2 + len(stop["allocated"]) + sum(1 for _ in stop["by_support_type"]))
    return abs(out - Decimal(stop["arrived_vnd"])) <= slack and all(conserved(s) for s in stop["allocated"])


async def test_find_my_transfer_by_bank_reference(public: Public):
    path = f"/public/campaigns/{public.campaign_id}/transfers"
    line = next(line for line in public.statement if line["anonymous"] == "false")
    found = (await public.ok(f"{path}?reference={line['reference']}"))["transfers"]
    assert len(found) == 1
    transfer = found[0]
    assert (transfer["contribution"]["reference"], transfer["contribution"]["value_vnd"]) == (
        line["reference"], int(line["amount"]))
    assert Decimal(transfer["path"]["arrived_vnd"]) == int(line["amount"])
    assert conserved(transfer["path"])
    assert transfer["households"] > 0 and Decimal(transfer["funded_vnd"]) > 0

    hidden = next(line for line in public.statement if line["anonymous"] == "true")
    anonymous = (await public.ok(f"{path}?reference={hidden['reference']}"))["transfers"]
    assert anonymous[0]["contribution"]["donor_name"] == "(ẩn danh)"
    assert (await public.ok(f"{path}?reference=FT-NOT-THERE"))["transfers"] == []


async def test_payments_to_households_are_listed_by_place_never_by_name(public: Public):
    path = f"/public/campaigns/{public.campaign_id}/disbursements"
    listed = await public.every(path, "disbursements")
    # What the events say was paid from the campaign's funds and not voided.
    paid = {e.data["disbursement"]["disbursement_id"] for e in public.events
            if e.kind == "HouseholdCase.Disbursed" and e.data["disbursement"].get("fund_id")}
    voided = {e.data["correction"]["disbursement_id"] for e in public.events
              if e.kind == "HouseholdCase.DisbursementCorrected" and e.data["correction"]["void"]}
    assert paid and voided
    assert {d["disbursement_id"] for d in listed} == paid - voided
    assert listed == sorted(listed, key=lambda d: (d["delivered_at"], d["disbursement_id"]))
    heads = {e.data["head_name"] for e in public.events if e.kind == "HouseholdCase.Registered"}
    assert not any(head in str(listed) for head in heads)
    for d in listed:  # by place: the official names beside the codes
        assert (d["province_name"], d["commune_name"]) == (
            Province.from_code(int(d["province_code"])).name, Ward.from_code(int(d["commune_code"])).name)

    amount = next(d["amount_vnd"] for d in listed if d["amount_vnd"])
    found = (await public.ok(f"{path}?search={amount}"))["disbursements"]
    assert found and all(d["amount_vnd"] == amount for d in found)
    got, body = await public.get(f"{path}?search=nguyen")
    assert (got, body["field"]) == (422, "search")


async def test_refusals_name_the_field(public: Public):
    listed = f"/public/campaigns/{public.campaign_id}/contributions"
    not_a_key = base64.urlsafe_b64encode(b"yesterday:someone").decode().rstrip("=")
    for path, status, field in (("/public/campaigns/not-a-uuid", 422, "campaign_id"),
                                ("/public/campaigns/00000000-0000-4000-8000-000000000000", 404, "campaign_id"),
                                (f"/public/campaigns/{public.campaign_id}/transfers", 422, "reference"),
                                (f"{listed}?limit=0", 422, "limit"),
                                (f"{listed}?after=not+a+cursor", 422, "after"),
                                (f"{listed}?after={not_a_key}", 422, "after"),
                                (f"{listed}?after=AAAA", 422, "after"),
                                (f"{listed}?since=2024-09-13T10:00:00", 422, "since"),
                                (f"{listed}?since=2024-09-13T10:00:00Z&after=AAAA", 422, "since"),
                                (f"{listed}?search={'9' * 40}", 200, None)):
        got, body = await public.get(path)
        assert (got, body.get("field")) == (status, field), (path, body)


async def test_crafted_digits_are_searched_or_refused_never_a_failure(public: Public):
    """Digits beyond any amount (2^63 and more), and digits that are not ASCII
    (`²` passes `str.isdigit()`), are text to search for, or refused by name."""
    base = f"/public/campaigns/{public.campaign_id}"
    for path in ("/contributions?search=", "/transfers?reference="):
        for crafted in ("99999999999999999999", "%C2%B2", "1%C2%B2", "%EF%BC%95"):  # ², 1², fullwidth 5
            status, body = await public.get(base + path + crafted)
            assert status == 200, (path, crafted, body)
    for crafted in ("99999999999999999999", "%C2%B2"):
        status, body = await public.get(f"{base}/disbursements?search={crafted}")
        assert (status, body["field"]) == (422, "search"), body
