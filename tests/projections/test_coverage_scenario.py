"""A synthetic typhoon of 10,000 households, on each store: the persisted
coverage equals an independent recomputation from the raw events, on both
time axes; as-of replays equal what the live projection showed during the
run; a rebuild writes the same rows as the incremental runner.

The recomputation below is written from the domain rules, not from the
projection's code: it folds the envelopes into plain dicts with datetimes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from uuid import UUID

import pytest

from emergency import clock, commands
from emergency.envelope import Envelope
from emergency.errors import AidError
from emergency.scenario import ScenarioConfig, run_scenario
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.asof import Cutoff, instant, replay
from projections.cases import TABLES as CASE_TABLES
from projections.catalog import default_projections, open_views
from projections.coverage import GROUPINGS, Filters, Page, coverage, coverage_page, overdue, series
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import open_view_store
from projections.timeline import FIELDS
from tests.projections.reference import overdue_keys, recompute, same

pytestmark = pytest.mark.slow

UNTIL = datetime(2024, 9, 12, 10, 0, tzinfo=timezone.utc)
STARTED = UNTIL - timedelta(days=5)
# Moments at which the test reads the live projection while the scenario runs.
SNAPSHOT_AT = (STARTED + timedelta(days=1, hours=6), STARTED + timedelta(days=2, hours=12),
               STARTED + timedelta(days=4))
CORRECTED_AT = UNTIL + timedelta(hours=2)
MOMENTS = (STARTED + timedelta(days=2), UNTIL, UNTIL + timedelta(days=3))


@dataclass
class Snapshot:
    at: datetime
    position: int
    rows: list[dict[str, Any]]
    overdue: tuple[int, list[dict[str, Any]]]


@dataclass
class Run:
    service: AidService
    views: ProjectionSet
    incident_id: str
    snapshots: list[Snapshot] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)


def _live_snapshots(service: AidService, runner: EmbeddedRunner, run: Run):
    pending = list(SNAPSHOT_AT)
    batches = 0

    def progress(_: int) -> None:
        nonlocal batches
        batches += 1
        if batches % 7 == 0:  # keep up incrementally, in uneven steps
            runner.catch_up()
        if pending and clock.now() >= pending[0]:
            pending.pop(0)
            runner.catch_up()
            now = clock.now()
            incident = run.incident_id or _incident(service)
            run.snapshots.append(Snapshot(now, runner.projections.position,
                                          coverage(runner.projections.store, incident, now, "province"),
                                          overdue(runner.projections.store, now, Filters(incident), limit=50)))
    return progress


def _incident(service: AidService) -> str:
    return service.log(0, 1)[0].aggregate_id


def _corrections(service: AidService, envelopes: list[Envelope]) -> None:
    """Mistakes found after the fact: voided and restated disbursements,
    corrected household sizes, and re-assessments that revise or withdraw
    entitlements."""
    rng = random.Random(7)
    paid = [e for e in envelopes if e.kind == "HouseholdCase.Disbursed"]
    households = sorted({e.aggregate_id for e in envelopes if e.kind == "HouseholdCase.EntitlementDetermined"})
    with clock.frozen_at(CORRECTED_AT):
        for e in rng.sample(paid, 150):
            d = e.data["disbursement"]
            restate = d.get("amount_vnd") and d["amount_vnd"] > 1000 and rng.random() < 0.5
            service.execute(commands.CorrectDisbursement(
                household_id=UUID(e.aggregate_id), disbursement_id=UUID(d["disbursement_id"]),
                void=not restate, amount_vnd=d["amount_vnd"] // 2 if restate else None, reason="sai sót"))
        for household in rng.sample(households, 60):
            service.execute(commands.CorrectHousehold(household_id=UUID(household), members=rng.randint(1, 9),
                                               reason="đếm lại nhân khẩu"))
        for household in rng.sample(households, 60):
            service.execute(commands.AssessDamage(
                household_id=UUID(household), assessed_at=CORRECTED_AT - timedelta(hours=1),
                house_damage=rng.choice(("none", "heavy", "total")), persons_short_of_food=1,
                dead=int(rng.random() < 0.2)))
        # Amounts raised after the fact: as now known for an earlier day, they do not count yet.
        approved = [e for e in envelopes if e.kind == "HouseholdCase.Decided"
                    and e.data["decision"]["decision"] == "approve"
                    and e.data["decision"]["support_type"] in ("BURIAL", "INJURED", "HOUSE_REPAIR", "HOUSE_REBUILD")]
        for e in rng.sample(approved, min(len(approved), 80)):
            try:
                service.execute(commands.RecordDecision(
                    household_id=UUID(e.aggregate_id), support_type=e.data["decision"]["support_type"],
                    decision="adjust", amount_vnd=45_000_000, reason="điều chỉnh theo thực tế",
                    decided_by="Chủ tịch UBND xã", decided_at=CORRECTED_AT - timedelta(minutes=30)))
            except AidError:  # withdrawn by a re-assessment above
                pass


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _log(service: AidService) -> list[Envelope]:
    found: list[Envelope] = []
    while page := service.log(found[-1].notification_id if found else 0, 10_000):
        found.extend(page)
    return found


@pytest.fixture(scope="module")
def run(module_settings: Settings) -> Iterator[Run]:
    service = build_service(module_settings)
    views = open_views(module_settings)
    runner = EmbeddedRunner(service.app.recorder, views, batch_size=3000)
    result = Run(service, views, "")
    report = run_scenario(service, ScenarioConfig(households=10_000, until=UNTIL, started_at=STARTED),
                          progress=_live_snapshots(service, runner, result))
    result.incident_id = str(report.incident_id)
    _corrections(service, _log(service))
    runner.catch_up()
    result.envelopes = _log(service)
    yield result
    views.store.close()
    service.app.close()


def recorded_by(envelopes: list[Envelope], moment: datetime) -> list[Envelope]:
    return [e for e in envelopes if datetime.fromisoformat(e.recorded_at) <= moment]


# ----- the tests ------------------------------------------------------------------------


def test_the_scenario_is_large_and_mixed(run: Run):
    kinds = {e.kind for e in run.envelopes}
    assert sum(e.kind == "HouseholdCase.Registered" for e in run.envelopes) == 10_000
    assert {"HouseholdCase.DisbursementCorrected", "HouseholdCase.EntitlementWithdrawn",
            "HouseholdCase.DetailsCorrected"} <= kinds
    total = coverage(run.views.store, run.incident_id, UNTIL, "incident")[0]
    assert total["late"] > 100 and total["overdue"] > 100 and total["disbursed_on_time"] > 1000
    late_syncs = [e for e in run.envelopes if e.kind == "HouseholdCase.DamageAssessed"
                  and _t(e.recorded_at) - _t(e.data["assessment"]["assessed_at"]) > timedelta(hours=6)]
    adjusted_later = [e for e in run.envelopes if e.kind == "HouseholdCase.Decided"
                      and e.data["decision"]["decision"] == "adjust" and _t(e.recorded_at) >= CORRECTED_AT]
    assert len(late_syncs) > 500 and len(adjusted_later) > 20


@pytest.mark.parametrize("known", ["now", "then"])
@pytest.mark.parametrize("moment", MOMENTS, ids=["day2", "until", "later"])
def test_coverage_equals_recomputation(run: Run, moment: datetime, known: str):
    for by in GROUPINGS:
        rows = coverage(run.views.store, run.incident_id, moment, by, known)
        same(rows, recompute(run.envelopes, moment, by, known), pytest.approx)


def test_as_known_then_equals_the_slow_replay_of_what_was_recorded(run: Run):
    moment = MOMENTS[0]
    then = replay(run.service.app.recorder, Cutoff(recorded_at=moment), default_projections())
    for by in GROUPINGS:
        assert coverage(run.views.store, run.incident_id, moment, by, "then") == \
            coverage(then.store, run.incident_id, moment, by, "now")
    assert overdue(run.views.store, moment, Filters(run.incident_id), limit=100_000, known="then") == \
        overdue(then.store, moment, Filters(run.incident_id), limit=100_000, known="now")
    # Late field submissions: known now, they add to that day's picture;
    # what was known then stays as it was reported.
    assert coverage(run.views.store, run.incident_id, moment, "incident", "now")[0]["households_in_need"] > \
        coverage(run.views.store, run.incident_id, moment, "incident", "then")[0]["households_in_need"]
    then.store.close()


@pytest.mark.parametrize("known", ["now", "then"])
def test_overdue_list_equals_recomputation(run: Run, known: str):
    total, page = overdue(run.views.store, UNTIL, Filters(run.incident_id), limit=100_000, known=known)
    expected = overdue_keys(run.envelopes, UNTIL, known)
    assert total == len(page) == len(expected)
    assert [(r["household_id"], r["support_type"]) for r in page] == expected
    first = page[0]
    for narrowed in (Filters(run.incident_id, province_code=first["province_code"]),
                     Filters(run.incident_id, commune_code=first["commune_code"]),
                     Filters(run.incident_id, support_type=first["support_type"]),
                     Filters(run.incident_id, first["province_code"], support_type=first["support_type"])):
        count, rows = overdue(run.views.store, UNTIL, narrowed, limit=100_000, known=known)
        wanted = [r for r in page if all(getattr(narrowed, k) in (None, r[k])
                                         for k in ("province_code", "commune_code", "support_type"))]
        assert count == len(wanted) and rows == wanted


def test_overdue_pages_by_keyset_equal_the_whole_list(run: Run):
    _, whole = overdue(run.views.store, UNTIL, Filters(run.incident_id), limit=100_000)
    pages, after = [], None
    while True:
        _, page = overdue(run.views.store, UNTIL, Filters(run.incident_id), limit=97, after=after)
        if not page:
            break
        pages += page
        due_at, household_id, support_type = page[-1]["cursor"].split(".")
        after = (int(due_at), household_id, support_type)
    assert pages == whole and len(whole) > 97


def test_as_of_equals_what_the_live_projection_showed(run: Run):
    assert len(run.snapshots) == len(SNAPSHOT_AT)
    source = run.service.app.recorder
    for shot in run.snapshots:
        assert coverage(run.views.store, run.incident_id, shot.at, "province", "then") == shot.rows
        assert overdue(run.views.store, shot.at, Filters(run.incident_id), limit=50, known="then") == shot.overdue
        assert instant(run.views.store, source, str(shot.position), clock.now) == (shot.at, shot.position)
        for cutoff in (Cutoff(recorded_at=shot.at), Cutoff(notification_id=shot.position)):
            then = replay(source, cutoff, default_projections())
            assert then.position == shot.position
            assert then.at == shot.at
            assert coverage(then.store, run.incident_id, then.at, "province") == shot.rows
            assert overdue(then.store, then.at, Filters(run.incident_id), limit=50) == shot.overdue
            then.store.close()


def test_the_trend_equals_coverage_at_each_moment(run: Run):
    moments = [STARTED + timedelta(hours=5 * i, minutes=7 * i) for i in range(30)]
    for known in ("now", "then"):
        trend = series(run.views.store, run.incident_id, moments, known)
        for at, point in zip(moments, trend):
            whole = coverage(run.views.store, run.incident_id, at, "incident", known)
            expected = {**whole[0], "median_hours_to_delivery": None, "p90_hours_to_delivery": None} \
                if whole else None
            assert point == expected


@pytest.mark.parametrize("known", ["now", "then"])
def test_a_page_of_communes_ranked_by_the_database_equals_the_whole_list_ranked(run: Run, known: str):
    whole_at = {sort: coverage(run.views.store, run.incident_id, MOMENTS[0], "commune", known, page=Page(sort))
                for sort in ("code", "gap", "overdue")}
    name = whole_at["code"][3]["commune_name"]
    for sort, whole in whole_at.items():
        for search in (None, name.split()[-1].lower(), whole[5]["commune_code"][-3:], "no such commune"):
            every = coverage(run.views.store, run.incident_id, MOMENTS[0], "commune", known, page=Page(sort, search))
            assert search is not None or every == whole
            for offset in (0, 7, len(every) - 3):
                total, page = coverage_page(run.views.store, run.incident_id, MOMENTS[0], "commune", known,
                                            page=Page(sort, search, limit=5, offset=max(offset, 0)))
                assert (total, page) == (len(every), every[max(offset, 0):max(offset, 0) + 5]), (sort, search)


def _dump(store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a rebuild must reproduce; the coverage sums as their totals
    per key (how a batch splits them into rows depends on its size)."""
    metrics = ", ".join(f"SUM({name})" for name in FIELDS)
    queries = {t: f"SELECT * FROM {t}" for t in (*CASE_TABLES, "cov_households", "cov_overdue", "cov_durations")}
    keys = "incident_no, axis, t, known_id, province_code, commune_code, support_type"
    queries["cov_deltas"] = f"SELECT {keys}, {metrics} FROM cov_deltas GROUP BY {keys}"
    queries["cov_totals"] = "SELECT * FROM cov_totals"
    with store.read() as cur:
        return {t: sorted((r for r in cur.execute(q).fetchall() if t not in ("cov_deltas", "cov_totals")
                           or any(r[-len(FIELDS):])), key=repr) for t, q in queries.items()}


def test_a_rebuild_writes_the_same_rows_as_the_incremental_runner(run: Run):
    rebuilt = ProjectionSet(open_view_store("sqlite:///:memory:"), default_projections())
    EmbeddedRunner(run.service.app.recorder, rebuilt, batch_size=20_000).catch_up()
    assert _dump(rebuilt.store) == _dump(run.views.store)
