"""Roles and scopes: 401 when the caller is unknown, 403 when known but not
allowed, and a denied write records nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from emergency import clock
from tests.support import payloads
from tests.support.api import Api, Household
from tests.support.factories import COMMUNES, PROVINCE

ROLES = ("field", "coordinator", "auditor", "donor", "admin")
WRITERS = {"field", "coordinator", "admin"}
COORDINATORS = {"coordinator", "admin"}
READERS = {"field", "coordinator", "auditor", "admin"}
AUDITORS = {"auditor", "admin"}

# (method, path with {incident} and {household}, the roles allowed): the spec, stated here on its own.
ROUTES = (
    ("POST", "/incidents", COORDINATORS),
    ("POST", "/incidents/{incident}/areas", COORDINATORS),
    ("POST", "/incidents/{incident}/close", COORDINATORS),
    ("POST", "/households", WRITERS),
    ("POST", "/households/{household}/corrections", WRITERS),
    ("POST", "/households/{household}/assessments", WRITERS),
    ("POST", "/assessments/batch", WRITERS),
    ("POST", "/households/{household}/decisions", COORDINATORS),
    ("POST", "/households/{household}/disbursements", WRITERS),
    ("POST", "/households/{household}/disbursements/{household}/receipt", WRITERS),
    ("POST", "/households/{household}/disbursements/{household}/corrections", COORDINATORS),
    ("GET", "/households/{household}", READERS),
    ("GET", "/incidents/{incident}", READERS),
    ("GET", "/incidents/{incident}/overdue", READERS),
    ("GET", "/aggregates/{household}/events", AUDITORS),
    ("GET", "/events", AUDITORS),
    ("GET", "/public/incidents/{incident}", set(ROLES)),
)


def fill(path: str, household: Household) -> str:
    return path.format(incident=household.storm.incident_id, household=household.household_id)


async def test_every_route_refuses_roles_it_does_not_allow(api: Api, household: Household):
    tokens = {role: api.token(role) for role in ROLES}
    head = await api.head()
    wrong = {}
    for method, path, allowed in ROUTES:
        for role in set(ROLES) - allowed:
            # Even a valid body is refused: the role is checked first.
            reply = await api.call(method, fill(path, household), tokens[role], json={} if method == "POST" else None)
            if (reply.status, reply.error) != (403, ("forbidden_role", "Authorization")):
                wrong[(method, path, role)] = (reply.status, reply.body)
        for role in allowed:
            reply = await api.call(method, fill(path, household), tokens[role], json={} if method == "POST" else None)
            if reply.status in (401, 403):
                wrong[(method, path, role)] = (reply.status, reply.body)
    assert not wrong
    assert await api.head() == head


async def test_unknown_callers_get_401_on_every_route(api: Api, household: Household):
    revoked = api.token("admin", name="lost phone")
    [record] = [t for t in api.tokens.list() if t.name == "lost phone"]
    assert api.tokens.revoke(record.token_id)
    credentials = {"none": None, "unknown": "emt_not-a-token", "revoked": revoked}
    wrong = {}
    for method, path, _ in ROUTES:
        for kind, token in credentials.items():
            reply = await api.call(method, fill(path, household), token, json={} if method == "POST" else None)
            expected = ("unauthenticated" if kind == "none" else "invalid_token", "Authorization")
            if (reply.status, reply.error) != (401, expected) or "Bearer" not in reply.headers["WWW-Authenticate"]:
                wrong[(method, path, kind)] = (reply.status, reply.body)
        other_scheme = await api.call(method, fill(path, household), None, headers={"Authorization": "Basic eDp5"})
        if other_scheme.status != 401:
            wrong[(method, path, "basic")] = other_scheme.status
    assert not wrong


async def test_a_field_team_writes_and_reads_only_in_its_scope(api: Api, household: Household):
    incident = household.storm.incident_id
    commune_team = api.token("field", PROVINCE, COMMUNES[1])  # the second commune only
    elsewhere = api.token("field", "22")
    head = await api.head()

    in_other_commune = await api.post("/households", commune_team, payloads.household(incident))
    assert (in_other_commune.status, in_other_commune.error) == (403, ("out_of_scope", "commune_code"))
    for token in (commune_team, elsewhere):
        assessed = await api.post(f"{household.path}/assessments", token, payloads.assessment(assessed_at=payloads.at(30)))
        assert (assessed.status, assessed.error) == (403, ("out_of_scope", "household_id"))
        read = await api.get(household.path, token)
        assert (read.status, read.error) == (403, ("out_of_scope", "household_id"))
    batch = await api.post("/assessments/batch", elsewhere,
                           {"items": [{"assessment": payloads.assessment(household_id=household.household_id)}]})
    assert batch.body["results"][0]["error"]["error"] == "out_of_scope"
    opened = await api.post("/incidents", api.token("coordinator", "22"), payloads.incident())
    assert (opened.status, opened.error) == (403, ("out_of_scope", "areas"))
    assert await api.head() == head

    # Inside its scope the same team records.
    assert (await api.post("/households", commune_team,
                           payloads.household(incident, commune_code=COMMUNES[1]))).status == 201


async def test_auditors_read_history_and_write_nothing(api: Api, household: Household):
    auditor = api.token("auditor")
    history = await api.get(f"/aggregates/{household.household_id}/events", auditor)
    assert [e["type"] for e in history.body["events"]][:2] == ["Registered", "DamageAssessed"]
    assert (await api.get(household.path, auditor)).status == 200
    head = await api.head()
    denied = await api.post(f"{household.path}/disbursements", auditor, payloads.disbursement())
    assert (denied.status, denied.error) == (403, ("forbidden_role", "Authorization"))
    assert await api.head() == head


async def test_donors_see_public_totals_and_no_names(api: Api, household: Household):
    donor = api.token("donor")
    public = await api.get(f"/public/incidents/{household.storm.incident_id}", donor)
    assert public.status == 200
    assert public.body["coverage"]["households_in_need"] == 1
    assert [row["province_code"] for row in public.body["by_province"]] == [PROVINCE]
    text = json.dumps(public.body, ensure_ascii=False)
    assert "Nguyễn Văn An" not in text and household.household_id not in text
    assert (await api.get(household.path, donor)).status == 403


async def test_an_expired_token_is_refused_at_once(api: Api, household: Household):
    expires = clock.now() + timedelta(minutes=10)
    _, secret = api.tokens.create("đội tạm", "field", (PROVINCE,), expires_at=expires)
    assert (await api.get(household.path, secret)).status == 200
    clock.advance_to(expires)
    # Even the verified token the server holds for a few seconds is not trusted past its expiry.
    reply = await api.get(household.path, secret)
    assert (reply.status, reply.error) == (401, ("invalid_token", "Authorization"))


async def test_a_token_of_bytes_that_are_no_text_is_refused(api: Api):
    """aiohttp reads header bytes that are not UTF-8 as surrogates: no token, 401 (was a 500)."""
    host, port = api.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x83\xff\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401 ") and b"invalid_token" in answer, answer[:300]
