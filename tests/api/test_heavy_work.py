"""Work whose cost grows with the data runs one at a time on its own thread:
a second export while one is produced is told to come back (503 `busy`,
Retry-After), and neither starves `/healthz` nor the ordinary reads."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from api import keys
from api.app import create_app
from api.server import BoundedSite, app_runner
from api.tokens import TokenStore
from infra.settings import Settings
from tests.support.api import Api

pytestmark = pytest.mark.usefixtures("storm_clock")


async def test_a_second_export_is_refused_while_one_runs_and_health_stays_fast(settings: Settings):
    app = create_app(settings)
    runner = app_runner(app, settings)
    await runner.setup()
    try:
        site = BoundedSite(runner, "127.0.0.1", 0, settings.max_connections)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            api = Api(session, f"http://{host}:{port}", TokenStore.from_settings(settings))
            auditor = api.token("auditor")
            async with app[keys.HEAVY].turn("export"):  # an export being produced
                started = time.monotonic()
                busy = await api.get("/exports/events.jsonl", auditor)
                assert (busy.status, busy.error) == (503, ("busy", None)), busy.body
                assert int(busy.headers["Retry-After"]) > 0
                # Meanwhile the ordinary reads and the health check answer, and at once.
                health, read = await asyncio.gather(api.get("/healthz"), api.get("/events?limit=1", auditor))
                assert (health.status, read.status) == (200, 200), (health.body, read.body)
                assert time.monotonic() - started < 10
            done = await api.get("/exports/events.jsonl", auditor)
            assert done.status == 200
    finally:
        await runner.cleanup()
