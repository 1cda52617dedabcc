"""Requests for help counted per area, at any moment on either time axis:
answered in time or late, overdue by the clock alone, and the commune's
overdue list (the "not yet assessed" gap); public counts carry no content."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from emergency import clock
from tests.support import payloads
from tests.support.api import Api, Household
from tests.support.factories import COMMUNES, PROVINCE, STORM_START

pytestmark = pytest.mark.asyncio

PHONE = "0987 654 321"
SECRET = "Ông Trần Văn Bình bị bỏ sót"
VILLAGE = "Xóm Bãi Sậy"
COUNTS = ("arrived", "answered_in_time", "answered_late", "overdue", "pending", "merged")


def filing(hours: float) -> dict[str, Any]:
    return {"commune_code": COMMUNES[0], "village": VILLAGE, "phone": PHONE, "description": SECRET,
            "filed_at": payloads.at(hours)}


def ending(hours: float, **changes: Any) -> dict[str, Any]:
    return {"resolved_at": payloads.at(hours), "resolved_by": "Chủ tịch UBND xã", **changes}


def vector(body: dict[str, Any]) -> tuple[int, ...]:
    """The province's counts, in COUNTS order."""
    [province] = [p for p in body["provinces"] if p["province_code"] == PROVINCE]
    return tuple(province[name] for name in COUNTS)


async def counts(api: Api, token: str | None = None, **query: str) -> dict[str, Any]:
    path = "/public/request-counts" if token is None else "/request-counts"
    query.setdefault("known", "now")
    reply = await api.get(path + "?" + "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in query.items()), token)
    assert reply.status == 200, reply.body
    return reply.body


def advance(hours: float) -> None:
    clock.advance_to(STORM_START + timedelta(hours=hours))


async def test_requests_are_counted_on_both_axes_and_fall_overdue_by_the_clock(api: Api,
                                                                               household: Household) -> None:
    field = household.field
    assessment = (await api.get(household.path, field)).body["current_assessment"]["assessment_id"]
    assessed = {"household_id": household.household_id, "assessment_id": assessment}
    # recorded at 48 h: five requests an officer took down, due 2 days after filing
    r1, r2, r3, r4, r5 = [await api.created("/requests", field, filing(h)) for h in (40, -10, -5, 40, 41)]
    filings_known = await api.head()
    advance(50)
    await api.created(f"/requests/{r1['request_id']}/assessment", field, ending(44, **assessed))  # in time
    await api.created(f"/requests/{r2['request_id']}/rejection", field, ending(45, reason="đã nhận"))  # late
    await api.created(f"/requests/{r5['request_id']}/merge", field, ending(46, into_request_id=r4["request_id"]))
    public = await api.post("/public/requests", None, {k: v for k, v in filing(0).items() if k != "filed_at"})
    assert public.status == 201 and public.body["due_at"] == payloads.at(98).replace("+00:00", "Z")

    now = await counts(api)
    assert vector(now) == (6, 1, 1, 1, 2, 1)  # r3 overdue; r4 and the public one pending
    # as known at 49 h: the filings only, so r2 (due 38) and r3 (due 43) were overdue then
    assert vector(await counts(api, as_of=payloads.at(49), known="then")) == (5, 0, 0, 2, 3, 0)
    # as now known for 49 h: the endings at 44-46 h count, the public one was not filed yet
    assert vector(await counts(api, as_of=payloads.at(49), known="now")) == (5, 1, 1, 1, 1, 1)
    # as known at the last filing's log position: the same as at 49 h, then
    assert vector(await counts(api, as_of=str(filings_known), known="then")) == (5, 0, 0, 2, 3, 0)

    advance(90)  # no event: r4's deadline (88 h) passes
    assert vector(await counts(api)) == (6, 1, 1, 2, 1, 1)
    advance(100)
    followed = (await api.get(f"/public/requests/{public.body['reference']}")).body
    public_id = [e for e in await api.events() if e["data"].get("reference") == followed["reference"]][0]
    await api.created(f"/requests/{public_id['aggregate_id']}/assessment", field, ending(99, **assessed))
    assert vector(await counts(api)) == (6, 1, 2, 2, 0, 1)  # the public one answered late

    listed = await overdue_pages(api, api.token("coordinator", PROVINCE))
    assert [r["request_id"] for r in listed] == [r3["request_id"], r4["request_id"]]
    assert {r["gap"] for r in listed} == {"not_yet_assessed"}
    assert all(PHONE not in json.dumps(r, ensure_ascii=False) for r in listed)


async def overdue_pages(api: Api, token: str) -> list[dict[str, Any]]:
    """The commune's overdue list, one request a page."""
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        reply = await api.get(f"/communes/{COMMUNES[0]}/requests/overdue?known=now&limit=1{after}", token)
        assert reply.status == 200, reply.body
        found += reply.body["requests"]
        assert reply.body["total"] == 2
        if reply.body["next_after"] is None:
            return found
        after = f"&after={reply.body['next_after']}"


async def test_counts_and_the_overdue_list_keep_to_the_scope_and_say_nothing_of_content(
        api: Api, household: Household) -> None:
    await api.created("/requests", household.field, filing(-10))
    await api.post("/public/requests", None, {k: v for k, v in filing(0).items() if k != "filed_at"})
    body = await counts(api)
    text = json.dumps(body, ensure_ascii=False)
    assert PHONE not in text and SECRET not in text and VILLAGE not in text
    assert body["communes"][0]["commune_name"] and body["provinces"][0]["province_name"]
    assert vector(body) == (2, 0, 0, 1, 1, 0)
    elsewhere = api.token("coordinator", "22")
    assert (await counts(api, elsewhere))["communes"] == []
    asked = await api.get(f"/request-counts?province={PROVINCE}", elsewhere)
    assert asked.status == 403 and asked.error == ("out_of_scope", "province")
    assert vector(await counts(api, province=PROVINCE)) == (2, 0, 0, 1, 1, 0)
    refused = await api.get(f"/communes/{COMMUNES[0]}/requests/overdue", elsewhere)
    assert refused.status == 403 and refused.error == ("out_of_scope", "commune_code")
    unknown = await api.get("/communes/99999/requests/overdue", elsewhere)
    assert unknown.status == 422 and unknown.error == ("unknown_commune", "commune_code")
    bad = await api.get(f"/communes/{COMMUNES[0]}/requests/overdue?after=xyz", household.field)
    assert bad.status == 422 and bad.body["field"] == "after"
