"""The coordinator dashboard and the public transparency page.

Both are plain HTML, CSS and ES modules under `api/static/` (Chart.js
vendored in `api/static/vendor/`), served by the API itself, so they need no
build step and no other server. The pages hold no data: they read the API's
JSON routes in the browser. The dashboard sends a coordinator's bearer token
with every call; the transparency page calls only open routes.

Besides the files this module serves small JSON routes the pages need: who
the token belongs to, with the incidents to choose from (the dashboard's
sign-in check: coordinators and admins only), and the official names of the
provinces and of their communes (public: the official list is).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import Field

from api import keys
from api.auth import COORDINATORS
from api.models import Body
from api.routing import Call, Route, add_routes, respond
from projections.incidents import recorded_incidents
from projections.store import ViewStore

STATIC = Path(__file__).with_name("static")
PAGES = {"/dashboard": "dashboard.html", "/transparency": "transparency.html"}
# The pages load nothing from elsewhere and run no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class IncidentSummary(Body):
    incident_id: str
    title: str
    incident_type: str
    started_at: datetime
    closed_at: datetime | None


class DashboardSession(Body):
    """The caller of the dashboard, and the incidents it can open."""

    name: str
    role: str
    scope: list[str] = Field(description="province and commune codes; empty: everywhere")
    incidents: list[IncidentSummary] = Field(description="newest first")


class ProvinceNames(Body):
    provinces: dict[str, str] = Field(description="province code -> name (Decision 19/2025/QĐ-TTg)")


class CommuneQuery(Body):
    province: str = Field(pattern=r"^\d{2}(,\d{2}){0,33}$", description="province codes, comma-separated: 15,22")


class CommuneNames(Body):
    communes: dict[str, str] = Field(description="commune code -> official name, of the provinces asked for "
                                                 "(an unknown province has none)")


def incident_summaries(store: ViewStore) -> list[IncidentSummary]:
    """Every incident the case projection knows, newest first."""
    return [IncidentSummary(incident_id=row["incident_id"], title=row["title"], incident_type=row["incident_type"],
                            started_at=_moment(row["started_at"]),
                            closed_at=_moment(row["closed_at"]) if row["closed_at"] is not None else None)
            for row in recorded_incidents(store)]


def _moment(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, timezone.utc)


async def session(call: Call) -> web.Response:
    principal = call.principal
    incidents = await call.request.app[keys.READ_MODELS].read(incident_summaries, fresh=0)
    return respond(DashboardSession(name=principal.name, role=principal.role,
                                    scope=sorted((principal.scope.provinces or set()) |
                                                 (principal.scope.communes or set())),
                                    incidents=incidents))


async def provinces(call: Call) -> web.Response:
    return respond(ProvinceNames(provinces=call.service.areas.provinces))


async def communes(call: Call) -> web.Response:
    areas = call.service.areas
    wanted = call.query().province.split(",")
    return respond(CommuneNames(communes={code: areas.communes[code].name for province in wanted
                                          for code in areas.communes_of(province)}))


def _page(filename: str) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / filename, headers=SECURITY_HEADERS)

    return serve


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/transparency")


def setup(app: web.Application) -> None:
    for path, filename in PAGES.items():
        app.router.add_get(path, _page(filename))
    app.router.add_get("/", home)
    app.router.add_static("/static", STATIC, append_version=False)
    add_routes(app, [
        Route("GET", "/dashboard/session", "Who this token belongs to, and the incidents to choose from "
              "(the dashboard's sign-in check)", session, DashboardSession, COORDINATORS, tag="pages"),
        Route("GET", "/public/provinces", "Province names by code", provinces, ProvinceNames, tag="public"),
        Route("GET", "/public/communes", "Commune names by code, of some provinces", communes, CommuneNames,
              query=CommuneQuery, tag="public"),
    ])
