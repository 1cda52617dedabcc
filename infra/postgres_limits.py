"""How long anything waits for PostgreSQL: a store that cannot answer within
a few seconds is unavailable (the API answers 503 with Retry-After), rather
than holding requests for the driver's default 30 s or forever.

- connecting: `CONNECT_SECONDS` (libpq's connect_timeout);
- a pooled connection: `POOL_SECONDS` (the pools' wait, eventsourcing's
  POSTGRES_CONNECT_TIMEOUT and the view store's pool);
- one statement: `STATEMENT_SECONDS` (statement_timeout, on the server).

Every connection the project opens carries them: the event store's (through
`Factory`, eventsourcing's PostgreSQL factory with these options), the view
store's pool and the token store's connections (`CONNECTION_OPTIONS`).

eventsourcing retries its recorder's reads and writes ten times on a
connection error, each try waiting out the pool: close to a minute before a
request hears the store is down. `SingleAttempt` makes them try once; the
client retries (with its Idempotency-Key), and so does the projection runner.
"""

from __future__ import annotations

from typing import Any, cast

from eventsourcing.postgres import PostgresAggregateRecorder, PostgresFactory

CONNECT_SECONDS = 3
POOL_SECONDS = 5
STATEMENT_SECONDS = 15
CONNECTION_OPTIONS: dict[str, Any] = {
    "connect_timeout": CONNECT_SECONDS, "options": f"-c statement_timeout={STATEMENT_SECONDS * 1000}"}


class SingleAttempt:
    """Mixed into a PostgreSQL recorder: the library's methods without their
    retry loop (`functools.wraps` keeps the undecorated one)."""

    def _once(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(super(), name).__wrapped__(self, *args, **kwargs)

    def insert_events(self, *args: Any, **kwargs: Any) -> Any:
        return self._once("insert_events", *args, **kwargs)

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return self._once("select_events", *args, **kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return self._once("select_notifications", *args, **kwargs)

    def max_notification_id(self, *args: Any, **kwargs: Any) -> Any:
        return self._once("max_notification_id", *args, **kwargs)


class SingleAttemptAggregateRecorder(SingleAttempt, PostgresAggregateRecorder):
    """The snapshot store's recorder."""


class Factory(PostgresFactory):
    """eventsourcing's PostgreSQL factory; its pool's connections carry the
    limits, and its recorders try once (the application recorder is chosen
    by APPLICATION_RECORDER_TOPIC: `infra.audit_recorders`, which mixes
    `SingleAttempt` in too)."""

    def __init__(self, env: Any):
        super().__init__(env)
        # The pool is not open yet: every connection it makes takes these.
        # eventsourcing gives the pool a dict (psycopg's type also allows a function).
        cast(dict[str, Any], self.datastore.pool.kwargs).update(CONNECTION_OPTIONS)

    aggregate_recorder_class = SingleAttemptAggregateRecorder
