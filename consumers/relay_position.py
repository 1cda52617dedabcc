"""Where the relay keeps its position (the last notification id the broker
acknowledged, per topic), and the lock that makes it the only relay of its
event store.

Both live in the event store's own database: a small table beside the
events, and on PostgreSQL an advisory lock held by the relay's connection
(released by the server when that connection ends, however the relay dies);
on SQLite an exclusive `flock` on a file beside the database (released by
the kernel when the process ends). Two relays on one store would each
re-send the other's work and race on the position.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from pathlib import Path

import psycopg
from psycopg import sql

from infra.settings import postgres_parts, sqlite_path
from infra.stores import connect_postgres, ensure_schema
from projections.store import Cursor

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS kafka_relay_position (
    topic TEXT PRIMARY KEY,
    notification_id BIGINT NOT NULL
)"""


class RelayAlreadyRunning(RuntimeError):
    """Another relay holds this event store's relay lock."""


class RelayPosition:
    """Base: the position table, on an autocommit connection's cursor."""

    def __init__(self, cur: Cursor):
        self.cur = cur
        cur.execute(TABLE_DDL)

    def acquire(self) -> None:
        """Take the store's relay lock for the life of this object, or raise
        `RelayAlreadyRunning`."""
        raise NotImplementedError

    def load(self, topic: str) -> int:
        row = self.cur.execute("SELECT notification_id FROM kafka_relay_position WHERE topic = ?",
                               (topic,)).fetchone()
        return int(row[0]) if row else 0

    def save(self, topic: str, notification_id: int) -> None:
        self.cur.execute("INSERT INTO kafka_relay_position (topic, notification_id) VALUES (?, ?) "
                         "ON CONFLICT (topic) DO UPDATE SET notification_id = excluded.notification_id",
                         (topic, notification_id))

    def close(self) -> None:
        raise NotImplementedError


class SQLiteRelayPosition(RelayPosition):
    def __init__(self, path: Path):
        self.lock_path = path.with_name(path.name + ".relay-lock")
        self._lock_fd: int | None = None
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        super().__init__(Cursor(self.conn.cursor(), "sqlite"))

    def acquire(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RelayAlreadyRunning(f"another relay holds {self.lock_path}") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        self.conn.close()


class PostgresRelayPosition(RelayPosition):
    def __init__(self, url: str):
        parts = postgres_parts(url)
        ensure_schema(url, parts["schema"])
        # Advisory locks are per database: the schema names the store.
        digest = hashlib.blake2b(f"emergency-relay:{parts['schema']}".encode(), digest_size=8).digest()
        self.lock_key = int.from_bytes(digest, "big", signed=True)
        self.schema = parts["schema"]
        self.conn: psycopg.Connection = connect_postgres(url)
        self.conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        super().__init__(Cursor(self.conn.cursor(), "postgres"))

    def acquire(self) -> None:
        row = self.cur.execute("SELECT pg_try_advisory_lock(?)", (self.lock_key,)).fetchone()
        if not row or not row[0]:
            raise RelayAlreadyRunning(f"another relay holds the advisory lock of schema {self.schema!r}")

    def close(self) -> None:
        self.conn.close()  # ends the session, and with it the advisory lock


def open_relay_position(database_url: str) -> RelayPosition:
    """The relay position of the event store at `database_url`."""
    if database_url.startswith("sqlite:///"):
        return SQLiteRelayPosition(sqlite_path(database_url))
    return PostgresRelayPosition(database_url)
