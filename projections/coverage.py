"""Timely coverage against the 100% target, and the overdue list, read from
the case rows (`projections.cases`) at a moment `at`.

"Timely" follows DOMAIN.md: an entitlement is delivered in full before its
deadline. The clock is a parameter, not an event: at a moment `at` a case
counts if its need was assessed by then and it was not withdrawn or rejected
by then (occurred times), and it is exactly one of on time, late (delivered
in full after the deadline), overdue (not delivered in full, deadline passed)
or within deadline. Deliveries count when delivered by `at`. So time passing
turns a case overdue with no event, and the same rows answer "now" and "as
now known for day X". The timely rate counts only cases that are due or
done: a case still within its deadline is neither a success nor a failure yet.

Counts are in entitlements (one household's claim to one support type);
households and persons are counted once per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median, quantiles
from typing import Any

from emergency.errors import InvalidInput
from projections.cases import RICE_UNIT, iso, to_micros
from projections.store import ViewStore

GROUPINGS = {
    "incident": ("incident_id",),
    "province": ("incident_id", "province_code"),
    "commune": ("incident_id", "province_code", "commune_code"),
    "support_type": ("incident_id", "support_type"),
}


def micros_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidInput("a moment needs a timezone offset", field="at", code="naive_time")
    return to_micros(moment)


@dataclass(frozen=True)
class Filters:
    incident_id: str | None = None
    province_code: str | None = None
    commune_code: str | None = None
    support_type: str | None = None

    def where(self, alias: str) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for name in ("incident_id", "province_code", "commune_code", "support_type"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{alias}.{name} = ?")
                params.append(value)
        return "".join(f" AND {c}" for c in clauses), params


def _cases_at(at: int, filters: Filters) -> tuple[str, list[Any]]:
    """A CTE `k`: the cases counting at `at`, with their state then as 0/1 flags.

    `at` is an int we computed, so it is written into the SQL as a literal.
    """
    case_where, case_params = filters.where("c")
    delivery_where, delivery_params = Filters(filters.incident_id).where("d")
    sql = f"""WITH k AS (
        SELECT c.household_id, c.incident_id, c.province_code, c.commune_code, c.support_type, c.members,
               c.need_at, c.due_at, c.amount_vnd, c.quantity, c.unit, c.completed_at,
               CASE WHEN c.status = 'rejected' AND c.decided_at <= {at} THEN 1 ELSE 0 END AS rejected,
               CASE WHEN c.decided_at IS NOT NULL AND c.decided_at <= {at} THEN 1 ELSE 0 END AS decided,
               CASE WHEN c.completed_at IS NOT NULL AND c.completed_at <= {at} THEN 1 ELSE 0 END AS done,
               CASE WHEN c.completed_at IS NULL OR c.completed_at > {at} THEN
                    CASE WHEN c.due_at < {at} THEN 1 ELSE 0 END ELSE 0 END AS overdue,
               COALESCE(dd.vnd, 0) AS delivered_vnd, COALESCE(dd.qty, 0) AS delivered_quantity
        FROM case_entitlements c LEFT JOIN (
            SELECT d.household_id, d.support_type, SUM(d.amount_vnd) AS vnd, SUM(d.quantity) AS qty
            FROM case_deliveries d WHERE d.voided = 0 AND d.delivered_at <= {at}{delivery_where}
            GROUP BY d.household_id, d.support_type
        ) dd ON dd.household_id = c.household_id AND dd.support_type = c.support_type
        WHERE c.need_at <= {at} AND NOT (c.status = 'withdrawn' AND c.withdrawn_at <= {at}){case_where}
    )"""
    return sql, delivery_params + case_params


def coverage(store: ViewStore, incident_id: str, at: datetime, by: str = "incident") -> list[dict[str, Any]]:
    """Coverage rows of one incident at `at`, grouped `by` incident, province, commune or support type."""
    if by not in GROUPINGS:
        raise InvalidInput(f"group_by must be one of {sorted(GROUPINGS)}", field="group_by")
    moment = micros_of(at)
    cte, params = _cases_at(moment, Filters(incident_id))
    g = ", ".join(GROUPINGS[by])
    counts = f"""{cte} SELECT {g},
        SUM(1 - rejected), SUM(decided), SUM(rejected),
        SUM(CASE WHEN rejected = 0 AND done = 1 AND completed_at <= due_at THEN 1 ELSE 0 END),
        SUM(CASE WHEN rejected = 0 AND done = 1 AND completed_at > due_at THEN 1 ELSE 0 END),
        SUM(CASE WHEN rejected = 0 THEN overdue ELSE 0 END),
        SUM(CASE WHEN rejected = 0 AND done = 0 AND overdue = 0 THEN 1 ELSE 0 END),
        SUM(CASE WHEN rejected = 0 THEN COALESCE(amount_vnd, 0) ELSE 0 END),
        SUM(CASE WHEN rejected = 0 THEN delivered_vnd ELSE 0 END),
        SUM(CASE WHEN rejected = 0 AND unit = '{RICE_UNIT}' THEN COALESCE(quantity, 0) ELSE 0 END),
        SUM(CASE WHEN rejected = 0 AND unit = '{RICE_UNIT}' THEN delivered_quantity ELSE 0 END)
        FROM k GROUP BY {g} ORDER BY {g}"""
    people = f"""{cte} SELECT {g}, COUNT(*), SUM(members), SUM(overdue), SUM(overdue * members) FROM (
        SELECT {g}, household_id, MAX(members) AS members, MAX(overdue) AS overdue
        FROM k WHERE rejected = 0 GROUP BY {g}, household_id) h GROUP BY {g}"""
    durations = f"""{cte} SELECT {g}, completed_at - need_at FROM k WHERE rejected = 0 AND done = 1
        ORDER BY {g}, completed_at - need_at"""
    width = len(GROUPINGS[by])
    with store.read() as cur:
        count_rows = cur.execute(counts, params).fetchall()
        people_rows = {tuple(r[:width]): r[width:] for r in cur.execute(people, params).fetchall()}
        hours: dict[tuple[Any, ...], list[float]] = {}
        for row in cur.execute(durations, params).fetchall():
            hours.setdefault(tuple(row[:width]), []).append(int(row[width]) / 3_600_000_000)
    return [_row(dict(zip(GROUPINGS[by], r[:width])), [int(v or 0) for v in r[width:]],
                 [int(v or 0) for v in people_rows.get(tuple(r[:width]), (0, 0, 0, 0))],
                 hours.get(tuple(r[:width]), []))
            for r in count_rows]


def _row(key: dict[str, Any], counts: list[int], people: list[int], hours: list[float]) -> dict[str, Any]:
    (entitlements, decided, rejected, on_time, late, overdue, within, entitled_vnd, disbursed_vnd,
     rice_entitled, rice_delivered) = counts
    due_or_done = on_time + late + overdue
    return {
        **key,
        "households_in_need": people[0], "persons_in_need": people[1],
        "households_overdue": people[2], "persons_overdue": people[3],
        "entitlements": entitlements, "decided": decided, "rejected": rejected,
        "disbursed": on_time + late, "disbursed_on_time": on_time, "late": late,
        "overdue": overdue, "within_deadline": within,
        "timely_pct": round(100 * on_time / due_or_done, 2) if due_or_done else None,
        "gap_to_target_pct": round(100 - 100 * on_time / due_or_done, 2) if due_or_done else None,
        "median_hours_to_delivery": round(median(hours), 2) if hours else None,
        "p90_hours_to_delivery": round(_p90(hours), 2) if hours else None,
        "entitled_vnd": entitled_vnd, "disbursed_vnd": disbursed_vnd,
        "rice_entitled_kg": rice_entitled, "rice_delivered_kg": rice_delivered,
    }


def _p90(values: list[float]) -> float:
    return values[0] if len(values) == 1 else quantiles(values, n=10, method="inclusive")[-1]


OVERDUE_COLUMNS = ("household_id", "head_name", "incident_id", "province_code", "commune_code", "support_type",
                   "members", "need_at", "due_at", "amount_vnd", "quantity", "unit", "delivered_vnd",
                   "delivered_quantity")


def overdue(store: ViewStore, at: datetime, filters: Filters = Filters(), limit: int = 100,
            offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """Cases past their deadline at `at` and not delivered in full, oldest
    deadline first: (how many in all, one page of them)."""
    moment = micros_of(at)
    cte, params = _cases_at(moment, filters)
    where = "FROM k JOIN case_households h ON h.household_id = k.household_id WHERE k.rejected = 0 AND k.overdue = 1"
    columns = ", ".join("h.head_name" if c == "head_name" else f"k.{c}" for c in OVERDUE_COLUMNS)
    with store.read() as cur:
        total = cur.execute(f"{cte} SELECT COUNT(*) {where}", params).fetchone()
        rows = cur.execute(f"{cte} SELECT {columns} {where} ORDER BY k.due_at, k.household_id, k.support_type "
                           "LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    return int(total[0] if total else 0), [_overdue_row(dict(zip(OVERDUE_COLUMNS, r)), moment) for r in rows]


def _overdue_row(row: dict[str, Any], at: int) -> dict[str, Any]:
    owed_vnd, owed_quantity = row["amount_vnd"], row["quantity"]
    row["owed_vnd"] = None if owed_vnd is None else max(owed_vnd - row["delivered_vnd"], 0)
    row["owed_quantity"] = None if owed_quantity is None else max(owed_quantity - row["delivered_quantity"], 0)
    row["overdue_hours"] = round((at - row["due_at"]) / 3_600_000_000, 2)
    row["need_at"], row["due_at"] = iso(row["need_at"]), iso(row["due_at"])
    return row
