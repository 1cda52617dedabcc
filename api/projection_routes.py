"""Coverage of an incident for coordinators: now, as known at a past point,
or as now known for a past point (`projections.asof`).

`GET /incidents/{incident_id}/coverage?group_by=province&as_of=2024-09-12T17:00:00%2B07:00&known=then`
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, AsyncIterator, Literal

from aiohttp import web
from pydantic import Field

from api import keys
from api.auth import READERS
from api.models import AsOfQuery, Body, CoverageView
from api.routing import Call, Route, add_routes, respond
from emergency import clock
from projections.asof import Replayer, views_at
from projections.catalog import default_projections
from projections.coverage import coverage

REPLAYER = web.AppKey("replayer", Replayer)


class CoverageQuery(AsOfQuery):
    group_by: Literal["incident", "province", "commune", "support_type"] = "incident"


class CoverageRow(CoverageView):
    commune_code: str | None = None
    support_type: str | None = None


class CoverageReport(Body):
    incident_id: str
    group_by: str
    as_of: str | None
    known: str
    at: datetime = Field(description="the moment the rows are evaluated at (overdue means due before it)")
    rows: list[CoverageRow]


async def incident_coverage(call: Call) -> web.Response:
    query: CoverageQuery = call.query()
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    incident_id = found["incident_id"]
    app = call.request.app

    def read() -> tuple[datetime, list[dict[str, Any]]]:
        store, at = views_at(app[keys.CASES].views.store, app[REPLAYER], query.as_of, query.known, clock.now)
        return at, coverage(store, incident_id, at, query.group_by)

    at, rows = await asyncio.to_thread(read)
    return respond(CoverageReport(incident_id=incident_id, group_by=query.group_by, as_of=query.as_of,
                                  known=query.known, at=at, rows=[CoverageRow.model_validate(r) for r in rows]))


async def _replayer(app: web.Application) -> AsyncIterator[None]:
    app[REPLAYER] = Replayer(app[keys.SERVICE].app.recorder, default_projections)
    yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_replayer)  # after the app's own resources: the service exists by then
    add_routes(app, [
        Route("GET", "/incidents/{incident_id}/coverage",
              "Timely coverage against the 100% target, now or at a past point, by area or support type",
              incident_coverage, CoverageReport, READERS, query=CoverageQuery, tag="coverage"),
    ])
