"""The read side the routes query: every persisted projection (the view
store of `projections.catalog`), kept current by the embedded runner.

`ReadModels.read(query)` runs a query on the view store off the event loop.
The writer wakes the runner after every commit, and a query first waits (a
little) for the runner to reach the log's head, so a caller reads its own
writes; while the views first catch up, reads are refused (503
`catching_up`). Coverage, the trend and the overdue list are methods of
their own, restricted to the caller's scope in SQL.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Callable, Sequence, TypeVar

import structlog

from api.models import CoverageView, OverdueCase, OverdueRequest
from emergency import clock
from emergency.batch import Scope
from emergency.errors import Forbidden
from emergency.service import AidService
from infra.settings import Settings
from projections import coverage as cov
from projections import request_reads as requests
from projections.asof import Instant, instant
from projections.catalog import open_views
from projections.runner import EmbeddedRunner
from projections.store import NeverHeld, ViewStore

log = structlog.get_logger(__name__)

T = TypeVar("T")
# How long a query waits (seconds) for the projections to reach the log's
# head before answering from what they hold.
FRESHNESS_WAIT = 2.0
# How often (seconds) a server whose views another process writes reads their positions.
FOLLOW_INTERVAL = 0.02


def areas_of(scope: Scope) -> cov.Areas:
    return cov.Areas(scope.provinces, scope.communes)


class ReadModels:
    """The view store with every projection, its runner, and the queries the routes make of it."""

    def __init__(self, settings: Settings, service: AidService):
        self.service = service
        self.views = open_views(settings)
        # One projector per view store; until the views are current, readers get 503 catching_up.
        # A follower checks the projector's positions often: read-your-writes waits on them.
        external = settings.projector == "external"
        lock = NeverHeld() if external else self.views.store.projector_lock()
        self.runner = EmbeddedRunner(service.app.recorder, self.views, lock=lock,
                                     poll_interval=FOLLOW_INTERVAL if external else 0.5)
        self.views.gate = self.runner.check_current

    def start(self) -> None:
        self.runner.start()

    def close(self) -> None:
        self.runner.stop()
        self.views.close()

    @property
    def position(self) -> int:
        """The notification id every projection has reached."""
        return self.views.position

    async def read(self, query: Callable[[ViewStore], T], fresh: float = FRESHNESS_WAIT) -> T:
        """`query` on the view store, on a worker thread, after waiting up to
        `fresh` seconds for the views to reach the log's head (0: at once,
        from what they hold)."""
        return await asyncio.to_thread(self.read_here, query, fresh)

    def read_here(self, query: Callable[[ViewStore], T], fresh: float = FRESHNESS_WAIT) -> T:
        """The same on the caller's thread (one off the event loop)."""
        store = self.views.store  # refused at once while the views first catch up
        if fresh:
            head = self.service.last_notification_id()
            self.runner.notify()
            if not self.runner.wait_for(head, fresh):
                log.warning("projections_behind", head=head, position=self.views.position)
        return query(store)

    async def instant(self, as_of: str | None) -> Instant:
        """What a point (`as_of`; None: now) stands for."""
        return await self.read(lambda store: instant(store, self.service.app.recorder, as_of, clock.now))

    async def overdue(self, incident_id: str, at: Instant, known: str, scope: Scope, filters: cov.Filters,
                      limit: int, offset: int, after: cov.After | None) -> tuple[int, list[OverdueCase], str | None]:
        """(how many in all, one page, where the next page starts), within `scope`."""
        _check_asked(filters, scope)
        asked = cov.Filters(incident_id, filters.province_code, filters.commune_code, filters.support_type)
        total, rows = await self.read(lambda store: cov.overdue(store, at.at, asked, limit, offset, known,
                                                           areas_of(scope), after, at.position))
        following = rows[-1]["cursor"] if len(rows) == limit else None
        return total, [OverdueCase.model_validate(r) for r in rows], following

    async def overdue_requests(self, incident_id: str, at: Instant, known: str, scope: Scope, filters: cov.Filters,
                               limit: int) -> tuple[int, list[OverdueRequest]]:
        """(how many in all, the first `limit`): the incident's requests for help
        overdue within the areas filtered and `scope`; none by support type."""
        _check_asked(filters, scope)
        if filters.support_type is not None:
            return 0, []
        within = cov.Areas(_narrowed(filters.province_code, scope.provinces),
                           _narrowed(filters.commune_code, scope.communes))
        point = requests.Point(at.at, known, at.position)
        total, rows = await self.read(lambda store: requests.overdue(store, point, limit, within,
                                                                     incident_id=incident_id))
        return total, [OverdueRequest.model_validate(r) for r in rows]

    async def coverage(self, incident_id: str, at: Instant, by: str, known: str = "now", scope: Scope = Scope(),
                       page: cov.Page = cov.Page()) -> tuple[int, list[CoverageView]]:
        """(rows in all, one page of them), within `scope`."""
        def query(store: ViewStore) -> tuple[int, list[dict[str, Any]]]:
            total, rows = cov.coverage_page(store, incident_id, at.at, by, known, areas_of(scope), page, at.position)
            # Areas with requests and no case yet follow the last page (none while searching by name).
            last = page.limit is None or page.offset + page.limit >= total
            with store.read() as cur:
                found = requests.with_requests(cur, rows, incident_id, requests.Point(at.at, known, at.position),
                                               by, areas_of(scope), add_missing=last and not page.search)
            return total + len(found) - len(rows), found
        total, rows = await self.read(query)
        return total, [CoverageView.model_validate(r) for r in rows]

    async def series(self, incident_id: str, moments: Sequence[datetime], known: str,
                     scope: Scope) -> list[CoverageView | None]:
        def query(store: ViewStore) -> list[dict[str, Any] | None]:
            rows = cov.series(store, incident_id, moments, known, areas_of(scope))
            with store.read() as cur:
                return requests.trend_with_requests(cur, rows, incident_id, list(moments), known, areas_of(scope))
        return [CoverageView.model_validate(r) if r else None for r in await self.read(query)]


def _narrowed(asked: str | None, allowed: frozenset[str] | None) -> frozenset[str] | None:
    """The areas a filter leaves of a scope (`_check_asked` refused one outside it)."""
    return allowed if asked is None else frozenset({asked})


def _check_asked(filters: cov.Filters, scope: Scope) -> None:
    """Asking for an area outside the scope is refused (rather than answered empty)."""
    for asked, parameter, allowed in ((filters.province_code, "province", scope.provinces),
                                      (filters.commune_code, "commune", scope.communes)):
        if asked is not None and allowed is not None and asked not in allowed:
            raise Forbidden(f"{asked} is outside your scope", field=parameter, code="out_of_scope")
