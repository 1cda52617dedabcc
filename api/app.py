"""The aiohttp application: routes, middleware, and the resources they share.

`create_app(settings)` builds it for `emergency serve`, tests and anything
that embeds it. Route modules are listed in `ROUTE_MODULES`; each exposes
`setup(app)` (usually `api.routing.add_routes(app, [...])`, which also puts
the routes into the OpenAPI document). Append a module to add routes.

While it runs, the app holds (see `api.keys`): the service, the group-commit
writer, the authenticator, and the embedded projection runner
(`app[keys.RUNNER]`) that keeps the persisted projections current; the
writer wakes it after every commit, and live push can add listeners to it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator

import structlog
from aiohttp import web

from api import (
    command_routes,
    duplicate_routes,
    export_routes,
    field,
    kafka_routes,
    keys,
    live,
    openapi,
    pages,
    projection_routes,
    public_routes,
    query_routes,
    request_routes,
    routing,
)
from api.auth import Authenticator
from api.executors import Heavy, reads_executor
from api.middleware import requests, response_headers
from api.read_models import ReadModels
from api.tokens import TokenStore
from api.writer import Writer
from emergency.service import AidService
from infra.settings import Settings, postgres_parts, sqlite_path
from infra.stores import build_service, setup_lock

log = structlog.get_logger(__name__)

ROUTE_MODULES = (command_routes, query_routes, public_routes, openapi, projection_routes, live, export_routes,
                 kafka_routes, pages, field, duplicate_routes, request_routes)


def create_app(settings: Settings) -> web.Application:
    # The per-route limits (api.bodies) are the real ones; this is the ceiling
    # for any handler that reads a body by other means.
    app = web.Application(middlewares=[requests],
                          client_max_size=max(settings.max_body_bytes, settings.max_batch_body_bytes))
    app[keys.SETTINGS] = settings
    app[routing.ROUTES] = []
    app.on_response_prepare.append(response_headers)
    app.cleanup_ctx.append(_resources)
    for module in ROUTE_MODULES:
        module.setup(app)
    return app


def _open_stores(settings: Settings) -> tuple[AidService, TokenStore, ReadModels]:
    """The event, token and view stores, created if new (one server at a time)."""
    with setup_lock(settings):
        service = build_service(settings)
        return service, TokenStore.from_settings(settings), ReadModels(settings, service)


def _disk(settings: Settings) -> str:
    """The disk a full store is on, as a refusal names it."""
    if settings.is_postgres:
        parts = postgres_parts(settings.database_url)
        return f"the disk of the PostgreSQL server at {parts['host']}:{parts['port']} (database {parts['dbname']})"
    return f"the disk holding {sqlite_path(settings.database_url).resolve().parent}"


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """Open the store, start the writer thread; on shutdown finish the queue and close."""
    settings = app[keys.SETTINGS]
    asyncio.get_running_loop().set_default_executor(reads_executor())
    app[keys.HEAVY], app[keys.HEALTH] = Heavy(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")
    service, tokens, read_models = await asyncio.to_thread(_open_stores, settings)
    read_models.start()
    writer = Writer(service, on_commit=read_models.runner.notify,
                    settle=lambda results: live.caught_up(app, results, settings.read_your_writes_seconds),
                    disk=_disk(settings))
    app[keys.SERVICE] = service
    app[keys.WRITER] = writer
    app[keys.AUTH] = Authenticator(tokens)
    app[keys.READ_MODELS] = read_models
    app[keys.RUNNER] = read_models.runner
    log.info("api_ready", store=settings.database_url.partition("://")[0], routes=len(app[routing.ROUTES]))
    yield
    await asyncio.to_thread(writer.close)
    await asyncio.to_thread(read_models.close)
    service.app.close()
    app[keys.HEAVY].close()
    app[keys.HEALTH].shutdown(wait=False)
