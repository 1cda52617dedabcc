"""Timely coverage against the 100% target, from a set of cases at a moment.

"Timely" follows DOMAIN.md: an entitlement is delivered in full before its
deadline. At a moment `now` every case in need is exactly one of:
on time, late (delivered after the deadline), overdue (undelivered, deadline
passed) or within deadline (undelivered, deadline still ahead). The timely
rate counts only cases that are due or done, so a case still within its
deadline is neither a success nor a failure yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import median, quantiles
from typing import Iterable

from projections.cases import Case

GROUPINGS = {
    "incident": ("incident_id",),
    "province": ("incident_id", "province_code"),
    "commune": ("incident_id", "province_code", "commune_code"),
    "support_type": ("incident_id", "support_type"),
}


def case_state(case: Case, now: datetime) -> str:
    done = case.completed_at()
    if done is not None and done <= now:
        return "on_time" if done <= case.due_at else "late"
    return "overdue" if case.due_at < now else "within_deadline"


@dataclass
class CoverageRow:
    key: dict[str, str]
    households_in_need: set[str] = field(default_factory=set)
    persons_in_need: dict[str, int] = field(default_factory=dict)
    entitlements: int = 0
    decided: int = 0
    rejected: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    within_deadline: int = 0
    entitled_vnd: int = 0
    disbursed_vnd: int = 0
    rice_entitled_kg: int = 0
    rice_delivered_kg: int = 0
    hours_to_delivery: list[float] = field(default_factory=list)

    def add(self, case: Case, now: datetime) -> None:
        if case.status == "rejected":
            self.rejected += 1
            self.decided += 1
            return
        self.households_in_need.add(case.household_id)
        self.persons_in_need[case.household_id] = case.members
        self.entitlements += 1
        self.decided += case.decided
        state = case_state(case, now)
        setattr(self, state, getattr(self, state) + 1)
        amount, quantity = _delivered_by(case, now)
        self.entitled_vnd += case.amount_vnd or 0
        self.disbursed_vnd += amount
        if case.unit == "kg rice":
            self.rice_entitled_kg += case.quantity or 0
            self.rice_delivered_kg += quantity
        if state in ("on_time", "late"):
            done = case.completed_at()
            assert done is not None
            self.hours_to_delivery.append((done - case.need_recorded_at).total_seconds() / 3600)

    def as_dict(self) -> dict[str, object]:
        due_or_done = self.on_time + self.late + self.overdue
        hours = sorted(self.hours_to_delivery)
        return {
            **self.key,
            "households_in_need": len(self.households_in_need),
            "persons_in_need": sum(self.persons_in_need.values()),
            "entitlements": self.entitlements, "decided": self.decided, "rejected": self.rejected,
            "disbursed": self.on_time + self.late, "disbursed_on_time": self.on_time, "late": self.late,
            "overdue": self.overdue, "within_deadline": self.within_deadline,
            "timely_pct": round(100 * self.on_time / due_or_done, 2) if due_or_done else None,
            "gap_to_target_pct": round(100 - 100 * self.on_time / due_or_done, 2) if due_or_done else None,
            "median_hours_to_delivery": round(median(hours), 2) if hours else None,
            "p90_hours_to_delivery": round(_p90(hours), 2) if hours else None,
            "entitled_vnd": self.entitled_vnd, "disbursed_vnd": self.disbursed_vnd,
            "rice_entitled_kg": self.rice_entitled_kg, "rice_delivered_kg": self.rice_delivered_kg,
        }


def _p90(values: list[float]) -> float:
    return values[0] if len(values) == 1 else quantiles(values, n=10, method="inclusive")[-1]


def _delivered_by(case: Case, now: datetime) -> tuple[int, int]:
    live = [d for d in case.deliveries if not d.voided and d.delivered_at <= now]
    return sum(d.amount_vnd for d in live), sum(d.quantity for d in live)


def coverage(cases: Iterable[Case], now: datetime, by: str = "incident") -> list[dict[str, object]]:
    """Coverage rows grouped `by` incident, province, commune or support type."""
    fields = GROUPINGS[by]
    rows: dict[tuple[str, ...], CoverageRow] = {}
    for case in cases:
        if case.status == "withdrawn":
            continue
        key = tuple(getattr(case, f) for f in fields)
        row = rows.get(key)
        if row is None:
            row = rows[key] = CoverageRow(dict(zip(fields, key)))
        row.add(case, now)
    return [rows[k].as_dict() for k in sorted(rows)]


def overdue(cases: Iterable[Case], now: datetime) -> list[Case]:
    """Cases past their deadline and not delivered in full, oldest deadline first."""
    found = [c for c in cases if c.in_need and case_state(c, now) == "overdue"]
    return sorted(found, key=lambda c: (c.due_at, c.household_id, c.support_type))
