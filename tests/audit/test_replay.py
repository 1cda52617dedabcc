"""Auditor replay: the projections rebuilt up to a past point equal what the live
projections showed at that point; diff shows what changed in between."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest

from emergency import clock
from emergency.scenario import ScenarioConfig, run_scenario, scenario_areas
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from projections.asof import Cutoff
from projections.audit_replay import diff
from projections.cases import TABLES
from projections.catalog import open_views
from projections.coverage import GROUPINGS, coverage
from projections.exports import hxl_communes
from projections.runner import EmbeddedRunner
from projections.store import ViewStore, open_view_store
from tests.support.factories import assess, register

T1 = datetime(2024, 9, 12, 5, 0, tzinfo=timezone.utc)
T2 = T1 + timedelta(days=2)
FIRST_COMMUNE = scenario_areas(1, 1)["31"][0]  # the scenario's first commune of Hải Phòng
VIEW_TABLES = (*TABLES, "damage_households")


def dump(store: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projection table, in a stable order."""
    with store.read() as cur:
        return {table: sorted(tuple(row) for row in cur.execute(f"SELECT * FROM {table}").fetchall())
                for table in VIEW_TABLES}


def shown(store: ViewStore, incident_id: str, at: datetime) -> dict[str, Any]:
    """What the projections show of an incident at a moment: every coverage grouping and an export."""
    return {"coverage": {by: coverage(store, incident_id, at, by) for by in GROUPINGS},
            "communes": list(hxl_communes(store, incident_id, at)), "rows": dump(store)}


@dataclass
class History:
    incident_id: str
    position: int  # the log's head when the snapshot was taken
    snapshot: dict[str, Any]  # what the live projections showed then, at T1
    new_households: list[str]


@pytest.fixture
def history(service: AidService, settings: Settings) -> Iterator[History]:
    views = open_views(settings)
    runner = EmbeddedRunner(service.app.recorder, views)
    with clock.frozen_at(T1):
        report = run_scenario(service, ScenarioConfig(households=80, provinces=2, until=T1, seed=11))
    runner.catch_up()
    incident_id = str(report.incident_id)
    snapshot = shown(views.store, incident_id, T1)
    position = service.last_notification_id()
    # Later: more households found in the same incident, and another storm.
    with clock.frozen_at(T1 + timedelta(hours=3)):
        added = [register(service, report.incident_id, commune_code=FIRST_COMMUNE, members=3) for _ in range(3)]
        for household in added:
            assess(service, household, assessed_at=T1 + timedelta(hours=2), dead=0, persons_short_of_food=3)
    with clock.frozen_at(T2):
        run_scenario(service, ScenarioConfig(households=20, provinces=1, started_at=T1 + timedelta(hours=4),
                                             until=T2, seed=12))
    runner.catch_up()
    assert shown(views.store, incident_id, T1) != snapshot  # the live views moved on
    yield History(incident_id, position, snapshot, [str(h) for h in added])
    views.store.close()


@pytest.mark.parametrize("until", ["position", "time"])
def test_replay_until_a_point_equals_what_the_live_views_showed(history: History, settings: Settings,
                                                                new_views_url: Callable[[], str], until: str,
                                                                capsys: pytest.CaptureFixture[str]):
    replay_url = new_views_url()  # a view store of its own, on the same kind of database
    point = str(history.position) if until == "position" else T1.isoformat()
    assert main(["--database-url", settings.database_url, "replay", "--until", point, "--into", replay_url,
                 "--incident", history.incident_id]) == 0
    output = capsys.readouterr().out
    assert f"up to notification id {history.position}" in output
    assert "Timely coverage" in output
    replayed = open_view_store(replay_url)
    try:
        assert shown(replayed, history.incident_id, T1) == history.snapshot
    finally:
        replayed.close()


def test_replay_refuses_the_live_stores(service: AidService, settings: Settings, capsys):
    cli_settings = Settings(database_url=settings.database_url)  # as the command sees them
    for live in (cli_settings.database_url, cli_settings.views_url()):
        assert main(["--database-url", settings.database_url, "replay", "--until", "1", "--into", live]) == 2
        assert "field --into" in capsys.readouterr().err


def test_diff_shows_what_changed_for_the_incident(service: AidService, history: History, settings: Settings,
                                                  capsys):
    found = diff(service.app.recorder, history.incident_id, Cutoff(notification_id=history.position),
                 Cutoff(recorded_at=T2), by="commune")
    new_cases = {change.key for change in found.cases if change.field == "status" and change.before is None}
    assert {household for household, _ in new_cases} == set(history.new_households)
    commune = {(c.key, c.field): (c.before, c.after) for c in found.coverage}
    before, after = commune[(("31", FIRST_COMMUNE), "households_in_need")]
    assert after == before + 3
    # Nothing was recorded for the earlier households after T1.
    assert not [c for c in found.cases if c.key[0] not in history.new_households and c.field != "state"]

    assert main(["--database-url", settings.database_url, "diff", "--incident", history.incident_id,
                 "--from", str(history.position), "--to", T2.isoformat(), "--by", "commune"]) == 0
    output = capsys.readouterr().out
    assert f"from notification id {history.position}" in output
    assert f"31 {FIRST_COMMUNE}: households_in_need {before} → {after}" in output
    assert f"in {found.households_changed()} households" in output
