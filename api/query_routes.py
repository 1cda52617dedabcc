"""Read routes: a household, an incident, the overdue list, event history, health.

Reads run on worker threads (`asyncio.to_thread`, which keeps the request's
log context), never on the event loop and never in the writer's queue.
"""

from __future__ import annotations

import asyncio
import contextvars

from aiohttp import web

from api import keys
from api.auth import AUDITORS, READERS
from api.models import (
    AggregateEventPage,
    AggregateHistoryQuery,
    EventPage,
    EventView,
    Health,
    HistoryQuery,
    HouseholdView,
    IncidentView,
    OverdueList,
    OverdueQuery,
    ProjectionHealth,
    WriteStatus,
)
from api.routing import Call, Route, add_routes, respond
from emergency.service import as_uuid
from projections.coverage import After, Filters

HEALTH_TIMEOUT = 5.0


async def household(call: Call) -> web.Response:
    found = await asyncio.to_thread(call.service.household, call.request.match_info["household_id"])
    view = HouseholdView.model_validate(found)
    call.principal.check_scope(view.province_code, view.commune_code, "household_id")
    return respond(view)


async def incident(call: Call) -> web.Response:
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    return respond(IncidentView.model_validate(found))


async def overdue(call: Call) -> web.Response:
    query: OverdueQuery = call.query()
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    read_models = call.request.app[keys.READ_MODELS]
    # Now, or at a past point on either time axis (as the coverage route reads it).
    point = await read_models.instant(query.as_of)
    filters = Filters(province_code=query.province, commune_code=query.commune, support_type=query.support_type)
    total, page, following = await read_models.overdue(
        found["incident_id"], point, query.known, call.principal.scope, filters, query.limit, query.offset,
        _after(query.after))
    requests_total, requests = await read_models.overdue_requests(
        found["incident_id"], point, query.known, call.principal.scope, filters,
        query.limit if query.offset == 0 and query.after is None else 0)
    return respond(OverdueList(incident_id=found["incident_id"], as_of=point.at, total=total, offset=query.offset,
                               cases=page, next_after=following, requests_total=requests_total,
                               requests=requests))


def _after(cursor: str | None) -> After | None:
    """A page's end as the query gave it (its form is checked by the model)."""
    if cursor is None:
        return None
    due_at, household_id, support_type = cursor.split(".")
    return int(due_at), household_id, support_type


async def aggregate_events(call: Call) -> web.Response:
    call.principal.check_national("event histories")
    query: AggregateHistoryQuery = call.query()
    aggregate_id = str(as_uuid(call.request.match_info["aggregate_id"], "aggregate_id"))
    envelopes = await asyncio.to_thread(call.service.aggregate_history, aggregate_id, query.after_version,
                                        query.limit)
    return respond(AggregateEventPage(
        aggregate_id=aggregate_id, events=[EventView.of(e) for e in envelopes],
        next_after_version=envelopes[-1].version if envelopes else query.after_version))


async def events(call: Call) -> web.Response:
    call.principal.check_national("event histories")
    query: HistoryQuery = call.query()
    envelopes = await asyncio.to_thread(call.service.log, query.after, query.limit)
    return respond(EventPage(events=[EventView.of(e) for e in envelopes],
                             next_after=envelopes[-1].notification_id if envelopes else query.after))


async def healthz(call: Call) -> web.Response:
    app = call.request.app
    store = "postgresql" if app[keys.SETTINGS].is_postgres else "sqlite"
    runner, writes = app[keys.RUNNER], app[keys.WRITER].health

    def check() -> int:
        app[keys.AUTH].store.ping()
        return call.service.last_notification_id()

    last, message = None, None
    try:
        # On a thread of its own: it answers however busy the readers are (`api.executors`).
        thread = asyncio.get_running_loop().run_in_executor(app[keys.HEALTH], contextvars.copy_context().run, check)
        last = await asyncio.wait_for(thread, HEALTH_TIMEOUT)
    except Exception as error:  # any failure to answer is what this route reports
        message = f"{type(error).__name__}: {error}"
    position = runner.projections.position
    current = last is not None and (runner.current.is_set() or position >= last)
    status = ("unavailable" if last is None else "failing" if writes.failing
              else "ok" if current else "catching_up")
    health = Health(
        status=status, store=store, last_notification_id=last, message=message or writes.last_failure,
        projections=ProjectionHealth(position=position, head=last, current=current, projector=runner.projector,
                                     lag=None if last is None else max(last - position, 0)),
        writes=WriteStatus(failing=writes.failing, last_commit_at=writes.last_commit_at,
                           last_failure_at=writes.last_failure_at, last_failure=writes.last_failure))
    return respond(health, 200 if status == "ok" else 503, None if status == "ok" else {"Retry-After": "5"})


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/households/{household_id}", "A household's case: assessments, entitlements, payments",
              household, HouseholdView, READERS, tag="reads"),
        Route("GET", "/incidents/{incident_id}", "An incident", incident, IncidentView, READERS, tag="reads"),
        Route("GET", "/incidents/{incident_id}/overdue", "Entitlements past their deadline and not delivered",
              overdue, OverdueList, READERS, query=OverdueQuery, tag="reads"),
        Route("GET", "/aggregates/{aggregate_id}/events", "One record's events, in version order",
              aggregate_events, AggregateEventPage, AUDITORS, query=AggregateHistoryQuery, tag="history"),
        Route("GET", "/events", "Every event, in recorded order", events, EventPage, AUDITORS,
              query=HistoryQuery, tag="history"),
        Route("GET", "/healthz", "Whether the stores answer, writes succeed and the views are current (with the "
              "catch-up's progress)", healthz, Health, tag="service"),
    ])
