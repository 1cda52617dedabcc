"""Auditor replay: the projections as they stood at a past point, and what
changed for one incident between two points.

A point is a notification id or a recorded time; the log's prefix up to it is
what a reader saw then (`projections.asof.Cutoff`: the log only grows at its
end, so the prefix stops at the first event recorded after the time).
`replay_into` folds that prefix with the projections' own code into a
separate view store (never the live one), so an auditor can query it at
leisure; `diff` replays two points and compares coverage rows and each
household's cases of one incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from emergency.envelope import from_notification
from emergency.errors import InvalidInput
from projections.asof import Cutoff, moment_of, replay
from projections.catalog import default_projections
from projections.coverage import GROUPINGS, coverage
from projections.rows import iso, to_micros
from projections.runner import EmbeddedRunner, NotificationSource, ProjectionSet
from projections.store import ViewStore, open_view_store

PAGE = 5000
CASE_FIELDS = ("status", "amount_vnd", "quantity", "unit", "due_at", "delivered_vnd", "delivered_quantity",
               "completed_at")


@dataclass(frozen=True)
class Point:
    position: int  # the last notification id folded in
    at: datetime  # the moment the point stands for


def resolve(source: NotificationSource, cutoff: Cutoff) -> Point:
    """The end of the log's prefix up to `cutoff`."""
    if cutoff.notification_id is not None:
        head = min(cutoff.notification_id, source.max_notification_id() or 0)
        if head == 0:
            raise InvalidInput("the log is empty up to that point", field="until", code="empty_prefix")
        return Point(head, moment_of(source, head))
    assert cutoff.recorded_at is not None
    position = 0
    while page := source.select_notifications(position, PAGE, inclusive_of_start=False):
        for notification in page:
            if not cutoff.includes(from_notification(notification)):
                return Point(position, cutoff.recorded_at)
            position = notification.id
    return Point(position, cutoff.recorded_at)


def replay_into(source: NotificationSource, cutoff: Cutoff, store_url: str,
                progress: Callable[[int], None] | None = None) -> Point:
    """Rebuild every projection in the store at `store_url` from the log's prefix up to `cutoff`."""
    point = resolve(source, cutoff)
    views = ProjectionSet(open_view_store(store_url), default_projections())
    try:
        views.drop_all()
        EmbeddedRunner(source, views).catch_up(until=point.position, progress=progress)
    finally:
        views.store.close()
    return point


# ----- comparing two points ---------------------------------------------------


@dataclass(frozen=True)
class Change:
    key: tuple[str, ...]  # (province[, commune] | support type) or (household, support type)
    field: str
    before: Any
    after: Any


@dataclass
class Diff:
    incident_id: str
    by: str
    before: Point
    after: Point
    coverage: list[Change]
    cases: list[Change]

    def households_changed(self) -> int:
        return len({change.key[0] for change in self.cases})


def case_state(row: dict[str, Any], at: int) -> str:
    """A case at moment `at` (epoch µs), by the definitions of `projections.coverage`."""
    if row["need_at"] > at:
        return "not_yet_assessed"
    if row["status"] == "withdrawn" and row["withdrawn_at"] is not None and row["withdrawn_at"] <= at:
        return "withdrawn"
    if row["status"] == "rejected" and row["decided_at"] is not None and row["decided_at"] <= at:
        return "rejected"
    if row["completed_at"] is not None and row["completed_at"] <= at:
        return "on_time" if row["completed_at"] <= row["due_at"] else "late"
    return "overdue" if row["due_at"] < at else "within_deadline"


def _cases(store: ViewStore, incident_id: str, at: datetime) -> dict[tuple[str, ...], dict[str, Any]]:
    columns = ("household_id", "support_type", "need_at", "withdrawn_at", "decided_at", *CASE_FIELDS)
    with store.read() as cur:
        rows = cur.execute(f"SELECT {', '.join(columns)} FROM case_entitlements WHERE incident_id = ?",
                           (incident_id,)).fetchall()
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for raw in rows:
        row = dict(zip(columns, raw))
        shown = {name: row[name] for name in CASE_FIELDS}
        shown.update(due_at=iso(row["due_at"]), completed_at=iso(row["completed_at"]),
                     state=case_state(row, to_micros(at)))
        found[(row["household_id"], row["support_type"])] = shown
    return found


def _changes(before: dict[tuple[str, ...], dict[str, Any]],
             after: dict[tuple[str, ...], dict[str, Any]]) -> list[Change]:
    found = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        for name in dict.fromkeys([*old, *new]):
            if old.get(name) != new.get(name):
                found.append(Change(key, name, old.get(name), new.get(name)))
    return found


def _coverage_rows(store: ViewStore, incident_id: str, at: datetime, by: str) -> dict[tuple[str, ...], dict[str, Any]]:
    keys = GROUPINGS[by][1:] or ("incident_id",)
    return {tuple(str(row[k]) for k in keys): {n: v for n, v in row.items() if n not in GROUPINGS[by]}
            for row in coverage(store, incident_id, at, by)}


def diff(source: NotificationSource, incident_id: str, before: Cutoff, after: Cutoff, by: str = "province") -> Diff:
    """What changed for one incident between two points: coverage rows grouped
    `by`, and every household's cases (status, amounts, deliveries, state)."""
    if by not in GROUPINGS:
        raise InvalidInput(f"by must be one of {sorted(GROUPINGS)}", field="by")
    first, second = (replay(source, cutoff, default_projections()) for cutoff in (before, after))
    try:
        return Diff(
            incident_id, by, Point(first.position, first.at), Point(second.position, second.at),
            _changes(_coverage_rows(first.store, incident_id, first.at, by),
                     _coverage_rows(second.store, incident_id, second.at, by)),
            _changes(_cases(first.store, incident_id, first.at), _cases(second.store, incident_id, second.at)))
    finally:
        first.store.close()
        second.store.close()
