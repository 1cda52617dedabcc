"""The Kafka path under test: a real broker (EMERGENCY_KAFKA_BOOTSTRAP, which
`infra/test.sh` starts), a fresh topic per test, and the comparison of a
Kafka-fed view store with a replay of the log."""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import pytest

from consumers.consumer import ProjectionConsumer
from consumers.kafka_feed import KafkaFeed
from consumers.relay import Relay, connect_producer
from consumers.relay_position import open_relay_position
from consumers.status import end_offsets
from consumers.topic import ensure_topic
from infra.cli.kafka_admin import load_projection
from projections.base import Projection
from projections.catalog import PROJECTIONS
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import ViewStore, open_view_store
from tests.support.stores import missing

# What the equality tests feed, by name (consumer subprocesses load them so):
# every projection the Kafka path carries (not those that need the log's
# total order, which only the embedded runner feeds), one that exposes any
# loss, duplicate or reordering per aggregate, and totals that every
# partition updates.
PROJECTION_ENTRIES = (*(f"{p.__module__}:{p.__qualname__}" for p in PROJECTIONS if not p.log_ordered),
                      "tests.kafka.projections:AggregateChains", "tests.test_projection_runner:KindCounts")
PARTITIONS = 4
# Bookkeeping that differs by design between a Kafka feed and a replay.
BOOKKEEPING = ("projection_position", "kafka_offsets", "kafka_versions", "kafka_feed")


def fed_projections() -> list[Projection]:
    return [load_projection(entry) for entry in PROJECTION_ENTRIES]


@pytest.fixture
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("EMERGENCY_KAFKA_BOOTSTRAP", "")
    if not bootstrap:
        missing("no Kafka broker (EMERGENCY_KAFKA_BOOTSTRAP)", 'eval "$(infra/kafka.sh)" or run infra/test.sh')
    return bootstrap


@pytest.fixture
def topic(kafka_bootstrap: str) -> str:
    """A fresh topic: tests share the broker, never a topic."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    ensure_topic(kafka_bootstrap, name, PARTITIONS, 3_600_000)
    return name


def dump(store: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's full contents, sorted."""
    with store.read() as cur:
        if store.dialect == "postgres":
            names = [r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables "
                                               "WHERE table_schema = current_schema()").fetchall()]
        else:
            names = [r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
        return {name: sorted(cur.execute(f"SELECT * FROM {name}").fetchall())
                for name in sorted(names) if name not in BOOKKEEPING}


def replayed(source: Any, url: str, projections: Sequence[Projection]) -> dict[str, list[tuple[Any, ...]]]:
    """The projections rebuilt by replaying the whole log into a fresh store."""
    store = open_view_store(url)
    try:
        EmbeddedRunner(source, ProjectionSet(store, projections)).catch_up()
        return dump(store)
    finally:
        store.close()


def topic_size(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic).values())


@contextmanager
def relay_to(source: Any, events_url: str, bootstrap: str, topic: str, batch_size: int = 7) -> Iterator[Relay]:
    """An in-process relay from the store at `events_url` (not locked: tests
    take the lock themselves where it matters)."""
    relay = Relay(source, open_relay_position(events_url), topic, lambda: connect_producer(bootstrap),
                  batch_size=batch_size)
    try:
        yield relay
    finally:
        relay.close()
        relay.position.close()


def consume_all(feed: KafkaFeed, bootstrap: str, timeout: float = 60) -> int:
    """Feed from the topic until the stored offsets reach the end of every
    partition; return the duplicates dropped on the way."""
    consumer = ProjectionConsumer(feed, bootstrap, f"group-{feed.topic}", session_timeout_ms=6000,
                                  heartbeat_interval_ms=1000)
    duplicates = 0
    size = topic_size(bootstrap, feed.topic)
    deadline = time.monotonic() + timeout
    try:
        while sum(feed.offsets().values()) < size:
            assert time.monotonic() < deadline, "the consumer did not reach the end of the topic"
            duplicates += consumer.poll_once(timeout_ms=500).duplicates
    finally:
        consumer.close()
    return duplicates
