"""Read routes over HTTP: records, the overdue list with its filters and
scopes, history pages, health and the OpenAPI document."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

from emergency import clock, commands
from emergency.domain.incident import INCIDENT_TYPES
from tests.support import payloads
from tests.support.api import Api, Household, Storm
from tests.support.factories import COMMUNES, PROVINCE, QUANG_NINH, STORM_START


async def test_a_household_and_an_incident(api: Api, household: Household):
    case = await api.get(household.path, household.field)
    assert case.status == 200
    assert (case.body["head_name"], case.body["commune_code"], case.body["assessments"]) == (
        "Nguyễn Văn An", COMMUNES[0], 1)
    assert (case.body["province_name"], case.body["commune_name"]) == ("Thành phố Hải Phòng", "Phường Hồng Bàng")
    assert {e["support_type"] for e in case.body["entitlements"]} >= {"BURIAL", "INJURED", "FOOD_DISASTER"}
    incident = await api.get(f"/incidents/{household.storm.incident_id}", household.field)
    assert incident.body["areas"] == {PROVINCE: COMMUNES, "22": [QUANG_NINH]}
    for path in (f"/households/{uuid4()}", f"/incidents/{uuid4()}", f"/incidents/{uuid4()}/overdue"):
        missing = await api.get(path, household.storm.coordinator)
        assert missing.status == 404 and missing.body["error"] == "not_found"


async def test_the_pages_read_official_names_with_no_token(api: Api):
    provinces = await api.get("/public/provinces")
    assert len(provinces.body["provinces"]) == 34 and provinces.body["provinces"]["15"] == "Lào Cai"
    communes = await api.get("/public/communes?province=15,22")
    names = communes.body["communes"]
    assert (names["02998"], names["06688"]) == ("Xã Phúc Khánh", "Phường Hạ Long")
    assert len(names) == 99 + 54  # Lào Cai's communes and Quảng Ninh's
    assert (await api.get("/public/communes?province=99")).body["communes"] == {}
    refused = await api.get("/public/communes?province=15;22")
    assert (refused.status, refused.error) == (422, ("string_pattern_mismatch", "province"))


async def overdue(api: Api, storm: Storm, token: str, query: str = "") -> dict[str, Any]:
    reply = await api.get(f"/incidents/{storm.incident_id}/overdue{query}", token)
    assert reply.status == 200, reply.body
    return reply.body


async def test_the_overdue_list_filters_and_keeps_to_the_callers_scope(api: Api, storm: Storm):
    field = api.token("field", PROVINCE, "22")
    homes = {}
    for commune in (COMMUNES[0], COMMUNES[1], QUANG_NINH):
        result = await api.created("/households", field, payloads.household(storm.incident_id, commune_code=commune))
        homes[commune] = result["household_id"]
        await api.created(f"/households/{homes[commune]}/assessments", field, payloads.assessment())
    await api.created(f"/households/{homes[COMMUNES[0]]}/disbursements", field, payloads.disbursement())

    everyone = await overdue(api, storm, storm.coordinator)
    assert everyone["total"] == 0, "nothing is overdue two days in"
    clock.advance_to(STORM_START + timedelta(days=10))

    everyone = await overdue(api, storm, storm.coordinator, "?limit=1000")
    cases = everyone["cases"]
    assert everyone["total"] == len(cases) > 0
    assert {c["household_id"] for c in cases} == set(homes.values())
    assert ("BURIAL", homes[COMMUNES[0]]) not in {(c["support_type"], c["household_id"]) for c in cases}, \
        "paid on time, so not overdue"
    assert [c["due_at"] for c in cases] == sorted(c["due_at"] for c in cases)
    assert all(c["overdue_hours"] > 0 for c in cases)

    def expected(**where: str) -> list[tuple[str, str]]:
        return [(c["household_id"], c["support_type"]) for c in cases
                if all(c[k] == v for k, v in where.items())]

    def got(body: dict[str, Any]) -> list[tuple[str, str]]:
        return [(c["household_id"], c["support_type"]) for c in body["cases"]]

    assert got(await overdue(api, storm, storm.coordinator, "?province=22")) == expected(province_code="22")
    assert got(await overdue(api, storm, storm.coordinator, f"?commune={COMMUNES[1]}")) == expected(
        commune_code=COMMUNES[1])
    assert got(await overdue(api, storm, storm.coordinator, "?support_type=INJURED")) == expected(
        support_type="INJURED")
    page = await overdue(api, storm, storm.coordinator, "?limit=2&offset=1")
    assert (page["total"], got(page)) == (len(cases), got(everyone)[1:3])

    commune_team = api.token("field", PROVINCE, COMMUNES[0])
    assert got(await overdue(api, storm, commune_team)) == expected(commune_code=COMMUNES[0])
    two_provinces = await overdue(api, storm, field, "?limit=2")
    assert (two_provinces["total"], got(two_provinces)) == (len(cases), got(everyone)[:2])
    outside = await api.get(f"/incidents/{storm.incident_id}/overdue?commune={QUANG_NINH}", commune_team)
    assert (outside.status, outside.error) == (403, ("out_of_scope", "commune"))


async def test_history_pages_follow_their_cursors(api: Api, household: Household):
    auditor = api.token("auditor")
    await api.created(f"{household.path}/disbursements", household.field, payloads.disbursement())
    whole = (await api.get(f"/aggregates/{household.household_id}/events?limit=1000", auditor)).body["events"]
    assert [e["version"] for e in whole] == list(range(1, len(whole) + 1))
    paged, after = [], 0
    while True:
        page = (await api.get(f"/aggregates/{household.household_id}/events?after_version={after}&limit=2",
                              auditor)).body
        if not page["events"]:
            break
        paged += page["events"]
        after = page["next_after_version"]
    assert paged == whole

    log = (await api.get("/events?limit=1000", auditor)).body
    ids = [e["notification_id"] for e in log["events"]]
    assert ids == sorted(set(ids)) and log["next_after"] == ids[-1]
    assert await api.events() == log["events"]
    first_three = (await api.get("/events?limit=3", auditor)).body
    rest = (await api.get(f"/events?after={first_three['next_after']}&limit=1000", auditor)).body
    assert first_three["events"] + rest["events"] == log["events"]
    end = (await api.get(f"/events?after={ids[-1]}", auditor)).body
    assert end == {"events": [], "next_after": ids[-1]}
    assert {e["aggregate_id"] for e in log["events"]} >= {household.household_id, household.storm.incident_id}


async def test_health_names_the_store(api: Api, household: Household):
    reply = await api.get("/healthz")
    expected = "postgresql" if api.tokens.is_postgres else "sqlite"
    assert (reply.status, reply.body["status"], reply.body["store"]) == (200, "ok", expected)
    assert reply.body["last_notification_id"] == (await api.events())[-1]["notification_id"]


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


async def test_the_openapi_document_comes_from_the_models(api: Api):
    reply = await api.get("/openapi.json")
    assert reply.status == 200
    doc = reply.body
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for path, method in (("/incidents", "post"), ("/households/{household_id}/assessments", "post"),
                         ("/assessments/batch", "post"), ("/incidents/{incident_id}/overdue", "get"),
                         ("/events", "get"), ("/aggregates/{aggregate_id}/events", "get"), ("/healthz", "get"),
                         ("/public/incidents/{incident_id}", "get")):
        assert method in paths[path], path

    register = paths["/households"]["post"]
    body = resolve(doc, register["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert set(body["properties"]) == set(commands.RegisterHousehold.model_fields)
    assert body["additionalProperties"] is False
    assert {"201", "200", "401", "403", "409", "413", "415", "422"} <= set(register["responses"])
    error = resolve(doc, register["responses"]["422"]["content"]["application/json"]["schema"]["$ref"])
    assert set(error["properties"]) == {"error", "field", "message"}
    assert register["x-roles"] == ["admin", "coordinator", "field"]

    opened = resolve(doc, paths["/incidents"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert opened["properties"]["incident_type"]["enum"] == list(INCIDENT_TYPES)
    assessment = resolve(doc, paths["/households/{household_id}/assessments"]["post"]["requestBody"]["content"]
                         ["application/json"]["schema"]["$ref"])
    assert set(assessment["properties"]) == set(commands.AssessDamage.model_fields) - {"household_id"}
    overdue_parameters = {p["name"]: p for p in paths["/incidents/{incident_id}/overdue"]["get"]["parameters"]}
    assert {"incident_id", "province", "commune", "support_type", "limit", "offset"} <= set(overdue_parameters)
    assert paths["/healthz"]["get"]["security"] == []
    exported = paths["/exports/incidents/{incident_id}/communes.csv"]["get"]["responses"]["200"]["content"]
    assert exported == {"text/csv; charset=utf-8": {"schema": {"type": "string"}}}
    assert set(paths["/exports/events.jsonl"]["get"]["responses"]["200"]["content"]) == {"application/x-ndjson"}
    assert set(paths["/exports/incidents.csv"]["get"]["responses"]["403"]["content"]) == {"application/json"}

    refs = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            refs.update(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(doc)
    for ref in refs:
        resolve(doc, ref)
    json.dumps(doc)
