"""The change feed of the case rows: what live push sends and resumes from.

Each event that changed a case left one `case_changes` row per case changed,
under the event's notification id, in the same transaction as the case rows.
A reader that asks for everything after the last id it received gets each
change once: the runner commits whole batches in log order, so a committed
prefix never gains rows below its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emergency.batch import Scope
from projections.cases import CHANGE_COLUMNS, case_state
from projections.coverage import Areas
from projections.store import ViewStore


@dataclass(frozen=True)
class Change:
    notification_id: int
    cases: list[dict[str, Any]]  # each case's state after the event


def changes_after(store: ViewStore, incident_id: str, after: int, limit: int = 1000,
                  scope: Scope = Scope()) -> list[Change]:
    """The changes to one incident's cases within `scope` after notification
    id `after`, in log order; about `limit` rows at most, never splitting one
    event's rows."""
    area, area_params = Areas(scope.provinces, scope.communes).sql()
    select = (f"SELECT {', '.join(CHANGE_COLUMNS)} FROM case_changes WHERE incident_id = ?{area} "
              "AND notification_id {} ? ORDER BY notification_id, household_id, support_type")
    with store.read() as cur:
        rows = cur.execute(select.format(">") + " LIMIT ?", (incident_id, *area_params, after, limit)).fetchall()
        if len(rows) == limit:
            last = rows[-1][0]
            rows = [r for r in rows if r[0] != last]
            if not rows:  # one event changed more cases than `limit`: send it whole
                rows = cur.execute(select.format("="), (incident_id, *area_params, last)).fetchall()
    changes: list[Change] = []
    for row in rows:
        state = case_state(dict(zip(CHANGE_COLUMNS[1:], row[1:])))
        if not changes or changes[-1].notification_id != row[0]:
            changes.append(Change(int(row[0]), []))
        changes[-1].cases.append(state)
    return changes

