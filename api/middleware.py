"""Around every request: a request id, one structured access-log line,
every refusal as the API's error body, and the headers every response carries.

The request id comes from `X-Request-ID` when the caller sends a sane one (so
a field app can tie its retries together), else a new one; it is bound to the
log context, returned in the response, and stored in the metadata of every
event the request records.
"""

from __future__ import annotations

import re
import sqlite3
import time
from uuid import uuid4

import psycopg
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from eventsourcing.persistence import InterfaceError, OperationalError

from api import keys
from api.models import ErrorBody
from api.writer import StoreUnavailable
from emergency.errors import AidError

log = structlog.get_logger("api.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_HTTP_CODES = {404: "no_route", 405: "method_not_allowed", 413: "body_too_large"}
# The store (events or tokens) is down or overloaded: the request may be retried.
_STORE_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError, sqlite3.OperationalError)


class Refusal(AidError):
    """A refusal that is not a command's: aiohttp's own, or the server's failure."""

    def __init__(self, status: int, message: str, code: str):
        super().__init__(message, code=code)
        self.status = status


# Says what this is without naming the framework or its version.
SERVER = "emergency"
# How soon a client may try again after a 503.
RETRY_AFTER_SECONDS = 2


def error_response(error: AidError, headers: dict[str, str] | None = None) -> web.Response:
    if error.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="emergency"'}
    if error.status == 503:
        headers = {"Retry-After": str(getattr(error, "retry_after", RETRY_AFTER_SECONDS)), **(headers or {})}
    response = web.Response(body=ErrorBody.of(error).model_dump_json(), status=error.status,
                            content_type="application/json", headers=headers)
    if error.status == 408:  # a client too slow to send its body does not keep the connection
        response.force_close()
    return response


def _from_http(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (no such route, wrong method) in the API's shape."""
    error = Refusal(exc.status, exc.reason, _HTTP_CODES.get(exc.status, f"http_{exc.status}"))
    kept = {k: v for k, v in exc.headers.items() if k in ("Allow", "Location")}
    return error_response(error, kept)


@web.middleware
async def requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-ID", "")
    if not REQUEST_ID.match(request_id):
        request_id = uuid4().hex
    request[keys.REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except AidError as error:
        response = error_response(error)
    except web.HTTPException as exc:
        response = _from_http(exc)
    except _STORE_ERRORS as error:
        log.exception("store_unavailable")
        response = error_response(StoreUnavailable(f"the store is unavailable: {type(error).__name__}"))
    except Exception:
        log.exception("unhandled_error")
        response = error_response(Refusal(500, "the server failed; the request id names it in the logs",
                                          "internal"))
    principal = request.get(keys.PRINCIPAL)
    log.info("request", method=request.method, path=request.path, status=response.status,
             ms=round((time.perf_counter() - started) * 1000, 2), remote=request.remote,
             actor=principal.actor if principal else None, role=principal.role if principal else None)
    return response


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set on every response just before its headers are sent, streams
    included (they are sent before the handler returns)."""
    if keys.REQUEST_ID in request:
        response.headers["X-Request-ID"] = request[keys.REQUEST_ID]
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = SERVER
    if keys.PRINCIPAL in request:  # what a token read (names, amounts) stays out of every cache
        response.headers["Cache-Control"] = "no-store"
