"""The OpenAPI 3.1 document, generated from the routes and their pydantic models.

Nothing here is written by hand per route: paths, parameters, request and
response schemas, roles and error statuses all come from the `Route` list, so
the document cannot drift from what the server does.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api import keys
from api.models import ErrorBody, IdempotencyKey
from api.routing import ROUTES, Call, Route, add_routes
from emergency import __doc__ as project_doc

REF = "#/components/schemas/{model}"
# Each model's schema reference, by (model, validation or serialization), as pydantic gives them.
Refs = dict[tuple[Any, JsonSchemaMode], dict[str, Any]]
ERRORS = {
    400: "malformed JSON",
    401: "no token, or an unknown or revoked one",
    403: "the token's role or scope does not allow this",
    404: "no such record",
    409: "clashes with what is recorded, or an Idempotency-Key reused with another body",
    413: "the body is too large (refused before parsing)",
    415: "the body is not application/json",
    422: "a field is invalid: `field` is its dotted path",
    503: "the store is unavailable; retry",
}


def _error_statuses(route: Route) -> list[int]:
    statuses = [503]
    if route.roles is not None:
        statuses += [401, 403]
    if route.path_parameters or route.query or route.body or route.writes:
        statuses.append(422)
    if route.path_parameters:
        statuses.append(404)
    if route.body is not None:
        statuses += [400, 413, 415]
    if route.writes:
        statuses.append(409)
    return sorted(statuses)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(route: Route) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        for name in route.path_parameters]
    if route.query is not None:
        schema = route.query.model_json_schema(ref_template=REF)
        found += [{"name": name, "in": "query", "required": name in schema.get("required", ()), "schema": prop,
                   **({"description": prop["description"]} if "description" in prop else {})}
                  for name, prop in schema["properties"].items()]
    if route.writes:
        found.append({"name": "Idempotency-Key", "in": "header", "required": False,
                      "description": "a retry with the same key and body gets the first result; "
                                     "another body with the same key is 409",
                      "schema": TypeAdapter(IdempotencyKey).json_schema()})
    found.append({"name": "X-Request-ID", "in": "header", "required": False,
                  "description": "stored in the metadata of every event the request records",
                  "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:\-]{1,128}$"}})
    return found


def _success(route: Route, refs: Refs) -> dict[str, Any]:
    if route.media_type != "application/json":
        return {route.media_type: {"schema": {"type": "string"}}}
    return _json(refs[(route.response, "serialization")] if route.response else {"type": "object"})


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    success = _success(route, refs)
    responses: dict[str, Any] = {str(route.status): {"description": "done", "content": success}}
    if route.writes and route.status == 201:
        responses["200"] = {"description": "replayed: the first result of this Idempotency-Key",
                            "content": success}
    error = _json(refs[(ErrorBody, "serialization")])
    responses.update({str(s): {"description": ERRORS[s], "content": error} for s in _error_statuses(route)})
    operation: dict[str, Any] = {
        "operationId": re.sub(r"\W+", "_", f"{route.method} {route.path}".lower()).strip("_"),
        "summary": route.summary, "tags": [route.tag], "parameters": _parameters(route), "responses": responses,
        "security": [{"bearer": []}] if route.roles is not None else [],
    }
    if route.roles is not None:
        operation["x-roles"] = sorted(route.roles)
    if route.upgrade is not None:
        operation["x-upgrade"] = route.upgrade
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json(refs[(route.body, "validation")])}
    return operation


def document(routes: list[Route]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    models += [(r.body, "validation") for r in routes if r.body is not None]
    models += [(r.response, "serialization") for r in routes if r.response is not None]
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Emergency aid records", "version": "1", "description": (project_doc or "").strip()},
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def openapi_json(call: Call) -> web.Response:
    return web.json_response(call.request.app[keys.OPENAPI])


async def _build(app: web.Application) -> None:
    app[keys.OPENAPI] = document(app[ROUTES])


def setup(app: web.Application) -> None:
    add_routes(app, [Route("GET", "/openapi.json", "This document", openapi_json, None, tag="service")])
    app.on_startup.append(_build)
