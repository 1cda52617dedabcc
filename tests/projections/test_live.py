"""Live push over a real server: every case change arrives exactly once across
a forced reconnect (SSE with Last-Event-ID, WebSocket with ?after=), a
write's response waits for the projections, and coverage answers as of a
past point."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator
from uuid import uuid4

import aiohttp
import pytest

from tests.support import payloads
from tests.support.api import Api, Storm

CHANGING = {"EntitlementDetermined", "EntitlementWithdrawn", "Decided", "Disbursed", "DisbursementCorrected"}


async def add_households(api: Api, storm: Storm, count: int) -> None:
    field = api.token("field", payloads.PROVINCE)
    for _ in range(count):
        # Names of their own: namesakes would be possible duplicates, their payments held back.
        household = await api.created("/households", field, payloads.household(
            storm.incident_id, head_name=f"Hộ {uuid4().hex[:8]}"))
        path = f"/households/{household['household_id']}"
        await api.created(f"{path}/assessments", field, payloads.assessment())
        await api.created(f"{path}/decisions", storm.coordinator, payloads.decision())
        await api.created(f"{path}/disbursements", field, payloads.disbursement())


async def expected_changes(api: Api) -> list[int]:
    """Notification ids of the events that change a case, from the log itself."""
    return [e["notification_id"] for e in await api.events()
            if e["aggregate_type"] == "HouseholdCase" and e["type"] in CHANGING]


async def sse_messages(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    frame: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if "data" in frame:
                yield {"id": frame.get("id"), "event": frame.get("event"), **json.loads(frame["data"])}
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            frame[name] = value


async def read_changes(messages: AsyncIterator[dict[str, Any]], until: int, at_most: int | None = None
                       ) -> list[int]:
    """Change ids until `until` is reached (or `at_most` changes)."""
    ids: list[int] = []
    async with asyncio.timeout(20):
        async for message in messages:
            if message["event"] == "coverage":
                continue
            assert message["event"] == "change" and message["cases"]
            ids.append(int(message["id"]))
            if ids[-1] >= until or (at_most is not None and len(ids) >= at_most):
                break
    return ids


async def test_sse_delivers_every_change_once_across_a_forced_reconnect(api: Api, storm: Storm):
    await add_households(api, storm, 3)
    reader = {"Authorization": f"Bearer {storm.coordinator}"}
    first_head = max(await expected_changes(api))
    url = f"{api.url}/live/coverage?incident={storm.incident_id}"
    async with api.session.get(url, headers={**reader, "Last-Event-ID": "0"}) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        before = await read_changes(sse_messages(response), first_head, at_most=4)
    # The connection is cut mid-stream; more happens while the client is away.
    await add_households(api, storm, 2)
    expected = await expected_changes(api)
    async with api.session.get(url, headers={**reader, "Last-Event-ID": str(before[-1])}) as response:
        stream = sse_messages(response)
        after = await read_changes(stream, expected[-1])
        totals = await anext(stream)  # after a run of changes: the incident's totals
    assert before + after == expected
    assert totals["event"] == "coverage" and totals["id"] is None
    assert totals["coverage"]["households_in_need"] == 5


async def test_websocket_delivers_every_change_once_across_a_forced_reconnect(api: Api, storm: Storm):
    await add_households(api, storm, 2)
    reader = {"Authorization": f"Bearer {storm.coordinator}"}
    first = await expected_changes(api)
    url = f"{api.url}/live/ws?incident={storm.incident_id}&after=0"

    async def frames(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[dict[str, Any]]:
        async for message in ws:
            yield message.json()

    async with api.session.ws_connect(url, headers=reader) as ws:
        before = await read_changes(frames(ws), first[-1], at_most=3)
    await add_households(api, storm, 1)
    live_url = f"{api.url}/live/ws?incident={storm.incident_id}&after={before[-1]}"
    async with api.session.ws_connect(live_url, headers=reader) as ws:
        # Changes made while connected arrive too.
        await add_households(api, storm, 1)
        expected = await expected_changes(api)
        after = await read_changes(frames(ws), expected[-1])
    assert before + after == expected


async def test_a_stream_without_an_id_starts_now_and_needs_a_reader(api: Api, storm: Storm):
    await add_households(api, storm, 1)
    url = f"{api.url}/live/coverage?incident={storm.incident_id}"
    async with api.session.get(url) as response:
        assert response.status == 401
    earlier = await expected_changes(api)
    async with api.session.get(url, headers={"Authorization": f"Bearer {storm.coordinator}"}) as response:
        await add_households(api, storm, 1)
        expected = await expected_changes(api)
        ids = await read_changes(sse_messages(response), expected[-1])
    assert ids == expected[len(earlier):]  # only the second household's changes


async def test_a_write_answers_after_the_projections_include_it(api: Api, storm: Storm):
    field = api.token("field", payloads.PROVINCE)
    household = await api.created("/households", field, payloads.household(storm.incident_id))
    await api.created(f"/households/{household['household_id']}/assessments", field, payloads.assessment())
    # The coverage route does not wait for the log's head: it reads what the
    # projections hold, so this shows the write's response waited.
    reply = await api.get(f"/incidents/{storm.incident_id}/coverage?group_by=support_type&as_of="
                          f"{await api.head()}&known=now", storm.coordinator)
    assert reply.status == 200, reply.body
    assert {r["support_type"] for r in reply.body["rows"]} >= {"BURIAL", "FOOD_DISASTER", "INJURED"}


async def test_coverage_as_of_a_past_point_over_http(api: Api, storm: Storm):
    await add_households(api, storm, 1)
    middle = await api.head()
    now = (await api.get(f"/incidents/{storm.incident_id}/coverage", storm.coordinator)).body["rows"][0]
    await add_households(api, storm, 2)
    then = await api.get(f"/incidents/{storm.incident_id}/coverage?as_of={middle}", storm.coordinator)
    assert then.status == 200, then.body
    assert then.body["rows"][0] == now
    latest = (await api.get(f"/incidents/{storm.incident_id}/coverage", storm.coordinator)).body["rows"][0]
    assert latest["households_in_need"] == 3 * now["households_in_need"]
    bad = await api.get(f"/incidents/{storm.incident_id}/coverage?as_of=yesterday", storm.coordinator)
    assert bad.status == 422 and bad.body["field"] == "as_of"


@pytest.mark.parametrize("query", ["group_by=district", "known=later"])
async def test_coverage_refuses_unknown_parameters(api: Api, storm: Storm, query: str):
    reply = await api.get(f"/incidents/{storm.incident_id}/coverage?{query}", storm.coordinator)
    assert reply.status == 422 and reply.body["field"] == query.partition("=")[0]
