"""The read side behind the overdue list and public coverage: the persisted
case projection (`projections.cases`), kept current by the embedded runner.

The writer wakes the runner after every commit, and a query first waits (a
little) for the runner to reach the log's head, so a caller reads its own
writes. Routes ask only `overdue()` and `coverage()` of this module.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable, TypeVar

import structlog

from api.models import CoverageView, OverdueCase
from emergency.errors import Forbidden
from emergency.service import AidService, Scope
from infra.settings import Settings
from projections import coverage as cov
from projections.catalog import open_views
from projections.runner import EmbeddedRunner
from projections.store import ViewStore

log = structlog.get_logger(__name__)

T = TypeVar("T")
# How long a query waits for the projections to reach the log's head before
# answering from what they hold.
FRESHNESS_WAIT = 2.0
# A scope of several areas is filtered after the query: read at most this many.
SCOPED_READ_LIMIT = 1_000_000


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

    async def overdue(self, incident_id: str, at: datetime, scope: Scope, filters: cov.Filters, limit: int,
                      offset: int, store: ViewStore | None = None) -> tuple[int, list[OverdueCase]]:
        """(how many in all, one page), restricted to what `scope` may see;
        from `store` when given (a past point's replay), else the live rows."""
        rows_at = store or self.views.store
        filters = _narrowed(cov.Filters(incident_id, filters.province_code, filters.commune_code,
                                        filters.support_type), scope)
        if _single_area(scope):
            total, rows = await self._read(lambda: cov.overdue(rows_at, at, filters, limit, offset))
        else:
            _, everything = await self._read(lambda: cov.overdue(rows_at, at, filters, SCOPED_READ_LIMIT))
            allowed = [r for r in everything if scope.allows(r["province_code"], r["commune_code"])]
            total, rows = len(allowed), allowed[offset:offset + limit]
        return total, [OverdueCase.model_validate(r) for r in rows]

    async def coverage(self, incident_id: str, at: datetime, by: str) -> list[CoverageView]:
        rows = await self._read(lambda: cov.coverage(self.views.store, incident_id, at, by))
        return [CoverageView.model_validate(r) for r in rows]

    async def _read(self, query: Callable[[], T]) -> T:
        return await asyncio.to_thread(self._fresh_then, query)

    def _fresh_then(self, query: Callable[[], T]) -> T:
        head = self.service.last_notification_id()
        self.runner.notify()
        if not self.runner.wait_for(head, FRESHNESS_WAIT):
            log.warning("projections_behind", head=head, position=self.views.position)
        return query()


def _single_area(scope: Scope) -> bool:
    """Whether the SQL filters alone express the scope (everywhere, or one area)."""
    return len(scope.communes or ()) <= 1 and len(scope.provinces or ()) <= 1


def _narrowed(filters: cov.Filters, scope: Scope) -> cov.Filters:
    """Filters with the scope's one province or one commune filled in; asking
    for an area outside the scope is refused."""
    narrowed = {"province_code": filters.province_code, "commune_code": filters.commune_code}
    for name, parameter, allowed in (("province_code", "province", scope.provinces),
                                     ("commune_code", "commune", scope.communes)):
        asked = narrowed[name]
        if allowed is None:
            continue
        if asked is None and len(allowed) == 1:
            narrowed[name] = next(iter(allowed))
        elif asked is not None and asked not in allowed:
            raise Forbidden(f"{asked} is outside your scope", field=parameter, code="out_of_scope")
    return cov.Filters(filters.incident_id, support_type=filters.support_type, **narrowed)
