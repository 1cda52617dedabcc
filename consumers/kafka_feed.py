"""A projection set fed from the Kafka topic, exactly once per event.

Everything the consumers need to resume lives in the view store, written in
the same transaction as the projection rows:

- `kafka_offsets`: per partition, the next offset to apply. A batch keeps only
  records at or past it, so a record counts once even when two consumers hold
  a partition at the same time during a rebalance (on PostgreSQL the offset
  rows are locked first, in partition order, so such consumers take turns).
- `kafka_versions`: per aggregate, the last version applied. The relay is
  at-least-once, so an event may appear twice in the topic at different
  offsets; the second copy is dropped here. A version that skips ahead means
  the topic lost events (retention) and the projection cannot be built from
  it: that stops the consumer rather than writing wrong rows.
- `kafka_feed`: the projections (and versions) the rows were built for, and
  the topic. Any change drops the rows and starts the feed from offset 0,
  as the embedded runner rebuilds from notification 0; a consumer still
  running the old projections then stops at its next batch.

Projections only see each aggregate's events in version order: partitions
interleave, so they must not depend on the order between aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import structlog

from emergency.envelope import Envelope
from projections.rows import placeholders, select_in
from projections.runner import ProjectionSet
from projections.store import Cursor, ViewStore

log = structlog.get_logger(__name__)

TABLES_DDL = (
    """CREATE TABLE IF NOT EXISTS kafka_offsets (
        topic TEXT NOT NULL,
        partition_id INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, partition_id))""",
    """CREATE TABLE IF NOT EXISTS kafka_versions (
        aggregate_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kafka_feed (
        projection TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        topic TEXT NOT NULL)""",
)

class FeedStopped(RuntimeError):
    """The feed cannot go on without writing wrong rows."""


class StreamGap(FeedStopped):
    """An aggregate's next event in the topic is not the next version."""


class FeedChanged(FeedStopped):
    """Another consumer rebuilt the view store for other projections."""


@dataclass(frozen=True)
class Applied:
    events: int  # folded into the projections
    duplicates: int  # dropped: already applied (re-sent by the relay, or a replayed offset)


# partition -> [(offset, envelope), …] in offset order
Batch = Mapping[int, Sequence[tuple[int, Envelope]]]


def ensure_tables(store: ViewStore) -> None:
    with store.transaction() as cur:
        for ddl in TABLES_DDL:
            cur.execute(ddl)


def stored_offsets(store: ViewStore, topic: str) -> dict[int, int]:
    """The next offset to apply, per partition that has any."""
    with store.read() as cur:
        rows = cur.execute("SELECT partition_id, next_offset FROM kafka_offsets WHERE topic = ?",
                           (topic,)).fetchall()
    return {int(p): int(o) for p, o in rows}


class KafkaFeed:
    def __init__(self, projections: ProjectionSet, topic: str):
        self.projections = projections
        self.store = projections.store
        self.topic = topic
        self.wanted = {p.name: (p.version, topic) for p in projections.projections}
        ensure_tables(self.store)
        self._rebuild_if_changed()

    @staticmethod
    def _stored_feed(cur: Cursor, lock: str = "") -> dict[str, tuple[int, str]]:
        return {name: (int(version), topic) for name, version, topic in
                cur.execute(f"SELECT projection, version, topic FROM kafka_feed{lock}").fetchall()}

    def _rebuild_if_changed(self) -> None:
        wanted = self.wanted
        with self.store.transaction() as cur:
            if cur.dialect == "postgres":  # consumers starting together: one decides, batches wait
                cur.execute("LOCK TABLE kafka_feed IN EXCLUSIVE MODE")
            stored = self._stored_feed(cur)
            if stored == wanted:
                return
            if stored:
                log.warning("kafka_feed_rebuild", topic=self.topic, stored=stored, wanted=wanted)
            for projection in self.projections.projections:
                projection.drop(cur)
                self.store.forget_position(cur, projection.name)
                projection.create(cur)
            for table in ("kafka_offsets", "kafka_versions", "kafka_feed"):
                cur.execute(f"DELETE FROM {table}")
            cur.executemany("INSERT INTO kafka_feed (projection, version, topic) VALUES (?, ?, ?)",
                            [(name, version, topic) for name, (version, topic) in wanted.items()])

    def offsets(self) -> dict[int, int]:
        return stored_offsets(self.store, self.topic)

    def apply(self, batch: Batch) -> Applied:
        """Fold a batch of records into the projections and move the offsets,
        in one transaction; records and events already applied are dropped."""
        batch = {partition: records for partition, records in batch.items() if records}
        with self.store.transaction() as cur:
            # A consumer still running older projections must not write into a
            # rebuilt store (a rebuild waits for this share lock, and vice versa).
            feed = self._stored_feed(cur, " FOR SHARE" if cur.dialect == "postgres" else "")
            if feed != self.wanted:
                raise FeedChanged(f"the view store was rebuilt for {feed}, this consumer feeds {self.wanted}: "
                                  "restart it with the current projections")
            stored = self._lock_offsets(cur, sorted(batch))
            fresh: list[Envelope] = []
            reached: dict[int, int] = {}
            for partition, records in batch.items():
                kept = [(offset, e) for offset, e in records if offset >= stored[partition]]
                if kept:
                    reached[partition] = kept[-1][0] + 1
                    fresh.extend(e for _, e in kept)
            events = self._admit(cur, fresh)
            self.projections.fold(cur, events)
            cur.executemany("UPDATE kafka_offsets SET next_offset = ? WHERE topic = ? AND partition_id = ?",
                            [(offset, self.topic, p) for p, offset in reached.items()])
        total = sum(len(records) for records in batch.values())
        return Applied(events=len(events), duplicates=total - len(events))

    def _lock_offsets(self, cur: Cursor, partitions: Sequence[int]) -> dict[int, int]:
        if not partitions:
            return {}
        # Insert missing rows first: a row that exists can be locked, so two
        # consumers can never both start a partition from a missing row.
        cur.executemany("INSERT INTO kafka_offsets (topic, partition_id, next_offset) VALUES (?, ?, 0) "
                        "ON CONFLICT (topic, partition_id) DO NOTHING", [(self.topic, p) for p in partitions])
        lock = " ORDER BY partition_id FOR UPDATE" if cur.dialect == "postgres" else ""
        rows = cur.execute(f"SELECT partition_id, next_offset FROM kafka_offsets WHERE topic = ? "
                           f"AND partition_id IN ({placeholders(len(partitions))}){lock}",
                           (self.topic, *partitions)).fetchall()
        return {int(p): int(o) for p, o in rows}

    def _admit(self, cur: Cursor, events: Iterable[Envelope]) -> list[Envelope]:
        """The events not applied before, checked to continue each aggregate's
        versions; records the new last versions."""
        events = list(events)
        ids = sorted({e.aggregate_id for e in events})
        last = {row["aggregate_id"]: int(row["version"])
                for row in select_in(cur, "kafka_versions", ("aggregate_id", "version"), "aggregate_id", ids)}
        known = set(last)
        admitted = []
        for event in events:
            seen = last.get(event.aggregate_id, 0)
            if event.version <= seen:
                continue
            if event.version != seen + 1:
                raise StreamGap(f"topic {self.topic!r}: aggregate {event.aggregate_id} jumps from version {seen} "
                                f"to {event.version} (notification {event.notification_id}); the topic no longer "
                                "holds every event: rebuild this view store by replay instead")
            last[event.aggregate_id] = event.version
            admitted.append(event)
        touched = {e.aggregate_id for e in admitted}
        cur.executemany("UPDATE kafka_versions SET version = ? WHERE aggregate_id = ?",
                        [(last[a], a) for a in touched & known])
        cur.executemany("INSERT INTO kafka_versions (aggregate_id, version) VALUES (?, ?)",
                        [(a, last[a]) for a in touched - known])
        return admitted
