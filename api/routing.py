"""Routes as data: each names its method, path, roles and the models of its
query, body and response, so one list drives both the router and the OpenAPI
document. A route module's `setup(app)` calls `add_routes(app, [...])`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from api import keys
from api.auth import Principal
from api.bodies import read_json, validate_query
from api.models import IdempotencyKey
from api.writer import Writer
from emergency import commands
from emergency.errors import InvalidInput
from emergency.service import AidService, Submission

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_idempotency_key = TypeAdapter(IdempotencyKey)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    handler: Callable[[Call], Awaitable[web.StreamResponse]]
    # None only for documents that have no model of their own (the OpenAPI document).
    response: type[BaseModel] | None
    # Roles allowed; None: open to anyone, no token needed.
    roles: frozenset[str] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    # Batch routes take larger bodies (settings.max_batch_body_bytes).
    bulk: bool = False
    tag: str = "records"
    # What a success is sent as; anything but JSON is documented as a text stream.
    media_type: str = "application/json"
    # A protocol the route switches to ("websocket"), documented as `x-upgrade`.
    upgrade: str | None = None

    @property
    def path_parameters(self) -> list[str]:
        return PATH_PARAMETER.findall(self.path)

    @property
    def writes(self) -> bool:
        return self.method == "POST"


# Every route the app serves, in the order added: the OpenAPI document is made from them.
ROUTES: web.AppKey[list[Route]] = web.AppKey("routes")


class Call:
    """One request to one route, after authentication."""

    def __init__(self, request: web.Request, route: Route, principal: Principal | None):
        self.request = request
        self.route = route
        self._principal = principal

    @property
    def principal(self) -> Principal:
        assert self._principal is not None, "an open route has no principal"
        return self._principal

    @property
    def service(self) -> AidService:
        return self.request.app[keys.SERVICE]

    @property
    def writer(self) -> Writer:
        return self.request.app[keys.WRITER]

    def query(self) -> Any:
        """The route's query model, filled from the query string."""
        assert self.route.query is not None, "this route takes no query parameters"
        return validate_query(self.route.query, self.request.query)

    async def body(self) -> Any:
        settings = self.request.app[keys.SETTINGS]
        return await read_json(self.request, settings.max_batch_body_bytes if self.route.bulk
                               else settings.max_body_bytes, settings.body_timeout_seconds)

    def idempotency_key(self) -> str | None:
        raw = self.request.headers.get("Idempotency-Key")
        if raw is None:
            return None
        try:
            return _idempotency_key.validate_python(raw)
        except ValidationError:
            raise InvalidInput("an Idempotency-Key is 1-200 visible ASCII characters", field="Idempotency-Key",
                               code="invalid_idempotency_key") from None

    def submission(self, command: commands.Command, idempotency_key: str | None) -> Submission:
        principal = self.principal
        meta = commands.Meta(actor=principal.actor, role=principal.role, request_id=self.request[keys.REQUEST_ID],
                      source="api")
        return Submission(command, meta, idempotency_key, principal.scope, key_scope=principal.token_id)


def respond(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=model.model_dump_json(), status=status, content_type="application/json",
                        headers=headers)


def add_routes(app: web.Application, routes: list[Route]) -> None:
    for route in routes:
        app[ROUTES].append(route)
        app.router.add_route(route.method, route.path, _handler(route))


def _handler(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = None
        if route.roles is not None:
            principal = await request.app[keys.AUTH].principal(request)
            request[keys.PRINCIPAL] = principal
            principal.check_role(route.roles)
        return await route.handler(Call(request, route, principal))

    return handle
