"""Requests for help over HTTP.

Officers (field, coordinator) record requests and end them, in their scope,
through the command routes (`api.command_routes`, `/sync` included) like
every write; here is what they read of them. Anyone may file one through
`POST /public/requests` with no token, rate-limited per client address
(`api.rate_limit`), and follow it by its reference with
`GET /public/requests/{reference}`: status and dates only, never the phone,
the description or a name.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web
from pydantic import Field, TypeAdapter, ValidationError

from api import keys
from api.area_names import CommuneNamed, ProvinceNamed
from api.auth import READERS
from api.bodies import validate
from api.middleware import error_response
from api.models import AsOfQuery, Body, OverdueRequest
from api.rate_limit import RateLimited, TokenBuckets, client_address
from api.read_models import areas_of
from api.routing import Call, Route, add_routes, respond
from emergency import request_commands as rc
from emergency.batch import Scope
from emergency.commands import CommuneCode, Meta, ProvinceCode
from emergency.errors import AidError, Forbidden, InvalidInput
from emergency.service import Submission, as_uuid
from projections import request_reads
from projections.coverage import Areas
from projections.request_reads import Point

LIMITER: web.AppKey[TokenBuckets] = web.AppKey("public_request_limiter", TokenBuckets)
_reference = TypeAdapter(rc.Reference)
# Where a page of overdue requests ends: deadline (epoch µs), request id.
CURSOR = r"^[0-9]{1,18}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

class RequestView(Body):
    """A request as recorded: for officers of its commune."""

    request_id: str
    reference: str
    incident_id: str | None = Field(description="the incident named when it was filed, if one was")
    province_code: str
    commune_code: str
    village: str
    phone: str
    description: str
    kind: str
    household_id: str | None
    source: str = Field(description="officer | public")
    filed_at: datetime
    due_at: datetime
    rule_version: str
    status: str = Field(description="open | assessed | rejected | merged")
    ended_at: datetime | None
    ended_by: str | None
    assessment: dict[str, str] | None
    reason: str | None
    merged_into: str | None
    version: int


class PublicRequestFiled(Body):
    reference: str = Field(description="10 letters and digits to follow the request by; keep it")
    filed_at: datetime
    due_at: datetime = Field(description="by when it is to be answered")
    replayed: bool


class PublicRequestStatus(Body):
    """Status and dates only."""

    reference: str
    status: str = Field(description="open | assessed | rejected | merged")
    filed_at: datetime
    due_at: datetime
    ended_at: datetime | None


class Counts(Body):
    arrived: int = Field(description="filed by then")
    answered_in_time: int = Field(description="assessed or rejected by their deadline")
    answered_late: int = Field(description="assessed or rejected after their deadline")
    overdue: int = Field(description="not answered, and past their deadline (the clock alone decides)")
    pending: int = Field(description="not answered, deadline still ahead")
    merged: int = Field(description="merged into another request, followed through that one")


class ProvinceCounts(ProvinceNamed, Counts):
    province_code: str


class CommuneCounts(CommuneNamed, Counts):
    province_code: str
    commune_code: str


class CountsQuery(AsOfQuery):
    province: ProvinceCode | None = Field(None, description="only this province's communes")


class RequestCounts(Body):
    """Per province and commune: counts only, never a name, phone or text."""

    as_of: datetime
    known: str
    provinces: list[ProvinceCounts]
    communes: list[CommuneCounts] = Field(description="communes with a request filed by then, in code order")


class OverdueQuery(AsOfQuery):
    limit: int = Field(100, ge=1, le=1000)
    after: str | None = Field(None, pattern=CURSOR, description="the `next_after` of the page before")


class OverdueRequests(Body):
    commune_code: str
    as_of: datetime
    known: str
    total: int = Field(description="overdue requests of the commune, in all")
    requests: list[OverdueRequest] = Field(description="oldest deadline first")
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


async def _counts(call: Call, scope: Scope) -> web.Response:
    query: CountsQuery = call.query()
    if query.province is not None and scope.provinces is not None and query.province not in scope.provinces:
        # as coverage does: asking outside the scope is refused, not answered empty
        raise Forbidden(f"{query.province} is outside your scope", field="province", code="out_of_scope")
    read_models = call.request.app[keys.READ_MODELS]
    at = await read_models.instant(query.as_of)
    point = Point(at.at, query.known, at.position)
    communes = await read_models.read(lambda store: request_reads.counts(store, point, areas_of(scope),
                                                                         query.province))
    return respond(RequestCounts(
        as_of=at.at, known=query.known, provinces=[ProvinceCounts.model_validate(r)
                                                   for r in request_reads.by_province(communes)],
        communes=[CommuneCounts.model_validate(r) for r in communes]))


async def scoped_counts(call: Call) -> web.Response:
    return await _counts(call, call.principal.scope)


async def public_counts(call: Call) -> web.Response:
    return await _counts(call, Scope())


async def overdue(call: Call) -> web.Response:
    query: OverdueQuery = call.query()
    commune = validate_commune(call)
    read_models = call.request.app[keys.READ_MODELS]
    at = await read_models.instant(query.as_of)
    point = Point(at.at, query.known, at.position)
    after = None
    if query.after is not None:
        due, _, request_id = query.after.partition(".")
        after = (int(due), request_id)
    within = Areas(communes=frozenset({commune}))
    total, rows = await read_models.read(lambda store: request_reads.overdue(store, point, query.limit, within,
                                                                             after))
    following = rows[-1]["cursor"] if len(rows) == query.limit else None
    return respond(OverdueRequests(commune_code=commune, as_of=at.at, known=query.known, total=total,
                                   requests=[OverdueRequest.model_validate(r) for r in rows], next_after=following))


def validate_commune(call: Call) -> str:
    """The path's commune: a known one, in the caller's scope."""
    code = call.request.match_info["commune_code"]
    validate(_CommunePath, {"commune_code": code})
    commune = call.service.areas.communes.get(code)
    if commune is None:
        raise InvalidInput(f"unknown commune code {code!r}", field="commune_code", code="unknown_commune")
    if not call.principal.scope.allows(commune.province_code, code):
        raise Forbidden(f"commune {code} is outside your scope", field="commune_code", code="out_of_scope")
    return code


class _CommunePath(Body):
    commune_code: CommuneCode


async def request_view(call: Call) -> web.Response:
    request_id = as_uuid(call.request.match_info["request_id"], "request_id")
    found = await asyncio.to_thread(call.service.help_requests.summary, request_id, call.principal.scope)
    return respond(RequestView.model_validate(found))


async def file_public(call: Call) -> web.Response:
    settings = call.request.app[keys.SETTINGS]
    client = client_address(call.request, settings.trust_forwarded_for)
    try:
        call.request.app[LIMITER].take(client)
    except RateLimited as refused:
        return error_response(refused, {"Retry-After": str(refused.retry_after)})
    key = call.idempotency_key()
    command = validate(rc.FilePublicRequest, await call.body())
    meta = Meta(actor="public", role=None, request_id=call.request[keys.REQUEST_ID], source="api")
    # No token: retries are recognised by key and client address.
    result = await call.writer.submit(Submission(command, meta, key, Scope(), key_scope=f"public:{client}"))
    if isinstance(result, AidError):
        raise result
    filed = PublicRequestFiled(replayed=result.replayed, **{k: result.result[k] for k in
                                                             ("reference", "filed_at", "due_at")})
    return respond(filed, 200 if result.replayed else 201,
                   {"Idempotent-Replayed": "true"} if result.replayed else None)


async def public_status(call: Call) -> web.Response:
    raw = call.request.match_info["reference"]
    try:
        reference = _reference.validate_python(raw)
    except ValidationError:
        raise InvalidInput("a reference is 10 letters and digits (A-Z, 2-7)", field="reference",
                           code="invalid_reference") from None
    found = await asyncio.to_thread(call.service.help_requests.public_status, reference)
    return respond(PublicRequestStatus.model_validate(found))


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    app[LIMITER] = TokenBuckets(settings.public_requests_burst, settings.public_requests_per_hour)
    add_routes(app, [
        Route("GET", "/requests/{request_id}", "A request for help as recorded", request_view, RequestView,
              READERS),
        Route("GET", "/communes/{commune_code}/requests/overdue", "A commune's requests for help past their "
              "deadline and not answered (not yet assessed), oldest deadline first", overdue, OverdueRequests,
              READERS, query=OverdueQuery),
        Route("GET", "/request-counts", "Requests for help per province and commune: arrived, answered in time "
              "or late, overdue, pending", scoped_counts, RequestCounts, READERS, query=CountsQuery),
        Route("GET", "/public/request-counts", "Requests for help per province and commune, counts only (no "
              "token)", public_counts, RequestCounts, None, query=CountsQuery, tag="public"),
        Route("POST", "/public/requests", "File a request for help (no token; rate-limited per address)",
              file_public, PublicRequestFiled, None, body=rc.FilePublicRequest, status=201, tag="public"),
        Route("GET", "/public/requests/{reference}", "Follow a request for help by its reference: status and "
              "dates only", public_status, PublicRequestStatus, None, tag="public"),
    ])
