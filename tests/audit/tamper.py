"""Raw SQL against a real store, as someone with database access would tamper with it.

Nothing here goes through the application: rows are edited, deleted and moved
with sqlite3 or psycopg directly, so the tests see what `verify` sees after a
rewrite behind the system's back.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from infra.audit_chain import links
from infra.audit_recorders import CHAIN_TABLE
from infra.settings import postgres_parts, sqlite_path
from infra.stores import connect_postgres


class RawStore:
    """Tampering operations on the events table and the chain table."""

    def __init__(self, url: str, events_table: str):
        self.url = url
        self.postgres = not url.startswith("sqlite")
        self.events = events_table
        # SQLite numbers the log by rowid; PostgreSQL by a notification_id column.
        self.position = "notification_id" if self.postgres else "rowid"
        self.mark = "%s" if self.postgres else "?"

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self.postgres:
            with connect_postgres(self.url) as conn:
                conn.execute(sql.SQL("SET search_path TO {}").format(
                    sql.Identifier(postgres_parts(self.url)["schema"])))
                with conn.transaction():
                    yield conn
        else:
            conn = sqlite3.connect(sqlite_path(self.url))
            try:
                with conn:
                    yield conn
            finally:
                conn.close()

    def run(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        statement = statement.format(events=self.events, chain=CHAIN_TABLE, pos=self.position).replace(
            "?", self.mark)
        with self._connection() as conn:
            cursor = conn.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []

    def state(self, notification_id: int) -> bytes:
        return bytes(self.run("SELECT state FROM {events} WHERE {pos} = ?", notification_id)[0][0])

    def set_state(self, notification_id: int, state: bytes) -> None:
        self.run("UPDATE {events} SET state = ? WHERE {pos} = ?", state, notification_id)

    def delete_event(self, notification_id: int) -> None:
        self.run("DELETE FROM {events} WHERE {pos} = ?", notification_id)

    def delete_link(self, notification_id: int) -> None:
        self.run("DELETE FROM {chain} WHERE notification_id = ?", notification_id)

    def set_hash(self, notification_id: int, hash_hex: str) -> None:
        self.run("UPDATE {chain} SET hash = ? WHERE notification_id = ?", hash_hex, notification_id)

    def swap_contents(self, a: int, b: int) -> None:
        """Exchange what two log positions hold (originator, version, topic and state)."""
        rows = {r[0]: r[1:] for r in self.run(
            "SELECT {pos}, originator_id, originator_version, topic, state FROM {events} "
            "WHERE {pos} IN (?, ?)", a, b)}
        for target in (a, b):
            # Move aside first: (originator_id, version) is the primary key.
            self.run("UPDATE {events} SET originator_version = -originator_version - 1000 WHERE {pos} = ?", target)
        for target, source in ((a, b), (b, a)):
            self.run("UPDATE {events} SET originator_id = ?, originator_version = ?, topic = ?, state = ? "
                     "WHERE {pos} = ?", *rows[source], target)

    def move(self, notification_id: int, to: int) -> None:
        """Renumber an event, as a reorder of the log would."""
        self.run("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", to, notification_id)

    def rechain(self) -> None:
        """What a careful forger does after editing events: recompute every link."""
        rows = self.run("SELECT {pos}, originator_id, originator_version, topic, state FROM {events} ORDER BY {pos}")
        numbered = [(r[0], StoredEvent(UUID(str(r[1])), r[2], r[3], bytes(r[4]))) for r in rows]
        self.run("DELETE FROM {chain}")
        for notification_id, hash_hex in links(None, numbered):
            self.run("INSERT INTO {chain} VALUES (?, ?)", notification_id, hash_hex)

