"""The field app: an installable web app for field teams, at `/field/`.

Plain HTML, CSS and ES modules (`api/static/field/`, `api/static/js/field/`),
like the dashboard. A service worker caches the app shell, so the app opens
with no network after one visit; everything a team records stays in the
device's IndexedDB until `POST /sync` has acknowledged it.

The service worker's scope is `/field/`, so the page lives there (`/field`
redirects). Its script is served from here with the list of shell files and
a version made of their contents: a changed file changes the script, and the
browser installs the new shell.

`GET /field/session` is the app's sign-in check and what it keeps for
offline use: the team's incidents with their communes within the token's
scope, and the JSON Schema of each command the app makes, so its forms check
what the server's models check.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field

from api import keys
from api.auth import FIELD_WRITERS
from api.models import Body
from api.pages import SECURITY_HEADERS, STATIC, IncidentSummary, incident_summaries
from api.routing import Call, Route, add_routes, respond
from emergency import areas, clock, commands, request_commands
from emergency.batch import Scope

APP = STATIC / "field"
# What the app needs to open offline, as URLs; the page and its manifest live under /field/.
SHELL_PAGES = {"/field/": APP / "index.html", "/field/manifest.webmanifest": APP / "manifest.webmanifest"}
SHARED_FILES = ("css/app.css", "css/field.css", "js/dom.js", "js/format.js", "js/i18n.js", "js/api.js",
                "favicon.svg", "field/icon-192.png", "field/icon-512.png")
SHELL_MARK = '"__SHELL__"'
# The commands the app makes, by the names `POST /sync` takes.
COMMANDS = (commands.RegisterHousehold, commands.AssessDamage, commands.RecordDisbursement, commands.ConfirmReceipt,
            request_commands.FileRequest)


class FieldCommune(Body):
    commune_code: str
    commune_name: str | None = Field(description="official name; null where the name is not known")
    province_code: str
    province_name: str | None


class FieldIncident(IncidentSummary):
    communes: list[FieldCommune] = Field(description="the incident's communes within the token's scope")


class FieldSession(Body):
    """The caller of the field app, and what it keeps for offline use."""

    name: str
    role: str
    scope: list[str] = Field(description="province and commune codes; empty: everywhere")
    server_time: datetime = Field(description="the server's clock, for the device to see its own drift")
    incidents: list[FieldIncident] = Field(description="incidents with a commune in the token's scope, newest first")
    schemas: dict[str, dict[str, Any]] = Field(
        description="JSON Schema of each command the app makes, by command name (as in /openapi.json)")


def _commune(code: str, province: str) -> FieldCommune:
    """A commune as the app shows it, with the official names of the list in use."""
    return FieldCommune(commune_code=code, commune_name=areas.commune_name(code), province_code=province,
                        province_name=areas.province_name(province))


def _team_incidents(call: Call) -> list[FieldIncident]:
    service = call.service
    scope: Scope = call.principal.scope
    found = []
    for summary in call.request.app[keys.READ_MODELS].read_here(incident_summaries, fresh=0):
        declared = service.incident(summary.incident_id)["areas"]
        communes = [_commune(code, province) for province, codes in sorted(declared.items())
                    for code in sorted(codes) if scope.allows(province, code)]
        if communes:
            found.append(FieldIncident(**summary.model_dump(), communes=communes))
    return found


async def session(call: Call) -> web.Response:
    principal = call.principal
    incidents = await asyncio.to_thread(_team_incidents, call)
    return respond(FieldSession(
        name=principal.name, role=principal.role,
        scope=sorted((principal.scope.provinces or set()) | (principal.scope.communes or set())),
        server_time=clock.now(), incidents=incidents,
        schemas={command.name: command.model_json_schema() for command in COMMANDS}))


def shell() -> dict[str, Path]:
    """URL -> file of everything the service worker caches."""
    files = dict(SHELL_PAGES)
    files.update({f"/static/{name}": STATIC / name for name in SHARED_FILES})
    files.update({f"/static/js/field/{p.name}": p for p in sorted((STATIC / "js" / "field").glob("*.js"))})
    return files


def _worker_script() -> bytes:
    files = shell()
    version = hashlib.sha256()
    for url, path in files.items():
        version.update(url.encode() + b"\0" + path.read_bytes() + b"\0")
    template = (APP / "sw.js").read_text("utf-8")
    version.update(template.encode())
    listed = json.dumps({"version": version.hexdigest()[:16], "files": list(files)})
    return template.replace(SHELL_MARK, listed).encode()


async def worker(request: web.Request) -> web.Response:
    return web.Response(body=await asyncio.to_thread(_worker_script), content_type="text/javascript",
                        charset="utf-8", headers=SECURITY_HEADERS)


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(SHELL_PAGES["/field/"], headers=SECURITY_HEADERS)


async def manifest(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(SHELL_PAGES["/field/manifest.webmanifest"],
                            headers={**SECURITY_HEADERS, "Content-Type": "application/manifest+json"})


async def to_app(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/field/")


def setup(app: web.Application) -> None:
    app.router.add_get("/field", to_app)
    app.router.add_get("/field/", page)
    app.router.add_get("/field/sw.js", worker)
    app.router.add_get("/field/manifest.webmanifest", manifest)
    add_routes(app, [
        Route("GET", "/field/session", "Who this token belongs to, the team's incidents and communes, and the "
              "schemas of the commands the field app makes (its sign-in check and offline cache)", session,
              FieldSession, FIELD_WRITERS, tag="pages"),
    ])
