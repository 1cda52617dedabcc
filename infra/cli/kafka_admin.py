"""`emergency relay`, `emergency consume` and `emergency kafka-status`: the
Kafka scale-out path (see `consumers/`)."""

from __future__ import annotations

import argparse
import importlib
import sys

import structlog
from tqdm import tqdm

from consumers.consumer import MAX_RECORDS, ProjectionConsumer
from consumers.kafka_feed import FeedStopped, KafkaFeed
from consumers.relay import Relay, connect_producer
from consumers.relay_position import RelayAlreadyRunning, open_relay_position
from consumers.status import collect
from consumers.topic import ensure_topic
from infra.cli.stopping import stop_on_signals
from infra.settings import Settings
from infra.stores import open_application
from projections.base import Projection
from projections.catalog import default_projections
from projections.runner import ProjectionSet
from projections.store import open_view_store

log = structlog.get_logger(__name__)

DEFAULT_GROUP = "emergency-projections"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    relay = subparsers.add_parser("relay", help="publish the event log to the Kafka topic (one relay per store)")
    relay.add_argument("--batch-size", type=int, default=1000, help="events per acknowledged page")
    relay.add_argument("--once", action="store_true", help="publish what is recorded now, then exit")
    relay.set_defaults(run=run_relay)

    consume = subparsers.add_parser("consume", help="feed projections from the Kafka topic (a consumer group member)")
    consume.add_argument("--group", default=DEFAULT_GROUP, help="consumer group id")
    consume.add_argument("--projection", action="append", metavar="MODULE:CLASS",
                         help="a projection to feed (repeatable); default: every projection of the catalog")
    consume.add_argument("--max-records", type=int, default=MAX_RECORDS, help="records per poll, one transaction each")
    consume.add_argument("--session-timeout-ms", type=int, default=10_000,
                         help="how long a dead member keeps its partitions")
    consume.set_defaults(run=run_consume)

    status = subparsers.add_parser("kafka-status", help="relay and consumer lag")
    status.add_argument("--metrics", action="store_true", help="print Prometheus text format")
    status.set_defaults(run=run_status)


def _require_bootstrap(settings: Settings) -> bool:
    if settings.kafka_bootstrap:
        return True
    print('no Kafka broker: set EMERGENCY_KAFKA_BOOTSTRAP (eval "$(infra/kafka.sh)" starts one)', file=sys.stderr)
    return False


def run_relay(args: argparse.Namespace, settings: Settings) -> int:
    if not _require_bootstrap(settings):
        return 2
    position = open_relay_position(settings.database_url)
    try:
        position.acquire()
    except RelayAlreadyRunning as error:
        position.close()
        print(f"refused: a relay is already running for {settings.database_url}: {error}", file=sys.stderr)
        return 3
    app = open_application(settings)
    try:
        ensure_topic(settings.kafka_bootstrap, settings.kafka_topic, settings.kafka_partitions,
                     settings.kafka_retention_ms)
        relay = Relay(app.recorder, position, settings.kafka_topic, lambda: connect_producer(settings.kafka_bootstrap),
                      batch_size=args.batch_size)
        log.info("relay_started", topic=settings.kafka_topic, position=relay.reached)
        try:
            with tqdm(unit=" events", desc=f"relay -> {settings.kafka_topic}", disable=None) as bar:
                if args.once:
                    relay.catch_up(progress=bar.update)
                else:
                    relay.run(stop_on_signals(), progress=bar.update)
        finally:
            relay.close()
        log.info("relay_stopped", topic=settings.kafka_topic, position=relay.reached)
    finally:
        app.close()
        position.close()
    return 0


def load_projection(entry: str) -> Projection:
    """The projection a `--projection MODULE:CLASS` option names."""
    module, _, name = entry.partition(":")
    projection: type[Projection] = getattr(importlib.import_module(module), name)
    return projection()


def run_consume(args: argparse.Namespace, settings: Settings) -> int:
    if not _require_bootstrap(settings):
        return 2
    projections = [load_projection(entry) for entry in args.projection] if args.projection else default_projections()
    ordered = [p.name for p in projections if p.log_ordered]
    if ordered and args.projection:
        print(f"{', '.join(ordered)} depend on the log's total order: only the embedded runner feeds them",
              file=sys.stderr)
        return 2
    projections = [p for p in projections if not p.log_ordered]
    feed = KafkaFeed(ProjectionSet(open_view_store(settings.views_url()), projections), settings.kafka_topic)
    consumer = ProjectionConsumer(feed, settings.kafka_bootstrap, args.group, max_records=args.max_records,
                                  session_timeout_ms=args.session_timeout_ms,
                                  heartbeat_interval_ms=max(500, args.session_timeout_ms // 4))
    log.info("consumer_started", topic=settings.kafka_topic, group=args.group,
             projections=[p.name for p in projections])
    try:
        with tqdm(unit=" events", desc=f"{settings.kafka_topic} -> views", disable=None) as bar:
            consumer.run(stop_on_signals(), progress=bar.update)
    except FeedStopped as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 4
    finally:
        consumer.close()
        feed.store.close()
    log.info("consumer_stopped", group=args.group, events=consumer.totals.events,
             duplicates=consumer.totals.duplicates)
    return 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    if not _require_bootstrap(settings):
        return 2
    status = collect(settings)
    if args.metrics:
        sys.stdout.write(status.metrics())
    else:
        print("\n".join(status.lines()))
    return 0
