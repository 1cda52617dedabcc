"""The incidents the case projection knows (`case_incidents`), for the pages'
lists to choose from."""

from __future__ import annotations

from typing import Any

from projections.store import ViewStore

COLUMNS = ("incident_id", "title", "incident_type", "started_at", "closed_at")


def recorded_incidents(store: ViewStore) -> list[dict[str, Any]]:
    """Every incident, newest first; times in epoch microseconds."""
    with store.read() as cur:
        rows = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM case_incidents "
                           "ORDER BY started_at DESC, incident_id").fetchall()
    return [dict(zip(COLUMNS, row)) for row in rows]
