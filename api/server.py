"""Serving the application to the network, with bounds on slow and many clients.

- Headers: a request's line and headers must arrive within
  `settings.header_timeout_seconds` of the connection opening or of the
  previous response (aiohttp's keep-alive timer, armed from the first byte
  of a connection, closes it otherwise); so does an idle keep-alive
  connection.
- Bodies: a body must arrive within `settings.body_timeout_seconds`
  (`api.bodies.read_json`), else 408 `body_timeout`.
- Connections: at most `settings.max_connections` at once; one more gets a
  503 `too_many_connections` and is closed, before anything is read from it.

`emergency serve` runs `serve`; tests and embedders use `app_runner` and
`BoundedSite` as aiohttp's own runner and site.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Callable, cast

import structlog
from aiohttp import web

from api.models import ErrorBody
from infra.settings import Settings

log = structlog.get_logger(__name__)

_BUSY = ErrorBody(error="too_many_connections", field=None,
                  message="the server has as many connections as it takes; retry shortly").model_dump_json().encode()
BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY))


def app_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    # Access lines come from api.middleware (structured, with the request id).
    return web.AppRunner(app, access_log=None, keepalive_timeout=settings.header_timeout_seconds)


class _Busy(asyncio.Protocol):
    """A connection beyond the bound: told so, and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(BUSY_RESPONSE)
        transport.close()


class BoundedSite(web.TCPSite):
    """A TCP site that accepts at most `max_connections` connections at once."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, max_connections: int,
                 reuse_port: bool = False):
        super().__init__(runner, host, port, reuse_port=reuse_port)
        self.max_connections = max_connections

    async def start(self) -> None:
        await super(web.TCPSite, self).start()  # BaseSite: registers the site with its runner
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.max_connections:
                log.warning("connection_refused_busy", connections=len(server.connections))
                return _Busy()
            return server()

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port)


async def serve(app: web.Application, settings: Settings, when_listening: Callable[[], None] | None = None) -> None:
    """Listen until SIGINT or SIGTERM. Several processes may listen on one
    port (SO_REUSEPORT): N API workers on one store. `when_listening` runs
    once the port is open."""
    runner = app_runner(app, settings)
    await runner.setup()
    site = BoundedSite(runner, settings.host, settings.port, settings.max_connections, reuse_port=True)
    await site.start()
    log.info("listening", host=settings.host, port=settings.port)
    if when_listening is not None:
        when_listening()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
