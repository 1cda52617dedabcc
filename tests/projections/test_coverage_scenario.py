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
from statistics import median, quantiles
from typing import Any, Iterator
from uuid import UUID

import pytest

from emergency import clock
from emergency import commands as c
from emergency.envelope import Envelope
from emergency.scenario import ScenarioConfig, run_scenario
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.asof import Cutoff, replay
from projections.catalog import default_projections, open_views
from projections.cases import TABLES
from projections.coverage import GROUPINGS, Filters, coverage, overdue
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import open_view_store

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
            service.execute(c.CorrectDisbursement(
                household_id=UUID(e.aggregate_id), disbursement_id=UUID(d["disbursement_id"]),
                void=not restate, amount_vnd=d["amount_vnd"] // 2 if restate else None, reason="sai sót"))
        for household in rng.sample(households, 60):
            service.execute(c.CorrectHousehold(household_id=UUID(household), members=rng.randint(1, 9),
                                               reason="đếm lại nhân khẩu"))
        for household in rng.sample(households, 60):
            service.execute(c.AssessDamage(
                household_id=UUID(household), assessed_at=CORRECTED_AT - timedelta(hours=1),
                house_damage=rng.choice(("none", "heavy", "total")), persons_short_of_food=1,
                dead=int(rng.random() < 0.2)))


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


# ----- the independent recomputation ------------------------------------------------


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def recompute(envelopes: list[Envelope], at: datetime, by: str) -> list[dict[str, Any]]:
    households: dict[str, dict[str, Any]] = {}
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    paid: dict[str, dict[str, Any]] = {}
    for e in envelopes:
        d, h = e.data, households.get(e.aggregate_id)
        if e.kind == "HouseholdCase.Registered":
            households[e.aggregate_id] = dict(incident_id=d["incident_id"], province_code=d["province_code"],
                                              commune_code=d["commune_code"], members=d["members"], seen={})
        elif e.kind == "HouseholdCase.DetailsCorrected":
            h["members"] = d["changes"].get("members", h["members"])
        elif e.kind == "HouseholdCase.DamageAssessed":
            h["seen"][d["assessment"]["assessment_id"]] = _t(d["assessment"]["assessed_at"])
        elif e.kind == "HouseholdCase.EntitlementDetermined":
            ent = d["entitlement"]
            key = (e.aggregate_id, ent["support_type"])
            before = cases.get(key)
            since = before["since"] if before and before["status"] != "withdrawn" else h["seen"][d["basis"]]
            cases[key] = dict(since=since, due=_t(ent["due_at"]), vnd=ent["amount_vnd"], qty=ent["quantity"],
                              unit=ent["unit"], status="pending", decided=None, withdrawn=None)
        elif e.kind == "HouseholdCase.EntitlementWithdrawn":
            cases[(e.aggregate_id, d["support_type"])].update(status="withdrawn", withdrawn=h["seen"][d["basis"]])
        elif e.kind == "HouseholdCase.Decided":
            decision = d["decision"]
            case = cases[(e.aggregate_id, decision["support_type"])]
            case.update(status=decision["decision"], decided=_t(decision["decided_at"]))
            if decision["decision"] == "adjust":
                case.update(vnd=decision.get("amount_vnd"), qty=decision.get("quantity"))
        elif e.kind == "HouseholdCase.Disbursed":
            x = d["disbursement"]
            paid[x["disbursement_id"]] = dict(key=(e.aggregate_id, x["support_type"]), at=_t(x["delivered_at"]),
                                              vnd=x.get("amount_vnd") or 0, qty=x.get("quantity") or 0, void=False)
        elif e.kind == "HouseholdCase.DisbursementCorrected":
            x = d["correction"]
            p = paid[x["disbursement_id"]]
            p["void"] = p["void"] or x["void"]
            p["vnd"] = x["amount_vnd"] if x.get("amount_vnd") is not None else p["vnd"]
            p["qty"] = x["quantity"] if x.get("quantity") is not None else p["qty"]
    by_case: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in paid.values():
        if not p["void"]:
            by_case.setdefault(p["key"], []).append(p)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for key, case in cases.items():
        h = households[key[0]]
        if case["since"] > at or (case["status"] == "withdrawn" and case["withdrawn"] <= at):
            continue
        where = dict(h, support_type=key[1])
        g = groups.setdefault(tuple(where[f] for f in GROUPINGS[by]), dict(
            n=0, decided=0, rejected=0, on_time=0, late=0, overdue=0, within=0, vnd=0, paid_vnd=0, rice=0,
            paid_rice=0, homes={}, late_homes=set(), hours=[]))
        decided = case["decided"] is not None and case["decided"] <= at
        g["decided"] += decided
        if case["status"] == "reject" and decided:
            g["rejected"] += 1
            continue
        deliveries = sorted(by_case.get(key, []), key=lambda p: p["at"])
        done = None
        if case["vnd"] is not None or case["qty"] is not None:
            vnd = qty = 0
            for p in deliveries:
                vnd, qty = vnd + p["vnd"], qty + p["qty"]
                if vnd >= (case["vnd"] or 0) and qty >= (case["qty"] or 0):
                    done = p["at"]
                    break
        g["n"] += 1
        g["homes"][key[0]] = h["members"]
        if done is not None and done <= at:
            g["on_time" if done <= case["due"] else "late"] += 1
            g["hours"].append((done - case["since"]).total_seconds() / 3600)
        elif case["due"] < at:
            g["overdue"] += 1
            g["late_homes"].add(key[0])
        else:
            g["within"] += 1
        g["vnd"] += case["vnd"] or 0
        g["paid_vnd"] += sum(p["vnd"] for p in deliveries if p["at"] <= at)
        if case["unit"] == "kg rice":
            g["rice"] += case["qty"] or 0
            g["paid_rice"] += sum(p["qty"] for p in deliveries if p["at"] <= at)
    rows = []
    for key in sorted(groups):
        g = groups[key]
        counted = g["on_time"] + g["late"] + g["overdue"]
        hours = sorted(g["hours"])
        rows.append({
            **dict(zip(GROUPINGS[by], key)),
            "households_in_need": len(g["homes"]), "persons_in_need": sum(g["homes"].values()),
            "households_overdue": len(g["late_homes"]),
            "persons_overdue": sum(g["homes"][x] for x in g["late_homes"]),
            "entitlements": g["n"], "decided": g["decided"], "rejected": g["rejected"],
            "disbursed": g["on_time"] + g["late"], "disbursed_on_time": g["on_time"], "late": g["late"],
            "overdue": g["overdue"], "within_deadline": g["within"],
            "timely_pct": round(100 * g["on_time"] / counted, 2) if counted else None,
            "gap_to_target_pct": round(100 - 100 * g["on_time"] / counted, 2) if counted else None,
            "median_hours_to_delivery": round(median(hours), 2) if hours else None,
            "p90_hours_to_delivery": (round(hours[0] if len(hours) == 1 else
                                            quantiles(hours, n=10, method="inclusive")[-1], 2) if hours else None),
            "entitled_vnd": g["vnd"], "disbursed_vnd": g["paid_vnd"],
            "rice_entitled_kg": g["rice"], "rice_delivered_kg": g["paid_rice"],
        })
    return rows


def same(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Counts and money exactly; hours to the rounding's last digit."""
    assert [{k: v for k, v in r.items() if "hours" not in k} for r in rows] == \
        [{k: v for k, v in r.items() if "hours" not in k} for r in expected]
    for got, want in zip(rows, expected):
        for name in ("median_hours_to_delivery", "p90_hours_to_delivery"):
            assert got[name] == pytest.approx(want[name], abs=0.011), (got, name)


def recorded_by(envelopes: list[Envelope], moment: datetime) -> list[Envelope]:
    return [e for e in envelopes if _t(e.recorded_at) <= moment]


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
    assert len(late_syncs) > 500


@pytest.mark.parametrize("moment", MOMENTS, ids=["day2", "until", "later"])
def test_coverage_equals_recomputation_as_now_known(run: Run, moment: datetime):
    for by in GROUPINGS:
        same(coverage(run.views.store, run.incident_id, moment, by), recompute(run.envelopes, moment, by))


def test_coverage_as_known_then_equals_recomputation_of_what_was_recorded(run: Run):
    moment = MOMENTS[0]
    then = replay(run.service.app.recorder, Cutoff(recorded_at=moment), default_projections())
    for by in ("province", "support_type"):
        same(coverage(then.store, run.incident_id, moment, by), recompute(recorded_by(run.envelopes, moment), moment, by))
    # Late field submissions: known now, they add to that day's picture;
    # what was known then stays as it was reported.
    assert coverage(run.views.store, run.incident_id, moment, "incident")[0]["households_in_need"] > \
        coverage(then.store, run.incident_id, moment, "incident")[0]["households_in_need"]


def test_overdue_list_equals_recomputation(run: Run):
    total, page = overdue(run.views.store, UNTIL, Filters(run.incident_id), limit=100_000)
    expected = sum(r["overdue"] for r in recompute(run.envelopes, UNTIL, "incident"))
    assert total == len(page) == expected
    assert [r["due_at"] for r in page] == sorted(r["due_at"] for r in page)
    province = page[0]["province_code"]
    in_province, _ = overdue(run.views.store, UNTIL, Filters(run.incident_id, province_code=province), limit=1)
    assert in_province == sum(r["overdue"] for r in recompute(run.envelopes, UNTIL, "province")
                              if r["province_code"] == province)


def test_as_of_equals_what_the_live_projection_showed(run: Run):
    assert len(run.snapshots) == len(SNAPSHOT_AT)
    source = run.service.app.recorder
    for shot in run.snapshots:
        for cutoff in (Cutoff(recorded_at=shot.at), Cutoff(notification_id=shot.position)):
            then = replay(source, cutoff, default_projections())
            assert then.position == shot.position
            assert then.at == shot.at
            assert coverage(then.store, run.incident_id, then.at, "province") == shot.rows
            assert overdue(then.store, then.at, Filters(run.incident_id), limit=50) == shot.overdue
            then.store.close()


def _dump(store) -> dict[str, list[tuple[Any, ...]]]:
    with store.read() as cur:
        return {t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def test_a_rebuild_writes_the_same_rows_as_the_incremental_runner(run: Run):
    rebuilt = ProjectionSet(open_view_store("sqlite:///:memory:"), default_projections())
    EmbeddedRunner(run.service.app.recorder, rebuilt, batch_size=20_000).catch_up()
    assert _dump(rebuilt.store) == _dump(run.views.store)
