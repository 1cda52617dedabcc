"""Read routes of possible duplicate households: a commune's unresolved pairs.

The commune is named, and a scoped token may name only its own; a page is a
range read of the pairs' index (`projections.duplicates`), keyset paged.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web
from pydantic import Field

from api import keys
from api.auth import READERS
from api.models import Body
from api.routing import Call, Route, add_routes, respond
from emergency.commands import CommuneCode
from emergency.errors import InvalidInput
from projections.duplicates import unresolved


class DuplicateQuery(Body):
    commune: CommuneCode
    after: str | None = Field(None, pattern=r"^[0-9a-f-]{1,36}$",
                              description="the `next_after` of the page before (pairs follow in id order)")
    limit: int = Field(100, ge=1, le=1000)


class DuplicatePairView(Body):
    pair_id: str
    province_code: str
    commune_code: str
    household_ids: list[str]
    reasons: list[str] = Field(description="'name' (head's name and members within one), 'citizen_id' or both")
    status: str
    found_at: datetime


class DuplicateList(Body):
    incident_id: str
    commune_code: str
    pairs: list[DuplicatePairView]
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


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/incidents/{incident_id}/duplicates", "A commune's possible duplicate households, unresolved",
              duplicates, DuplicateList, READERS, query=DuplicateQuery, tag="reads"),
    ])
