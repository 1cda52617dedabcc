"""Response headers: no sniffing, nothing cached that a token read, no
server version, a request id on every response (streams too), and a refusal
that names nothing of the record it refuses."""

from __future__ import annotations

import aiohttp

from tests.support.api import Api, Household
from tests.support.factories import COMMUNES, PROVINCE


async def test_every_response_carries_the_safety_headers(api: Api, household: Household):
    incident = household.storm.incident_id
    replies = {
        "authenticated JSON": await api.get(household.path, household.field),
        "public JSON": await api.get("/public/campaigns"),
        "a refusal": await api.get(household.path),
        "the description": await api.get("/openapi.json"),
    }
    for name, reply in replies.items():
        assert reply.headers["X-Content-Type-Options"] == "nosniff", name
        assert "aiohttp" not in reply.headers.get("Server", "").lower(), name
        assert reply.headers["X-Request-ID"], name
    assert replies["authenticated JSON"].headers["Cache-Control"] == "no-store"

    # The live stream is authenticated too, and names its request.
    async with api.session.get(f"{api.url}/live/coverage?incident={incident}",
                               headers={"Authorization": f"Bearer {household.field}",
                                        "X-Request-ID": "sse-check-1"},
                               timeout=aiohttp.ClientTimeout(total=10)) as stream:
        assert stream.status == 200
        assert stream.headers["X-Request-ID"] == "sse-check-1"
        assert stream.headers["Cache-Control"] == "no-store"
        assert stream.headers["X-Content-Type-Options"] == "nosniff"
        assert "aiohttp" not in stream.headers.get("Server", "").lower()


async def test_a_refusal_names_nothing_of_the_record(api: Api, household: Household):
    other_commune = api.token("field", PROVINCE, COMMUNES[1])
    other_province = api.token("field", "22")
    for token in (other_commune, other_province):
        for reply in (await api.get(household.path, token),
                      await api.post(f"{household.path}/corrections", token, {"members": 5, "reason": "x"})):
            assert (reply.status, reply.error) == (403, ("out_of_scope", "household_id"))
            assert COMMUNES[0] not in reply.body["message"] and PROVINCE not in reply.body["message"], reply.body
