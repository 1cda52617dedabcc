"""Coverage counts requests for help: a stage before entitlement (answered
on time, late, overdue, pending) that the headline timely share counts, on
both time axes, by incident, province and commune, in the trend, and in the
overdue list as "not yet assessed". A request filed without naming its
incident counts toward the open incident covering its commune."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from emergency import clock
from tests.support import payloads
from tests.support.api import Api, Storm
from tests.support.factories import COMMUNES, PROVINCE, STORM_START

pytestmark = pytest.mark.asyncio

HANOI = "00004"  # Phường Hoàn Kiếm (Hà Nội), outside the storm's areas
STAGES = ("requests_on_time", "requests_late", "requests_overdue", "requests_pending")


def filing(hours: float) -> dict[str, Any]:
    return {"commune_code": COMMUNES[0], "village": "Thôn Đông", "phone": "0912345678",
            "description": "chưa ai đến", "filed_at": payloads.at(hours)}


def rejection(hours: float) -> dict[str, Any]:
    return {"reason": "đã được hỗ trợ", "resolved_at": payloads.at(hours), "resolved_by": "Chủ tịch UBND xã"}


def advance(hours: float) -> None:
    clock.advance_to(STORM_START + timedelta(hours=hours))


async def coverage(api: Api, storm: Storm, group_by: str = "incident", **query: str) -> list[dict[str, Any]]:
    asked = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in {"group_by": group_by, **query}.items())
    reply = await api.get(f"/incidents/{storm.incident_id}/coverage?{asked}", storm.coordinator)
    assert reply.status == 200, reply.body
    return reply.body["rows"]


async def stages(api: Api, storm: Storm, **query: str) -> tuple[tuple[int, ...], float | None]:
    [row] = await coverage(api, storm, **query)
    return tuple(row[s] for s in STAGES), row["timely_pct"]


async def test_requests_are_a_stage_of_coverage_on_both_axes(api: Api, storm: Storm) -> None:
    field = api.token("field", PROVINCE)
    # No team has reached anyone yet: the requests are all the incident's coverage knows.
    r1 = await api.created("/requests", field, filing(10))  # due 58 h
    r2 = await api.created("/requests", field, filing(20))  # due 68 h
    public = await api.post("/public/requests", None, {k: v for k, v in filing(0).items() if k != "filed_at"})
    assert public.status == 201  # filed now (48 h), due 96 h, naming no incident
    assert await stages(api, storm) == ((0, 0, 0, 3), None)

    advance(60)
    await api.created(f"/requests/{r1['request_id']}/rejection", field, rejection(55))  # on time
    assert await stages(api, storm) == ((1, 0, 0, 2), 100.0)
    advance(70)  # no event: r2's deadline (68 h) passes
    assert await stages(api, storm) == ((1, 0, 1, 1), 50.0)
    listed = (await api.get(f"/incidents/{storm.incident_id}/overdue", storm.coordinator)).body
    assert listed["requests_total"] == 1
    assert [(r["request_id"], r["gap"]) for r in listed["requests"]] == [(r2["request_id"], "not_yet_assessed")]

    advance(75)
    await api.created(f"/requests/{r2['request_id']}/rejection", field, rejection(72))  # late
    assert await stages(api, storm) == ((1, 1, 0, 1), 50.0)
    assert (await api.get(f"/incidents/{storm.incident_id}/overdue", storm.coordinator)).body["requests"] == []

    # As now known for 59 h, r1 was answered (at 55 h); as known then, its answer was not recorded
    # until 60 h, so it was overdue (due 58 h). r2 and the public one were pending either way.
    assert await stages(api, storm, as_of=payloads.at(59), known="now") == ((1, 0, 0, 2), 100.0)
    assert await stages(api, storm, as_of=payloads.at(59), known="then") == ((0, 0, 1, 2), 0.0)
    # Late: counted late as now known; as known at 73 h, still overdue.
    assert await stages(api, storm, as_of=payloads.at(73), known="now") == ((1, 1, 0, 1), 50.0)
    assert await stages(api, storm, as_of=payloads.at(73), known="then") == ((1, 0, 1, 1), 50.0)

    [province] = await coverage(api, storm, "province")
    [commune] = await coverage(api, storm, "commune")
    for row in (province, commune):
        assert tuple(row[s] for s in STAGES) == (1, 1, 0, 1) and row["entitlements"] == 0
    assert (province["province_code"], commune["commune_code"]) == (PROVINCE, COMMUNES[0])
    assert await coverage(api, storm, "support_type") == []

    series = (await api.get(f"/incidents/{storm.incident_id}/coverage/series?points=3&from="
                            f"{payloads.at(0).replace('+', '%2B')}&to={payloads.at(74).replace('+', '%2B')}",
                            storm.coordinator)).body["points"]
    assert series[0]["coverage"] is None  # 0 h: nothing filed yet
    assert tuple(series[1]["coverage"][s] for s in STAGES) == (0, 0, 0, 2)  # 37 h
    assert tuple(series[2]["coverage"][s] for s in STAGES) == (1, 1, 0, 1)  # 74 h, as now known: r2 late


async def test_a_public_request_assessed_late_counts_late_beside_the_entitlements(api: Api, storm: Storm) -> None:
    field = api.token("field", PROVINCE)
    household = await api.created("/households", field, payloads.household(storm.incident_id))
    assessed = await api.created(f"/households/{household['household_id']}/assessments", field,
                                 payloads.assessment())
    before = (await coverage(api, storm))[0]
    await api.created("/requests", field, filing(1))  # due 49 h
    public = await api.post("/public/requests", None, {k: v for k, v in filing(0).items() if k != "filed_at"})
    reference = public.body["reference"]  # filed now (48 h), due 96 h
    advance(50)
    after = (await coverage(api, storm))[0]
    assert (after["requests_overdue"], after["requests_pending"]) == (1, 1)
    assert after["entitlements"] == before["entitlements"]
    due_or_done = after["disbursed"] + after["overdue"] + 1
    assert after["timely_pct"] == round(100 * after["disbursed_on_time"] / due_or_done, 2)

    advance(100)  # the public one's deadline passes, then a team assesses the household it named
    [filed] = [e for e in await api.events() if e["data"].get("reference") == reference]
    await api.created(f"/requests/{filed['aggregate_id']}/assessment", field, {
        "household_id": household["household_id"], "assessment_id": assessed["assessment_id"],
        "resolved_at": payloads.at(99), "resolved_by": "Chủ tịch UBND xã"})
    assert (await api.get(f"/public/requests/{reference}")).body["status"] == "assessed"
    late = (await coverage(api, storm))[0]
    assert (late["requests_late"], late["requests_overdue"], late["requests_on_time"]) == (1, 1, 0)
    due_or_done = late["disbursed"] + late["overdue"] + 2
    assert late["timely_pct"] == round(100 * late["disbursed_on_time"] / due_or_done, 2) < 100


async def test_a_request_filed_where_no_incident_is_open_counts_toward_none(api: Api, storm: Storm) -> None:
    elsewhere = api.token("field", "01")
    filed = await api.created("/requests", elsewhere, {**filing(10), "commune_code": HANOI})
    assert filed["incident_id"] is None
    assert await coverage(api, storm) == []
    counted = (await api.get("/public/request-counts")).body
    assert [(c["commune_code"], c["arrived"]) for c in counted["communes"]] == [(HANOI, 1)]
    named = await api.post("/requests", elsewhere, {**filing(10), "commune_code": HANOI,
                                                    "incident_id": storm.incident_id})
    assert named.status == 422 and named.error == ("commune_not_in_incident", "commune_code")
