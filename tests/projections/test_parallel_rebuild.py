"""`emergency rebuild --jobs N`, on each store: the rows and positions it
leaves equal those of one process folding the whole log, table by table."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

import pytest
from eventsourcing.persistence import DatabaseError

from emergency.application import AidApplication
from emergency.campaign_scenario import CampaignConfig, run_campaign
from emergency.commands import RegisterHousehold
from emergency.scenario import ScenarioConfig, run_scenario, scenario_areas
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings, postgres_parts, sqlite_path
from infra.stores import connect_postgres, existing_store_env
from projections.catalog import PROJECTIONS, default_projections
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import ViewStore, open_view_store

BATCH = 700  # small, so that the log makes many batches


def _rows(store: ViewStore) -> dict[str, Any]:
    """Every projection's position and the rows of each of its tables, sorted."""
    found: dict[str, Any] = {p.name: store.position(p.name) for p in PROJECTIONS}
    with store.read() as cur:
        for projection in PROJECTIONS:
            for table in projection.tables:
                found[table] = sorted(cur.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    return found


def _namesakes(service: AidService, incident_id: UUID, config: ScenarioConfig) -> str:
    """Two pairs of possible duplicates in one commune: its count of open
    pairs is fed by two pair aggregates (a table a split fold would tear)."""
    commune = next(iter(scenario_areas(config.provinces, config.communes_per_province).values()))[0]
    for name in ("Lò Văn Páo", "Hà Thị Mai"):
        for _ in range(2):
            service.execute(RegisterHousehold(incident_id=incident_id, commune_code=commune, head_name=name,
                                              members=4))
    return commune


def test_a_rebuild_in_several_processes_writes_what_one_process_writes(
        settings: Settings, service: AidService, new_views_url: Callable[[], str], tmp_path: Path):
    config = ScenarioConfig(households=150, seed=7)
    commune = _namesakes(service, run_scenario(service, config).incident_id, config)
    run_campaign(service, CampaignConfig(statement=tmp_path / "statement.csv", contributions=400,
                                         households_per_commune=5, local_receipts_per_province=5))
    head = service.last_notification_id()
    single = ProjectionSet(open_view_store(new_views_url()), default_projections())
    EmbeddedRunner(service.app.recorder, single, batch_size=BATCH).catch_up()
    expected = _rows(single.store)
    assert {p.name: expected[p.name] for p in PROJECTIONS} == {p.name: (head, p.version) for p in PROJECTIONS}
    assert all(expected[table] for table in ("case_households", "cov_deltas", "funds_movement", "damage_households"))
    assert [(row[1], row[3]) for row in expected["dup_communes"]] == [(commune, 2)]

    for jobs in (2, 3):
        assert main(["--database-url", settings.database_url, "rebuild", "--jobs", str(jobs),
                     "--batch-size", str(BATCH)]) == 0
        rebuilt = open_view_store(Settings(database_url=settings.database_url).views_url())  # where the CLI's go
        try:
            assert _rows(rebuilt) == expected, f"--jobs {jobs}"
        finally:
            rebuilt.close()


def test_a_rebuild_process_creates_nothing_in_the_store_it_reads(settings: Settings, tmp_path: Path):
    """Its processes start together: each creating the store's tables (`IF NOT
    EXISTS`) races in PostgreSQL's catalogue, so they open it as readers only."""
    absent = (settings.database_url + "_absent" if settings.is_postgres
              else f"sqlite:///{tmp_path / 'absent.sqlite'}")
    with pytest.raises(DatabaseError, match="event_format"):  # no table, and none made
        AidApplication(env=existing_store_env(absent))
    if settings.is_postgres:
        with connect_postgres(settings.database_url) as conn:
            schema = postgres_parts(absent)["schema"]
            assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None
    else:
        assert sqlite3.connect(sqlite_path(absent)).execute("SELECT name FROM sqlite_master").fetchall() == []
