"""Public data under `/public/...`: what any caller, donors included, may see.

Only totals: an incident's areas and its timely coverage against the 100%
target, never a household's name or single record (Decree 93/2021 Art. 14
asks for public disclosure of totals and distribution).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from api import keys
from api.auth import EVERYONE
from api.models import IncidentView, PublicIncident
from api.routing import Call, Route, add_routes, respond
from emergency import clock


async def public_incident(call: Call) -> web.Response:
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    incident = IncidentView.model_validate(found)
    now = clock.now()
    cases = call.request.app[keys.CASES]
    whole = await cases.coverage(incident.incident_id, now, "incident")
    return respond(PublicIncident(
        incident_id=incident.incident_id, incident_type=incident.incident_type, title=incident.title,
        started_at=incident.started_at, closed_at=incident.closed_at, provinces=sorted(incident.areas),
        communes=sum(len(communes) for communes in incident.areas.values()), as_of=now,
        coverage=whole[0] if whole else None,
        by_province=await cases.coverage(incident.incident_id, now, "province")))


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/public/incidents/{incident_id}", "An incident's areas and timely coverage, in totals",
              public_incident, PublicIncident, EVERYONE, tag="public"),
    ])
