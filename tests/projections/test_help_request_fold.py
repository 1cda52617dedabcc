"""The request rows are a pure fold of the log: the same events delivered
again (an at-least-once feed), in other batches, change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from emergency import commands
from emergency import request_commands as rc
from emergency.service import AidService
from projections.help_requests import COLUMNS, HelpRequestProjection
from projections.request_reads import Point, counts
from projections.store import ViewStore, open_view_store
from tests.support.factories import COMMUNES, OTHER_COMMUNE, STORM_START, assess, open_incident, register


def rows(store: ViewStore) -> list[tuple[Any, ...]]:
    with store.read() as cur:
        return cur.execute(f"SELECT {', '.join(COLUMNS)} FROM request_rows ORDER BY request_id").fetchall()


def fold(url: str, service: AidService, batch: int, again: bool) -> ViewStore:
    store = open_view_store(url)
    projection = HelpRequestProjection()
    events = [e for e in service.log(limit=1000) if projection.wants(e)]
    with store.transaction() as cur:
        projection.create(cur)
        for delivery in ([events, events[::-1][:3] + events] if again else [events]):
            for start in range(0, len(delivery), batch):
                projection.apply(cur, delivery[start:start + batch])
    return store


def test_a_redelivered_log_folds_into_the_same_rows(service: AidService, storm_clock: None,
                                                    new_views_url: Callable[[], str]) -> None:
    household = register(service, open_incident(service))
    assessment = assess(service, household)["assessment_id"]
    filed = [service.execute(rc.FileRequest(
        commune_code=COMMUNES[0], village="Thôn 2", phone="0912345678", description="chưa ai đến",
        filed_at=STORM_START + timedelta(hours=h))).result["request_id"] for h in (1, 2, 3)]
    ended = dict(resolved_at=STORM_START + timedelta(hours=30), resolved_by="UBND xã")
    service.execute(rc.AssessRequest(request_id=filed[0], household_id=household, assessment_id=assessment, **ended))
    service.execute(rc.MergeRequest(request_id=filed[1], into_request_id=filed[0], **ended))
    once = fold(new_views_url(), service, 1000, again=False)
    twice = fold(new_views_url(), service, 2, again=True)
    assert rows(once) == rows(twice) and len(rows(once)) == 3
    point = Point(STORM_START + timedelta(hours=48))
    # one answered in time, one merged, one (filed at 3 h, due at 51 h) pending
    assert [(c["arrived"], c["answered_in_time"], c["merged"], c["pending"]) for c in counts(twice, point)] == \
        [(3, 1, 1, 1)]
    once.close()
    twice.close()


def test_a_request_naming_no_incident_counts_toward_the_one_open_over_its_commune_when_filed(
        service: AidService, storm_clock: None, new_views_url: Callable[[], str]) -> None:
    """Two incidents over one commune, the first closed at 10 h, the second
    started at 5 h: a request filed before 5 h counts toward the first, one
    filed after 10 h toward the second, one filed between them toward the
    latest started; one filed in a commune of neither toward none."""
    first = open_incident(service)
    second = open_incident(service, started_at=STORM_START + timedelta(hours=5))
    service.execute(commands.CloseIncident(incident_id=first, closed_at=STORM_START + timedelta(hours=10),
                                           reason="đã xong"))

    def file(hours: float, commune: str = COMMUNES[0]) -> str:
        return service.execute(rc.FileRequest(
            commune_code=commune, village="Thôn 2", phone="0912345678", description="chưa ai đến",
            filed_at=STORM_START + timedelta(hours=hours))).result["request_id"]
    filed = {file(1): str(first), file(7): str(second), file(12): str(second), file(12, OTHER_COMMUNE): None}
    store = fold(new_views_url(), service, 1000, again=False)
    with store.read() as cur:
        tied = dict(cur.execute("SELECT request_id, incident_id FROM request_rows").fetchall())
    store.close()
    assert tied == filed
