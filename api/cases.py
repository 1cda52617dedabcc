"""The read side behind coverage, the trend and the overdue list: the
persisted projections (`projections.coverage`), kept current by the
embedded runner.

The writer wakes the runner after every commit, and a query first waits (a
little) for the runner to reach the log's head, so a caller reads its own
writes. Every read is restricted to the caller's scope in SQL.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable, Sequence, TypeVar

import structlog

from api.models import CoverageView, OverdueCase
from emergency import clock
from emergency.errors import Forbidden
from emergency.service import AidService, Scope
from infra.settings import Settings
from projections import coverage as cov
from projections.asof import Instant, instant
from projections.catalog import open_views
from projections.runner import EmbeddedRunner
from projections.store import ViewStore

log = structlog.get_logger(__name__)

T = TypeVar("T")
# How long a query waits for the projections to reach the log's head before
# answering from what they hold.
FRESHNESS_WAIT = 2.0


def areas_of(scope: Scope) -> cov.Areas:
    return cov.Areas(scope.provinces, scope.communes)


class CaseView:
    def __init__(self, settings: Settings, service: AidService):
        self.service = service
        self.views = open_views(settings)
        # One projector per view store; until the views are current, readers get 503 catching_up.
        self.runner = EmbeddedRunner(service.app.recorder, self.views, lock=self.views.store.projector_lock())
        self.views.gate = self.runner.check_current

    def start(self) -> None:
        self.runner.start()

    def close(self) -> None:
        self.runner.stop()
        self.views.close()

    async def instant(self, as_of: str | None) -> Instant:
        """What a point (`as_of`; None: now) stands for."""
        return await self._read(lambda store: instant(store, self.service.app.recorder, as_of, clock.now))

    async def overdue(self, incident_id: str, at: Instant, known: str, scope: Scope, filters: cov.Filters,
                      limit: int, offset: int, after: cov.After | None) -> tuple[int, list[OverdueCase], str | None]:
        """(how many in all, one page, where the next page starts), within `scope`."""
        _check_asked(filters, scope)
        asked = cov.Filters(incident_id, filters.province_code, filters.commune_code, filters.support_type)
        total, rows = await self._read(lambda store: cov.overdue(store, at.at, asked, limit, offset, known,
                                                           areas_of(scope), after, at.position))
        following = rows[-1]["cursor"] if len(rows) == limit else None
        return total, [OverdueCase.model_validate(r) for r in rows], following

    async def coverage(self, incident_id: str, at: Instant, by: str, known: str = "now", scope: Scope = Scope(),
                       page: cov.Page = cov.Page()) -> tuple[int, list[CoverageView]]:
        """(rows in all, one page of them), within `scope`."""
        total, rows = await self._read(lambda store: cov.coverage_page(store, incident_id, at.at, by, known,
                                                                 areas_of(scope), page, at.position))
        return total, [CoverageView.model_validate(r) for r in rows]

    async def series(self, incident_id: str, moments: Sequence[datetime], known: str,
                     scope: Scope) -> list[CoverageView | None]:
        rows = await self._read(lambda store: cov.series(store, incident_id, moments, known, areas_of(scope)))
        return [CoverageView.model_validate(r) if r else None for r in rows]

    async def read(self, query: Callable[[ViewStore], T]) -> T:
        """Another view's query, run as these are: after the views reach the log's head."""
        return await self._read(query)

    async def _read(self, query: Callable[[ViewStore], T]) -> T:
        return await asyncio.to_thread(self._fresh_then, query)

    def _fresh_then(self, query: Callable[[ViewStore], T]) -> T:
        store = self.views.store  # refused at once while the views first catch up
        head = self.service.last_notification_id()
        self.runner.notify()
        if not self.runner.wait_for(head, FRESHNESS_WAIT):
            log.warning("projections_behind", head=head, position=self.views.position)
        return query(store)


def _check_asked(filters: cov.Filters, scope: Scope) -> None:
    """Asking for an area outside the scope is refused (rather than answered empty)."""
    for asked, parameter, allowed in ((filters.province_code, "province", scope.provinces),
                                      (filters.commune_code, "commune", scope.communes)):
        if asked is not None and allowed is not None and asked not in allowed:
            raise Forbidden(f"{asked} is outside your scope", field=parameter, code="out_of_scope")
