"""What every projection's rows share: times as epoch microseconds, the SQL
of bulk writes and reads, and the guard that makes a fold skip what it has
already folded in.

Times are stored as epoch microseconds: exact, and compared in SQL as plain
integers. Bulk reads take ids `CHUNK` at a time on SQLite, so no statement's
`IN (…)` list grows with the batch; on PostgreSQL as one array parameter.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator, Mapping, Protocol, Sequence, TypeVar

from emergency.envelope import Envelope
from projections.store import Cursor

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Ids per statement of a bulk read.
CHUNK = 500


def to_micros(moment: datetime) -> int:
    """Epoch microseconds of an aware time: exact, and comparable in SQL."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros(text: str) -> int:
    """Epoch microseconds of an ISO 8601 time with an offset, as events carry them."""
    return to_micros(datetime.fromisoformat(text))


def iso(us: int | None) -> str | None:
    """The ISO 8601 form (UTC) of epoch microseconds; None stays None."""
    if us is None:
        return None
    return datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(microsecond=us % 1_000_000).isoformat()


def placeholders(count: int) -> str:
    """`?, ?, …`: the placeholders of `count` values."""
    return ", ".join("?" * count)


def insert(table: str, columns: Sequence[str]) -> str:
    """`INSERT INTO table (columns) VALUES (?, …)`."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})"


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """An insert that replaces the row with the same `key`."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return f"{insert(table, columns)} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


Id = TypeVar("Id")


def chunks(ids: Sequence[Id]) -> Iterator[Sequence[Id]]:
    """`ids`, `CHUNK` at a time."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def select_in(cur: Cursor, table: str, columns: Sequence[str], key: str,
              ids: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """The rows of `table` whose `key` is one of `ids`, as `columns` -> value."""
    if cur.dialect == "postgres":  # one array parameter: a short statement, parsed once
        rows = cur.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ANY(?)", (list(ids),)).fetchall()
        yield from (dict(zip(columns, row)) for row in rows)
        return
    for chunk in chunks(ids):
        rows = cur.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN ({placeholders(len(chunk))})",
                           chunk).fetchall()
        yield from (dict(zip(columns, row)) for row in rows)


class Versioned(Protocol):
    """A fold's state of one aggregate, and the version of the last event folded into it."""

    version: int


State = TypeVar("State", bound="Versioned | dict[str, Any]")


def newer(states: Mapping[str, State], e: Envelope) -> State | None:
    """The state of `e`'s aggregate, moved on to `e`'s version; None when the
    aggregate is unknown here, or `e` is at or below the version already
    folded in: a duplicate delivery from an at-least-once feed, which must
    change nothing. A state is an object with a `version` or a row (a dict)
    with a `"version"` column."""
    state = states.get(e.aggregate_id)
    if state is None:
        return None
    if isinstance(state, dict):
        if e.version <= state["version"]:
            return None
        state["version"] = e.version
    else:
        if e.version <= state.version:
            return None
        state.version = e.version
    return state
