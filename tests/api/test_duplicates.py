"""Possible duplicate households over HTTP, on each store: two teams back
from a day offline register one household; the pair holds its payments back
until a coordinator resolves it; a merged household counts once."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from infra.settings import Settings
from tests.support import payloads
from tests.support.api import Api, Storm
from tests.support.factories import COMMUNES, PROVINCE, QUANG_NINH

BURIAL = payloads.BURIAL_VND


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return Settings.model_validate(settings.model_dump() | {"citizen_id_key": "a secret of the province"})


async def sync_household(api: Api, team: str, storm: Storm, **changes: Any) -> str:
    """One team's day offline: the household registered and assessed on the device, then synced."""
    household_id = str(uuid4())
    reply = await api.post("/sync", team, {"items": [
        {"command": "register_household", "idempotency_key": str(uuid4()),
         "body": payloads.household(storm.incident_id, household_id=household_id, **changes)},
        {"command": "assess_damage", "idempotency_key": str(uuid4()),
         "body": {"household_id": household_id, **payloads.assessment()}}]})
    assert reply.status == 200 and reply.body["recorded"] == 2, reply.body
    return household_id


async def pairs(api: Api, storm: Storm, token: str, commune: str = COMMUNES[0], **query: Any) -> Any:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return await api.get(f"/incidents/{storm.incident_id}/duplicates?commune={commune}{extra}", token)


async def pay(api: Api, token: str, household_id: str, **changes: Any) -> Any:
    return await api.post(f"/households/{household_id}/disbursements", token, payloads.disbursement(**changes),
                          key=str(uuid4()))


async def test_two_teams_offline_make_a_pair_that_holds_payments_back(api: Api, storm: Storm):
    first_team, second_team = api.token("field", PROVINCE), api.token("field", PROVINCE)
    first = await sync_household(api, first_team, storm)
    second = await sync_household(api, second_team, storm, head_name="NGUYEN VAN AN", members=5)
    listed = await pairs(api, storm, storm.coordinator)
    assert listed.status == 200, listed.body
    [pair] = listed.body["pairs"]
    assert sorted(pair["household_ids"]) == sorted([first, second]) and pair["reasons"] == ["name"]
    refused = await pay(api, second_team, second)
    assert (refused.status, *refused.error) == (409, "possible_duplicate", "household_id")
    assert first in refused.body["message"]
    # Nothing was recorded for the refusal.
    assert (await api.get(f"/households/{second}", second_team)).body["disbursements"] == []


async def test_a_merged_household_counts_once_and_is_paid_one_entitlement(api: Api, storm: Storm):
    team = api.token("field", PROVINCE)
    first = await sync_household(api, team, storm)
    second = await sync_household(api, team, storm)
    assert (await pay(api, storm.coordinator, second, amount_vnd=5_000_000, duplicate_override="urgent")).status == 201
    before = (await api.get(f"/incidents/{storm.incident_id}/coverage", storm.coordinator)).body["rows"][0]
    assert before["households_in_need"] == 2
    [pair] = (await pairs(api, storm, storm.coordinator)).body["pairs"]
    merged = await api.post(f"/duplicates/{pair['pair_id']}/resolution", storm.coordinator, {
        "outcome": "same", "survivor_id": first, "reason": "cùng một hộ, hai đoàn ghi", "resolved_by": "Chủ tịch xã",
        "resolved_at": payloads.at(40)}, key=str(uuid4()))
    assert merged.status == 201, merged.body
    after = (await api.get(f"/incidents/{storm.incident_id}/coverage", storm.coordinator)).body["rows"][0]
    assert after["households_in_need"] == 1
    assert after["entitled_vnd"] == before["entitled_vnd"] // 2
    assert (await pairs(api, storm, storm.coordinator)).body["pairs"] == []
    survivor = await api.get(f"/households/{first}", team)
    assert survivor.status == 200 and survivor.body["assessments"] == 2  # both histories
    # What the second was paid (let through before the merge) counts toward the survivor's one entitlement.
    assert (await pay(api, team, first, amount_vnd=BURIAL - 5_000_000)).status == 201
    over = await pay(api, team, first, amount_vnd=1_000_000)
    assert (over.status, *over.error) == (409, "exceeds_entitlement", "amount_vnd")
    absorbed = await pay(api, team, second, amount_vnd=5_000_000)
    assert (absorbed.status, *absorbed.error) == (409, "merged_household", "household_id")
    assert first in absorbed.body["message"]
    # Undone: the pair is open again and holds both back.
    reopened = await api.post(f"/duplicates/{pair['pair_id']}/reopening", storm.coordinator, {
        "reason": "xác minh lại: hai hộ", "reopened_by": "Chủ tịch xã", "reopened_at": payloads.at(41)},
        key=str(uuid4()))
    assert reopened.status == 201, reopened.body
    assert len((await pairs(api, storm, storm.coordinator)).body["pairs"]) == 1
    assert (await pay(api, team, second, amount_vnd=5_000_000)).error == ("possible_duplicate", "household_id")


async def test_a_coordinator_overrides_with_a_reason_which_is_recorded(api: Api, storm: Storm):
    team = api.token("field", PROVINCE)
    await sync_household(api, team, storm)
    second = await sync_household(api, team, storm)
    reason = "hai anh em cùng tên, đã gặp tận nhà"
    by_field = await pay(api, team, second, duplicate_override=reason)
    assert (by_field.status, *by_field.error) == (403, "forbidden_role", "duplicate_override")
    paid = await pay(api, storm.coordinator, second, duplicate_override=reason)
    assert paid.status == 201, paid.body
    [override] = [e for e in await api.events() if e["type"] == "PaymentOverridden"]
    assert (override["data"]["household_id"], override["data"]["disbursement_id"], override["data"]["reason"]) == \
        (second, paid.body["result"]["disbursement_id"], reason)


async def test_scoped_tokens_see_and_resolve_only_their_area(api: Api, storm: Storm):
    team = api.token("field", PROVINCE)
    await sync_household(api, team, storm)
    await sync_household(api, team, storm)
    elsewhere = api.token("coordinator", COMMUNES[1])
    listed = await pairs(api, storm, elsewhere)
    assert (listed.status, *listed.error) == (403, "out_of_scope", "commune")
    own = await pairs(api, storm, elsewhere, commune=COMMUNES[1])
    assert own.status == 200 and own.body["pairs"] == []
    [pair] = (await pairs(api, storm, api.token("field", COMMUNES[0]))).body["pairs"]
    resolved = await api.post(f"/duplicates/{pair['pair_id']}/resolution", elsewhere, {
        "outcome": "different", "reason": "x", "resolved_by": "x", "resolved_at": payloads.at(40)}, key=str(uuid4()))
    assert (resolved.status, *resolved.error) == (403, "out_of_scope", "pair_id")
    by_field = await api.post(f"/duplicates/{pair['pair_id']}/resolution", team, {
        "outcome": "different", "reason": "x", "resolved_by": "x", "resolved_at": payloads.at(40)}, key=str(uuid4()))
    assert (by_field.status, *by_field.error) == (403, "forbidden_role", "Authorization")


async def test_the_listing_is_paged_by_key(api: Api, storm: Storm):
    team = api.token("field", PROVINCE)
    for _ in range(4):  # one household registered four times: six pairs
        await sync_household(api, team, storm)
    seen, after = [], None
    while True:
        page = await pairs(api, storm, storm.coordinator, limit=4, **({"after": after} if after else {}))
        assert page.status == 200, page.body
        seen += [p["pair_id"] for p in page.body["pairs"]]
        after = page.body["next_after"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 6 and seen == sorted(seen)


async def open_communes(api: Api, storm: Storm, token: str, query: str = "") -> list[tuple[str, str, int]]:
    reply = await api.get(f"/incidents/{storm.incident_id}/duplicates/communes{query}", token)
    assert reply.status == 200, reply.body
    return [(c["commune_code"], c["commune_name"], c["unresolved"]) for c in reply.body["communes"]]


async def test_the_communes_with_open_pairs_are_counted_within_the_token_scope(api: Api, storm: Storm):
    for _ in range(3):  # three namesakes in the first commune: three pairs
        await sync_household(api, storm.coordinator, storm)
    for commune in (COMMUNES[1], QUANG_NINH):  # one pair in each of two others, one in another province
        for name in ("Lê Thị Hoa", "LE THI HOA"):
            await sync_household(api, storm.coordinator, storm, commune_code=commune, head_name=name)
    everywhere = [(QUANG_NINH, "Phường Hạ Long", 1), (COMMUNES[0], "Phường Hồng Bàng", 3),
                  (COMMUNES[1], "Phường Đồ Sơn", 1)]
    assert await open_communes(api, storm, storm.coordinator) == everywhere
    assert await open_communes(api, storm, storm.coordinator, "?province=31") == everywhere[1:]
    assert await open_communes(api, storm, api.token("auditor", PROVINCE)) == everywhere[1:]
    commune_token = api.token("coordinator", COMMUNES[1])
    assert await open_communes(api, storm, commune_token) == everywhere[2:]
    assert await open_communes(api, storm, commune_token, "?province=22") == []
    # Keyset paged: one commune a page.
    seen, after = [], ""
    while after is not None:
        page = (await api.get(f"/incidents/{storm.incident_id}/duplicates/communes?limit=1{after}",
                              storm.coordinator)).body
        seen += [c["commune_code"] for c in page["communes"]]
        after = page["next_after"] and f"&after={page['next_after']}"
    assert seen == [c for c, _, _ in everywhere]
    # A pair resolved leaves its commune's count; a commune with none left leaves the list.
    [pair] = (await pairs(api, storm, commune_token, commune=COMMUNES[1])).body["pairs"]
    assert [h["household_id"] for h in pair["households"]] == pair["household_ids"]
    assert sorted(h["head_name"] for h in pair["households"]) == ["LE THI HOA", "Lê Thị Hoa"]
    assert pair["commune_name"] == "Phường Đồ Sơn" and pair["province_name"] == "Thành phố Hải Phòng"
    resolved = await api.post(f"/duplicates/{pair['pair_id']}/resolution", commune_token, {
        "outcome": "same", "survivor_id": pair["household_ids"][0], "reason": "một hộ", "resolved_by": "xã",
        "resolved_at": payloads.at(40)}, key=str(uuid4()))
    assert resolved.status == 201, resolved.body
    first = (await pairs(api, storm, storm.coordinator)).body["pairs"][0]
    resolved = await api.post(f"/duplicates/{first['pair_id']}/resolution", storm.coordinator, {
        "outcome": "different", "reason": "hai hộ", "resolved_by": "xã", "resolved_at": payloads.at(40)},
        key=str(uuid4()))
    assert resolved.status == 201, resolved.body
    assert await open_communes(api, storm, storm.coordinator) == [everywhere[0], (COMMUNES[0], "Phường Hồng Bàng", 2)]
    reopened = await api.post(f"/duplicates/{pair['pair_id']}/reopening", storm.coordinator, {
        "reason": "xác minh lại", "reopened_by": "xã", "reopened_at": payloads.at(41)}, key=str(uuid4()))
    assert reopened.status == 201, reopened.body
    assert await open_communes(api, storm, commune_token) == everywhere[2:]


@pytest.mark.parametrize("query, field", [
    ("/communes?limit=0", "limit"), ("/communes?limit=1001", "limit"), ("/communes?after=1131", "after"),
    ("/communes?province=031", "province"),
    ("", "commune"), ("?commune=123", "commune"), ("?commune=11311&limit=0", "limit"),
    ("?commune=11311&limit=100000", "limit"), ("?commune=11311&after=nope", "after"),
    ("?commune=06673", "commune"),  # not among the incident's communes
])
async def test_bad_listing_queries_name_the_field(api: Api, storm: Storm, query: str, field: str):
    reply = await api.get(f"/incidents/{storm.incident_id}/duplicates{query}", storm.coordinator)
    assert (reply.status, reply.body["field"]) == (422, field), reply.body


@pytest.mark.parametrize("body, field", [
    ({"outcome": "same"}, "survivor_id"),
    ({"outcome": "maybe"}, "outcome"),
    ({"outcome": "different", "survivor_id": "00000000-0000-0000-0000-000000000001"}, "survivor_id"),
    ({"outcome": "different", "resolved_at": "2024-09-08"}, "resolved_at"),
])
async def test_bad_resolutions_name_the_field(api: Api, storm: Storm, body: dict[str, Any], field: str):
    team = api.token("field", PROVINCE)
    await sync_household(api, team, storm)
    await sync_household(api, team, storm)
    [pair] = (await pairs(api, storm, storm.coordinator)).body["pairs"]
    sent = {"reason": "x", "resolved_by": "x", "resolved_at": payloads.at(40), **body}
    reply = await api.post(f"/duplicates/{pair['pair_id']}/resolution", storm.coordinator, sent, key=str(uuid4()))
    assert (reply.status, reply.body["field"]) == (422, field), reply.body


async def test_a_citizen_id_of_the_wrong_form_is_refused_and_a_right_one_never_shown(api: Api, storm: Storm):
    team = api.token("field", PROVINCE)
    bad = await api.post("/households", team, payloads.household(storm.incident_id, citizen_id="0012"))
    assert (bad.status, *bad.error) == (422, "value_error", "citizen_id")
    number = "001204012345"
    first = await api.created("/households", team, payloads.household(storm.incident_id, citizen_id=number))
    second = await api.created("/households", team, payloads.household(
        storm.incident_id, head_name="Trần Thị Bình", members=1, commune_code=COMMUNES[1], citizen_id=number))
    assert second["duplicate_candidates"] == [first["household_id"]]
    assert number not in str(await api.events())
