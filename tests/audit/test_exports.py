"""Exports read back from their files: totals match the projections and the recorded households."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from vietnam_provinces import Province, Ward

from emergency import clock
from emergency.scenario import ScenarioConfig, run_scenario, scenario_areas
from emergency.service import AidService
from infra.audit_chain import verify
from infra.cli import main
from infra.settings import Settings
from projections.coverage import coverage
from projections.store import ViewStore, open_view_store
from tests.support.factories import assess, open_incident, register

AT = datetime(2024, 9, 12, 5, 0, tzinfo=timezone.utc)
COVERAGE_TOTALS = ("households_in_need", "persons_in_need", "entitlements", "disbursed_on_time", "late", "overdue",
                   "entitled_vnd", "disbursed_vnd")
DAMAGED = ("partial", "heavy", "very_heavy")


@dataclass
class Storm:
    incident_id: str
    quiet_incident_id: str  # opened, nothing recorded in it yet
    households: list[dict[str, Any]]  # each household's record, as the service shows it

    def total(self, figure: str) -> int:
        return sum(h["current_assessment"][figure] for h in self.households if h["current_assessment"])

    def members_where(self, levels: tuple[str, ...]) -> int:
        return sum(h["members"] for h in self.households
                   if h["current_assessment"] and h["current_assessment"]["house_damage"] in levels)


@pytest.fixture
def storm(service: AidService) -> Storm:
    with clock.frozen_at(AT):
        report = run_scenario(service, ScenarioConfig(households=90, provinces=3, until=AT, seed=5))
        # Three injured, one of them seriously: Sendai B-2 and HXL count all three.
        hurt = register(service, report.incident_id, commune_code=scenario_areas(1, 1)["31"][0], members=5)
        assess(service, hurt, assessed_at=AT - timedelta(hours=1), dead=0, injured=3, seriously_injured=1,
               house_damage="partial", persons_short_of_food=0)
        quiet = open_incident(service, title="Lũ quét (chưa ghi nhận thiệt hại)")
    registered = [e.aggregate_id for e in service.log(0, 100_000) if e.kind == "HouseholdCase.Registered"]
    return Storm(str(report.incident_id), str(quiet), [service.household(h) for h in registered])


@pytest.fixture
def export(settings: Settings, tmp_path: Path):
    def run(kind: str, *extra: str) -> Path:
        out = tmp_path / f"{kind}.out"
        assert main(["--database-url", settings.database_url, "export", kind, "--at", AT.isoformat(),
                     "--output", str(out), *extra]) == 0
        return out
    return run


@pytest.fixture
def views(settings: Settings, export) -> Iterator[ViewStore]:
    """The projections the command brought up to date (its own settings name them)."""
    store = open_view_store(Settings(database_url=settings.database_url).views_url())
    yield store
    store.close()


def read_hxl(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[1], [dict(zip(rows[0], row)) for row in rows[2:]]


def total(rows: list[dict[str, str]], column: str) -> int:
    return sum(int(row[column] or 0) for row in rows)


def test_communes_csv_adds_up_to_the_incident(storm: Storm, export, views: ViewStore):
    hashtags, rows = read_hxl(export("hxl-communes", "--incident", storm.incident_id))
    assert hashtags[:5] == ["#event+id", "#adm1+code", "#adm1+name", "#adm2+code", "#adm2+name"]
    for row in rows:  # the names of the official list, as the package gives them
        assert row["province_name"] == Province.from_code(int(row["province_code"])).name
        assert row["commune_name"] == Ward.from_code(int(row["commune_code"])).name
    for tag in ("#affected+killed", "#affected+injured", "#affected+households", "#affected+inneed+ind",
                "#reached+households", "#date+reported"):
        assert tag in hashtags
    communes = {h["commune_code"] for h in storm.households}
    assert sorted(row["commune_code"] for row in rows) == sorted(communes)
    projected = coverage(views, storm.incident_id, AT, "incident")[0]
    for column in COVERAGE_TOTALS:
        assert total(rows, column) == projected[column], column
    assert total(rows, "killed") == storm.total("dead")
    assert total(rows, "missing") == storm.total("missing")
    assert total(rows, "injured") == storm.total("injured") > storm.total("seriously_injured")
    assert total(rows, "houses_destroyed") == sum(
        1 for h in storm.households if (h["current_assessment"] or {}).get("house_damage") == "total")
    reached = [h for h in storm.households
               if any(not d["voided"] and datetime.fromisoformat(d["delivered_at"]) <= AT
                      for d in h["disbursements"])]
    assert total(rows, "households_reached") == len(reached) > 0
    assert total(rows, "persons_reached") == sum(h["members"] for h in reached)


def test_incidents_csv_has_one_row_per_incident(storm: Storm, export, views: ViewStore):
    hashtags, rows = read_hxl(export("hxl-incidents"))
    assert hashtags[:3] == ["#event+id", "#event+name", "#event+type"]
    by_id = {row["incident_id"]: row for row in rows}
    assert set(by_id) == {storm.incident_id, storm.quiet_incident_id}
    busy, quiet = by_id[storm.incident_id], by_id[storm.quiet_incident_id]
    projected = coverage(views, storm.incident_id, AT, "incident")[0]
    for column in COVERAGE_TOTALS:
        assert int(busy[column]) == projected[column], column
    assert int(busy["killed"]) == storm.total("dead")
    assert busy["province_codes"].split() == sorted({h["province_code"] for h in storm.households})
    assert busy["province_names"].split("; ") == [
        Province.from_code(int(p)).name for p in busy["province_codes"].split()]
    assert quiet["households_in_need"] == "0" and quiet["timely_pct"] == ""


def test_sendai_figures_match_the_assessments(storm: Storm, export):
    hashtags, rows = read_hxl(export("sendai", "--incident", storm.incident_id))
    assert hashtags[1:3] == ["#indicator+code", "#indicator+name"]
    totals = {row["indicator"]: int(row["value"]) for row in rows if row["province_code"] == ""}
    assert totals == {"A-2": storm.total("dead"), "A-3": storm.total("missing"), "B-2": storm.total("injured"),
                      "B-3": storm.members_where(DAMAGED), "B-4": storm.members_where(("total",))}
    assert totals["B-3"] > 0 and totals["B-4"] > 0
    assert totals["B-2"] > storm.total("seriously_injured")  # the lightly injured are counted too
    for indicator, value in totals.items():
        provinces = [row for row in rows if row["indicator"] == indicator and row["province_code"]]
        assert len(provinces) == 3 and total(provinces, "value") == value
        assert [row["province_name"] for row in provinces] == [
            Province.from_code(int(row["province_code"])).name for row in provinces]


def test_event_log_as_json_lines(storm: Storm, export, service: AidService):
    lines = [json.loads(line) for line in export("events").read_text(encoding="utf-8").splitlines()]
    recorded = [e.to_dict() for e in service.log(0, 100_000)]
    assert [{k: v for k, v in line.items() if k != "hash"} for line in lines] == recorded
    chain = dict(service.app.recorder.select_chain(0, 100_000))
    assert {line["notification_id"]: line["hash"] for line in lines} == chain
    head = verify(service.app.recorder).head
    assert head is not None and (lines[-1]["notification_id"], lines[-1]["hash"]) == head


def test_an_unknown_incident_is_refused_before_any_line(storm: Storm, settings: Settings, tmp_path: Path, capsys):
    out = tmp_path / "none.csv"
    assert main(["--database-url", settings.database_url, "export", "sendai", "--incident",
                 "00000000-0000-4000-8000-00000000dead", "--output", str(out)]) == 2
    assert "no incident" in capsys.readouterr().err
    assert not out.exists() or out.read_text() == ""
