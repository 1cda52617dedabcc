"""Golden logs: event logs recorded once and kept, with the rows they project to.

A log is JSON Lines, one stored event a line, in log order:

    {"notification_id": 1, "originator_id": "…", "originator_version": 1,
     "topic": "emergency.domain.incident:Incident.Opened", "state": "{…}", "hash": "…"}

`state` is the stored bytes as their UTF-8 JSON text, exactly as recorded;
`hash` is the event's link in the hash chain (`infra.audit_chain`). The rows
file next to it (`<name>.rows.json`) holds every projection table's rows
after a replay of the whole log, each table's rows sorted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from emergency.application import AidApplication
from infra.audit_chain import links
from projections.catalog import default_projections
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import open_view_store

HERE = Path(__file__).parent
# Every golden log kept here. A log is never re-recorded once its stored form
# has changed: add a new one beside it (see README, "Event schemas and golden logs").
# typhoon: recorded before registrations kept an index of the households and
# named their possible duplicates (its idempotency record's result has no
# `duplicate_candidates`); typhoon-duplicates: the same story and a household
# registered twice; typhoon-requests: the same and requests for help, filed
# by the public and by an officer, and ended; typhoon-statement: that story and
# a statement's lines imported in one batch (its fund's `ContributionsReceived`).
LOGS = ("typhoon", "typhoon-duplicates", "typhoon-requests", "typhoon-statement")
# The log that today's commands (`tests.golden.scenario`) record byte for byte.
CURRENT = "typhoon-statement"

Line = dict[str, Any]


def log_path(name: str) -> Path:
    return HERE / f"{name}.jsonl"


def rows_path(name: str) -> Path:
    return HERE / f"{name}.rows.json"


def read_log(name: str) -> list[Line]:
    with log_path(name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def lines_of(app: AidApplication) -> list[Line]:
    """Every event of a store with its chain link, as golden log lines."""
    notifications = app.recorder.select_notifications(start=1, limit=10**6)
    chain = dict(app.recorder.select_chain(0, 10**6))  # type: ignore[attr-defined]
    return [{"notification_id": n.id, "originator_id": str(n.originator_id),
             "originator_version": n.originator_version, "topic": n.topic, "state": n.state.decode("utf-8"),
             "hash": chain[n.id]} for n in notifications]


def write_log(name: str, lines: Iterable[Line]) -> None:
    with log_path(name).open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def stored(line: Line) -> StoredEvent:
    return StoredEvent(UUID(line["originator_id"]), line["originator_version"], line["topic"],
                       line["state"].encode("utf-8"))


def chain_of(lines: list[Line]) -> list[tuple[int, str]]:
    """The chain links recomputed from the lines' own content."""
    return links(None, [(line["notification_id"], stored(line)) for line in lines])


def load(app: AidApplication, lines: list[Line]) -> None:
    """Insert the log's events into an empty store, in log order, as they
    were recorded: raw stored events, no domain code. The store's chained
    recorder writes each link."""
    for line in lines:
        app.recorder.insert_events([stored(line)])


def projected_rows(app: AidApplication, views_url: str) -> dict[str, list[list[Any]]]:
    """Every projection rebuilt from the store's whole log into a fresh view store: all their rows."""
    projections = default_projections()
    store = open_view_store(views_url)
    try:
        EmbeddedRunner(app.recorder, ProjectionSet(store, projections)).catch_up()
        with store.read() as cur:
            return {table: sorted((list(row) for row in cur.execute(f"SELECT * FROM {table}").fetchall()),
                                  key=json.dumps)
                    for projection in projections for table in projection.tables}
    finally:
        store.close()


def read_rows(name: str) -> dict[str, list[list[Any]]]:
    return json.loads(rows_path(name).read_text(encoding="utf-8"))


def write_rows(name: str, rows: dict[str, list[list[Any]]]) -> None:
    """One table after the other, one row a line: a change shows as the rows it changed."""
    tables = [f"{json.dumps(table)}: [\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in found) + "\n]"
              for table, found in rows.items()]
    rows_path(name).write_text("{\n" + ",\n".join(tables) + "\n}\n", encoding="utf-8")
