"""Damage figures per household, for the HXL and Sendai exports.

One row per household: its area and size, and its *current* damage
assessment (dead, missing, injured, house damage and class, evacuation,
people short of food). "Current" is the household aggregate's rule: the
newest assessed situation wins, or an assessment that explicitly supersedes
the current one; a late report of an earlier moment stays history.

Table `damage_households`; like every projection, a pure fold of the events
of each household in version order (duplicates from an at-least-once feed are
skipped by version).
"""

from __future__ import annotations

from typing import Any, Sequence

from emergency.domain.household import (
    HouseholdCaseDamageAssessed,
    HouseholdCaseDetailsCorrected,
    HouseholdCaseRegistered,
)
from emergency.envelope import Envelope
from projections.base import Projection
from projections.rows import newer, select_in, to_micros, upsert
from projections.store import Cursor

FIGURES = ("dead", "missing", "injured", "persons_short_of_food")
COLUMNS = ("household_id", "incident_id", "province_code", "commune_code", "members", "version",
           "assessment_id", "assessed_at", *FIGURES, "house_damage", "house_class", "evacuated")
DDL = f"""CREATE TABLE IF NOT EXISTS damage_households (
    household_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, province_code TEXT NOT NULL,
    commune_code TEXT NOT NULL, members INTEGER NOT NULL, version INTEGER NOT NULL,
    assessment_id TEXT, assessed_at BIGINT, {', '.join(f'{f} INTEGER' for f in FIGURES)},
    house_damage TEXT, house_class TEXT, evacuated INTEGER)"""
INDEX = "CREATE INDEX IF NOT EXISTS damage_households_area ON damage_households (incident_id, commune_code)"


class DamageProjection(Projection):
    name = "damage"
    version = 1
    kinds = frozenset({"HouseholdCase.Registered", "HouseholdCase.DetailsCorrected",
                       "HouseholdCase.DamageAssessed"})

    ddl = (DDL, INDEX)
    tables = ("damage_households",)

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        rows = _load(cur, sorted({e.aggregate_id for e in events}))
        for event in events:
            _fold(rows, event)
        cur.executemany(upsert("damage_households", COLUMNS, ("household_id",)),
                        [tuple(rows[k][c] for c in COLUMNS) for k in sorted(rows)])


def _load(cur: Cursor, household_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {row["household_id"]: row for row in select_in(cur, "damage_households", COLUMNS, "household_id",
                                                            household_ids)}


def _fold(rows: dict[str, dict[str, Any]], e: Envelope) -> None:
    if e.type == "Registered":
        if e.aggregate_id not in rows:
            registered = HouseholdCaseRegistered.decode(e)
            rows[e.aggregate_id] = dict.fromkeys(COLUMNS) | {
                "household_id": e.aggregate_id, "incident_id": str(registered.incident_id),
                "province_code": registered.province_code, "commune_code": registered.commune_code,
                "members": registered.members, "version": e.version}
        return
    row = newer(rows, e)
    if row is None:
        return
    if e.type == "DetailsCorrected":
        members = HouseholdCaseDetailsCorrected.decode(e).changes.members
        row["members"] = members if members is not None else row["members"]
        return
    assessment = HouseholdCaseDamageAssessed.decode(e).assessment
    assessed_at = to_micros(assessment.assessed_at)
    if row["assessment_id"] is None or assessment.supersedes == row["assessment_id"] \
            or assessed_at >= row["assessed_at"]:
        row.update({name: getattr(assessment, name) for name in (*FIGURES, "house_damage", "house_class")},
                   assessment_id=assessment.assessment_id, assessed_at=assessed_at,
                   evacuated=int(assessment.evacuated))
