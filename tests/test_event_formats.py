"""The two event formats (`emergency.event_format`), on SQLite and PostgreSQL.

The same commands recorded into a plain store and into a tagged one give
the same aggregates, the same envelopes and the same projected rows, and
both chains verify; a store keeps the format it was made with, and one made
before stores recorded their format stays tagged.
"""

from __future__ import annotations

import sqlite3
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import JSONTranscoder
from pydantic import ValidationError

from emergency import clock
from emergency.application import AidApplication
from emergency.domain import Fund
from emergency.envelope import Envelope, from_notification, from_stored_event
from emergency.event_format import PLAIN, TAGGED, EventTranscoder, is_plain
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from infra.stores import build_service, connect_postgres, open_application
from tests.golden import log, scenario
from tests.support.factories import STORM_START, open_incident
from tests.support.stores import fresh_store

KINDS = ["sqlite", "postgres"]


def envelopes(app: AidApplication) -> list[Envelope]:
    return [from_notification(n) for n in app.recorder.select_notifications(start=1, limit=10**6)]


def aggregates(app: AidApplication) -> dict[UUID, dict[str, Any]]:
    """Every aggregate of the store as the mapper reads it back (a freshly opened application: nothing cached)."""
    ids = dict.fromkeys(n.originator_id for n in app.recorder.select_notifications(start=1, limit=10**6))
    return {i: vars(app.repository.get(i)) for i in ids}


def recorded(settings: Settings) -> AidService:
    service = build_service(settings)
    scenario.record(service)
    return service


def reopened(settings: Settings, asking: str) -> AidApplication:
    return open_application(settings.model_copy(update={"event_format": asking}))


@pytest.mark.parametrize("kind", KINDS)
def test_a_plain_store_and_a_tagged_one_record_the_same_story(kind: str, tmp_path: Path, capsys):
    with ExitStack() as stack:
        stores = {form: stack.enter_context(fresh_store(kind, tmp_path / form)).model_copy(
            update={"event_format": form}) for form in (PLAIN, TAGGED)}
        for form, settings in stores.items():
            service = recorded(settings)
            assert service.app.event_format == form
            service.app.close()
        # Reopened asking for the other format: each keeps its own, and reads back its aggregates.
        apps = {form: stack.enter_context(reopened(settings, TAGGED if form == PLAIN else PLAIN))
                for form, settings in stores.items()}
        assert {form: app.event_format for form, app in apps.items()} == {PLAIN: PLAIN, TAGGED: TAGGED}

        states = {form: [n.state for n in app.recorder.select_notifications(start=1, limit=10**6)]
                  for form, app in apps.items()}
        assert all(is_plain(s) for s in states[PLAIN]) and not any(is_plain(s) for s in states[TAGGED])
        assert sum(map(len, states[PLAIN])) < sum(map(len, states[TAGGED]))

        assert aggregates(apps[PLAIN]) == aggregates(apps[TAGGED])
        assert envelopes(apps[PLAIN]) == envelopes(apps[TAGGED])
        rows = {form: log.projected_rows(app, stores[form].views_url()) for form, app in apps.items()}
        assert rows[PLAIN] == rows[TAGGED] and rows[PLAIN]
        for settings in stores.values():
            assert main(["--database-url", settings.database_url, "verify"]) == 0
            assert "verified" in capsys.readouterr().out


@pytest.mark.parametrize("kind", KINDS)
def test_a_fund_s_snapshot_stays_tagged_in_a_plain_store_and_reads_back_the_same(kind: str, tmp_path: Path):
    with fresh_store(kind, tmp_path) as made:
        settings = made.model_copy(update={"event_format": PLAIN})
        service = recorded(settings)
        fund_id = next(n.originator_id for n in service.app.recorder.select_notifications(start=1, limit=10**6)
                       if n.topic.endswith(":Fund.Opened"))
        fund = service.app.repository.get(fund_id)
        assert service.app.snapshots is not None
        service.app.snapshots.put([Fund.Snapshot.take(fund)])
        service.app.close()
        with open_application(settings) as app:
            assert app.event_format == PLAIN and app.snapshots is not None
            [snapshot] = app.snapshots.recorder.select_events(fund_id)
            assert not is_plain(snapshot.state)
            assert vars(app.repository.get(fund_id)) == vars(fund)


def forget_format(settings: Settings) -> None:
    """Make the store one of those made before stores recorded their format: no format table."""
    if settings.is_postgres:
        schema = settings.database_url.rpartition("schema=")[2]
        with connect_postgres(settings.database_url) as conn:
            conn.execute(f'DROP TABLE "{schema}".event_format')
    else:
        with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as conn:
            conn.execute("DROP TABLE event_format")


@pytest.mark.parametrize("kind", KINDS)
def test_a_store_made_before_formats_were_recorded_stays_tagged(kind: str, tmp_path: Path, capsys):
    golden = log.read_log(log.CURRENT)
    with fresh_store(kind, tmp_path) as settings:
        with open_application(settings) as app:
            log.load(app, golden)
        forget_format(settings)

        service = build_service(settings.model_copy(update={"event_format": PLAIN}))
        try:
            assert service.app.event_format == TAGGED
            assert log.lines_of(service.app) == golden
            before = service.app.recorder.max_notification_id() or 0
            with clock.frozen_at(STORM_START + timedelta(days=1)):
                open_incident(service)
            appended = service.app.recorder.select_notifications(start=before + 1, limit=100)
            assert appended and not any(is_plain(n.state) for n in appended)
            assert envelopes(service.app)[:len(golden)] == [
                from_stored_event(log.stored(line), line["notification_id"]) for line in golden]
        finally:
            service.app.close()
        assert reopened(settings, PLAIN).event_format == TAGGED
        assert main(["--database-url", settings.database_url, "verify"]) == 0
        assert "verified" in capsys.readouterr().out


def test_the_format_of_new_stores_is_a_setting_plain_unless_told():
    assert Settings().event_format == PLAIN
    assert Settings.from_env({"EMERGENCY_EVENT_FORMAT": "tagged"}).event_format == TAGGED
    with pytest.raises(ValidationError, match="event_format"):
        Settings.from_env({"EMERGENCY_EVENT_FORMAT": "msgpack"})


def test_the_plain_form_refuses_an_integer_it_could_not_read_back_exactly():
    """orjson reads an integer beyond 64 bits as a float; it also refuses to write one, so a plain store never holds one."""
    transcoder = EventTranscoder(JSONTranscoder(), PLAIN)
    at = datetime(2024, 9, 7, 1, 0, tzinfo=timezone.utc)
    widest = {"timestamp": at, "low": -2**63, "high": 2**64 - 1}
    assert transcoder.decode(transcoder.encode(dict(widest))) == widest
    with pytest.raises(TypeError, match="64-bit"):
        transcoder.encode({"timestamp": at, "amount_vnd": 2**64})
