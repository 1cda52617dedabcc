"""Coverage of an incident for coordinators: now, as known at a past point,
or as now known for a past point, and the trend over time.

`GET /incidents/{incident_id}/coverage?group_by=province&as_of=2024-09-12T17:00:00%2B07:00&known=then`
`GET /incidents/{incident_id}/coverage/series?points=24&known=now`

Both read the coverage projection's sums (`projections.coverage`): a request
costs a few rows per group it returns, never a replay of the log.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from api import keys
from api.auth import READERS
from api.models import AsOfQuery, Body, CoverageView, KnownAxis
from api.routing import Call, Route, add_routes, respond
from emergency import clock, commands
from emergency.batch import Scope
from emergency.errors import Forbidden
from projections.coverage import SORTS, Page

MAX_POINTS = 96


class CoverageQuery(AsOfQuery):
    group_by: Literal["incident", "province", "commune", "support_type"] = "incident"
    sort: Literal[SORTS] = Field("code", description=(  # type: ignore[valid-type]
        "code (areas in code order), name, gap (widest gap to the target first) or overdue (most overdue first)"))
    search: str | None = Field(None, min_length=1, max_length=100,
                               description="rows whose code or official name contains this (any case)")
    province: commands.ProvinceCode | None = Field(None, description="only this province's rows")
    limit: int = Field(100, ge=1, le=5000, description=(
        "rows per page (a page's time-to-delivery percentiles cost a read of its groups' delivered cases)"))
    offset: int = Field(0, ge=0, le=100_000)


class CoverageReport(Body):
    incident_id: str
    group_by: str
    as_of: str | None
    known: str
    at: datetime = Field(description="the moment the rows are evaluated at (overdue means due before it)")
    total: int = Field(description="rows of this grouping (matching `search`) in all; `rows` is one page")
    offset: int
    rows: list[CoverageView]


class SeriesQuery(Body):
    known: KnownAxis = "now"
    points: int = Field(24, ge=2, le=MAX_POINTS, description="moments, evenly spaced from `from` to `to`")
    from_: AwareDatetime | None = Field(None, alias="from", description="default: the incident's start")
    to: AwareDatetime | None = Field(None, description="default: now")


class SeriesPoint(Body):
    at: datetime
    coverage: CoverageView | None = Field(description="the incident's totals then (no percentiles); null before "
                                                      "any entitlement")


class CoverageSeries(Body):
    incident_id: str
    known: str
    points: list[SeriesPoint]


async def incident_coverage(call: Call) -> web.Response:
    query: CoverageQuery = call.query()
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    read_models = call.request.app[keys.READ_MODELS]
    point = await read_models.instant(query.as_of)
    scope = call.principal.scope
    if query.province is not None:
        if scope.provinces is not None and query.province not in scope.provinces:
            raise Forbidden(f"{query.province} is outside your scope", field="province", code="out_of_scope")
        scope = Scope(frozenset({query.province}), scope.communes)
    total, rows = await read_models.coverage(found["incident_id"], point, query.group_by, query.known, scope,
                                             Page(query.sort, query.search, query.limit, query.offset))
    return respond(CoverageReport(incident_id=found["incident_id"], group_by=query.group_by, as_of=query.as_of,
                                  known=query.known, at=point.at, total=total, offset=query.offset,
                                  rows=rows))


async def coverage_series(call: Call) -> web.Response:
    query: SeriesQuery = call.query()
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    start = query.from_ or datetime.fromisoformat(found["started_at"])  # plain(): ISO text
    end = query.to or clock.now()
    step = (end - start) / (query.points - 1)
    moments = [start + step * index for index in range(query.points)]
    rows = await call.request.app[keys.READ_MODELS].series(found["incident_id"], moments, query.known,
                                                           call.principal.scope)
    return respond(CoverageSeries(incident_id=found["incident_id"], known=query.known,
                                  points=[SeriesPoint(at=m, coverage=r) for m, r in zip(moments, rows)]))


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/incidents/{incident_id}/coverage",
              "Timely coverage against the 100% target, now or at a past point, by area or support type",
              incident_coverage, CoverageReport, READERS, query=CoverageQuery, tag="coverage"),
        Route("GET", "/incidents/{incident_id}/coverage/series",
              "The incident's timely coverage at evenly spaced moments, for a trend chart", coverage_series,
              CoverageSeries, READERS, query=SeriesQuery, tag="coverage"),
    ])
