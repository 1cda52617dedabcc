"""The standard exports over HTTP, streamed as they are produced.

    GET /exports/incidents.csv                          every incident (CSV + HXL)
    GET /exports/incidents/{incident_id}/communes.csv   per commune of one incident (CSV + HXL)
    GET /exports/incidents/{incident_id}/sendai.csv     Sendai A-2, A-3, B-2, B-3, B-4
    GET /exports/campaigns/{campaign_id}/iati.xml       a campaign's money (IATI-style XML)
    GET /exports/events.jsonl                           the event log with its chain hashes

The same generators as `emergency export` (`projections.exports`,
`projections.export_iati`, `projections.export_events`); `?at=` sets the
moment the figures stand for (and the IATI file's generation time).
Exports are national reports, so a token scoped to an area is refused; the
event log names people, so it is for auditors and admins only (as `/events`).
Lines are produced a chunk at a time on the heavy thread, one export at a
time (`api.executors`: another answers 503 `busy` with Retry-After), and bad
input is refused (as JSON) before the stream opens.
"""

from __future__ import annotations

import itertools
from typing import Awaitable, Callable, Iterator

from aiohttp import web
from pydantic import Field

from api import keys
from api.auth import AUDITORS
from api.models import Body
from api.routing import Call, Route, add_routes
from emergency import clock
from emergency.commands import Moment
from emergency.service import as_uuid
from infra.audit_recorders import chained
from projections.export_events import event_lines
from projections.exports import view_export

EXPORTERS = frozenset({"auditor", "admin", "coordinator"})
LINES_PER_CHUNK = 1000
# How long an export waits (seconds) for the projections to reach the log's head.
FRESHNESS_WAIT = 5.0
CSV = "text/csv; charset=utf-8"


class ExportQuery(Body):
    at: Moment | None = Field(None, description="the moment the figures stand for (default: now)")


async def _stream(call: Call, lines: Callable[[], Iterator[str]], filename: str) -> web.StreamResponse:
    """Produce the export on the heavy thread, one at a time (`api.executors`), a chunk at a time."""
    heavy = call.request.app[keys.HEAVY]
    async with heavy.turn("export"):
        produced = await heavy.run(lines)
        response = web.StreamResponse(headers={
            "Content-Type": call.route.media_type, "Content-Disposition": f'attachment; filename="{filename}"'})
        await response.prepare(call.request)
        while chunk := await heavy.run(lambda: "".join(itertools.islice(produced, LINES_PER_CHUNK))):
            await response.write(chunk.encode("utf-8"))
        await response.write_eof()
    return response


def _view_route(kind: str, filename: str) -> Callable[[Call], Awaitable[web.StreamResponse]]:
    async def handler(call: Call) -> web.StreamResponse:
        call.principal.check_national("exports")
        query: ExportQuery = call.query()
        at = query.at or clock.now()
        ids = {name: str(as_uuid(raw, name)) for name, raw in call.request.match_info.items()}
        read_models = call.request.app[keys.READ_MODELS]
        # Started once the projections reach the log's head (or a little later), on the heavy thread.
        return await _stream(call, lambda: read_models.read_here(lambda store: view_export(
            kind, store, at, ids.get("incident_id"), ids.get("campaign_id")), FRESHNESS_WAIT), filename)
    return handler


async def events(call: Call) -> web.StreamResponse:
    call.principal.check_national("exports")
    return await _stream(call, lambda: event_lines(chained(call.service.app.recorder)), "events.jsonl")


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/exports/incidents.csv", "Every incident: damage and timely coverage (CSV with HXL tags)",
              _view_route("hxl-incidents", "incidents.csv"), None, EXPORTERS, query=ExportQuery, tag="exports",
              media_type=CSV),
        Route("GET", "/exports/incidents/{incident_id}/communes.csv",
              "Damage and timely coverage per commune of one incident (CSV with HXL tags)",
              _view_route("hxl-communes", "communes.csv"), None, EXPORTERS, query=ExportQuery, tag="exports",
              media_type=CSV),
        Route("GET", "/exports/incidents/{incident_id}/sendai.csv",
              "Sendai Framework A-2, A-3, B-2, B-3, B-4 of one incident, in total and per province (CSV with HXL)",
              _view_route("sendai", "sendai.csv"), None, EXPORTERS, query=ExportQuery, tag="exports",
              media_type=CSV),
        Route("GET", "/exports/campaigns/{campaign_id}/iati.xml",
              "A campaign's incoming funds, commitments, disbursements and expenditure (IATI-style XML)",
              _view_route("iati", "iati.xml"), None, EXPORTERS, query=ExportQuery, tag="exports",
              media_type="application/xml; charset=utf-8"),
        Route("GET", "/exports/events.jsonl", "The whole event log with each event's chain hash (JSON Lines)",
              events, None, AUDITORS, tag="exports", media_type="application/x-ndjson"),
    ])
