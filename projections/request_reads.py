"""What the request rows answer: counts per province and commune, an
incident's requests as a stage of its coverage, and a commune's overdue
requests (the "not yet assessed" gap), at any moment on either time axis.

At moment t a request is *arrived* once filed; *answered in time* or
*answered late* once assessed or rejected (late: after its deadline);
*merged* once merged into another (it is followed through that one);
otherwise *overdue* when its deadline is before t, by the clock alone, else
*pending*. "now": as now known for t (occurred times); "then": as known at t
(recorded by t and, for a notification id, at or before it).

Each count reads the rows of the areas (or the incident) asked, from one
covering index: its cost grows with the requests there, never with
households or the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.coverage import EVERYWHERE, LAST, Areas, axis_of, blank_row, micros_of
from projections.rows import iso
from projections.store import Cursor, ViewStore

COUNTS = ("arrived", "answered_in_time", "answered_late", "overdue", "pending", "merged")
# A request's stage in an incident's coverage (merged ones are counted through the request they joined).
STAGES = ("on_time", "late", "overdue", "pending")
OVERDUE_COLUMNS = ("request_id", "reference", "incident_id", "province_code", "commune_code", "village", "kind",
                   "source", "household_id", "filed_at", "due_at")
# The coverage groupings a request has a place in: the columns of its group's key.
KEYS = {"incident": (), "province": ("province_code",), "commune": ("province_code", "commune_code")}


@dataclass(frozen=True)
class Point:
    """A moment, the axis it is read on, and (for a notification id) the last position counted."""

    at: datetime
    known: str = "now"
    position: int | None = None

    def conditions(self) -> tuple[str, str, list[Any], list[Any]]:
        """(filed by then, ended by then) as SQL, with their parameters."""
        at = micros_of(self.at)
        if axis_of(self.known) == axis_of("now"):
            return "filed_at <= ?", "(ended IS NOT NULL AND ended_at <= ?)", [at], [at]
        last = LAST if self.position is None else self.position
        return ("(filed_recorded <= ? AND filed_position <= ?)",
                "(ended IS NOT NULL AND ended_recorded <= ? AND ended_position <= ? AND ended_at <= ?)",
                [at, last], [at, last, at])

    def sums(self) -> list[tuple[str, list[Any]]]:
        """SUM expressions of answered in time, late, overdue, pending and merged, each with its parameters."""
        _, ended, _, p = self.conditions()
        at = micros_of(self.at)
        answered = f"{ended} AND ended <> 'merged'"
        cases = [(f"{answered} AND ended_at <= due_at", p), (f"{answered} AND ended_at > due_at", p),
                 (f"NOT {ended} AND due_at < ?", [*p, at]), (f"NOT {ended} AND due_at >= ?", [*p, at]),
                 (f"{ended} AND ended = 'merged'", p)]
        return [(f"SUM(CASE WHEN {case} THEN 1 ELSE 0 END)", params) for case, params in cases]


def _joined(sums: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    return ", ".join(sql for sql, _ in sums), [value for _, params in sums for value in params]


def counts(store: ViewStore, point: Point, within: Areas = EVERYWHERE,
           province: str | None = None) -> list[dict[str, Any]]:
    """One row per commune with a request filed by then: its counts."""
    filed, _, filed_params, _ = point.conditions()
    sums, sum_params = _joined(point.sums())
    area, area_params = within.sql()
    if province is not None:
        area, area_params = area + " AND province_code = ?", [*area_params, province]
    sql = (f"SELECT province_code, commune_code, COUNT(*), {sums} "
           f"FROM request_rows WHERE {filed}{area} GROUP BY province_code, commune_code "
           "ORDER BY province_code, commune_code")
    with store.read() as cur:
        rows = cur.execute(sql, [*sum_params, *filed_params, *area_params]).fetchall()
    return [{"province_code": r[0], "commune_code": r[1], **dict(zip(COUNTS, (int(v or 0) for v in r[2:])))}
            for r in rows]


def by_province(communes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The communes' counts summed per province."""
    totals: dict[str, dict[str, Any]] = {}
    for row in communes:
        total = totals.setdefault(row["province_code"], {"province_code": row["province_code"],
                                                         **dict.fromkeys(COUNTS, 0)})
        for name in COUNTS:
            total[name] += row[name]
    return list(totals.values())


def stages(cur: Cursor, incident_id: str, point: Point, by: str,
           within: Areas = EVERYWHERE) -> dict[tuple[str, ...], dict[str, int]]:
    """An incident's requests by stage, per group of `by` (incident, province
    or commune): {group key after the incident: {stage: count}}."""
    keys = KEYS[by]
    filed, _, filed_params, _ = point.conditions()
    sums, sum_params = _joined(point.sums()[:len(STAGES)])
    area, area_params = within.sql()
    select = "".join(f"{k}, " for k in keys)
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    rows = cur.execute(f"SELECT {select}{sums} FROM request_rows WHERE incident_id = ? AND {filed}{area}{group}",
                       [*sum_params, incident_id, *filed_params, *area_params]).fetchall()
    found = {}
    for r in rows:
        values = [int(v or 0) for v in r[len(keys):]]
        if any(values):
            found[tuple(r[:len(keys)])] = dict(zip(STAGES, values))
    return found


def overdue(store: ViewStore, point: Point, limit: int, within: Areas = EVERYWHERE,
            after: tuple[int, str] | None = None, incident_id: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(how many, one page): the requests within the areas (of one incident,
    if named) overdue at the point, oldest deadline first; `after` is the
    (due_at, request_id) a page ended with."""
    filed, ended, filed_params, ended_params = point.conditions()
    area, area_params = within.sql()
    where = f"due_at < ? AND {filed} AND NOT {ended}{area}"
    params = [micros_of(point.at), *filed_params, *ended_params, *area_params]
    if incident_id is not None:
        where, params = where + " AND incident_id = ?", [*params, incident_id]
    keyset, keyset_params = "", []
    if after is not None:
        keyset, keyset_params = " AND (due_at > ? OR (due_at = ? AND request_id > ?))", [after[0], *after]
    with store.read() as cur:
        row = cur.execute(f"SELECT COUNT(*) FROM request_rows WHERE {where}", params).fetchone()
        page = cur.execute(f"SELECT {', '.join(OVERDUE_COLUMNS)} FROM request_rows WHERE {where}{keyset} "
                           "ORDER BY due_at, request_id LIMIT ?", [*params, *keyset_params, limit]).fetchall()
    found = []
    for r in page:
        item = dict(zip(OVERDUE_COLUMNS, r))
        item["cursor"] = f"{item['due_at']}.{item['request_id']}"
        item["filed_at"], item["due_at"] = iso(item["filed_at"]), iso(item["due_at"])
        found.append(item)
    return (int(row[0]) if row else 0), found


def with_requests(cur: Cursor, rows: list[dict[str, Any]], incident_id: str, point: Point, by: str,
                  within: Areas = EVERYWHERE, add_missing: bool = True) -> list[dict[str, Any]]:
    """Coverage rows (`projections.coverage`) with the incident's requests as
    the stage before entitlement, and the timely share counting them: a
    request answered by its deadline is timely, one answered late or overdue
    is not, one pending is neither yet (as a case within its deadline).

    A group with requests and no case yet (a commune no team has reached) is
    the gap the requests exist to show: with `add_missing` (the caller's last
    page) it gets a row of its own after the others, in code order. By
    support type requests have no place, and the rows are as they were."""
    if by not in KEYS:
        return rows
    found = stages(cur, incident_id, point, by, within)
    keys = KEYS[by]
    if add_missing:
        shown = {tuple(row[k] for k in keys) for row in rows}
        rows = rows + [blank_row(by, (incident_id, *key)) for key in sorted(found) if key not in shown]
    for row in rows:
        stage = found.get(tuple(row[k] for k in keys), dict.fromkeys(STAGES, 0))
        row.update({f"requests_{name}": stage[name] for name in STAGES})
        timely = row["disbursed_on_time"] + stage["on_time"]
        due_or_done = row["disbursed"] + row["overdue"] + stage["on_time"] + stage["late"] + stage["overdue"]
        row["timely_pct"] = round(100 * timely / due_or_done, 2) if due_or_done else None
        row["gap_to_target_pct"] = None if row["timely_pct"] is None else round(100 - row["timely_pct"], 2)
    return rows


def trend_with_requests(cur: Cursor, rows: list[dict[str, Any] | None], incident_id: str,
                        moments: list[datetime], known: str, within: Areas = EVERYWHERE) -> list[dict[str, Any] | None]:
    """The trend's totals (`projections.coverage.series`), each with the
    incident's requests at its moment; an incident without requests (most)
    costs one index probe, not one read a point."""
    if cur.execute("SELECT 1 FROM request_rows WHERE incident_id = ? LIMIT 1", [incident_id]).fetchone() is None:
        return rows
    return [next(iter(with_requests(cur, [row] if row else [], incident_id, Point(moment, known), "incident",
                                    within)), None)
            for moment, row in zip(moments, rows)]
