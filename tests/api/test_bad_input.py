"""Bad input: each case gets its 4xx with a machine-readable body naming the
field, and nothing is recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable
from uuid import uuid4

from emergency import clock
from tests.support import payloads
from tests.support.api import Api, Household, Reply
from tests.support.factories import COMMUNES


@dataclass
class Case:
    """A bad request, built from the test's household, and what it must get."""

    path: Callable[[Household], str]
    status: int
    error: str
    field: str | None
    body: Callable[[Household], Any] = lambda h: None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    method: str = "POST"


def households(h: Household) -> str:
    return "/households"


def assessments(h: Household) -> str:
    return f"{h.path}/assessments"


def disbursements(h: Household) -> str:
    return f"{h.path}/disbursements"


def future(hours: float) -> str:
    return (clock.now() + timedelta(hours=hours)).isoformat()


def incident_with_communes(*codes: Any) -> Callable[[Household], Any]:
    return lambda h: payloads.incident(areas=[{"province_code": "31", "commune_codes": list(codes)}])


JSON = {"Content-Type": "application/json"}
CASES = {
    "malformed JSON": Case(households, 400, "malformed_json", "body", data=b'{"incident_id": ', headers=JSON),
    "NaN is not JSON": Case(households, 400, "malformed_json", "body", data=b'{"members": NaN}', headers=JSON),
    "lone surrogate": Case(households, 400, "malformed_json", "body", data=b'{"head_name": "\\ud800"}',
                           headers=JSON),
    "not an object": Case(households, 422, "model_type", None, body=lambda h: [1, 2]),
    "unknown field": Case(households, 422, "extra_forbidden", "nickname",
                          body=lambda h: payloads.household(h.storm.incident_id, nickname="Tư")),
    "count as a string": Case(households, 422, "int_type", "members",
                              body=lambda h: payloads.household(h.storm.incident_id, members="4")),
    "nested wrong type": Case(lambda h: "/incidents", 422, "string_type", "areas.0.commune_codes.1",
                              body=incident_with_communes(COMMUNES[0], 11455)),
    "unknown commune in an incident": Case(lambda h: "/incidents", 422, "unknown_commune", "areas.0.commune_codes.1",
                                           body=incident_with_communes(COMMUNES[0], "31999")),
    "commune of another province": Case(lambda h: "/incidents", 422, "commune_not_in_province",
                                        "areas.0.commune_codes.0", body=incident_with_communes("06688")),
    "household in a commune the incident lacks": Case(
        households, 422, "commune_not_in_incident", "commune_code",
        body=lambda h: payloads.household(h.storm.incident_id, commune_code=payloads.LATER_COMMUNE)),
    "negative count": Case(assessments, 422, "greater_than_equal", "dead", body=lambda h: payloads.assessment(dead=-1)),
    "fractional VND": Case(disbursements, 422, "int_type", "amount_vnd",
                           body=lambda h: payloads.disbursement(amount_vnd=25_000_000.5)),
    "VND as a float": Case(disbursements, 422, "int_type", "amount_vnd",
                           body=lambda h: payloads.disbursement(amount_vnd=25_000_000.0)),
    "VND as a string": Case(disbursements, 422, "int_type", "amount_vnd",
                            body=lambda h: payloads.disbursement(amount_vnd="25000000")),
    "zero VND": Case(disbursements, 422, "greater_than", "amount_vnd",
                     body=lambda h: payloads.disbursement(amount_vnd=0)),
    "date in the future": Case(assessments, 422, "value_error", "assessed_at",
                               body=lambda h: payloads.assessment(assessed_at=future(1))),
    "time without offset": Case(assessments, 422, "timezone_aware", "assessed_at",
                                body=lambda h: payloads.assessment(assessed_at="2024-09-08T09:00:00")),
    # Rules over several fields name the one to fix.
    "adjustment without a reason": Case(lambda h: f"{h.path}/decisions", 422, "value_error", "reason",
                                        body=lambda h: payloads.decision(decision="adjust", amount_vnd=1)),
    "cash without amount_vnd": Case(disbursements, 422, "value_error", "amount_vnd",
                                    body=lambda h: payloads.disbursement(amount_vnd=None)),
    "bank contribution without reference": Case(lambda h: f"/funds/{uuid4()}/contributions", 422, "value_error",
                                                "reference", body=lambda h: {
                                                    "donor_name": "Nguyễn Văn Bình", "donor_type": "individual",
                                                    "channel": "bank", "account": "0011001234567",
                                                    "amount_vnd": 500_000, "received_at": payloads.at(10)}),
    # Numbers are not times, and times before any plausible record are mistakes.
    "campaign launched at 0": Case(lambda h: "/campaigns", 422, "value_error", "launched_at", body=lambda h: {
        "title": "Cứu trợ", "mobiliser_type": "fatherland_front", "mobiliser_name": "MTTQ", "launched_at": 0}),
    "epoch seconds": Case(assessments, 422, "value_error", "assessed_at",
                          body=lambda h: payloads.assessment(assessed_at=1725760800)),
    "epoch seconds as text": Case(assessments, 422, "value_error", "assessed_at",
                                  body=lambda h: payloads.assessment(assessed_at="1725760800")),
    "year 194": Case(lambda h: "/incidents", 422, "value_error", "started_at",
                     body=lambda h: payloads.incident(started_at="0194-09-07T08:00:00+07:00")),
    "a number as ?at=": Case(lambda h: "/exports/incidents.csv?at=0.5", 422, "value_error", "at", method="GET"),
    # Integers beyond 64 bits, and digits that are not ASCII, in the query.
    "huge after": Case(lambda h: "/events?after=99999999999999999999", 422, "less_than_equal", "after",
                       method="GET"),
    "huge after_version": Case(lambda h: f"/aggregates/{h.household_id}/events?after_version=99999999999999999999",
                               422, "less_than_equal", "after_version", method="GET"),
    "superscript after": Case(lambda h: "/events?after=%C2%B2", 422, "int_parsing", "after", method="GET"),
    "huge as_of": Case(lambda h: f"/incidents/{h.storm.incident_id}/coverage?as_of=99999999999999999999", 422,
                       "string_pattern_mismatch", "as_of", method="GET"),
    "superscript as_of": Case(lambda h: f"/incidents/{h.storm.incident_id}/overdue?as_of=%C2%B2", 422,
                              "string_pattern_mismatch", "as_of", method="GET"),
    "as_of a number with a dot": Case(lambda h: f"/incidents/{h.storm.incident_id}/coverage?as_of=0.5", 422,
                                      "string_pattern_mismatch", "as_of", method="GET"),
    "as_of a time without offset": Case(lambda h: f"/incidents/{h.storm.incident_id}/coverage?"
                                        "as_of=2024-09-08T09:00:00", 422, "value_error", "as_of", method="GET"),
    "disbursement for an unknown household": Case(lambda h: f"/households/{uuid4()}/disbursements", 404,
                                                  "not_found", "household_id", body=lambda h: payloads.disbursement()),
    "more than is owed": Case(disbursements, 409, "exceeds_entitlement", "amount_vnd",
                              body=lambda h: payloads.disbursement(amount_vnd=payloads.BURIAL_VND + 1)),
    "id in the path is not a UUID": Case(lambda h: "/households/42/assessments", 422, "uuid_parsing",
                                         "household_id", body=lambda h: payloads.assessment()),
    "body contradicts the path": Case(assessments, 422, "path_mismatch", "household_id",
                                      body=lambda h: payloads.assessment(household_id=str(uuid4()))),
    "not JSON": Case(households, 415, "unsupported_media_type", "Content-Type", data=b"members=4",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}),
    "JSON in another charset": Case(households, 415, "unsupported_media_type", "Content-Type", data=b"{}",
                                    headers={"Content-Type": "application/json; charset=latin-1"}),
    "bad Idempotency-Key": Case(households, 422, "invalid_idempotency_key", "Idempotency-Key", key="x" * 201,
                                body=lambda h: payloads.household(h.storm.incident_id)),
    "batch over 1,000 items": Case(lambda h: "/assessments/batch", 422, "too_long", "items",
                                   body=lambda h: {"items": [{"assessment": payloads.assessment(
                                       household_id=h.household_id)}] * 1001}),
    "batch without items": Case(lambda h: "/assessments/batch", 422, "too_short", "items",
                                body=lambda h: {"items": []}),
    "query out of range": Case(lambda h: "/events?limit=0", 422, "greater_than_equal", "limit", method="GET"),
    "query of the wrong type": Case(lambda h: "/events?after=yesterday", 422, "int_parsing", "after", method="GET"),
    "unknown query parameter": Case(lambda h: "/events?since=3", 422, "extra_forbidden", "since", method="GET"),
    "repeated query parameter": Case(lambda h: "/events?after=1&after=2", 422, "repeated_parameter", "after",
                                     method="GET"),
}


async def send(api: Api, case: Case, household: Household, token: str) -> Reply:
    return await api.call(case.method, case.path(household), token, json=case.body(household), data=case.data,
                          headers=case.headers, key=case.key)


async def test_bad_input_is_refused_by_name_and_records_nothing(api: Api, household: Household):
    """All cases against one server; the failure lists every case that went wrong."""
    admin = api.token("admin")
    wrong: dict[str, Any] = {}
    for name, case in CASES.items():
        head = await api.head()
        reply = await send(api, case, household, admin)
        if not isinstance(reply.body, dict) or (reply.status, reply.error) != (case.status, (case.error, case.field)):
            wrong[name] = (reply.status, reply.body)
        elif not reply.body["message"] or await api.head() != head:
            wrong[name] = "no message, or something was recorded"
    assert not wrong


async def test_a_decision_on_a_closed_incident_is_refused(api: Api, household: Household):
    coordinator = household.storm.coordinator
    await api.created(f"/incidents/{household.storm.incident_id}/close", coordinator,
                      {"closed_at": payloads.at(40), "reason": "relief ended"})
    head = await api.head()
    reply = await api.post(f"{household.path}/decisions", coordinator, payloads.decision())
    assert (reply.status, reply.error) == (409, ("incident_closed", "incident_id"))
    assert await api.head() == head


async def test_oversized_bodies_are_refused_before_they_are_read(api: Api, household: Household):
    admin = api.token("admin")
    head = await api.head()
    # Only the headers are sent: the size they announce is enough to refuse.
    for path, limit in (("/households", 2 * 1024 * 1024), ("/assessments/batch", 8 * 1024 * 1024)):
        announced = await api.raw("POST", path, admin, {**JSON, "Content-Length": str(limit + 1)})
        assert (announced.status, announced.error) == (413, ("body_too_large", "body"))
    # Without a Content-Length, reading stops at the limit.
    chunk = b" " * 65536
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(33))
    streamed = await api.raw("POST", "/households", admin, {**JSON, "Transfer-Encoding": "chunked"}, chunked)
    assert (streamed.status, streamed.error) == (413, ("body_too_large", "body"))
    assert await api.head() == head

    # 3 MiB is too much for one write but within a batch's 8 MiB: it is parsed, then judged.
    item = {"assessment": payloads.assessment(household_id=household.household_id, assessed_at=payloads.at(21))}
    padded = b'{"items": [' + json.dumps(item).encode() + b"]" + b" " * (3 * 1024 * 1024) + b"}"
    batch = await api.call("POST", "/assessments/batch", admin, data=padded, headers=JSON)
    assert batch.status == 200 and batch.body["recorded"] == 1
