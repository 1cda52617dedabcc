"""A consumer process of the projection group: polls the topic and applies
each batch to its feed (`consumers.kafka_feed`), rows and offsets together.

The view store, not Kafka, holds the truth about what was applied: on every
assignment the consumer seeks its partitions to the offsets stored there.
It also commits the same offsets to Kafka, so the usual group tools show lag,
but nothing reads them back.
"""

from __future__ import annotations

import threading
from typing import Callable

import psycopg.errors
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError

from consumers.kafka_feed import Applied, Batch, KafkaFeed
from consumers.topic import decode

log = structlog.get_logger(__name__)

# A deadlock between two consumers updating shared rows (e.g. totals per
# province) rolls one transaction back whole: apply the same batch again.
RETRIES = 5
RETRIABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)

# Records per poll, so per transaction: as many as the embedded runner folds
# at once. A transaction, and each projection's reads and writes of its
# rows, cost per batch, so a bigger poll costs less per event; a broker
# fetch of 1 MiB per partition (six partitions, ~1.3 kB envelopes) can fill it.
MAX_RECORDS = 5000


class _SeekToStored(ConsumerRebalanceListener):
    """Runs on the client's IO thread, so it does one quick read and no more."""

    def __init__(self, consumer: ProjectionConsumer):
        self.owner = consumer

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        stored = self.owner.feed.offsets()
        for tp in sorted(assigned):
            self.owner.kafka.seek(tp, stored.get(tp.partition, 0))
        log.info("kafka_partitions_assigned", group=self.owner.group,
                 partitions=sorted(tp.partition for tp in assigned))

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Offsets are stored with every batch: nothing to save here.
        log.info("kafka_partitions_revoked", group=self.owner.group,
                 partitions=sorted(tp.partition for tp in revoked))


class ProjectionConsumer:
    def __init__(self, feed: KafkaFeed, bootstrap: str, group: str, *, max_records: int = MAX_RECORDS,
                 session_timeout_ms: int = 10_000, heartbeat_interval_ms: int = 3_000):
        self.feed = feed
        self.group = group
        self.totals = Applied(0, 0)  # since this process started
        self.kafka = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, client_id=f"emergency-{group}",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=max_records,
            session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms)
        self.kafka.subscribe([feed.topic], listener=_SeekToStored(self))

    def poll_once(self, timeout_ms: int = 1000) -> Applied:
        """Apply whatever one poll returns (possibly nothing)."""
        polled = self.kafka.poll(timeout_ms=timeout_ms)
        if not polled:
            return Applied(0, 0)
        batch = {tp.partition: [(r.offset, decode(r.value)) for r in records] for tp, records in polled.items()}
        applied = self._apply(batch)
        self.totals = Applied(self.totals.events + applied.events, self.totals.duplicates + applied.duplicates)
        self.kafka.commit_async()
        if applied.duplicates:
            log.info("kafka_duplicates_dropped", group=self.group, duplicates=applied.duplicates)
        return applied

    def _apply(self, batch: Batch) -> Applied:
        attempt = 1
        while True:
            try:
                return self.feed.apply(batch)
            except RETRIABLE as error:
                if attempt == RETRIES:
                    raise
                log.warning("kafka_batch_retried", group=self.group, attempt=attempt, error=str(error))
                attempt += 1

    def run(self, stop: threading.Event, progress: Callable[[int], None] | None = None,
            retry_interval: float = 2.0) -> None:
        """Consume until `stop` is set. An unreachable broker is waited for;
        a database error or a gap in the topic ends the run (raises)."""
        while not stop.is_set():
            try:
                applied = self.poll_once()
            except KafkaError as error:
                log.warning("kafka_poll_failed", group=self.group, error=str(error))
                stop.wait(retry_interval)
                continue
            if progress is not None and applied.events:
                progress(applied.events)

    def close(self) -> None:
        """Leave the group at once, so its partitions move without waiting
        for the session to time out."""
        self.kafka.close()
