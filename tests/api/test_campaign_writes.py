"""A relief committee's money over HTTP: launch a campaign, open funds, record
a bank transfer and a cash receipt, allocate to a province, and read each
committee's fund back from the public list; retries, refusals and roles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import payloads
from tests.support.api import Api, Storm
from tests.support.factories import PROVINCE

ACCOUNT = "0011001932418"


def transfer(reference: str, amount: int, **changes: Any) -> dict[str, Any]:
    return {"donor_name": "Nguyễn Văn An", "donor_type": "individual", "channel": "bank", "account": ACCOUNT,
            "reference": reference, "received_at": payloads.at(10), "amount_vnd": amount, **changes}


async def open_campaign(api: Api, storm: Storm) -> tuple[str, str, str]:
    """A Fatherland Front campaign with a central fund (with a bank account) and a fund for PROVINCE."""
    campaign = (await api.created("/campaigns", storm.coordinator, {
        "title": "Ủng hộ đồng bào bão số 3", "mobiliser_type": "fatherland_front",
        "mobiliser_name": "Ban Cứu trợ Trung ương", "incident_id": storm.incident_id,
        "launched_at": payloads.at(1)}))["campaign_id"]
    central = (await api.created(f"/campaigns/{campaign}/funds", storm.coordinator, {
        "level": "central", "committee_name": "Ban Cứu trợ Trung ương", "bank_accounts": [ACCOUNT]}))["fund_id"]
    province = (await api.created(f"/campaigns/{campaign}/funds", storm.coordinator, {
        "level": "province", "province_code": PROVINCE, "committee_name": "Ban Cứu trợ tỉnh"}))["fund_id"]
    return campaign, central, province


async def funds_of(api: Api, campaign: str) -> dict[str, dict[str, Any]]:
    reply = await api.get(f"/public/campaigns/{campaign}/funds")
    assert reply.status == 200, reply.body
    return {fund["fund_id"]: fund for fund in reply.body["funds"]}


async def test_money_in_and_passed_on_through_the_api(api: Api, storm: Storm):
    campaign, central, province = await open_campaign(api, storm)
    contributions = f"/funds/{central}/contributions"
    first = await api.post(contributions, storm.coordinator, transfer("FT24257000001", 500_000), key="line-1")
    assert first.status == 201 and first.body["result"]["value_vnd"] == 500_000
    retried = await api.post(contributions, storm.coordinator, transfer("FT24257000001", 500_000), key="line-1")
    assert (retried.status, retried.body["result"]) == (200, first.body["result"])
    await api.created(contributions, storm.coordinator, {
        "donor_name": "Công ty A", "donor_type": "enterprise", "channel": "receipt", "receipt_number": "PT-0001",
        "received_at": payloads.at(12), "amount_vnd": 2_000_000})
    allocated = await api.created(f"/funds/{central}/allocations", storm.coordinator, {
        "to_fund_id": province, "amount_vnd": 1_500_000, "allocated_at": payloads.at(20),
        "decided_by": "Thường trực"})
    assert (allocated["from_fund_id"], allocated["to_fund_id"]) == (central, province)

    funds = await funds_of(api, campaign)
    assert [f["level"] for f in funds.values()] == ["central", "province"]
    assert funds[central]["cash"] == {"from_donors": 2_500_000, "from_funds": 0, "allocated_out": 1_500_000,
                                      "disbursed": 0, "balance": 1_000_000}
    assert funds[province]["cash"] == {"from_donors": 0, "from_funds": 1_500_000, "allocated_out": 0,
                                       "disbursed": 0, "balance": 1_500_000}
    listed = (await api.get(f"/public/campaigns/{campaign}/contributions")).body["contributions"]
    assert sorted(c["value_vnd"] for c in listed) == [500_000, 2_000_000]


async def test_refusals_record_nothing(api: Api, storm: Storm):
    campaign, central, province = await open_campaign(api, storm)
    await api.created(f"/funds/{central}/contributions", storm.coordinator, transfer("FT1", 1_000_000))
    head = await api.head()

    again = await api.post(f"/funds/{central}/contributions", storm.coordinator, transfer("FT1", 1_000_000))
    assert (again.status, again.error) == (409, ("already_recorded", "reference"))
    too_much = await api.post(f"/funds/{central}/allocations", storm.coordinator, {
        "to_fund_id": province, "amount_vnd": 1_000_001, "allocated_at": payloads.at(20), "decided_by": "Thường trực"})
    assert (too_much.status, too_much.error) == (409, ("insufficient_funds", "amount_vnd"))
    late = await api.post(f"/funds/{central}/contributions", storm.coordinator,
                          transfer("FT2", 1_000, received_at=payloads.at(0)))
    assert (late.status, late.error) == (409, ("outside_campaign_window", "received_at"))
    fractional = await api.post(f"/funds/{central}/contributions", storm.coordinator, transfer("FT3", 1000.5))
    assert (fractional.status, fractional.error[1]) == (422, "amount_vnd")
    contradicting = await api.post(f"/funds/{central}/allocations", storm.coordinator, {
        "from_fund_id": province, "to_fund_id": central, "amount_vnd": 1, "allocated_at": payloads.at(20),
        "decided_by": "Thường trực"})
    assert (contradicting.status, contradicting.error) == (422, ("path_mismatch", "from_fund_id"))

    assert await api.head() == head
    assert (await funds_of(api, campaign))[central]["cash"]["balance"] == 1_000_000


@pytest.mark.parametrize("role, scope, status, code", [
    ("field", (), 403, "forbidden_role"),
    ("auditor", (), 403, "forbidden_role"),
    ("coordinator", ("22",), 403, "out_of_scope"),
])
async def test_only_coordinators_in_scope_move_money(api: Api, storm: Storm, role: str, scope: tuple[str, ...],
                                                     status: int, code: str):
    campaign, central, province = await open_campaign(api, storm)
    token = api.token(role, *scope)
    head = await api.head()
    for path, body in ((f"/funds/{central}/contributions", transfer("FT9", 1_000)),
                       (f"/campaigns/{campaign}/funds", {"level": "province", "province_code": PROVINCE,
                                                          "committee_name": "Ban tỉnh (lần 2)"})):
        reply = await api.post(path, token, body)
        assert (reply.status, reply.error[0]) == (status, code), path
    assert await api.head() == head
    province_team = api.token("coordinator", PROVINCE)
    await api.created(f"/funds/{province}/contributions", province_team, {
        "donor_name": "Hội Phụ nữ tỉnh", "donor_type": "organisation", "channel": "receipt",
        "receipt_number": "PT-31-1", "received_at": payloads.at(12), "amount_vnd": 300_000})
