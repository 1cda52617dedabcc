"""Live push of projection changes: Server-Sent Events and WebSocket.

`GET /live/coverage?incident=…` (SSE) and `GET /live/ws?incident=…`
(WebSocket) stream an incident's case changes from the projection's change
feed (`projections.case_changes`), each as one message whose id is the notification
id of the event that made it. A client that reconnects sends the last id it
received (`Last-Event-ID`, or `?after=`) and gets exactly what came after:
the stream is read from the stored feed, never from memory, so a reconnect
has neither gaps nor repeats. Without an id a stream starts at the
projection's current position. After each run of changes the stream also
sends the incident's coverage totals (SSE event `coverage`, no id: a state,
not a change, so it never moves the resume point).

The embedded runner calls `Hub.wake` after each batch it applies; streams
sleep until then (or a keep-alive interval), and so does a write's response
until the projections include it (`caught_up`: read-your-writes, bounded by
`settings.read_your_writes_seconds`).
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any, AsyncIterator, Sequence
from uuid import UUID

import structlog
from aiohttp import WSMsgType, web
from pydantic import Field

from api import keys
from api.auth import READERS
from api.models import MAX_POSITION, Body
from api.routing import Call, Route, add_routes
from api.writer import Result
from emergency import clock
from emergency.batch import Scope
from emergency.errors import InvalidInput
from emergency.service import Outcome
from projections.case_changes import changes_after
from projections.coverage import Areas, coverage

log = structlog.get_logger(__name__)

KEEPALIVE_SECONDS = 15.0


class Hub:
    """Wakes every waiting stream when the projections move."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.closed = False
        self._moved = asyncio.Event()

    @property
    def moved(self) -> asyncio.Event:
        """Set at the next move: take it before reading, so no move is missed."""
        return self._moved

    def wake(self, *_: Any) -> None:
        """Thread-safe: called by the runner after each applied batch."""
        self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._moved.set()
        self._moved = asyncio.Event()

    @staticmethod
    async def wait(moved: asyncio.Event, timeout: float) -> None:
        try:
            await asyncio.wait_for(moved.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def close(self) -> None:
        self.closed = True
        self._wake()


HUB = web.AppKey("live_hub", Hub)


async def caught_up(app: web.Application, results: Sequence[Result], timeout: float) -> bool:
    """Wait (without holding a thread) until the projections include the
    last event these results recorded, or `timeout` passes."""
    last = max((r.last_notification_id or 0 for r in results if isinstance(r, Outcome)), default=0)
    hub, runner = app[HUB], app[keys.RUNNER]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        moved = hub.moved
        if runner.projections.position >= last:
            return True
        left = deadline - loop.time()
        if left <= 0 or hub.closed:
            log.warning("projections_behind_write", notification_id=last, position=runner.projections.position)
            return False
        await hub.wait(moved, left)


class LiveQuery(Body):
    incident: UUID
    after: int | None = Field(None, ge=0, le=MAX_POSITION, description=(
        "resume after this notification id (SSE clients send Last-Event-ID instead); default: from now"))


def _stream_of(call: Call) -> tuple[str, int | None]:
    """The incident, and the point to resume after (Last-Event-ID wins over ?after=)."""
    query: LiveQuery = call.query()
    raw = call.request.headers.get("Last-Event-ID")
    if raw is None:
        return str(query.incident), query.after
    if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_POSITION):
        raise InvalidInput("Last-Event-ID is a notification id", field="Last-Event-ID", code="invalid_event_id")
    return str(query.incident), int(raw)


async def messages(app: web.Application, incident_id: str, after: int | None,
                   scope: Scope = Scope()) -> AsyncIterator[dict[str, Any]]:
    """The incident's changes within `scope` after `after`, then each new one
    as it lands; a coverage message after each run of changes; a keep-alive
    when idle."""
    hub, read_models = app[HUB], app[keys.READ_MODELS]
    if after is None:
        after = read_models.position
    while not hub.closed:
        moved = hub.moved
        found = await read_models.read(partial(changes_after, incident_id=incident_id, after=after, scope=scope),
                                       fresh=0)
        for change in found:
            after = change.notification_id
            yield {"id": after, "event": "change", "cases": change.cases}
        if found:
            now = clock.now()
            rows = await read_models.read(partial(coverage, incident_id=incident_id, at=now, by="incident", known="now",
                                                  within=Areas(scope.provinces, scope.communes)), fresh=0)
            yield {"event": "coverage", "at": now.isoformat(), "coverage": rows[0] if rows else None}
            continue
        await hub.wait(moved, KEEPALIVE_SECONDS)
        if not hub.closed:
            yield {"event": "keepalive"}


async def sse(call: Call) -> web.StreamResponse:
    request = call.request
    incident_id, after = _stream_of(call)
    request.app[keys.RUNNER].check_current()  # refusals before the stream opens
    await asyncio.to_thread(call.service.incident, incident_id)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        async for message in messages(request.app, incident_id, after, call.principal.scope):
            await response.write(_sse_frame(message))
    except ConnectionResetError:  # the client went away: it resumes with Last-Event-ID
        log.info("live_stream_closed", incident_id=incident_id, after=after)
    return response


def _sse_frame(message: dict[str, Any]) -> bytes:
    if message["event"] == "keepalive":
        return b": keep-alive\n\n"
    lines = [f"id: {message['id']}"] if "id" in message else []
    lines += [f"event: {message['event']}", "data: " + json.dumps(message, ensure_ascii=False), "", ""]
    return "\n".join(lines).encode()


async def websocket(call: Call) -> web.StreamResponse:
    request = call.request
    incident_id, after = _stream_of(call)
    request.app[keys.RUNNER].check_current()
    await asyncio.to_thread(call.service.incident, incident_id)
    ws = web.WebSocketResponse(heartbeat=KEEPALIVE_SECONDS)
    await ws.prepare(request)
    pushing = asyncio.create_task(_push(ws, messages(request.app, incident_id, after, call.principal.scope)))
    try:
        async for incoming in ws:  # the client only closes; anything else is ignored
            if incoming.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        pushing.cancel()
        await asyncio.gather(pushing, return_exceptions=True)
    return ws


async def _push(ws: web.WebSocketResponse, stream: AsyncIterator[dict[str, Any]]) -> None:
    async for message in stream:
        if message["event"] != "keepalive":  # the WebSocket heartbeat does that job
            await ws.send_json(message)
    await ws.close()


async def _hub(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB] = Hub(asyncio.get_running_loop())
    app[keys.RUNNER].listeners.append(hub.wake)
    yield


async def _close_streams(app: web.Application) -> None:
    if HUB in app:
        app[HUB].close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_hub)  # after the app's own resources: the runner exists by then
    app.on_shutdown.append(_close_streams)
    add_routes(app, [
        Route("GET", "/live/coverage", "An incident's case changes and coverage as they happen (Server-Sent "
              "Events; resume with Last-Event-ID); a scoped token gets its area's cases only", sse, None, READERS,
              query=LiveQuery, tag="live", media_type="text/event-stream"),
        Route("GET", "/live/ws", "The same stream over a WebSocket (resume with ?after=<last id>)", websocket,
              None, READERS, query=LiveQuery, tag="live", upgrade="websocket"),
    ])
