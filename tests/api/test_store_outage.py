"""A PostgreSQL outage: requests that cannot reach the store answer 503
`store_unavailable` with Retry-After within a few seconds (not the driver's
30 s), and the server recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import aiohttp
import pytest

from api.tokens import TokenStore
from infra.postgres_limits import POOL_SECONDS
from infra.settings import Settings
from tests.support import payloads
from tests.support.api import Api, running
from tests.support.private_postgres import PrivatePostgres, owner_exists

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("storm_clock"),
              pytest.mark.skipif(not owner_exists(), reason="no postgres user to run a private server as")]
# An answer within this long counts as "within a few seconds": a pooled
# connection's wait, and one more for the request's other reads.
ANSWER_WITHIN = 2 * POOL_SECONDS + 2


@pytest.fixture
async def outage_api() -> AsyncIterator[tuple[Api, PrivatePostgres]]:
    server = PrivatePostgres()
    try:
        server.start()
        settings = Settings(database_url=f"{server.url}?schema=outage")
        async with running(settings) as url, aiohttp.ClientSession() as session:
            yield Api(session, url, TokenStore.from_settings(settings)), server
    finally:
        server.remove()


async def timed(call) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    reply = await call
    return time.monotonic() - started, reply


async def test_an_outage_answers_503_soon_and_the_server_recovers(outage_api: tuple[Api, PrivatePostgres]):
    api, server = outage_api
    coordinator = api.token("coordinator")
    incident = (await api.created("/incidents", coordinator, payloads.incident()))["incident_id"]
    household = (await api.created("/households", coordinator, payloads.household(incident)))["household_id"]

    server.crash()
    for request in (api.post("/households", coordinator, payloads.household(incident), key="during-outage"),
                    api.get(f"/households/{household}", coordinator)):
        took, reply = await timed(request)
        assert (reply.status, reply.error) == (503, ("store_unavailable", None)), reply.body
        assert int(reply.headers["Retry-After"]) > 0
        assert took < ANSWER_WITHIN, took

    server.start()
    for _ in range(60):  # the pools reconnect by themselves
        reply = await api.post("/households", coordinator, payloads.household(incident), key="during-outage")
        if reply.status != 503:
            break
        await asyncio.sleep(0.5)
    assert reply.status == 201, reply.body
    assert (await api.get(f"/households/{household}", coordinator)).status == 200
    # The write refused during the outage was never recorded: the retry recorded it once.
    registered = [e for e in await api.events() if e["type"] == "Registered"]
    assert len(registered) == 2
