"""Property: whatever a client sends to a write route, the server never
answers 5xx, and every refusal has the error body.

Bodies are drawn from the server's own `/openapi.json`: mostly well-formed
values per the schema (so they reach the service's checks), with fields
dropped, added, or replaced by arbitrary JSON, plus bodies that are not
JSON at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.api import Api, Household
from tests.support.factories import STORM_START

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
times = st.datetimes(min_value=(STORM_START - timedelta(days=2)).replace(tzinfo=None),
                     max_value=(STORM_START + timedelta(days=4)).replace(tzinfo=None)).map(
    lambda t: t.replace(tzinfo=STORM_START.tzinfo).isoformat())


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten: most requests then get past the first check."""
    return st.integers(0, 9).flatmap(lambda n: odd if n == 0 else usual)


def from_schema(schema: dict[str, Any], doc: dict[str, Any], ids: list[str]) -> st.SearchStrategy[Any]:
    """Values mostly valid for `schema` (a JSON Schema from the document)."""
    if "$ref" in schema:
        return from_schema(doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], doc, ids)
    if "anyOf" in schema:
        return st.one_of(*(from_schema(s, doc, ids) for s in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return objects(schema, doc, ids)
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), doc, ids), max_size=3)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -10) - 1, max_value=min(schema.get("maximum", 10**6),
                                                                                   10**16) + 1)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        if schema.get("format") == "uuid":
            return mostly(st.sampled_from(ids), st.uuids().map(str))
        if schema.get("format") == "date-time":
            return times
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=30)
    return any_json


def objects(schema: dict[str, Any], doc: dict[str, Any], ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    fields = {name: mostly(from_schema(sub, doc, ids), any_json) for name, sub in properties.items()}
    required = [n for n in schema.get("required", []) if n in fields]
    optional = {n: s for n, s in fields.items() if n not in required}
    return mostly(st.fixed_dictionaries({n: fields[n] for n in required}, optional=optional),
                  st.dictionaries(st.sampled_from(sorted(fields) or ["x"]) | st.text(max_size=8), any_json,
                                  max_size=5))


def write_routes(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
            if method == "post" and "requestBody" in op]


def fill(path: str, draw: st.DrawFn, ids: list[str]) -> str:
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        value = draw(mostly(st.sampled_from(ids), st.uuids().map(str) | st.text(min_size=1, max_size=12)))
        path = path[:start] + quote(value, safe="") + path[end + 1:]
    return path


@st.composite
def requests(draw: st.DrawFn, doc: dict[str, Any], ids: list[str]) -> tuple[str, Any]:
    path, operation = draw(st.sampled_from(write_routes(doc)))
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    body = draw(mostly(from_schema(schema, doc, ids), any_json))
    return fill(path, draw, ids), body


def check(reply_status: int, body: Any) -> None:
    # `pytest --hypothesis-show-statistics` shows how deep the bodies got.
    event(f"{reply_status} {body.get('error', '') if isinstance(body, dict) else ''}")
    assert reply_status < 500, body
    if reply_status >= 400:
        assert set(body) == {"error", "field", "message"}, body


@pytest.fixture
async def doc(api: Api) -> dict[str, Any]:
    reply = await api.get("/openapi.json")
    assert reply.status == 200
    return reply.body


@pytest.fixture
def admin(api: Api) -> str:
    return api.token("admin")


@FUZZ
@given(data=st.data())
async def test_no_body_makes_the_server_fail(api: Api, household: Household, doc: dict[str, Any], admin: str,
                                             data: st.DataObject):
    ids = [household.household_id, household.storm.incident_id, str(uuid4())]
    path, body = data.draw(requests(doc, ids))
    reply = await api.post(path, admin, body)
    check(reply.status, reply.body)


@FUZZ
@given(data=st.binary(max_size=200),
       content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-16", ""]),
       pick=st.data())
async def test_no_bytes_make_the_server_fail(api: Api, household: Household, doc: dict[str, Any], admin: str,
                                             data: bytes, content_type: str, pick: st.DataObject):
    path = pick.draw(st.sampled_from([path for path, _ in write_routes(doc)]))
    path = path.replace("{household_id}", household.household_id).replace(
        "{incident_id}", household.storm.incident_id).replace("{disbursement_id}", str(uuid4()))
    reply = await api.call("POST", path, admin, data=data, headers={"Content-Type": content_type})
    check(reply.status, reply.body)
