"""Possible duplicate households as the read side lists them.

Tables (prefix `dup_`):
- `dup_pairs`: one row per pair (`emergency.domain.duplicates`): its area,
  households, why it was found, its status and, once merged, the survivor.
  Indexed by (incident, commune, status, pair), so a page of one commune's
  unresolved pairs is a range read whatever the number of households.
- `dup_communes`: how many unresolved pairs each commune has, a row only for
  a commune that has some: which communes to look at is a range read of at
  most the incident's communes, never a count over its pairs.
- `dup_merged`: each household ever merged into another, and the one it is
  merged into now (none once restored): exports leave the merged out, so a
  merged household counts once.

A page of pairs names each household's head as the case projection's
`case_households` has it now.

A pure fold of each aggregate's events in version order (duplicates from an
at-least-once feed are skipped by version).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Sequence

from emergency.domain.duplicates import DuplicatePairResolved, DuplicatePairSuspected
from emergency.domain.household import HouseholdCaseMergedInto
from emergency.envelope import Envelope
from projections.base import Projection
from projections.coverage import Areas
from projections.rows import insert, newer, select_in, upsert
from projections.store import Cursor, ViewStore

COLUMNS = ("pair_id", "incident_id", "province_code", "commune_code", "household_ids", "reasons", "status",
           "survivor_id", "found_at", "version")
MERGED = ("household_id", "survivor_id", "version")
COMMUNE_COUNTS = ("incident_id", "commune_code", "province_code", "unresolved")
HEADS = ("household_id", "head_name", "members")
DDL = (
    """CREATE TABLE IF NOT EXISTS dup_pairs (
        pair_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, province_code TEXT NOT NULL,
        commune_code TEXT NOT NULL, household_ids TEXT NOT NULL, reasons TEXT NOT NULL, status TEXT NOT NULL,
        survivor_id TEXT, found_at TEXT NOT NULL, version INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS dup_pairs_commune ON dup_pairs (incident_id, commune_code, status, pair_id)",
    """CREATE TABLE IF NOT EXISTS dup_communes (
        incident_id TEXT NOT NULL, commune_code TEXT NOT NULL, province_code TEXT NOT NULL,
        unresolved INTEGER NOT NULL, PRIMARY KEY (incident_id, commune_code))""",
    """CREATE TABLE IF NOT EXISTS dup_merged (
        household_id TEXT PRIMARY KEY, survivor_id TEXT, version INTEGER NOT NULL)""",
)


class DuplicateProjection(Projection):
    name = "duplicates"
    version = 2
    kinds = frozenset({"DuplicatePair.Suspected", "DuplicatePair.Resolved", "DuplicatePair.Reopened",
                       "HouseholdCase.MergedInto", "HouseholdCase.Restored"})
    ddl = DDL
    tables = ("dup_pairs", "dup_communes", "dup_merged")
    # dup_communes counts the open pairs of many pair aggregates
    split_by_aggregate = False

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        pairs = _load(cur, "dup_pairs", COLUMNS, sorted({e.aggregate_id for e in events
                                                          if e.aggregate_type == "DuplicatePair"}))
        households = sorted({e.aggregate_id for e in events if e.aggregate_type == "HouseholdCase"})
        merged = _load(cur, "dup_merged", MERGED, households)
        for household_id in households:
            merged.setdefault(household_id, {"household_id": household_id, "survivor_id": None, "version": 0})
        was_open = {k: row["status"] == "unresolved" for k, row in pairs.items()}
        for e in events:
            if e.aggregate_type == "DuplicatePair":
                _fold_pair(pairs, e)
            else:
                _fold_household(merged, e)
        cur.insert_many(upsert("dup_pairs", COLUMNS, ("pair_id",)),
                        [tuple(pairs[k][c] for c in COLUMNS) for k in sorted(pairs)])
        cur.insert_many(upsert("dup_merged", MERGED, ("household_id",)),
                        [tuple(merged[k][c] for c in MERGED) for k in sorted(merged)])
        _recount(cur, pairs, was_open)


def _load(cur: Cursor, table: str, columns: Sequence[str], ids: list[str]) -> dict[str, dict[str, Any]]:
    return {row[columns[0]]: row for row in select_in(cur, table, columns, columns[0], ids)}


def _fold_pair(pairs: dict[str, dict[str, Any]], e: Envelope) -> None:
    if e.type == "Suspected":
        found = DuplicatePairSuspected.decode(e)
        pairs.setdefault(e.aggregate_id, {
            "pair_id": e.aggregate_id, "incident_id": str(found.incident_id), "province_code": found.province_code,
            "commune_code": found.commune_code, "household_ids": json.dumps(found.household_ids),
            "reasons": json.dumps(found.reasons), "status": "unresolved", "survivor_id": None,
            "found_at": e.recorded_at, "version": e.version})
        return
    row = newer(pairs, e)
    if row is None:
        return  # already folded in
    if e.type == "Resolved":
        resolution = DuplicatePairResolved.decode(e).resolution
        row.update(status=resolution.outcome, survivor_id=resolution.survivor_id)
    elif e.type == "Reopened":
        row.update(status="unresolved", survivor_id=None)


def _recount(cur: Cursor, pairs: dict[str, dict[str, Any]], was_open: dict[str, bool]) -> None:
    """Move each commune's count of unresolved pairs by the pairs that opened or
    closed in this batch; a commune left with none loses its row."""
    moved: Counter[tuple[str, str, str]] = Counter()
    for pair_id, row in pairs.items():
        change = int(row["status"] == "unresolved") - int(was_open.get(pair_id, False))
        if change:
            moved[(row["incident_id"], row["commune_code"], row["province_code"])] += change
    keys = sorted(k for k, change in moved.items() if change)
    cur.insert_many(f"{insert('dup_communes', COMMUNE_COUNTS)} ON CONFLICT (incident_id, commune_code) "
                    "DO UPDATE SET unresolved = dup_communes.unresolved + excluded.unresolved",
                    [(*k, moved[k]) for k in keys])
    cur.executemany("DELETE FROM dup_communes WHERE incident_id = ? AND commune_code = ? AND unresolved = 0",
                    [k[:2] for k in keys])


def _fold_household(merged: dict[str, dict[str, Any]], e: Envelope) -> None:
    row = newer(merged, e)
    if row is not None:
        row["survivor_id"] = HouseholdCaseMergedInto.decode(e).survivor_id if e.type == "MergedInto" else None


def not_merged(household_id: str) -> str:
    """SQL: the household in column `household_id` is not merged into another
    now (exports count a merged household once, as its survivor)."""
    return (f"NOT EXISTS (SELECT 1 FROM dup_merged m WHERE m.household_id = {household_id} "
            "AND m.survivor_id IS NOT NULL)")


def unresolved(store: ViewStore, incident_id: str, commune_code: str, after: str | None,
               limit: int) -> list[dict[str, Any]]:
    """One page of a commune's unresolved pairs, in pair id order, after `after`,
    each with its households' heads (`households`: id, head's name, members;
    the name null while the case projection has not the household yet)."""
    keyset = " AND pair_id > ?" if after is not None else ""
    with store.read() as cur:
        rows = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM dup_pairs WHERE incident_id = ? AND commune_code = ? "
                           f"AND status = 'unresolved'{keyset} ORDER BY pair_id LIMIT ?",
                           [incident_id, commune_code, *([after] if after is not None else []), limit]).fetchall()
        pairs = [dict(zip(COLUMNS, r), household_ids=json.loads(r[4]), reasons=json.loads(r[5])) for r in rows]
        heads = _load(cur, "case_households", HEADS, sorted({h for p in pairs for h in p["household_ids"]}))
    for pair in pairs:
        pair["households"] = [heads.get(h, {"household_id": h, "head_name": None, "members": None})
                              for h in pair["household_ids"]]
    return pairs


def open_communes(store: ViewStore, incident_id: str, within: Areas, after: str | None,
                  limit: int) -> list[dict[str, Any]]:
    """One page of the communes with unresolved pairs within some areas, in
    commune code order after `after`, each with how many it has."""
    area, params = within.sql()
    keyset = " AND commune_code > ?" if after is not None else ""
    with store.read() as cur:
        rows = cur.execute(f"SELECT {', '.join(COMMUNE_COUNTS)} FROM dup_communes WHERE incident_id = ?{area}"
                           f"{keyset} ORDER BY commune_code LIMIT ?",
                           [incident_id, *params, *([after] if after is not None else []), limit]).fetchall()
    return [dict(zip(COMMUNE_COUNTS, r)) for r in rows]
