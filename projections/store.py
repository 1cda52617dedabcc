"""Where projections keep their rows and their positions: SQLite or PostgreSQL.

A projection writes its rows and the notification id it has reached in one
transaction (`ViewStore.transaction()`), so after a crash it resumes exactly
where its rows stand: each event counts once. SQL is written once with `?`
placeholders and translated for PostgreSQL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool

from infra.postgres_limits import CONNECTION_OPTIONS, POOL_SECONDS
from infra.private_files import private_file
from infra.settings import postgres_parts, sqlite_path

POSITIONS_DDL = """
CREATE TABLE IF NOT EXISTS projection_position (
    name TEXT PRIMARY KEY,
    notification_id BIGINT NOT NULL,
    version INTEGER NOT NULL
)"""


class Cursor:
    """A cursor speaking `?` placeholders on either database."""

    def __init__(self, raw: Any, dialect: str):
        self.raw = raw
        self.dialect = dialect

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgres" else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        self.raw.execute(self._sql(statement), params)
        return self

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.raw.executemany(self._sql(statement), rows)

    def insert_many(self, statement: str, rows: Iterable[Sequence[Any]], per_statement: int = 500) -> None:
        """`executemany` for an `INSERT … VALUES (?, …) [ON CONFLICT …]`: many
        rows per statement on SQLite, pipelined on PostgreSQL. An upsert must
        not name the same key twice among its rows."""
        rows = list(rows)
        if self.dialect == "postgres":
            # One prepared statement in a pipeline: a long multi-row text would
            # be parsed for its placeholders again at every call.
            self.executemany(statement, rows)
            return
        head, marks, tail = _split_values(statement)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            values = ", ".join([marks] * len(chunk))
            self.execute(f"{head} VALUES {values}{tail}", [v for row in chunk for v in row])

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Plain inserts in bulk: PostgreSQL's COPY, or one prepared INSERT
        run for every row (`executemany`) on SQLite."""
        if not rows:
            return
        if self.dialect == "postgres":
            with self.raw.copy(pgsql.SQL("COPY {} ({}) FROM STDIN").format(
                    pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns)))) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        self.raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                             rows)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.raw.fetchall())

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.raw.fetchone()
        return row


def _split_values(statement: str) -> tuple[str, str, str]:
    """`INSERT … VALUES (?, ?) rest` -> ("INSERT …", "(?, ?)", " rest")."""
    head, found, rest = statement.partition(" VALUES ")
    end = rest.index(")") + 1
    if not found or not rest.startswith("("):
        raise ValueError(f"not an INSERT … VALUES (…) statement: {statement!r}")
    return head, rest[:end], rest[end:]


POSITIONS = "SELECT name, notification_id, version FROM projection_position"


def stored_positions(rows: Sequence[Any]) -> dict[str, tuple[int, int]]:
    return {str(row[0]): (int(row[1]), int(row[2])) for row in rows}

class ViewStore:
    """Base: positions and transactions; subclasses own the connections."""

    dialect = ""

    def __init__(self) -> None:
        with self.transaction() as cur:
            cur.execute(POSITIONS_DDL)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError

    def read(self) -> Any:
        """A cursor context for queries (same as a transaction that commits nothing)."""
        return self.transaction()

    def position(self, name: str) -> tuple[int, int] | None:
        """(notification id, projection version) stored for `name`, if any."""
        return self.positions().get(name)

    def positions(self) -> dict[str, tuple[int, int]]:
        """Every stored (notification id, projection version), by name: one read."""
        with self.read() as cur:
            return stored_positions(cur.execute(POSITIONS).fetchall())

    @staticmethod
    def save_position(cur: Cursor, name: str, notification_id: int, version: int) -> None:
        cur.execute(
            "INSERT INTO projection_position (name, notification_id, version) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET notification_id = excluded.notification_id, "
            "version = excluded.version", (name, notification_id, version))

    @staticmethod
    def forget_position(cur: Cursor, name: str) -> None:
        cur.execute("DELETE FROM projection_position WHERE name = ?", (name,))

    def close(self) -> None:
        """Release connections."""

    def projector_lock(self) -> ProjectorLock | None:
        """What a process holds while it writes these views; None: nobody else can."""
        return None

    def merging(self, urls: Sequence[str]) -> Any:
        """A transaction context yielding (cursor, names): in it, the tables of
        the view store at `urls[i]` (beside this one) read as `names[i].table`."""
        raise NotImplementedError

    def discard(self, url: str) -> None:
        """Remove the view store at `url`, one beside this one."""
        raise NotImplementedError


class ProjectorLock:
    """Exactly one projector per view store: a process that holds this lock
    writes the views, every other one only reads them. Non-blocking; lost
    (and so not held) when its process dies."""

    held = False

    def acquire(self) -> bool:
        """Take the lock if free (or check it is still held); whether held."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class NeverHeld(ProjectorLock):
    """For a process that leaves projecting to another (`emergency project`):
    it only follows the positions the projector stores."""

    def acquire(self) -> bool:
        return False

    def release(self) -> None:
        pass


class FileLock(ProjectorLock):
    """flock(2) on a file beside a SQLite view store."""

    def __init__(self, path: Path):
        self.path = private_file(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd, self.held = fd, True
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd, self.held = None, False


class AdvisoryLock(ProjectorLock):
    """A PostgreSQL session advisory lock, keyed by the view schema, on a
    connection of its own: a server that dies or loses the connection loses it."""

    def __init__(self, conninfo: str, schema: str):
        self.conninfo = conninfo
        self.key = int.from_bytes(hashlib.sha256(f"emergency projector {schema}".encode()).digest()[:8], "big",
                                  signed=True)
        self._conn: Any = None

    def acquire(self) -> bool:
        import psycopg

        try:
            if self._conn is None:
                self._conn = psycopg.connect(self.conninfo, autocommit=True, **CONNECTION_OPTIONS)
            if self.held:
                self._conn.execute("SELECT 1")
            else:
                self.held = bool(self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0])
        except psycopg.Error:  # the connection, and with it the lock, is gone: try afresh next time
            self.release()
        return self.held

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the session's advisory locks go with it
        self._conn, self.held = None, False


class SQLiteViewStore(ViewStore):
    """One writer connection, one reader connection per thread (WAL mode lets
    readers see the last committed state while the writer works)."""

    dialect = "sqlite"

    def __init__(self, path: str):
        self.path = path
        self.memory = path == ":memory:"
        private_file(Path(path))
        self._write_lock = threading.RLock()  # `merging` holds it around a transaction
        self._writer = self._connect()
        self._readers = threading.local()
        super().__init__()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        if not self.memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._write_lock:
            raw = self._writer.cursor()
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(raw, self.dialect)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        if self.memory:  # one connection is the whole database
            with self.transaction() as cur:
                yield cur
            return
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = self._readers.conn = self._connect()
        raw = conn.cursor()
        raw.execute("BEGIN")
        try:
            yield Cursor(raw, self.dialect)
        finally:
            raw.execute("COMMIT")

    @contextmanager
    def merging(self, urls: Sequence[str]) -> Iterator[tuple[Cursor, list[str]]]:
        names = [f"source{i}" for i in range(len(urls))]
        with self._write_lock:
            for name, url in zip(names, urls):  # outside a transaction, as SQLite requires
                self._writer.execute(f"ATTACH DATABASE ? AS {name}", (str(sqlite_path(url)),))
            try:
                with self.transaction() as cur:
                    yield cur, names
            finally:
                for name in names:
                    self._writer.execute(f"DETACH DATABASE {name}")

    def discard(self, url: str) -> None:
        path = sqlite_path(url)
        for found in path.parent.glob(f"{path.name}*"):  # with its -wal and -shm
            found.unlink()

    def close(self) -> None:
        self._writer.close()

    def projector_lock(self) -> ProjectorLock | None:
        return None if self.memory else FileLock(Path(f"{self.path}-projector.lock"))


class PostgresViewStore(ViewStore):
    dialect = "postgres"

    def __init__(self, url: str, max_size: int = 8):
        parts = postgres_parts(url)
        self.schema = parts["schema"]
        conninfo = (f"host={parts['host']} port={parts['port']} user={parts['user']} "
                    f"password={parts['password']} dbname={parts['dbname']}")
        self.conninfo = conninfo
        self._ensure_schema(conninfo)
        options = f"{CONNECTION_OPTIONS['options']} -c search_path={self.schema}"
        self.pool = ConnectionPool(conninfo, min_size=1, max_size=max_size, open=True, timeout=POOL_SECONDS,
                                   kwargs={**CONNECTION_OPTIONS, "options": options, "autocommit": True})
        super().__init__()

    def _ensure_schema(self, conninfo: str) -> None:
        import psycopg

        with psycopg.connect(conninfo, autocommit=True, **CONNECTION_OPTIONS) as conn:
            conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema)))

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as raw:
            yield Cursor(raw, self.dialect)

    def positions(self) -> dict[str, tuple[int, int]]:
        # One statement on an autocommit connection: one round trip where a
        # transaction takes three, and a follower asks every few milliseconds.
        with self.pool.connection() as conn:
            return stored_positions(conn.execute(POSITIONS).fetchall())

    @contextmanager
    def merging(self, urls: Sequence[str]) -> Iterator[tuple[Cursor, list[str]]]:
        with self.transaction() as cur:
            yield cur, [pgsql.Identifier(postgres_parts(url)["schema"]).as_string(cur.raw) for url in urls]

    def discard(self, url: str) -> None:
        with self.transaction() as cur:
            cur.raw.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                pgsql.Identifier(postgres_parts(url)["schema"])))

    def close(self) -> None:
        self.pool.close()

    def projector_lock(self) -> ProjectorLock | None:
        return AdvisoryLock(self.conninfo, self.schema)


def open_view_store(url: str) -> ViewStore:
    """`sqlite:///path`, `sqlite:///:memory:` or `postgresql://…[?schema=s]`."""
    if url.startswith("sqlite:///"):
        return SQLiteViewStore(str(sqlite_path(url)))
    return PostgresViewStore(url)
