"""Requests for help over HTTP: officers record and end them in their scope,
anyone files one through the public form and follows it by reference, and
nothing the sender wrote leaves through a public route."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from emergency import clock
from tests.support import payloads
from tests.support.api import Api, Household, Storm
from tests.support.factories import COMMUNES, PROVINCE, QUANG_NINH

pytestmark = pytest.mark.asyncio

PHONE = "0912 345 678"
SECRET = "Nhà bà Lê Thị Hoa ở xóm 3 chưa ai đến"


def officer_request(**changes: Any) -> dict[str, Any]:
    return {"commune_code": COMMUNES[0], "village": "Thôn Đông", "phone": PHONE, "description": SECRET,
            "kind": "not_assessed", "filed_at": payloads.at(40), **changes}


def public_request(**changes: Any) -> dict[str, Any]:
    return {"commune_code": COMMUNES[0], "village": "Thôn Đông", "phone": PHONE, "description": SECRET, **changes}


def ending(**changes: Any) -> dict[str, Any]:
    return {"resolved_at": payloads.at(44), "resolved_by": "Chủ tịch UBND xã", **changes}


async def test_an_officer_records_a_request_with_its_deadline_from_the_rules(api: Api, storm: Storm) -> None:
    field = api.token("field", PROVINCE)
    filed = await api.created("/requests", field, officer_request(), key="r-1")
    # 2 days from filing (national.toml, [version.request])
    assert filed["filed_at"] == payloads.at(40) and filed["due_at"] == payloads.at(88)
    assert len(filed["reference"]) == 10 and filed["reference"].isalnum() and filed["reference"].isupper()
    again = await api.post("/requests", field, officer_request(), key="r-1")
    assert again.status == 200 and again.body["result"] == filed
    seen = await api.get(f"/requests/{filed['request_id']}", field)
    assert seen.status == 200
    assert (seen.body["status"], seen.body["source"], seen.body["phone"]) == ("open", "officer", PHONE)
    assert seen.body["rule_version"] == "ND20-2021"


async def test_a_request_ends_once_by_assessment_rejection_or_merge(api: Api, household: Household) -> None:
    field = household.field
    first = await api.created("/requests", field, officer_request(household_id=household.household_id))
    second = await api.created("/requests", field, officer_request())
    third = await api.created("/requests", field, officer_request())
    assessment = (await api.get(household.path, field)).body["current_assessment"]["assessment_id"]
    assessed = await api.created(f"/requests/{first['request_id']}/assessment", field, ending(
        household_id=household.household_id, assessment_id=assessment))
    assert (assessed["status"], assessed["ended_at"]) == ("assessed", payloads.at(44))
    await api.created(f"/requests/{second['request_id']}/merge", field, ending(into_request_id=first["request_id"]))
    await api.created(f"/requests/{third['request_id']}/rejection", field, ending(reason="đã được hỗ trợ"))
    for done in (first, second, third):
        twice = await api.post(f"/requests/{done['request_id']}/rejection", field, ending(reason="lần hai"))
        assert twice.status == 409 and twice.error == ("request_ended", "request_id")
    shown = (await api.get(f"/requests/{first['request_id']}", field)).body
    assert shown["assessment"] == {"household_id": household.household_id, "assessment_id": assessment}
    assert shown["ended_by"] == "Chủ tịch UBND xã"
    history = (await api.get(f"/aggregates/{first['request_id']}/events", api.token("auditor"))).body["events"]
    assert [e["type"] for e in history] == ["Filed", "Assessed"]
    assert history[1]["meta"]["role"] == "field"


async def test_endings_are_checked_against_what_is_recorded(api: Api, household: Household) -> None:
    field = household.field
    filed = await api.created("/requests", field, officer_request())
    path = f"/requests/{filed['request_id']}"
    cases = [
        (f"{path}/assessment", ending(household_id=household.household_id,
                                      assessment_id="00000000-0000-4000-8000-000000000000"), 404, "assessment_id"),
        (f"{path}/rejection", ending(reason="x", resolved_at=payloads.at(39)), 422, "resolved_at"),
        (f"{path}/merge", ending(into_request_id=filed["request_id"]), 422, "into_request_id"),
        (f"{path}/rejection", ending(), 422, "reason"),
        ("/requests/00000000-0000-4000-8000-000000000000/rejection", ending(reason="x"), 404, "request_id"),
    ]
    for route, body, status, field_name in cases:
        reply = await api.post(route, field, body)
        assert (reply.status, reply.body["field"]) == (status, field_name), (route, reply.body)
    assert (await api.get(path, field)).body["status"] == "open"


async def test_bad_filings_name_the_field(api: Api, storm: Storm) -> None:
    field = api.token("field", PROVINCE)
    cases = [
        (officer_request(commune_code="99999"), 422, "commune_code"),
        (officer_request(phone="call me"), 422, "phone"),
        (officer_request(kind="angry"), 422, "kind"),
        (officer_request(description=""), 422, "description"),
        (officer_request(filed_at="2099-01-01T00:00:00+07:00"), 422, "filed_at"),
        (officer_request(household_id="00000000-0000-4000-8000-000000000000"), 404, "household_id"),
        (officer_request(commune_code=QUANG_NINH), 403, "commune_code"),
    ]
    for body, status, field_name in cases:
        reply = await api.post("/requests", field, body)
        assert (reply.status, reply.body["field"]) == (status, field_name), (body, reply.body)


async def test_scoped_officers_see_and_end_only_their_area(api: Api, storm: Storm) -> None:
    here = api.token("coordinator", PROVINCE)
    elsewhere = api.token("coordinator", "22")
    filed = await api.created("/requests", here, officer_request())
    seen = await api.get(f"/requests/{filed['request_id']}", elsewhere)
    assert seen.status == 403 and seen.error == ("out_of_scope", "request_id")
    assert PHONE not in json.dumps(seen.body)
    refused = await api.post(f"/requests/{filed['request_id']}/rejection", elsewhere, ending(reason="x"))
    assert refused.status == 403
    donor = await api.get(f"/requests/{filed['request_id']}", api.token("donor"))
    assert donor.status == 403


async def test_the_public_files_without_a_token_and_follows_status_and_dates_only(api: Api, storm: Storm) -> None:
    filed = await api.post("/public/requests", None, public_request(), key="form-1")
    assert filed.status == 201, filed.body
    assert set(filed.body) == {"reference", "filed_at", "due_at", "replayed"}
    reference = filed.body["reference"]
    assert datetime.fromisoformat(filed.body["filed_at"]) == clock.now()
    again = await api.post("/public/requests", None, public_request(), key="form-1")
    assert again.status == 200 and again.body["reference"] == reference
    followed = await api.get(f"/public/requests/{reference.lower()}")
    assert followed.status == 200
    assert set(followed.body) == {"reference", "status", "filed_at", "due_at", "ended_at"}
    assert followed.body["status"] == "open"
    for reply in (filed, again, followed):
        text = json.dumps(reply.body, ensure_ascii=False)
        assert PHONE not in text and SECRET not in text and "Thôn Đông" not in text
    coordinator = api.token("coordinator", PROVINCE)
    events = [e for e in await api.events() if e["aggregate_type"] == "HelpRequest"]
    assert len(events) == 1 and events[0]["data"]["source"] == "public"
    await api.created(f"/requests/{events[0]['aggregate_id']}/rejection", coordinator, ending(
        reason="trùng", resolved_at=clock.now().isoformat()))
    assert (await api.get(f"/public/requests/{reference}")).body["status"] == "rejected"


async def test_public_refusals_name_the_field(api: Api, storm: Storm) -> None:
    for body, field_name in ((public_request(commune_code="12"), "commune_code"),
                             (public_request(household_id=payloads.at(0)), "household_id"),
                             (public_request(phone=""), "phone")):
        reply = await api.post("/public/requests", None, body)
        assert (reply.status, reply.body["field"]) == (422, field_name), reply.body
    for reference, status in (("short", 422), ("ABCDEFGH10", 422), ("AAAAAAAAAA", 404)):
        reply = await api.get(f"/public/requests/{reference}")
        assert (reply.status, reply.body["field"]) == (status, "reference"), reply.body


async def test_the_public_form_is_rate_limited_per_address(api: Api, storm: Storm) -> None:
    # the default bucket: 5 at once, then 20 an hour; the clock of the bucket is real time
    replies = [await api.post("/public/requests", None, public_request()) for _ in range(8)]
    assert [r.status for r in replies] == [201] * 5 + [429] * 3
    assert replies[-1].error == ("rate_limited", None)
    assert 1 <= int(replies[-1].headers["Retry-After"]) <= 180
    # X-Forwarded-For is not trusted unless configured: a made-up address does not get a fresh bucket
    spoofed = await api.post("/public/requests", None, public_request(), headers={"X-Forwarded-For": "10.9.9.9"})
    assert spoofed.status == 429
    # officers are not limited by the public form's bucket
    assert (await api.post("/requests", api.token("field", PROVINCE), officer_request())).status == 201
    filed = [e for e in await api.events() if e["aggregate_type"] == "HelpRequest"]
    assert len(filed) == 6
