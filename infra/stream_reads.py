"""Reading the events of many aggregates in one query.

A batch of commands names the households and idempotency records it needs up
front; reading them one by one (eventsourcing's `select_events`) cost a round
trip each, half of a batch's time. `AidApplication.get_many` reads them here
instead, in one query per few hundred aggregates. Plugged in by
`infra.stores.open_application`.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import Any, Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg.sql import SQL, Identifier

from emergency.application import StreamReader

# Bound the IN (...) list of one statement.
CHUNK = 500


def stream_reader(recorder: Any) -> StreamReader | None:
    """The bulk reader for this recorder's database; None for one that has no round trips to save."""
    if isinstance(recorder, SQLiteAggregateRecorder):
        return partial(_sqlite, recorder)
    if isinstance(recorder, PostgresAggregateRecorder):
        return partial(_postgres, recorder)
    return None


def _chunks(ids: Sequence[UUID]) -> list[Sequence[UUID]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _sqlite(recorder: SQLiteAggregateRecorder, ids: Sequence[UUID], max_version: int) -> dict[UUID, list[StoredEvent]]:
    found: dict[UUID, list[StoredEvent]] = defaultdict(list)
    with recorder.datastore.transaction(commit=False) as c:
        for chunk in _chunks(ids):
            c.execute(f"SELECT originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
                      f"WHERE originator_id IN ({', '.join('?' * len(chunk))}) AND originator_version <= ? "
                      "ORDER BY originator_id, originator_version", [i.hex for i in chunk] + [max_version])
            for row in c.fetchall():
                originator_id = UUID(row[0])
                found[originator_id].append(StoredEvent(originator_id, row[1], row[2], row[3]))
    return found


def _postgres(recorder: PostgresAggregateRecorder, ids: Sequence[UUID],
              max_version: int) -> dict[UUID, list[StoredEvent]]:
    statement = SQL("SELECT originator_id, originator_version, topic, state FROM {}.{} "
                    "WHERE originator_id = ANY(%s) AND originator_version <= %s "
                    "ORDER BY originator_id, originator_version").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    found: dict[UUID, list[StoredEvent]] = defaultdict(list)
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        for chunk in _chunks(ids):
            curs.execute(statement, (list(chunk), max_version))
            for row in curs.fetchall():
                found[row["originator_id"]].append(StoredEvent(
                    row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])))
    return found
