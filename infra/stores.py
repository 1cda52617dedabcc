"""Wiring: the event store, the policy and the service, from settings."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg import sql

from emergency import clock
from emergency.application import AidApplication
from emergency.areas import load_registry
from emergency.areas import use as use_areas
from emergency.duplicates import DuplicateRules
from emergency.event_format import DEFAULT_FORMAT
from emergency.policy import load_policy
from emergency.service import AidService
from infra.audit_recorders import recorder_topic
from infra.postgres_limits import CONNECTION_OPTIONS, POOL_SECONDS
from infra.private_files import private_file
from infra.settings import Settings, postgres_parts, sqlite_path
from infra.stream_reads import stream_reader


def event_store_env(url: str, event_format: str = DEFAULT_FORMAT, create: bool = True) -> dict[str, str]:
    """The eventsourcing environment for a sqlite:/// or postgresql:// URL; a new
    store there takes `event_format` (the application's name prefixes the key,
    so that EMERGENCY_EVENT_FORMAT in the process's environment cannot win over it).
    Without `create`, its schema and tables are left as they are."""
    return {**_backend_env(url, create), "EMERGENCY_EVENT_FORMAT": event_format,
            **({} if create else {"CREATE_TABLE": "false"})}


def existing_store_env(url: str) -> dict[str, str]:
    """The environment for a process reading a store another has set up: it
    creates nothing, since `CREATE … IF NOT EXISTS` run by several processes
    at once races in PostgreSQL's catalogue ("tuple concurrently updated")."""
    return event_store_env(url, create=False)


def _backend_env(url: str, create: bool) -> dict[str, str]:
    if url.startswith("sqlite:///"):
        path = private_file(sqlite_path(url))
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "10", "AGGREGATE_CACHE_MAXSIZE": "20000",
                # Every event is hash-chained in its own transaction (infra.audit_recorders).
                "APPLICATION_RECORDER_TOPIC": recorder_topic(postgres=False)}
    parts = postgres_parts(url)
    if create:
        ensure_schema(url, parts["schema"])
    return {
        "PERSISTENCE_MODULE": "infra.postgres_limits:Factory", "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts["host"], "POSTGRES_PORT": parts["port"], "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": parts["password"], "POSTGRES_SCHEMA": parts["schema"],
        # Every insert takes a table lock: wait for it, but not forever. The
        # "connect" timeout is the wait for a pooled connection.
        "POSTGRES_LOCK_TIMEOUT": "10", "POSTGRES_POOL_SIZE": "5", "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_CONNECT_TIMEOUT": str(POOL_SECONDS),
        "AGGREGATE_CACHE_MAXSIZE": "20000", "APPLICATION_RECORDER_TOPIC": recorder_topic(postgres=True),
    }


def connect_postgres(url: str) -> psycopg.Connection:
    parts = postgres_parts(url)
    return psycopg.connect(host=parts["host"], port=parts["port"], user=parts["user"],
                           password=parts["password"], dbname=parts["dbname"], autocommit=True, **CONNECTION_OPTIONS)


def ensure_schema(url: str, schema: str) -> None:
    if schema == "public":
        return
    with connect_postgres(url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


# Any one number, the same in every process: the key of the set-up lock.
SETUP_LOCK = 0x656D_6572_6765_6E63


@contextmanager
def setup_lock(settings: Settings) -> Iterator[None]:
    """While creating schemas and tables, hold a database-wide PostgreSQL
    advisory lock: `CREATE … IF NOT EXISTS` run at once by several servers
    races in PostgreSQL's catalogue (a duplicate key in pg_type) and one of
    them fails. N servers started together then set up one after the other.
    SQLite needs none: it takes one writer at a time."""
    if not settings.is_postgres:
        yield
        return
    with connect_postgres(settings.database_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))


def open_application(settings: Settings) -> AidApplication:
    app = AidApplication(env=event_store_env(settings.database_url, settings.event_format))
    app.stream_reader = stream_reader(app.recorder)
    return app


def build_service(settings: Settings, app: AidApplication | None = None) -> AidService:
    clock.set_earliest(settings.earliest_time)
    policy = load_policy(settings.policy_overrides)
    areas = load_registry(Path(settings.commune_list) if settings.commune_list else None)
    use_areas(areas)  # names in reads and exports come from the same list the checks use
    duplicates = DuplicateRules(refuse_payments=settings.duplicate_payments == "refuse",
                                citizen_id_key=settings.citizen_id_key.get_secret_value().encode())
    return AidService(app or open_application(settings), policy, areas, duplicates)
