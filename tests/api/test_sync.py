"""`POST /sync`: a field team's offline work, writes of any kind with ids made
on the device, sent in one request in the order they were made; each item
gets what it would have got alone, and a resent sync records nothing twice."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.support import payloads
from tests.support.api import Api, Storm
from tests.support.factories import COMMUNES, PROVINCE


def item(command: str, key: str | None = None, **body: Any) -> dict[str, Any]:
    return {"command": command, "body": body, **({"idempotency_key": key} if key else {})}


async def test_an_offline_day_synced_in_one_request(api: Api, storm: Storm):
    field = api.token("field", PROVINCE)
    first, second, late = str(uuid4()), str(uuid4()), str(uuid4())
    items = [
        item("register_household", "dev7-1", **payloads.household(storm.incident_id, household_id=first)),
        item("assess_damage", "dev7-2", **payloads.assessment(household_id=first)),
        item("register_household", "dev7-3", **payloads.household(storm.incident_id, household_id=second,
                                                                  commune_code=COMMUNES[1])),
        item("correct_household", "dev7-4", household_id=second, members=6, reason="two children not counted"),
        # Made before the household it names was registered on the device: refused, the rest goes on.
        item("assess_damage", "dev7-5", **payloads.assessment(household_id=late)),
        item("register_household", "dev7-6", **payloads.household(storm.incident_id, household_id=late)),
        # Not a field team's to make, and a body that breaks its model.
        item("record_decision", "dev7-7", household_id=first, **payloads.decision()),
        item("assess_damage", "dev7-8", **payloads.assessment(household_id=second, dead=-1)),
    ]
    head = await api.head()
    synced = await api.post("/sync", field, {"items": items})
    assert synced.status == 200, synced.body
    assert [r["status"] for r in synced.body["results"]] == [201, 201, 201, 201, 404, 201, 403, 422]
    assert (synced.body["recorded"], synced.body["replayed"], synced.body["refused"]) == (5, 0, 3)
    errors = [r["error"] for r in synced.body["results"] if r["error"]]
    assert [(e["error"], e["field"]) for e in errors] == [
        ("not_found", "household_id"), ("forbidden_role", "Authorization"), ("greater_than_equal", "items.7.body.dead")]
    assert [r["outcome"]["command"] for r in synced.body["results"] if r["outcome"]] == [
        "register_household", "assess_damage", "register_household", "correct_household", "register_household"]

    case = (await api.get(f"/households/{first}", field)).body
    assert case["assessments"] == 1 and case["entitlements"]
    assert (await api.get(f"/households/{second}", field)).body["members"] == 6
    recorded = await api.events(head)
    households = [e for e in recorded if e["aggregate_id"] in (first, second, late)]
    assert len(households) >= 5
    assert {e["meta"]["request_id"] for e in households} == {synced.headers["X-Request-ID"]}

    # The connection dropped before the answer: the whole sync is resent. What
    # was recorded is answered from the first time; the assessment refused for
    # want of its household now finds it.
    head = await api.head()
    resent = await api.post("/sync", field, {"items": items})
    assert [r["status"] for r in resent.body["results"]] == [200, 200, 200, 200, 201, 200, 403, 422]
    assert {e["aggregate_id"] for e in await api.events(head) if e["aggregate_type"] == "HouseholdCase"} == {late}
    head = await api.head()
    again = await api.post("/sync", field, {"items": items})
    assert [r["status"] for r in again.body["results"]] == [200, 200, 200, 200, 200, 200, 403, 422]
    assert await api.head() == head


async def test_items_are_checked_one_by_one_and_the_batch_as_a_whole(api: Api, storm: Storm):
    field = api.token("field", PROVINCE)
    unknown = await api.post("/sync", field, {"items": [item("delete_household", household_id=str(uuid4())),
                                                        {"command": "assess_damage"}]})
    assert [r["error"]["field"] for r in unknown.body["results"]] == ["items.0.command", "items.1.body"]
    assert unknown.body["refused"] == 2

    empty = await api.post("/sync", field, {"items": []})
    assert (empty.status, empty.error[1]) == (422, "items")
    auditor = await api.post("/sync", api.token("auditor"), {"items": [item("close_incident")]})
    assert (auditor.status, auditor.error[0]) == (403, "forbidden_role")
    # A team scoped elsewhere is refused item by item, by the service's own scope check.
    elsewhere = await api.post("/sync", api.token("field", "22"), {"items": [
        item("register_household", **payloads.household(storm.incident_id))]})
    assert (elsewhere.body["results"][0]["status"], elsewhere.body["results"][0]["error"]["error"]) == \
        (403, "out_of_scope")
