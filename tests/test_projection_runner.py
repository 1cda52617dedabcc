"""The projection machinery: rows and positions together, resume, rebuild, wait."""

from __future__ import annotations

import threading
import time
from typing import Sequence

import pytest

from emergency.envelope import Envelope
from emergency.service import AidService
from infra.settings import Settings
from projections.base import Projection
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import Cursor, open_view_store
from tests.support.factories import assess, open_incident, register

pytestmark = pytest.mark.usefixtures("storm_clock")


class KindCounts(Projection):
    """Counts events per kind: enough to see each event land exactly once."""

    name = "test_kind_counts"

    ddl = ("CREATE TABLE IF NOT EXISTS test_kind_counts (kind TEXT PRIMARY KEY, n BIGINT NOT NULL)",)
    tables = ("test_kind_counts",)

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        counts: dict[str, int] = {}
        for event in events:
            counts[event.kind] = counts.get(event.kind, 0) + 1
        cur.executemany("INSERT INTO test_kind_counts (kind, n) VALUES (?, ?) ON CONFLICT (kind) "
                        "DO UPDATE SET n = test_kind_counts.n + excluded.n", counts.items())


class SlowCounts(KindCounts):
    """A fold that takes a while, as a real one does under load."""

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        time.sleep(0.05)
        super().apply(cur, events)


class FailingCounts(KindCounts):
    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        super().apply(cur, events)
        raise RuntimeError("crash after writing rows")


def counts(store) -> dict[str, int]:
    with store.read() as cur:
        return dict(cur.execute("SELECT kind, n FROM test_kind_counts").fetchall())


def expected(service: AidService) -> dict[str, int]:
    found: dict[str, int] = {}
    for event in service.log(0, 10_000):
        found[event.kind] = found.get(event.kind, 0) + 1
    return found


def record_some(service: AidService, households: int = 3) -> None:
    incident = open_incident(service)
    for _ in range(households):
        assess(service, register(service, incident))


def test_catch_up_then_resume_counts_each_event_once(settings: Settings, service: AidService):
    record_some(service)
    store = open_view_store(settings.views_url())
    runner = EmbeddedRunner(service.app.recorder, ProjectionSet(store, [KindCounts()]), batch_size=4)
    assert runner.catch_up() == service.last_notification_id()
    record_some(service, 2)
    reopened = EmbeddedRunner(service.app.recorder, ProjectionSet(open_view_store(settings.views_url()),
                                                                  [KindCounts()]))
    reopened.catch_up()
    assert counts(store) == expected(service)


def test_a_crash_mid_batch_leaves_neither_rows_nor_position(settings: Settings, service: AidService):
    record_some(service)
    store = open_view_store(settings.views_url())
    with pytest.raises(RuntimeError):
        EmbeddedRunner(service.app.recorder, ProjectionSet(store, [FailingCounts()])).catch_up()
    assert store.position("test_kind_counts") is None or store.position("test_kind_counts")[0] == 0
    assert counts(store) == {}
    EmbeddedRunner(service.app.recorder, ProjectionSet(store, [KindCounts()])).catch_up()
    assert counts(store) == expected(service)


def test_a_new_version_rebuilds_from_the_log(settings: Settings, service: AidService):
    record_some(service)
    store = open_view_store(settings.views_url())
    EmbeddedRunner(service.app.recorder, ProjectionSet(store, [KindCounts()])).catch_up()

    class KindCountsV2(KindCounts):
        version = 2

    EmbeddedRunner(service.app.recorder, ProjectionSet(store, [KindCountsV2()])).catch_up()
    assert counts(store) == expected(service)
    assert store.position("test_kind_counts") == (service.last_notification_id(), 2)


def test_catch_up_until_a_past_point(settings: Settings, service: AidService):
    record_some(service)
    middle = service.last_notification_id() // 2
    store = open_view_store(settings.views_url())
    EmbeddedRunner(service.app.recorder, ProjectionSet(store, [KindCounts()])).catch_up(until=middle)
    assert sum(counts(store).values()) == len([e for e in service.log(0, 10_000) if e.notification_id <= middle])
    assert store.position("test_kind_counts")[0] <= middle


def test_background_runner_wakes_on_notify_and_wait_for_returns(settings: Settings, service: AidService):
    store = open_view_store(settings.views_url())
    runner = EmbeddedRunner(service.app.recorder, ProjectionSet(store, [KindCounts()]), poll_interval=30)
    seen: list[int] = []
    runner.listeners.append(lambda events: seen.extend(e.notification_id for e in events))
    runner.start()
    try:
        incident = open_incident(service)
        outcome_id = service.last_notification_id()
        runner.notify()
        assert runner.wait_for(outcome_id, timeout=5), "projection did not catch up after notify"
        assert counts(store) == expected(service)
        assert seen == [e.notification_id for e in service.log(0, 10_000)]
        assert not runner.wait_for(outcome_id + 1000, timeout=0.2)
        register(service, incident)
        runner.notify()
        assert runner.wait_for(service.last_notification_id(), timeout=5)
    finally:
        runner.stop()
    assert not any(t.name == "projection-runner" and t.is_alive() for t in threading.enumerate())


def test_a_stream_that_wakes_no_one_is_folded_once_an_interval(settings: Settings, service: AidService):
    """Writes from other processes do not wake the runner: after a batch that
    reached the head it waits its interval, so a steady stream is folded in
    batches of an interval's events, not in those that arrived during the
    last fold."""
    interval = 0.3
    store = open_view_store(settings.views_url())
    runner = EmbeddedRunner(service.app.recorder, ProjectionSet(store, [SlowCounts()]), poll_interval=interval)
    batches: list[int] = []
    runner.listeners.append(lambda events: batches.append(len(events)))
    incident = open_incident(service)
    runner.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 1.5:
            register(service, incident)  # no notify(): as if another process wrote it
            time.sleep(0.01)
        assert runner.wait_for(service.last_notification_id(), timeout=5)
    finally:
        runner.stop()
    elapsed = time.monotonic() - started
    assert counts(store) == expected(service)
    assert sum(batches) == len(expected_log := service.log(0, 10_000)) and len(expected_log) > 20
    assert len(batches) <= elapsed / interval + 2, batches
