"""Application recorders that chain every event as it is stored.

eventsourcing's recorders insert a batch of events in one transaction; these
subclasses add, in that same transaction, one row per event to
`event_chain(notification_id, hash)` (encoding: `infra.audit_chain`). So an
event is never committed without its link, nor a link without its event.

Why the head read is safe: on SQLite the events insert has already taken the
database's single write lock; on PostgreSQL it has taken the events table's
EXCLUSIVE lock. Either way no other writer can append until we commit, and
links follow log order even where PostgreSQL ids have gaps.

They also keep the store's event format (`emergency.event_format`) in
`event_format(id, format)`, one row: the set-up creates the table, and the
application's first opening writes the row (`event_format`), never changed
after. A store with events but no row was made before the format was
recorded: it is `tagged`, and keeps writing so.

On PostgreSQL the events go in as four arrays of plain types rather than
eventsourcing's one array of a composite type, which psycopg can only dump
in Python, as escaped text: the same rows in the same order, for a quarter
of the CPU.

Plugged in by `infra.stores.event_store_env` via eventsourcing's
`APPLICATION_RECORDER_TOPIC`.
"""

from __future__ import annotations

from typing import Any, Sequence, cast

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from emergency.event_format import TAGGED
from infra.audit_chain import links
from infra.postgres_limits import SingleAttempt

CHAIN_TABLE = "event_chain"
FORMAT_TABLE = "event_format"


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (notification_id INTEGER PRIMARY KEY, hash TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {FORMAT_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), format TEXT NOT NULL)"]

    def event_format(self, for_new_store: str) -> str:
        """The store's event format, recorded now if it has none (see the module's docstring)."""
        for commit in (False, True):  # a write only the first time
            with self.datastore.transaction(commit=commit) as c:
                if commit:
                    c.execute(f"INSERT OR IGNORE INTO {FORMAT_TABLE} (id, format) SELECT 1, CASE WHEN EXISTS "
                              f"(SELECT 1 FROM {self.events_table_name}) THEN ? ELSE ? END", (TAGGED, for_new_store))
                c.execute(f"SELECT format FROM {FORMAT_TABLE}")
                row = c.fetchone()
                if row is not None:
                    return str(row[0])
        raise AssertionError("the event format was just recorded")

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        assert ids is not None
        c.execute(f"SELECT hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
        head = c.fetchone()
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?)",
                      links(head[0] if head else None, zip(ids, stored_events)))
        return ids

    def select_chain(self, after: int, limit: int, stop: int | None = None) -> list[tuple[int, str]]:
        """Links with `after` < notification id (≤ `stop`), in log order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT notification_id, hash FROM {CHAIN_TABLE} WHERE notification_id > ? "
                      "AND notification_id <= ? ORDER BY notification_id LIMIT ?",
                      (after, stop if stop is not None else 2**63 - 1, limit))
            return [(row[0], row[1]) for row in c.fetchall()]

    def max_chain_id(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(notification_id) FROM {CHAIN_TABLE}")
            return c.fetchone()[0] or 0


class ChainedPostgresApplicationRecorder(SingleAttempt, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        if datastore.enable_db_functions:
            # The database function inserts events without passing through here.
            raise ValueError("the event chain needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(CHAIN_TABLE))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, hash text NOT NULL)").format(table))
        formats = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(FORMAT_TABLE))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (id integer PRIMARY KEY CHECK (id = 1), format text NOT NULL)").format(formats))
        self.record_format_statement = SQL(
            "INSERT INTO {} (id, format) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM {}.{}) THEN %s ELSE %s END "
            "ON CONFLICT (id) DO NOTHING").format(formats, Identifier(datastore.schema), Identifier(events_table_name))
        self.select_format_statement = SQL("SELECT format FROM {}").format(formats)
        self.chain_head_statement = SQL("SELECT hash FROM {} ORDER BY notification_id DESC LIMIT 1").format(table)
        self.insert_links_statement = SQL(
            "INSERT INTO {} (notification_id, hash) SELECT * FROM unnest(%s::bigint[], %s::text[])").format(table)
        self.max_chain_id_statement = SQL("SELECT MAX(notification_id) FROM {}").format(table)
        self.insert_columns_statement = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id").format(
            Identifier(datastore.schema), Identifier(events_table_name), SQL(datastore.originator_id_type))
        self.select_chain_statement = SQL(
            "SELECT notification_id, hash FROM {} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s").format(table)

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        # eventsourcing sends one array of a composite type, which psycopg
        # dumps in Python, field by field, as escaped text; four arrays of
        # plain types go in binary, for a quarter of the CPU. Same rows, same
        # order, so the same notification ids come back.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_columns_statement, (
            [e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
            [e.topic for e in stored_events], [e.state for e in stored_events]))

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        # Runs inside the insert's transaction, after the table lock and the
        # insert. Only hashing runs between these statements; any failing
        # statement aborts the transaction, events included.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert ids is not None
        curs.execute(self.chain_head_statement)
        head = curs.fetchone()
        new = links(head["hash"] if head else None, zip(ids, stored_events))
        curs.execute(self.insert_links_statement, ([n for n, _ in new], [h for _, h in new]))
        return ids

    def event_format(self, for_new_store: str) -> str:
        """The store's event format, recorded now if it has none (see the module's docstring)."""
        for commit in (False, True):  # a write only the first time
            with self.datastore.transaction(commit=commit) as curs:
                if commit:
                    curs.execute(self.record_format_statement, (TAGGED, for_new_store))
                curs.execute(self.select_format_statement)
                row = curs.fetchone()
                if row is not None:
                    return str(row["format"])
        raise AssertionError("the event format was just recorded")

    def select_chain(self, after: int, limit: int, stop: int | None = None) -> list[tuple[int, str]]:
        """Links with `after` < notification id (≤ `stop`), in log order."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_chain_statement, (after, stop if stop is not None else 2**63 - 1, limit))
            return [(row["notification_id"], row["hash"]) for row in curs.fetchall()]

    def max_chain_id(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.max_chain_id_statement)
            row = curs.fetchone()
            return (row["max"] if row else None) or 0


def chained(recorder: ApplicationRecorder) -> ChainedSQLiteApplicationRecorder | ChainedPostgresApplicationRecorder:
    """An application's recorder as the chained one it is: `infra.stores`
    always chooses it (`recorder_topic`), which eventsourcing's own type
    cannot say."""
    return cast(ChainedSQLiteApplicationRecorder | ChainedPostgresApplicationRecorder, recorder)


def recorder_topic(postgres: bool) -> str:
    """The APPLICATION_RECORDER_TOPIC for the backend."""
    return get_topic(ChainedPostgresApplicationRecorder if postgres else ChainedSQLiteApplicationRecorder)
