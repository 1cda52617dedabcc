"""Read routes of possible duplicate households: which communes have
unresolved pairs, and a commune's unresolved pairs.

The commune is named, and a scoped token may name only its own; the
communes listed are those within the token's scope. Each page is a range
read of the projection's rows (`projections.duplicates`), keyset paged.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web
from pydantic import Field

from api import keys
from api.area_names import CommuneNamed
from api.auth import READERS
from api.models import Body
from api.routing import Call, Route, add_routes, respond
from emergency.commands import CommuneCode, ProvinceCode
from emergency.errors import InvalidInput
from projections.coverage import Areas
from projections.duplicates import open_communes, unresolved


class DuplicateQuery(Body):
    commune: CommuneCode
    after: str | None = Field(None, pattern=r"^[0-9a-f-]{1,36}$",
                              description="the `next_after` of the page before (pairs follow in id order)")
    limit: int = Field(100, ge=1, le=1000)


class HouseholdHead(Body):
    household_id: str
    head_name: str | None = Field(description="the head of household as the records name them now; null for a "
                                              "household the case rows do not have yet")
    members: int | None


class DuplicatePairView(CommuneNamed, Body):
    pair_id: str
    province_code: str
    commune_code: str
    household_ids: list[str]
    households: list[HouseholdHead] = Field(description="the two households, in the order of `household_ids`")
    reasons: list[str] = Field(description="'name' (head's name and members within one), 'citizen_id' or both")
    status: str
    found_at: datetime


class DuplicateList(Body):
    incident_id: str
    commune_code: str
    pairs: list[DuplicatePairView]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last")


class OpenCommuneQuery(Body):
    province: ProvinceCode | None = Field(None, description="only this province's communes")
    after: CommuneCode | None = Field(None, description="the `next_after` of the page before (communes follow in "
                                                        "code order)")
    limit: int = Field(100, ge=1, le=1000)


class OpenCommune(CommuneNamed, Body):
    province_code: str
    commune_code: str
    unresolved: int = Field(description="its unresolved pairs")


class OpenCommuneList(Body):
    incident_id: str
    communes: list[OpenCommune] = Field(description="only communes with unresolved pairs, within the token's scope")
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last")


async def duplicates(call: Call) -> web.Response:
    query: DuplicateQuery = call.query()
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    province = next((p for p, communes in found["areas"].items() if query.commune in communes), None)
    if province is None:
        raise InvalidInput(f"commune {query.commune} is not among the incident's areas", field="commune",
                           code="commune_not_in_incident")
    call.principal.check_scope(province, query.commune, "commune")
    after = query.after
    rows = await call.request.app[keys.READ_MODELS].read(
        lambda store: unresolved(store, found["incident_id"], query.commune, after, query.limit))
    return respond(DuplicateList(
        incident_id=found["incident_id"], commune_code=query.commune,
        pairs=[DuplicatePairView.from_row(r) for r in rows],
        next_after=rows[-1]["pair_id"] if len(rows) == query.limit else None))


async def communes(call: Call) -> web.Response:
    query: OpenCommuneQuery = call.query()
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    scope = call.principal.scope
    provinces = scope.provinces
    if query.province is not None:  # asking for a province outside the scope finds nothing there
        provinces = frozenset({query.province}) if provinces is None else provinces & {query.province}
    within = Areas(provinces, scope.communes)
    after = query.after
    rows = await call.request.app[keys.READ_MODELS].read(
        lambda store: open_communes(store, found["incident_id"], within, after, query.limit))
    return respond(OpenCommuneList(
        incident_id=found["incident_id"], communes=[OpenCommune.from_row(r) for r in rows],
        next_after=rows[-1]["commune_code"] if len(rows) == query.limit else None))


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/incidents/{incident_id}/duplicates", "A commune's possible duplicate households, unresolved",
              duplicates, DuplicateList, READERS, query=DuplicateQuery, tag="reads"),
        Route("GET", "/incidents/{incident_id}/duplicates/communes",
              "The communes with unresolved possible duplicates, and how many each has",
              communes, OpenCommuneList, READERS, query=OpenCommuneQuery, tag="reads"),
    ])
