"""A projection that makes any loss, duplicate or reordering visible: the
consumer subprocesses of the fault tests import it by name
(`--projection tests.kafka.projections:AggregateChains`)."""

from __future__ import annotations

import hashlib
from typing import Sequence

from emergency.envelope import Envelope
from projections.base import Projection
from projections.store import Cursor


class AggregateChains(Projection):
    """Per aggregate: events seen, last version, and a hash chain over them
    in the order they were applied. A lost, doubled or reordered event of any
    aggregate changes its row."""

    name = "test_chains"

    ddl = ("CREATE TABLE IF NOT EXISTS test_chains (aggregate_id TEXT PRIMARY KEY, "
           "events INTEGER NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL)",)
    tables = ("test_chains",)

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        ids = sorted({e.aggregate_id for e in events})
        rows: dict[str, tuple[int, int, str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows.update((a, (n, v, d)) for a, n, v, d in cur.execute(
                f"SELECT aggregate_id, events, version, digest FROM test_chains "
                f"WHERE aggregate_id IN ({', '.join('?' for _ in chunk)})", chunk).fetchall())
        for e in events:
            n, _, digest = rows.get(e.aggregate_id, (0, 0, ""))
            link = f"{digest}|{e.version}|{e.kind}|{e.notification_id}|{e.recorded_at}".encode()
            rows[e.aggregate_id] = (n + 1, e.version, hashlib.sha256(link).hexdigest())
        cur.executemany("INSERT INTO test_chains (aggregate_id, events, version, digest) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (aggregate_id) DO UPDATE SET events = excluded.events, "
                        "version = excluded.version, digest = excluded.digest",
                        [(a, *rows[a]) for a in ids])

