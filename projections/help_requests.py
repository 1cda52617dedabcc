"""Requests for help as rows (`request_rows`): one per request, with the
incident it counts toward, when it was filed and is due, how and when it
ended, and for both time axes the recorded time and log position of its
filing and of its ending.

A request's life is a step function of the moment asked: filed, then (at
its deadline, by the clock alone) overdue unless ended first, then ended.
So one row answers any moment on either axis (`projections.request_reads`):
"as now known" compares the occurred times, "as known then" the recorded
times and positions.

The incident: the one the filer named; otherwise the open incident whose
areas covered the commune when the request was filed, the latest started
if several did (`req_incident_areas` follows incidents' areas and closing,
so the tie reads the log in order: `log_ordered`). A request filed where no
incident was open counts in its commune's counts, toward no incident.
A duplicate delivery changes nothing.
"""

from __future__ import annotations

from typing import Any, Sequence

from emergency.domain.help_request import (
    HelpRequestAssessed,
    HelpRequestFiled,
    HelpRequestMerged,
    HelpRequestRejected,
)
from emergency.domain.incident import IncidentAreasExtended, IncidentClosed, IncidentOpened
from emergency.envelope import Envelope
from projections.base import Projection
from projections.rows import insert, micros, newer, select_in, to_micros, upsert
from projections.store import Cursor

COLUMNS = ("request_id", "reference", "incident_id", "province_code", "commune_code", "village", "kind", "source",
           "household_id", "filed_at", "due_at", "filed_recorded", "filed_position", "ended", "ended_at",
           "ended_recorded", "ended_position", "version")
ENDINGS: dict[str, type[HelpRequestAssessed | HelpRequestRejected | HelpRequestMerged]] = {
    "Assessed": HelpRequestAssessed, "Rejected": HelpRequestRejected, "Merged": HelpRequestMerged}
ENDED = {"Assessed": "assessed", "Rejected": "rejected", "Merged": "merged"}

DDL = (
    """CREATE TABLE IF NOT EXISTS request_rows (
        request_id TEXT PRIMARY KEY, reference TEXT NOT NULL, incident_id TEXT, province_code TEXT NOT NULL,
        commune_code TEXT NOT NULL, village TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
        household_id TEXT, filed_at BIGINT NOT NULL, due_at BIGINT NOT NULL, filed_recorded BIGINT NOT NULL,
        filed_position BIGINT NOT NULL, ended TEXT, ended_at BIGINT, ended_recorded BIGINT, ended_position BIGINT,
        version INTEGER NOT NULL)""",
    # The counts per area read only this index (every column they test is in it).
    """CREATE INDEX IF NOT EXISTS request_rows_area ON request_rows (province_code, commune_code, filed_at,
        due_at, filed_recorded, filed_position, ended, ended_at, ended_recorded, ended_position)""",
    # An incident's requests, for its coverage: the same columns, led by the incident.
    """CREATE INDEX IF NOT EXISTS request_rows_incident ON request_rows (incident_id, province_code, commune_code,
        filed_at, due_at, filed_recorded, filed_position, ended, ended_at, ended_recorded, ended_position)""",
    # A commune's overdue list, oldest deadline first, paged by (due_at, request_id).
    "CREATE INDEX IF NOT EXISTS request_rows_due ON request_rows (commune_code, due_at, request_id)",
    """CREATE TABLE IF NOT EXISTS req_incident_areas (
        incident_id TEXT NOT NULL, commune_code TEXT NOT NULL, started_at BIGINT NOT NULL, closed_at BIGINT,
        PRIMARY KEY (incident_id, commune_code))""",
    "CREATE INDEX IF NOT EXISTS req_incident_areas_commune ON req_incident_areas (commune_code, started_at)",
)
_AREA = ("incident_id", "commune_code", "started_at", "closed_at")


class HelpRequestProjection(Projection):
    name = "help_requests"
    kinds = frozenset({"HelpRequest.Filed", *(f"HelpRequest.{t}" for t in ENDED),
                       "Incident.Opened", "Incident.AreasExtended", "Incident.Closed"})
    log_ordered = True
    ddl = DDL
    tables = ("request_rows", "req_incident_areas")

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        ids = list(dict.fromkeys(e.aggregate_id for e in events if e.aggregate_type == "HelpRequest"))
        rows = {r["request_id"]: r for r in select_in(cur, "request_rows", COLUMNS, "request_id", ids)}
        touched: set[str] = set()
        for e in events:
            if e.aggregate_type == "Incident":
                _fold_incident(cur, e)
            elif e.type == "Filed":
                if e.aggregate_id not in rows:  # else delivered again
                    rows[e.aggregate_id] = _filed(cur, e)
                    touched.add(e.aggregate_id)
            else:
                row = newer(rows, e)
                if row is not None:
                    ending = ENDINGS[e.type].decode(e)
                    row.update(ended=ENDED[e.type], ended_at=to_micros(ending.resolved_at),
                               ended_recorded=micros(e.recorded_at), ended_position=e.notification_id)
                    touched.add(e.aggregate_id)
        cur.insert_many(upsert("request_rows", COLUMNS, ("request_id",)),
                        [tuple(rows[i][c] for c in COLUMNS) for i in sorted(touched)])


def _fold_incident(cur: Cursor, e: Envelope) -> None:
    """Areas are only added, and an incident closes once: a redelivered event
    adds nothing new (`DO NOTHING`) and closes it at the same time."""
    if e.type == "Closed":
        cur.execute("UPDATE req_incident_areas SET closed_at = ? WHERE incident_id = ?",
                    [to_micros(IncidentClosed.decode(e).closed_at), e.aggregate_id])
        return
    if e.type == "Opened":
        opened = IncidentOpened.decode(e)
        started, areas = to_micros(opened.started_at), opened.areas
    else:
        areas = IncidentAreasExtended.decode(e).areas
        found = cur.execute("SELECT started_at FROM req_incident_areas WHERE incident_id = ? LIMIT 1",
                            [e.aggregate_id]).fetchone()
        if found is None:
            return  # an incident opened with no commune, and extended by provinces only
        started = int(found[0])
    communes = sorted({c for codes in areas.values() for c in codes})
    cur.insert_many(insert("req_incident_areas", _AREA) + " ON CONFLICT (incident_id, commune_code) DO NOTHING",
                    [(e.aggregate_id, commune, started, None) for commune in communes])


def _incident_at(cur: Cursor, commune_code: str, filed_at: int) -> str | None:
    found = cur.execute(
        "SELECT incident_id FROM req_incident_areas WHERE commune_code = ? AND started_at <= ? "
        "AND (closed_at IS NULL OR closed_at > ?) ORDER BY started_at DESC, incident_id LIMIT 1",
        [commune_code, filed_at, filed_at]).fetchone()
    return None if found is None else str(found[0])


def _filed(cur: Cursor, e: Envelope) -> dict[str, Any]:
    d = HelpRequestFiled.decode(e)
    filed_at = to_micros(d.filed_at)
    incident = str(d.incident_id) if d.incident_id is not None else _incident_at(cur, d.commune_code, filed_at)
    return {"request_id": e.aggregate_id, "reference": d.reference, "incident_id": incident,
            "province_code": d.province_code, "commune_code": d.commune_code, "village": d.village,
            "kind": d.request_kind, "source": d.source,
            "household_id": None if d.household_id is None else str(d.household_id), "filed_at": filed_at,
            "due_at": to_micros(d.due_at), "filed_recorded": micros(e.recorded_at),
            "filed_position": e.notification_id, "ended": None, "ended_at": None, "ended_recorded": None,
            "ended_position": None, "version": e.version}
