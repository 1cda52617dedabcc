"""How fast events go through the Kafka path, against the in-process replay.

    python bench/kafka_path.py [--households 2000] [--postgres URL] [--bootstrap HOST:PORT]

Records a synthetic typhoon into a fresh PostgreSQL schema (URL, else
EMERGENCY_TEST_POSTGRES_URL), then measures on the broker named by
--bootstrap (else EMERGENCY_KAFKA_BOOTSTRAP), each on a fresh topic:
- relay: events/s from the notification log to acknowledged messages, per
  page size, beside the bare producer (same settings) sending the same
  messages, already encoded, in pages of the same size (`raw_events_per_s`,
  and the relay's share of it, `vs_raw`);
- consume: events/s from the topic into the projections `emergency consume`
  feeds (the catalog's, less those that need the log's total order) in a
  fresh view schema (one consumer, rows and offsets per poll in one
  transaction), beside a bare consumer merely polling the same records;
- replay: events/s of the embedded runner folding the same log into the same
  projections, for comparison.
Prints a table and writes bench/results/kafka_path.json.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from typing import Any

from common import drop_schemas, print_table, schema_url, write_results
from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from consumers.consumer import MAX_RECORDS, ProjectionConsumer  # noqa: E402
from consumers.kafka_feed import KafkaFeed  # noqa: E402
from consumers.relay import Relay, connect_producer  # noqa: E402
from consumers.relay_position import open_relay_position  # noqa: E402
from consumers.status import end_offsets  # noqa: E402
from consumers.topic import ensure_topic, message_key, partition_of  # noqa: E402
from emergency.envelope import from_notification  # noqa: E402
from emergency.scenario import ScenarioConfig, run_scenario  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service  # noqa: E402
from projections.base import Projection  # noqa: E402
from projections.catalog import default_projections  # noqa: E402
from projections.runner import EmbeddedRunner, ProjectionSet  # noqa: E402
from projections.store import open_view_store  # noqa: E402

PARTITIONS = 6


def fresh_topic(bootstrap: str) -> str:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, PARTITIONS, 3_600_000)
    return topic


def relay_rate(service: Any, events_url: str, bootstrap: str, page: int) -> tuple[str, float]:
    topic = fresh_topic(bootstrap)
    relay = Relay(service.app.recorder, open_relay_position(events_url), topic,
                  lambda: connect_producer(bootstrap), batch_size=page)
    started = time.perf_counter()
    sent = relay.catch_up()
    elapsed = time.perf_counter() - started
    relay.close()
    relay.position.close()
    return topic, sent / elapsed


def messages(service: Any) -> list[tuple[bytes, bytes, int]]:
    envelopes = map(from_notification, service.app.recorder.select_notifications(start=1, limit=10**7))
    return [(key, e.to_json(), partition_of(key, PARTITIONS)) for e in envelopes for key in [message_key(e)]]


def raw_send_rate(sent: list[tuple[bytes, bytes, int]], bootstrap: str, page: int) -> float:
    """The producer alone: the relay's sends without the log or the encoding."""
    topic = fresh_topic(bootstrap)
    producer = connect_producer(bootstrap)
    started = time.perf_counter()
    for start in range(0, len(sent), page):
        futures = [producer.send(topic, key=key, value=value, partition=partition)
                   for key, value, partition in sent[start:start + page]]
        producer.flush()
        for future in futures:
            future.get()
    elapsed = time.perf_counter() - started
    producer.close()
    return len(sent) / elapsed


def raw_poll_rate(topic: str, bootstrap: str) -> float:
    """A consumer that only polls the topic's records, as many per poll."""
    total = sum(end_offsets(bootstrap, topic).values())
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=MAX_RECORDS)
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    polled = 0
    started = None
    try:
        while polled < total:
            polling = time.perf_counter()
            got = sum(map(len, consumer.poll(timeout_ms=1000).values()))
            if got and started is None:
                started = polling
            polled += got
        return polled / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        consumer.close()


def carried() -> list[Projection]:
    """What `emergency consume` feeds: partitions interleave, so not the
    projections that need the log's total order."""
    return [p for p in default_projections() if not p.log_ordered]


def consume_rate(topic: str, bootstrap: str, views_url: str) -> float:
    total = sum(end_offsets(bootstrap, topic).values())
    feed = KafkaFeed(ProjectionSet(open_view_store(views_url), carried()), topic)
    consumer = ProjectionConsumer(feed, bootstrap, f"bench-{topic}", session_timeout_ms=6000,
                                  heartbeat_interval_ms=1000)
    applied = 0
    started = None
    try:
        while applied < total:
            polling = time.perf_counter()
            got = consumer.poll_once(timeout_ms=1000).events
            if got and started is None:
                started = polling  # from the first poll that brought records: the group join is not throughput
            applied += got
        return applied / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        consumer.close()
        feed.store.close()


def replay_rate(service: Any, views_url: str) -> float:
    store = open_view_store(views_url)
    runner = EmbeddedRunner(service.app.recorder, ProjectionSet(store, carried()))
    started = time.perf_counter()
    done = runner.catch_up()
    elapsed = time.perf_counter() - started
    store.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("EMERGENCY_TEST_POSTGRES_URL", ""))
    parser.add_argument("--bootstrap", default=os.environ.get("EMERGENCY_KAFKA_BOOTSTRAP", ""))
    args = parser.parse_args()
    if not args.postgres or not args.bootstrap:
        parser.error("needs a PostgreSQL URL and a Kafka bootstrap (infra/services.sh starts both)")
    schemas = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    events_url, fed_url, replay_url = (schema_url(args.postgres, s) for s in schemas)
    service = build_service(Settings(database_url=events_url))
    results: list[dict[str, Any]] = []

    def report(**row: Any) -> None:
        row.update(households=args.households, events=service.last_notification_id(), store="postgres")
        print_table(f"{row['measure']}", [row], list(row))
        results.append(row)

    try:
        run_scenario(service, ScenarioConfig(households=args.households, provinces=4))
        topic = ""
        sent = messages(service)
        for page in (100, 1000, 5000):
            topic, rate = relay_rate(service, events_url, args.bootstrap, page)
            raw = raw_send_rate(sent, args.bootstrap, page)
            report(measure="relay", page=page, events_per_s=round(rate), raw_events_per_s=round(raw),
                   vs_raw=round(rate / raw, 3))
        rate = consume_rate(topic, args.bootstrap, fed_url)
        raw = raw_poll_rate(topic, args.bootstrap)
        report(measure="consume", events_per_s=round(rate), raw_events_per_s=round(raw), vs_raw=round(rate / raw, 3))
        report(measure="replay", events_per_s=round(replay_rate(service, replay_url)))
    finally:
        service.app.close()
        drop_schemas(args.postgres, schemas)
    print_table("Kafka path: events/s", results,
                ["measure", "page", "events_per_s", "raw_events_per_s", "vs_raw", "events", "store"])
    write_results("kafka_path", {"households": args.households}, results)


if __name__ == "__main__":
    main()
