"""The relay and the feed against the real broker, in-process: what reaches
the topic, where the relay resumes, how duplicates and gaps are handled."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Sequence

import psycopg.errors
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource

from consumers.kafka_feed import FeedChanged, KafkaFeed, StreamGap
from consumers.relay import connect_producer
from consumers.relay_position import RelayAlreadyRunning, open_relay_position
from consumers.status import collect
from consumers.topic import decode, ensure_topic, message_key
from emergency.envelope import Envelope
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from projections.base import Projection
from projections.runner import ProjectionSet
from projections.store import Cursor, open_view_store
from tests.support.factories import assess, disburse, open_incident, register
from tests.support.kafka import PARTITIONS, consume_all, dump, fed_projections, relay_to, replayed, topic_size

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("storm_clock")]


def record_households(service: AidService, households: int) -> None:
    incident = open_incident(service)
    for _ in range(households):
        household = register(service, incident)
        assess(service, household)
        disburse(service, household, "BURIAL", amount_vnd=5_000_000)


def read_topic(bootstrap: str, topic: str) -> dict[int, list[tuple[bytes, bytes]]]:
    """Every message of every partition, in offset order: (key, value)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic))]
    reader.assign(partitions)
    reader.seek_to_beginning()
    ends = reader.end_offsets(partitions)
    found: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    deadline = time.monotonic() + 30
    while any(reader.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
        for tp, records in reader.poll(timeout_ms=500).items():
            found[tp.partition].extend((r.key, r.value) for r in records)
    reader.close()
    return found


def test_every_event_is_published_once_keyed_by_aggregate_in_version_order(
        settings: Settings, service: AidService, kafka_bootstrap: str, topic: str):
    record_households(service, 4)
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic) as relay:
        assert relay.catch_up() == service.last_notification_id()

    published = read_topic(kafka_bootstrap, topic)
    envelopes = {p: [decode(value) for _, value in messages] for p, messages in published.items()}
    log = service.log(0, 10_000)
    assert sorted((e for es in envelopes.values() for e in es), key=lambda e: e.notification_id) == log
    partition_of: dict[str, int] = {}
    for partition, messages in published.items():
        for key, value in messages:
            envelope = decode(value)
            assert key == envelope.aggregate_id.encode()
            assert partition_of.setdefault(envelope.aggregate_id, partition) == partition
        versions: dict[str, list[int]] = defaultdict(list)
        for envelope in envelopes[partition]:
            versions[envelope.aggregate_id].append(envelope.version)
        assert all(v == list(range(1, len(v) + 1)) for v in versions.values())


def test_the_relay_puts_each_aggregate_where_kafka_s_default_partitioner_does(
        settings: Settings, service: AidService, kafka_bootstrap: str, topic: str):
    record_households(service, 6)
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic) as relay:
        relay.catch_up()
    placed = {key: partition for partition, messages in read_topic(kafka_bootstrap, topic).items()
              for key, _ in messages}
    assert len(set(placed.values())) > 1
    # A producer left to its own partitioner, on a topic of as many partitions.
    other = f"{topic}-default"
    ensure_topic(kafka_bootstrap, other, PARTITIONS, 3_600_000)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        assert {key: producer.send(other, key=key, value=b"").get(timeout=30).partition for key in placed} == placed
    finally:
        producer.close()


def test_a_restarted_relay_resumes_after_its_stored_position(
        settings: Settings, service: AidService, kafka_bootstrap: str, topic: str):
    record_households(service, 2)
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic) as first:
        first.catch_up()
    assert topic_size(kafka_bootstrap, topic) == service.last_notification_id()

    record_households(service, 2)
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic) as second:
        assert second.reached == first.reached
        assert second.catch_up() == service.last_notification_id() - first.reached
    assert topic_size(kafka_bootstrap, topic) == service.last_notification_id()


def test_only_one_relay_per_store(settings: Settings, service: AidService, kafka_bootstrap: str, topic: str,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    holder = open_relay_position(settings.database_url)
    holder.acquire()
    monkeypatch.setenv("EMERGENCY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("EMERGENCY_KAFKA_TOPIC", topic)
    try:
        assert main(["--database-url", settings.database_url, "relay", "--once"]) == 3
        assert "a relay is already running" in capsys.readouterr().err
        other = open_relay_position(settings.database_url)
        with pytest.raises(RelayAlreadyRunning):
            other.acquire()
        other.close()
    finally:
        holder.close()
    record_households(service, 1)
    assert main(["--database-url", settings.database_url, "relay", "--once"]) == 0
    assert topic_size(kafka_bootstrap, topic) == service.last_notification_id()


def test_resent_events_are_dropped_and_the_feed_equals_replay(
        settings: Settings, service: AidService, kafka_bootstrap: str, topic: str, new_views_url):
    record_households(service, 5)
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic) as relay:
        relay.catch_up()
        # A relay that died after the broker's ack but before saving its
        # position sends the same events again.
        relay.position.save(topic, relay.reached // 3)
        relay.reached = relay.position.load(topic)
        resent = relay.catch_up()
    assert resent > 0 and topic_size(kafka_bootstrap, topic) == service.last_notification_id() + resent

    store = open_view_store(new_views_url())
    feed = KafkaFeed(ProjectionSet(store, fed_projections()), topic)
    assert consume_all(feed, kafka_bootstrap) == resent
    assert dump(store) == replayed(service.app.recorder, new_views_url(), fed_projections())


class DeadlockOnce(Projection):
    """Counts what it applied, and loses its first transaction as PostgreSQL's
    deadlock detector would."""

    name = "test_deadlock_once"

    def __init__(self) -> None:
        self.failed = False

    ddl = ("CREATE TABLE IF NOT EXISTS test_deadlock_once (n INTEGER)",)
    tables = ("test_deadlock_once",)

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        cur.execute("INSERT INTO test_deadlock_once (n) VALUES (?)", (len(events),))
        if not self.failed:
            self.failed = True
            raise psycopg.errors.DeadlockDetected("deadlock detected")


def test_a_batch_lost_to_a_deadlock_is_applied_again_whole(
        settings: Settings, service: AidService, kafka_bootstrap: str, topic: str, new_views_url):
    record_households(service, 3)
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic) as relay:
        relay.catch_up()
    store = open_view_store(new_views_url())
    once = DeadlockOnce()
    feed = KafkaFeed(ProjectionSet(store, [*fed_projections(), once]), topic)
    consume_all(feed, kafka_bootstrap)
    fed = dump(store)
    assert once.failed
    assert sum(n for (n,) in fed.pop("test_deadlock_once")) == service.last_notification_id()
    assert fed == replayed(service.app.recorder, new_views_url(), fed_projections())


def test_overlapping_batches_of_two_consumers_count_once(service: AidService, new_views_url):
    record_households(service, 3)
    log = service.log(0, 10_000)
    batch = {0: list(enumerate(log))}  # as if every event sat in partition 0
    store = open_view_store(new_views_url())
    first = KafkaFeed(ProjectionSet(store, fed_projections()), "t")
    second = KafkaFeed(ProjectionSet(store, fed_projections()), "t")
    assert first.apply({0: batch[0][:10]}).events == 10
    # The second consumer still holds the partition from offset 5 (rebalance).
    applied = second.apply({0: batch[0][5:]})
    assert (applied.events, applied.duplicates) == (len(log) - 10, 5)
    assert first.apply(batch).events == 0
    assert first.offsets() == {0: len(log)}
    assert dump(store) == replayed(service.app.recorder, new_views_url(), fed_projections())


def test_a_version_gap_stops_the_feed_and_writes_nothing(service: AidService, new_views_url):
    record_households(service, 1)
    log = service.log(0, 10_000)
    household = [e for e in log if e.aggregate_type == "HouseholdCase"]
    feed = KafkaFeed(ProjectionSet(open_view_store(new_views_url()), fed_projections()), "t")
    with pytest.raises(StreamGap, match="jumps from version 0 to 2"):
        feed.apply({1: [(0, household[1])]})
    assert feed.offsets() == {}
    assert all(rows == [] for rows in dump(feed.store).values())


def test_consume_exits_when_the_topic_lost_events(settings: Settings, service: AidService, kafka_bootstrap: str,
                                                  topic: str, new_views_url, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]):
    record_households(service, 1)
    second_event = [e for e in service.log(0, 10_000) if e.aggregate_type == "HouseholdCase"][1]
    producer = connect_producer(kafka_bootstrap)
    producer.send(topic, key=message_key(second_event), value=second_event.to_json()).get(timeout=30)
    producer.close()
    monkeypatch.setenv("EMERGENCY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("EMERGENCY_KAFKA_TOPIC", topic)
    monkeypatch.setenv("EMERGENCY_VIEWS_DATABASE_URL", new_views_url())
    assert main(["--database-url", settings.database_url, "consume", "--group", f"group-{topic}",
                 "--session-timeout-ms", "6000"]) == 4
    assert "jumps from version 0 to 2" in capsys.readouterr().err


def test_a_new_projection_version_rebuilds_the_feed_from_offset_zero(service: AidService, new_views_url):
    record_households(service, 1)
    store = open_view_store(new_views_url())
    feed = KafkaFeed(ProjectionSet(store, fed_projections()), "t")
    feed.apply({0: list(enumerate(service.log(0, 10_000)))})
    assert feed.offsets() == {0: service.last_notification_id()}

    assert dump(store)["test_chains"]
    changed = fed_projections()
    changed[-1].version = 2
    rebuilt = KafkaFeed(ProjectionSet(store, changed), "t")
    assert rebuilt.offsets() == {}
    assert all(rows == [] for rows in dump(store).values())
    with pytest.raises(FeedChanged, match="restart it with the current projections"):
        feed.apply({0: list(enumerate(service.log(0, 10_000)))})
    assert all(rows == [] for rows in dump(store).values())


def test_topic_creation_is_idempotent_and_keeps_retention_from_settings(kafka_bootstrap: str, topic: str):
    assert ensure_topic(kafka_bootstrap, topic, PARTITIONS, 7_200_000) == PARTITIONS
    # A different partition count is reported, not applied.
    assert ensure_topic(kafka_bootstrap, topic, PARTITIONS + 2, 7_200_000) == PARTITIONS
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        configs = admin.describe_configs([ConfigResource("TOPIC", topic, ["retention.ms"])])
    finally:
        admin.close()
    assert configs["topic"][topic]["retention.ms"]["value"] == "7200000"


def test_lag_is_visible_before_and_after_consuming(settings: Settings, service: AidService, kafka_bootstrap: str,
                                                   topic: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]):
    settings = settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap, "kafka_topic": topic})
    record_households(service, 2)
    head = service.last_notification_id()
    with relay_to(service.app.recorder, settings.database_url, kafka_bootstrap, topic, batch_size=head // 2) as relay:
        relay.pump()

    status = collect(settings)
    assert (status.log_head, status.relay_lag, status.consumer_lag) == (head, head - head // 2, head // 2)
    assert f'emergency_relay_lag_events{{topic="{topic}"}} {head - head // 2}' in status.metrics()

    feed = KafkaFeed(ProjectionSet(open_view_store(settings.views_url()), fed_projections()), topic)
    consume_all(feed, kafka_bootstrap)
    monkeypatch.setenv("EMERGENCY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("EMERGENCY_KAFKA_TOPIC", topic)
    monkeypatch.setenv("EMERGENCY_VIEWS_DATABASE_URL", settings.views_database_url)
    assert main(["--database-url", settings.database_url, "kafka-status"]) == 0
    out = capsys.readouterr().out
    assert f"lag {head - head // 2} events" in out
    assert "consumers: lag 0 messages" in out
