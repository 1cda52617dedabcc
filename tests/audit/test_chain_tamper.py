"""The hash chain catches edits, deletions and reorders made directly in the database."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from emergency import commands
from emergency.service import AidService
from infra.audit_chain import verify
from infra.cli import main
from infra.settings import Settings
from infra.stores import build_service
from tests.audit.tamper import RawStore
from tests.support.factories import STORM_START, assess, disburse, open_incident, register

pytestmark = pytest.mark.usefixtures("storm_clock")


@pytest.fixture
def recorded(service: AidService) -> dict[str, int]:
    """A small history; returns the notification ids of notable events."""
    incident = open_incident(service)
    for members in (4, 5, 6):
        household = register(service, incident, members=members)
        assess(service, household)
        service.execute(commands.RecordDecision(household_id=household, support_type="BURIAL", decision="approve",
                                         decided_by="Chủ tịch UBND xã", decided_at=STORM_START + timedelta(hours=25)))
        disburse(service, household, "BURIAL", amount_vnd=18_000_000)
    kinds = {e.notification_id: e.kind for e in service.log(0, 1000)}
    paid = [n for n, kind in kinds.items() if kind == "HouseholdCase.Disbursed"]
    return {"paid": paid[1], "first": min(kinds), "last": max(kinds), "count": len(kinds)}


@pytest.fixture
def raw(service: AidService, settings: Settings) -> RawStore:
    return RawStore(settings.database_url, service.app.recorder.events_table_name)


def cli_verify(settings: Settings, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["--database-url", settings.database_url, "verify", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_untouched_log_verifies(service: AidService, recorded: dict[str, int], settings: Settings, capsys):
    code, output = cli_verify(settings, capsys)
    assert code == 0
    assert f"verified {recorded['count']} events" in output


def test_edited_content_is_caught_at_that_event(recorded, raw: RawStore, settings: Settings, capsys):
    paid = recorded["paid"]
    state = raw.state(paid)
    assert b"18000000" in state
    raw.set_state(paid, state.replace(b"18000000", b"81000000"))
    code, output = cli_verify(settings, capsys)
    assert code == 1
    assert f"TAMPERED at event {paid} (content)" in output


def test_deleted_event_is_caught(recorded, raw: RawStore, settings: Settings, capsys):
    raw.delete_event(recorded["paid"])
    code, output = cli_verify(settings, capsys)
    assert code == 1
    assert f"TAMPERED at event {recorded['paid']} (missing_event)" in output


def test_deleted_last_event_is_caught(recorded, raw: RawStore, service: AidService):
    raw.delete_event(recorded["last"])
    mismatch = verify(service.app.recorder).mismatch
    assert mismatch is not None and (mismatch.notification_id, mismatch.problem) == (recorded["last"], "missing_event")


def test_swapped_rows_are_caught_at_the_first_of_them(recorded, raw: RawStore, service: AidService):
    first, second = recorded["paid"] - 3, recorded["paid"]
    raw.swap_contents(first, second)
    mismatch = verify(service.app.recorder).mismatch
    assert mismatch is not None and (mismatch.notification_id, mismatch.problem) == (first, "content")


def test_reordered_log_is_caught(recorded, raw: RawStore, service: AidService):
    """Moving an event to another position (renumbering it) breaks the chain there."""
    spare = recorded["last"] + 100
    later, earlier = recorded["paid"], recorded["paid"] - 1
    raw.move(later, spare)
    raw.move(earlier, later)
    raw.move(spare, earlier)
    mismatch = verify(service.app.recorder).mismatch
    assert mismatch is not None and mismatch.notification_id == earlier


def test_edited_hash_is_caught(recorded, raw: RawStore, service: AidService):
    raw.set_hash(recorded["paid"], "0" * 64)
    mismatch = verify(service.app.recorder).mismatch
    assert mismatch is not None and (mismatch.notification_id, mismatch.problem) == (recorded["paid"], "hash")


def test_deleted_link_and_forged_event_are_caught(recorded, raw: RawStore, service: AidService):
    raw.delete_link(recorded["paid"])
    mismatch = verify(service.app.recorder).mismatch
    assert mismatch is not None and (mismatch.notification_id, mismatch.problem) == (recorded["paid"],
                                                                                     "unchained_event")


def test_a_recomputed_chain_is_caught_by_published_checkpoints(recorded, raw: RawStore, settings: Settings,
                                                               tmp_path: Path, capsys):
    published = tmp_path / "checkpoints.jsonl"
    assert main(["--database-url", settings.database_url, "checkpoint", "export", "--every", "5",
                 "--output", str(published)]) == 0
    checkpoints = [json.loads(line) for line in published.read_text().splitlines()]
    assert [cp["notification_id"] for cp in checkpoints][-1] == recorded["last"]
    assert all(set(cp) == {"notification_id", "hash", "at"} for cp in checkpoints)

    # A forger edits a payment and recomputes the whole chain: the chain alone is consistent...
    raw.set_state(recorded["paid"], raw.state(recorded["paid"]).replace(b"18000000", b"81000000"))
    raw.rechain()
    assert cli_verify(settings, capsys)[0] == 0
    # ...but no longer matches what was published.
    code, output = cli_verify(settings, capsys, "--checkpoints", str(published))
    assert code == 1
    first_after = min(cp["notification_id"] for cp in checkpoints if cp["notification_id"] >= recorded["paid"])
    assert f"TAMPERED at event {first_after} (checkpoint)" in output


def test_a_truncated_log_is_caught_by_the_head_checkpoint(recorded, raw: RawStore, settings: Settings,
                                                          tmp_path: Path, capsys):
    published = tmp_path / "checkpoints.jsonl"
    assert main(["--database-url", settings.database_url, "checkpoint", "export", "--output", str(published)]) == 0
    raw.delete_event(recorded["last"])
    raw.delete_link(recorded["last"])
    assert cli_verify(settings, capsys)[0] == 0
    code, output = cli_verify(settings, capsys, "--checkpoints", str(published))
    assert code == 1
    assert f"TAMPERED at event {recorded['last']} (missing_event)" in output


def test_checkpoints_are_not_exported_from_a_tampered_log(recorded, raw: RawStore, settings: Settings, capsys):
    raw.set_hash(recorded["first"], "f" * 64)
    assert main(["--database-url", settings.database_url, "checkpoint", "export"]) == 1
    assert "fails verification at event" in capsys.readouterr().err


def test_an_event_is_never_stored_without_its_link(recorded, raw: RawStore, service: AidService, settings: Settings):
    """Events and their links share one transaction: if the link cannot be
    written, the events are not either."""
    blocker = recorded["last"] + 1
    raw.run("INSERT INTO {chain} VALUES (?, ?)", blocker, "0" * 64)
    event = StoredEvent(originator_id=uuid4(), originator_version=1, topic="emergency.domain:Nothing", state=b"{}")
    with pytest.raises(IntegrityError):
        service.app.recorder.insert_events([event])
    assert not service.app.recorder.select_events(event.originator_id)
    assert (service.app.recorder.max_notification_id() or 0) == recorded["last"]

    # Once the obstacle is gone, writing resumes and the chain goes on from the
    # last event (on PostgreSQL past a gap: the rolled-back insert used its id).
    raw.delete_link(blocker)
    resumed = service.app.recorder.insert_events([event])
    assert resumed is not None and resumed[0] > recorded["last"]
    if settings.is_postgres:
        assert resumed[0] > blocker
    assert verify(service.app.recorder).mismatch is None


def test_concurrent_writers_keep_one_chain(settings: Settings, service: AidService):
    """Several applications append at once, some colliding on one household
    (rolled-back inserts leave gaps in PostgreSQL ids): the chain follows the log."""
    incident = open_incident(service)
    shared = register(service, incident, members=6)
    assess(service, shared, dead=0, injured=0, persons_short_of_food=6, food_months=3)
    writers = [build_service(settings) for _ in range(3)]

    def write(svc: AidService) -> None:
        for _ in range(8):
            register(svc, incident, members=2)
            disburse(svc, shared, "FOOD_DISASTER", form="in_kind", amount_vnd=None, quantity=5, unit="kg rice",
                     channel="in_kind_delivery")

    with ThreadPoolExecutor(len(writers)) as pool:
        list(pool.map(write, writers))
    for svc in writers:
        svc.app.close()
    result = verify(service.app.recorder)
    assert result.mismatch is None
    assert result.checked == len(service.log(0, 10_000)) >= 3 + 3 * 8 * 2


# Edits made with SQL functions, as a forger at a database prompt would: they
# may leave a column of another type (SQLite's replace() returns TEXT).
SQL_EDITS = {
    "sqlite": {
        "state as text": "UPDATE {events} SET state = replace(state, '18000000', '81000000') WHERE {pos} = ?",
        "same state as text": "UPDATE {events} SET state = CAST(state AS TEXT) WHERE {pos} = ?",
        "version as text": "UPDATE {events} SET originator_version = 'five' WHERE {pos} = ?",
        "topic as bytes": "UPDATE {events} SET topic = CAST(topic AS BLOB) WHERE {pos} = ?",
        "id not a uuid": "UPDATE {events} SET originator_id = 'not-an-id' WHERE {pos} = ?",
    },
    "postgres": {
        "state through text": "UPDATE {events} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
                              "'18000000', '81000000'), 'UTF8') WHERE {pos} = ?",
        "version": "UPDATE {events} SET originator_version = originator_version + 100 WHERE {pos} = ?",
        "topic": "UPDATE {events} SET topic = topic || ' ' WHERE {pos} = ?",
    },
}


def test_a_column_rewritten_by_sql_is_named(recorded, raw: RawStore, settings: Settings, capsys):
    paid = recorded["paid"]
    for name, statement in SQL_EDITS["postgres" if settings.is_postgres else "sqlite"].items():
        original = raw.run("SELECT originator_id, originator_version, topic, state FROM {events} WHERE {pos} = ?",
                           paid)[0]
        raw.run(statement, paid)
        code, output = cli_verify(settings, capsys)
        assert code == 1, name
        assert f"TAMPERED at event {paid} (content)" in output, (name, output)
        assert "Traceback" not in output, name
        raw.run("UPDATE {events} SET originator_id = ?, originator_version = ?, topic = ?, state = ? "
                "WHERE {pos} = ?", *original, paid)
        assert cli_verify(settings, capsys)[0] == 0, name
