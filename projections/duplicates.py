"""Possible duplicate households as the read side lists them.

Tables (prefix `dup_`):
- `dup_pairs`: one row per pair (`emergency.domain.duplicates`): its area,
  households, why it was found, its status and, once merged, the survivor.
  Indexed by (incident, commune, status, pair), so a page of one commune's
  unresolved pairs is a range read whatever the number of households.
- `dup_merged`: each household ever merged into another, and the one it is
  merged into now (none once restored): exports leave the merged out, so a
  merged household counts once.

A pure fold of each aggregate's events in version order (duplicates from an
at-least-once feed are skipped by version).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from emergency.envelope import Envelope
from projections.base import Projection
from projections.cases import upsert
from projections.store import Cursor, ViewStore

COLUMNS = ("pair_id", "incident_id", "province_code", "commune_code", "household_ids", "reasons", "status",
           "survivor_id", "found_at", "version")
DDL = (
    """CREATE TABLE IF NOT EXISTS dup_pairs (
        pair_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, province_code TEXT NOT NULL,
        commune_code TEXT NOT NULL, household_ids TEXT NOT NULL, reasons TEXT NOT NULL, status TEXT NOT NULL,
        survivor_id TEXT, found_at TEXT NOT NULL, version INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS dup_pairs_commune ON dup_pairs (incident_id, commune_code, status, pair_id)",
    """CREATE TABLE IF NOT EXISTS dup_merged (
        household_id TEXT PRIMARY KEY, survivor_id TEXT, version INTEGER NOT NULL)""",
)


class DuplicateProjection(Projection):
    name = "duplicates"
    version = 1
    kinds = frozenset({"DuplicatePair.Suspected", "DuplicatePair.Resolved", "DuplicatePair.Reopened",
                       "HouseholdCase.MergedInto", "HouseholdCase.Restored"})
    ddl = DDL
    tables = ("dup_pairs", "dup_merged")

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        pairs = _load(cur, "dup_pairs", COLUMNS, sorted({e.aggregate_id for e in events
                                                          if e.aggregate_type == "DuplicatePair"}))
        merged = _load(cur, "dup_merged", ("household_id", "survivor_id", "version"),
                       sorted({e.aggregate_id for e in events if e.aggregate_type == "HouseholdCase"}))
        for e in events:
            if e.aggregate_type == "DuplicatePair":
                _fold_pair(pairs, e)
            else:
                _fold_household(merged, e)
        cur.insert_many(upsert("dup_pairs", COLUMNS, ("pair_id",)),
                        [tuple(pairs[k][c] for c in COLUMNS) for k in sorted(pairs)])
        cur.insert_many(upsert("dup_merged", ("household_id", "survivor_id", "version"), ("household_id",)),
                        [(k, row["survivor_id"], row["version"]) for k, row in sorted(merged.items())])


def _load(cur: Cursor, table: str, columns: Sequence[str], ids: list[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found = cur.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {columns[0]} IN "
                            f"({', '.join('?' * len(chunk))})", chunk).fetchall()
        rows.update({row[0]: dict(zip(columns, row)) for row in found})
    return rows


def _fold_pair(pairs: dict[str, dict[str, Any]], e: Envelope) -> None:
    d = e.data
    if e.type == "Suspected":
        pairs.setdefault(e.aggregate_id, {
            "pair_id": e.aggregate_id, "incident_id": d["incident_id"], "province_code": d["province_code"],
            "commune_code": d["commune_code"], "household_ids": json.dumps(d["household_ids"]),
            "reasons": json.dumps(d["reasons"]), "status": "unresolved", "survivor_id": None,
            "found_at": e.recorded_at, "version": e.version})
        return
    row = pairs.get(e.aggregate_id)
    if row is None or e.version <= row["version"]:
        return  # already folded in, or a pair's override (no change to the listing)
    row["version"] = e.version
    if e.type == "Resolved":
        resolution = d["resolution"]
        row.update(status=resolution["outcome"], survivor_id=resolution["survivor_id"])
    elif e.type == "Reopened":
        row.update(status="unresolved", survivor_id=None)


def _fold_household(merged: dict[str, dict[str, Any]], e: Envelope) -> None:
    row = merged.setdefault(e.aggregate_id, {"survivor_id": None, "version": 0})
    if e.version <= row["version"]:
        return
    row.update(version=e.version, survivor_id=e.data["survivor_id"] if e.type == "MergedInto" else None)


def not_merged(household_id: str) -> str:
    """SQL: the household in column `household_id` is not merged into another
    now (exports count a merged household once, as its survivor)."""
    return (f"NOT EXISTS (SELECT 1 FROM dup_merged m WHERE m.household_id = {household_id} "
            "AND m.survivor_id IS NOT NULL)")


def unresolved(store: ViewStore, incident_id: str, commune_code: str, after: str | None,
               limit: int) -> list[dict[str, Any]]:
    """One page of a commune's unresolved pairs, in pair id order, after `after`."""
    keyset = " AND pair_id > ?" if after is not None else ""
    with store.read() as cur:
        rows = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM dup_pairs WHERE incident_id = ? AND commune_code = ? "
                           f"AND status = 'unresolved'{keyset} ORDER BY pair_id LIMIT ?",
                           [incident_id, commune_code, *([after] if after is not None else []), limit]).fetchall()
    return [dict(zip(COLUMNS, r), household_ids=json.loads(r[4]), reasons=json.loads(r[5])) for r in rows]
