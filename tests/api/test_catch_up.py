"""A server on a long log and a fresh view store listens at once: /healthz
shows the catch-up's progress, reads that need the views answer 503
`catching_up` with Retry-After, writes and record reads go on; once the
views are current everything answers."""

from __future__ import annotations

import asyncio
from typing import Callable

import aiohttp
import pytest

from api.tokens import TokenStore
from emergency import commands
from emergency.service import Submission
from infra.settings import Settings
from infra.stores import build_service
from tests.support.api import Api, running
from tests.support.factories import COMMUNES, STORM_START, open_incident

pytestmark = pytest.mark.usefixtures("storm_clock")
HOUSEHOLDS = 4000


def long_log(settings: Settings) -> tuple[str, str]:
    """An incident with many assessed households; (incident id, one household id)."""
    service = build_service(settings)
    try:
        incident = open_incident(service)
        registered = service.execute_batch([Submission(commands.RegisterHousehold(
            incident_id=incident, commune_code=COMMUNES[0], head_name=f"Hộ {n}", members=3)) for n in range(HOUSEHOLDS)])
        households = [r.result["household_id"] for r in registered]
        service.execute_batch([Submission(commands.AssessDamage(
            household_id=h, assessed_at=STORM_START.replace(hour=20), persons_short_of_food=3)) for h in households])
        return str(incident), str(households[0])
    finally:
        service.app.close()


async def test_the_server_answers_while_its_views_catch_up(settings: Settings, new_views_url: Callable[[], str]):
    incident, household = long_log(settings)
    settings = settings.model_copy(update={"views_database_url": new_views_url()})  # one that has seen nothing yet
    async with running(settings, current=False) as url, aiohttp.ClientSession() as session:
        api = Api(session, url, TokenStore.from_settings(settings))
        coordinator = api.token("coordinator")
        health = await api.get("/healthz")
        assert (health.status, health.body["status"]) == (503, "catching_up"), health.body
        assert health.body["projections"]["head"] >= health.body["projections"]["lag"] > 0
        assert health.body["projections"]["current"] is False
        overdue = await api.get(f"/incidents/{incident}/overdue", coordinator)
        assert (overdue.status, overdue.error) == (503, ("catching_up", "views")), overdue.body
        assert int(overdue.headers["Retry-After"]) > 0
        # What does not need the views answers.
        assert (await api.get(f"/households/{household}", coordinator)).status == 200
        for _ in range(600):
            health = await api.get("/healthz")
            if health.status == 200:
                break
            await asyncio.sleep(0.1)
        assert health.body["status"] == "ok" and health.body["projections"]["lag"] == 0
        assert (await api.get(f"/incidents/{incident}/overdue", coordinator)).status == 200
        public = await api.get(f"/public/incidents/{incident}", coordinator)
        assert public.body["coverage"]["households_in_need"] == HOUSEHOLDS
