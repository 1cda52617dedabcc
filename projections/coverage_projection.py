"""The coverage projection: every case's life, kept so that any moment on
either time axis is read without a replay.

Each household's facts (`cov_households`) are folded into step functions
of the moment asked about (`projections.timeline`). The projection keeps
what the read side sums, on two axes:

- **now** ("as now known for day X"): the function as the facts recorded so
  far make it, at X;
- **then** ("as known on day X"): the function as the facts recorded by X
  made it, at X. An event is recorded by X when it and every event before
  it in the log were recorded by X: the log's prefix a reader saw at X. So
  each event has a moment `P`, the running maximum of recorded times, and
  a change made by that event counts on this axis from `P` on.

Tables (prefix `cov_`):
- `cov_households`: each household's facts, as JSON, and its version
  (events at or below it are skipped: duplicate deliveries change nothing).
- `cov_deltas`: each change of the counts (`timeline.FIELDS`) per axis,
  moment, province, commune and support type (`*`: the household's own
  counts), with the notification id of the event that made it known (on the
  "then" axis: of events recorded in one instant, an id asked about counts
  those up to it). The sum of deltas up to X is the coverage at X; the
  checkpoints and totals of `projections.checkpoints` keep it a few rows.
- `cov_overdue`, `cov_durations`: the stretches in which a case was overdue
  (with what the overdue list shows) or done (with its time to delivery).
  A row of the current facts has `now_from` (its start) and `then_from`
  (when it became known, if later); when a later event changes the case,
  the row's part known until then stays as a row without `now_from`.
- `cov_clock`: `P` at every 256th event and at the end of every batch, to
  turn a notification id into the moment it stands for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from operator import add, neg, sub
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from emergency.domain.household import (
    HouseholdCaseAbsorbed,
    HouseholdCaseDamageAssessed,
    HouseholdCaseDecided,
    HouseholdCaseDetailsCorrected,
    HouseholdCaseDisbursed,
    HouseholdCaseDisbursementCorrected,
    HouseholdCaseEntitlementDetermined,
    HouseholdCaseEntitlementWithdrawn,
    HouseholdCaseRegistered,
    HouseholdCaseSeparated,
)
from emergency.envelope import Envelope
from projections import checkpoints
from projections.base import Projection
from projections.rows import chunks, micros, newer, placeholders, select_in, to_micros
from projections.store import Cursor
from projections.timeline import (
    FIELDS,
    HOUSEHOLD,
    OPEN,
    ZERO,
    Segment,
    Shown,
    Stretch,
    case_segments,
    household_segments,
    steps,
    stretches,
)

AXES = {"now": 0, "then": 1}
CLOCK_EVERY = 256
METRICS = ", ".join(FIELDS)
KNOWN_COLUMNS = ("then_from", "then_from_id", "x_to", "x_to_id")
OVERDUE_COLUMNS = ("incident_id", "household_id", "support_type", "province_code", "commune_code", "head_name",
                   "members", "need_at", "due_at", "amount_vnd", "quantity", "unit", "delivered_vnd",
                   "delivered_quantity", "now_from", *KNOWN_COLUMNS)
DURATION_COLUMNS = ("incident_id", "household_id", "support_type", "province_code", "commune_code", "duration",
                    "now_from", *KNOWN_COLUMNS)

_metric_columns = ", ".join(f"{name} BIGINT NOT NULL" for name in FIELDS)
DDL = (
    """CREATE TABLE IF NOT EXISTS cov_households (household_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL,
        version INTEGER NOT NULL, facts TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cov_overdue (incident_id TEXT NOT NULL, household_id TEXT NOT NULL,
        support_type TEXT NOT NULL, province_code TEXT NOT NULL, commune_code TEXT NOT NULL, head_name TEXT NOT NULL,
        members INTEGER NOT NULL, need_at BIGINT NOT NULL, due_at BIGINT NOT NULL, amount_vnd BIGINT,
        quantity BIGINT, unit TEXT, delivered_vnd BIGINT NOT NULL, delivered_quantity BIGINT NOT NULL,
        now_from BIGINT, then_from BIGINT NOT NULL, then_from_id BIGINT NOT NULL, x_to BIGINT NOT NULL,
        x_to_id BIGINT NOT NULL)""",
    # Each filter's index also holds the list's order, so a page is read in order, never sorted.
    "CREATE INDEX IF NOT EXISTS cov_overdue_due ON cov_overdue (incident_id, due_at, household_id, support_type)",
    *(f"DROP INDEX IF EXISTS cov_overdue_{area}" for area in ("province", "commune", "support")),
    *(f"CREATE INDEX IF NOT EXISTS cov_overdue_by_{name} ON cov_overdue "
      f"(incident_id, {columns}, due_at, household_id, support_type)"
      for name, columns in (("province", "province_code"), ("commune", "commune_code"), ("support", "support_type"),
                            ("commune_support", "commune_code, support_type"))),
    "CREATE INDEX IF NOT EXISTS cov_overdue_household ON cov_overdue (household_id)",
    """CREATE TABLE IF NOT EXISTS cov_durations (incident_id TEXT NOT NULL, household_id TEXT NOT NULL,
        support_type TEXT NOT NULL, province_code TEXT NOT NULL, commune_code TEXT NOT NULL,
        duration BIGINT NOT NULL, now_from BIGINT, then_from BIGINT NOT NULL, then_from_id BIGINT NOT NULL,
        x_to BIGINT NOT NULL, x_to_id BIGINT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS cov_durations_incident
        ON cov_durations (incident_id, duration, now_from, then_from, then_from_id, x_to, x_to_id)""",
    """CREATE INDEX IF NOT EXISTS cov_durations_province
        ON cov_durations (incident_id, province_code, duration, now_from, then_from, then_from_id, x_to, x_to_id)""",
    """CREATE INDEX IF NOT EXISTS cov_durations_commune
        ON cov_durations (incident_id, commune_code, duration, now_from, then_from, then_from_id, x_to, x_to_id)""",
    """CREATE INDEX IF NOT EXISTS cov_durations_support
        ON cov_durations (incident_id, support_type, duration, now_from, then_from, then_from_id, x_to, x_to_id)""",
    "CREATE INDEX IF NOT EXISTS cov_durations_household ON cov_durations (household_id)",
    "CREATE TABLE IF NOT EXISTS cov_clock (notification_id BIGINT PRIMARY KEY, recorded_max BIGINT NOT NULL)",
)
DDL += checkpoints.DDL
TABLES = ("cov_households", "cov_overdue", "cov_durations", "cov_clock", *checkpoints.TABLES)


@dataclass
class Household:
    """One household's facts: what `projections.timeline` needs to draw its cases.

    Case facts, in recorded order: ["det", occurred, due, VND, quantity, unit],
    ["wd", occurred], ["dec", occurred, decision, VND, quantity]. Deliveries:
    id -> [support type, delivered at, VND, quantity, voided].
    """

    household_id: str
    incident_id: str
    province_code: str
    commune_code: str
    head_name: str
    members: int
    version: int
    assessed: dict[str, int] = field(default_factory=dict)
    cases: dict[str, list[list[Any]]] = field(default_factory=dict)
    deliveries: dict[str, list[Any]] = field(default_factory=dict)
    # support type -> (P, notification id) of the event that made its current facts
    known: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if k not in ("household_id", "version")},
                          separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_row(cls, household_id: str, version: int, facts: str) -> Household:
        return cls(household_id=household_id, version=version, **json.loads(facts))

    def live_deliveries(self, support_type: str) -> list[tuple[int, str, int, int]]:
        return sorted((d[1], key, d[2], d[3]) for key, d in self.deliveries.items()
                      if d[0] == support_type and not d[4])


class Curve(NamedTuple):
    """One case's (or the household's) function: its segments, and the same as changes by moment."""

    segments: list[Segment]
    steps: dict[int, tuple[int, ...]]

    @classmethod
    def of(cls, segments: list[Segment]) -> Curve:
        return cls(segments, steps(segments))


Drawing = dict[str, Curve]  # support type (and HOUSEHOLD) -> its curve


def draw(household: Household, previous: Drawing | None = None, touched: Iterable[str] | None = None) -> Drawing:
    """The household's cases as curves; only `touched` ones redrawn when a previous drawing is given."""
    drawing: Drawing = dict(previous or {})
    redraw = household.cases if previous is None or touched is None else touched
    for support_type in redraw:
        drawing[support_type] = Curve.of(case_segments(
            household.cases[support_type], household.live_deliveries(support_type), household.members))
    drawing[HOUSEHOLD] = Curve.of(household_segments(
        (curve.segments for key, curve in drawing.items() if key != HOUSEHOLD), household.members))
    return drawing


class Known(NamedTuple):
    """Where a row holds on the "then" axis: from (moment, notification id)
    until (moment, notification id), compared in that order, so that of events
    recorded in one instant only those up to an id asked about count. An end's
    id is 0 where the stretch ends by itself (whichever event is asked)."""

    start: int
    start_id: int
    end: int
    end_id: int

    def holds(self) -> bool:
        return (self.start, self.start_id) < (self.end, self.end_id)


class Changes:
    """What one batch adds to the tables, gathered in memory and written once."""

    def __init__(self, incidents: dict[str, int]) -> None:
        self.incidents = incidents  # incident id -> its number (`projections.checkpoints`)
        self.deltas: dict[tuple[Any, ...], tuple[int, ...]] = {}
        self.closed_overdue: list[tuple[Any, ...]] = []
        self.closed_durations: list[tuple[Any, ...]] = []

    def add(self, household: Household, axis: int, support_type: str, moment: int, change: Sequence[int],
            notification_id: int = 0) -> None:
        key = (self._number(household.incident_id), axis, moment, notification_id, household.province_code,
               household.commune_code, support_type)
        found = self.deltas.get(key)
        self.deltas[key] = tuple(change) if found is None else tuple(map(add, found, change))

    def _number(self, incident_id: str) -> int:
        found = self.incidents.get(incident_id)
        if found is None:
            found = self.incidents[incident_id] = max(self.incidents.values(), default=0) + 1
        return found

    def nonzero(self) -> list[tuple[Any, ...]]:
        return [key + tuple(vector) for key, vector in sorted(self.deltas.items()) if any(vector)]


def difference(new: Curve | None, old: Curve | None) -> dict[int, tuple[int, ...]]:
    """The changes that turn the old function into the new one, by moment."""
    found: dict[int, tuple[int, ...]] = dict(new.steps) if new else {}
    for moment, change in (old.steps if old else {}).items():
        before = found.get(moment)
        found[moment] = tuple(map(neg, change)) if before is None else tuple(map(sub, before, change))
    return {moment: vector for moment, vector in found.items() if any(vector)}


def from_moment(changes: dict[int, tuple[int, ...]], known_at: int) -> dict[int, tuple[int, ...]]:
    """Changes as seen on the "then" axis when they become known at `known_at`:
    everything before that moment arrives at once, at it."""
    found: dict[int, tuple[int, ...]] = {}
    jump = ZERO
    for moment, vector in changes.items():
        if moment <= known_at:
            jump = tuple(map(add, jump, vector))
        else:
            found[moment] = vector
    if any(jump):
        found[known_at] = jump
    return found


Head = tuple[str, int]  # head of household and members, as a row shows them


def _overdue_row(h: Household, support_type: str, stretch: Stretch, now_from: int | None, known: Known,
                 head: Head) -> tuple[Any, ...]:
    shown: Shown = stretch.value
    return (h.incident_id, h.household_id, support_type, h.province_code, h.commune_code, *head, *shown, now_from,
            *known)


def _duration_row(h: Household, support_type: str, stretch: Stretch, now_from: int | None, known: Known,
                  head: Head) -> tuple[Any, ...]:
    return (h.incident_id, h.household_id, support_type, h.province_code, h.commune_code, stretch.value,
            now_from, *known)


SPAN_KINDS: tuple[tuple[str, Callable[..., tuple[Any, ...]], str], ...] = (
    ("shown", _overdue_row, "closed_overdue"), ("duration", _duration_row, "closed_durations"))


def current_rows(h: Household, drawing: Drawing) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The overdue and done stretches of the current facts."""
    found: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
    for support_type, curve in sorted(drawing.items()):
        if support_type == HOUSEHOLD:
            continue
        since, since_id = h.known.get(support_type, (-OPEN, 0))
        for rows, (attribute, make, _) in zip(found, SPAN_KINDS):
            rows.extend(make(h, support_type, s, s.start, Known(max(s.start, since), since_id, s.end, 0),
                             (h.head_name, h.members))
                        for s in stretches(curve.segments, attribute))
    return found


class CoverageProjection(Projection):
    name = "coverage"
    version = 2  # 2: sparser checkpoints (`checkpoints.SPACING`)
    kinds = frozenset()  # every event: the "then" axis needs the recorded time of each
    log_ordered = True
    ddl = DDL
    tables = TABLES

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        clock = _clock(cur)
        households = _load(cur, events)
        first = {key: draw(h) for key, h in households.items()}
        drawings = dict(first)
        incidents = {r[0]: int(r[1]) for r in cur.execute("SELECT incident_id, incident_no FROM cov_incidents").fetchall()}
        changes, marks = Changes(dict(incidents)), []
        for index, event in enumerate(events):
            clock = max(clock, micros(event.recorded_at))
            if index % CLOCK_EVERY == CLOCK_EVERY - 1 or index == len(events) - 1:
                marks.append((event.notification_id or 0, clock))
            if event.aggregate_type == "HouseholdCase":
                self._fold(event, households, drawings, changes, clock)
        changed = sorted(key for key, drawing in drawings.items() if drawing is not first.get(key))
        for key in changed:
            before = first.get(key, {})
            for support_type in set(drawings[key]) | set(before):
                for moment, vector in difference(drawings[key].get(support_type), before.get(support_type)).items():
                    changes.add(households[key], AXES["now"], support_type, moment, vector)
        cur.insert_many("INSERT INTO cov_incidents (incident_id, incident_no) VALUES (?, ?)",
                        sorted((k, v) for k, v in changes.incidents.items() if k not in incidents))
        _save(cur, households, {key: drawings[key] for key in changed}, changes, marks)
        checkpoints.record(cur, changes.nonzero(), clock)

    def _fold(self, e: Envelope, households: dict[str, Household], drawings: dict[str, Drawing],
              changes: Changes, clock: int) -> None:
        if e.type == "Registered":
            if e.aggregate_id not in households:
                registered = HouseholdCaseRegistered.decode(e)
                households[e.aggregate_id] = Household(e.aggregate_id, str(registered.incident_id),
                                                       registered.province_code, registered.commune_code,
                                                       registered.head_name, registered.members, e.version)
                drawings[e.aggregate_id] = draw(households[e.aggregate_id])
            return
        h = newer(households, e)
        if h is None:
            return
        head = (h.head_name, h.members)  # as the stretches known until now show them
        handler = HANDLERS.get(e.type)
        touched = handler(h, e) if handler else []
        if not touched:
            return
        old = drawings[e.aggregate_id]
        new = drawings[e.aggregate_id] = draw(h, old, touched)
        position = e.notification_id or 0
        for support_type in [*touched, HOUSEHOLD]:
            for moment, vector in from_moment(difference(new.get(support_type), old.get(support_type)),
                                              clock).items():
                changes.add(h, AXES["then"], support_type, moment, vector, position)
            if support_type != HOUSEHOLD:
                previous = old.get(support_type)
                _close(h, support_type, previous.segments if previous else [], (clock, position), changes, head)
                h.known[support_type] = [clock, position]


def _close(h: Household, support_type: str, segments: list[Segment], superseded: tuple[int, int],
           changes: Changes, head: Head) -> None:
    """Keep, as rows of the "then" axis only, the part of the case's old
    stretches that was known until the event `superseded` (moment, id)."""
    since, since_id = h.known.get(support_type, (-OPEN, 0))
    for attribute, make, bucket in SPAN_KINDS:
        for stretch in stretches(segments, attribute):
            cut = superseded[0] < stretch.end
            known = Known(max(stretch.start, since), since_id, superseded[0] if cut else stretch.end,
                          superseded[1] if cut else 0)
            if known.holds():
                getattr(changes, bucket).append(make(h, support_type, stretch, None, known, head))


# ----- folding one event into a household's facts -------------------------------


def _details_corrected(h: Household, e: Envelope) -> list[str]:
    changes = HouseholdCaseDetailsCorrected.decode(e).changes
    if changes.head_name is None and changes.members is None:
        return []
    h.head_name = changes.head_name if changes.head_name is not None else h.head_name
    h.members = changes.members if changes.members is not None else h.members
    return sorted(h.cases)


def _damage_assessed(h: Household, e: Envelope) -> list[str]:
    assessment = HouseholdCaseDamageAssessed.decode(e).assessment
    h.assessed[assessment.assessment_id] = to_micros(assessment.assessed_at)
    return []


def _entitlement_determined(h: Household, e: Envelope) -> list[str]:
    determined = HouseholdCaseEntitlementDetermined.decode(e)
    entitlement = determined.entitlement
    h.cases.setdefault(entitlement.support_type, []).append(
        ["det", h.assessed[determined.basis], to_micros(entitlement.due_at), entitlement.amount_vnd,
         entitlement.quantity, entitlement.unit])
    return [entitlement.support_type]


def _entitlement_withdrawn(h: Household, e: Envelope) -> list[str]:
    withdrawn = HouseholdCaseEntitlementWithdrawn.decode(e)
    h.cases[withdrawn.support_type].append(["wd", h.assessed[withdrawn.basis]])
    return [withdrawn.support_type]


def _decided(h: Household, e: Envelope) -> list[str]:
    decision = HouseholdCaseDecided.decode(e).decision
    h.cases[decision.support_type].append(["dec", to_micros(decision.decided_at), decision.decision,
                                           decision.amount_vnd, decision.quantity])
    return [decision.support_type]


def _disbursed(h: Household, e: Envelope) -> list[str]:
    paid = HouseholdCaseDisbursed.decode(e).disbursement
    h.deliveries[paid.disbursement_id] = [paid.support_type, to_micros(paid.delivered_at), paid.amount_vnd or 0,
                                          paid.quantity or 0, 0]
    return [paid.support_type]


def _disbursement_corrected(h: Household, e: Envelope) -> list[str]:
    correction = HouseholdCaseDisbursementCorrected.decode(e).correction
    delivery = h.deliveries[correction.disbursement_id]
    if correction.void:
        delivery[4] = 1
    for index, value in ((2, correction.amount_vnd), (3, correction.quantity)):
        if value is not None:
            delivery[index] = value
    return [delivery[0]]


def _absorbed(h: Household, e: Envelope) -> list[str]:
    """A merge (`emergency.duplicates`): the other household's assessments and
    payments become this one's, so its payments count toward these cases."""
    absorbed = HouseholdCaseAbsorbed.decode(e)
    for key, assessment in absorbed.assessments.items():
        h.assessed[key] = to_micros(assessment.assessed_at)
    for key, d in absorbed.disbursements.items():
        h.deliveries[f"{absorbed.household_id}/{key}"] = [
            d.support_type, to_micros(d.delivered_at), d.amount_vnd or 0, d.quantity or 0, 0]
    return sorted({d.support_type for d in absorbed.disbursements.values()} & set(h.cases))


def _separated(h: Household, e: Envelope) -> list[str]:
    prefix = f"{HouseholdCaseSeparated.decode(e).household_id}/"
    taken = [key for key in h.deliveries if key.startswith(prefix)]
    touched = {h.deliveries.pop(key)[0] for key in taken}
    return sorted(touched & set(h.cases))


HANDLERS: dict[str, Callable[[Household, Envelope], list[str]]] = {
    "DetailsCorrected": _details_corrected, "DamageAssessed": _damage_assessed,
    "EntitlementDetermined": _entitlement_determined, "EntitlementWithdrawn": _entitlement_withdrawn,
    "Decided": _decided, "Disbursed": _disbursed, "DisbursementCorrected": _disbursement_corrected,
    "Absorbed": _absorbed, "Separated": _separated,
}


# ----- reading and writing the tables ----------------------------------------------


def _clock(cur: Cursor) -> int:
    row = cur.execute("SELECT recorded_max FROM cov_clock ORDER BY notification_id DESC LIMIT 1").fetchone()
    return int(row[0]) if row else -OPEN


def _load(cur: Cursor, events: Sequence[Envelope]) -> dict[str, Household]:
    ids = sorted({e.aggregate_id for e in events if e.aggregate_type == "HouseholdCase"})
    return {row["household_id"]: Household.from_row(row["household_id"], int(row["version"]), row["facts"])
            for row in select_in(cur, "cov_households", ("household_id", "version", "facts"), "household_id", ids)}


def _save(cur: Cursor, households: dict[str, Household], changed: dict[str, Drawing], changes: Changes,
          marks: list[tuple[int, int]]) -> None:
    """Write the batch: every household's facts; the current stretches of
    those whose cases changed (replacing their previous ones); clock marks."""
    cur.insert_many("INSERT INTO cov_households (household_id, incident_id, version, facts) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (household_id) DO UPDATE SET version = excluded.version, facts = excluded.facts",
                    [(k, h.incident_id, h.version, h.to_json()) for k, h in sorted(households.items())])
    ids = sorted(changed)
    for table in ("cov_overdue", "cov_durations"):
        for chunk in chunks(ids):
            cur.execute(f"DELETE FROM {table} WHERE household_id IN ({placeholders(len(chunk))}) AND now_from IS NOT NULL",
                        chunk)
    overdue, durations = changes.closed_overdue, changes.closed_durations
    for key in ids:
        now_overdue, now_durations = current_rows(households[key], changed[key])
        overdue.extend(now_overdue)
        durations.extend(now_durations)
    cur.copy_rows("cov_overdue", OVERDUE_COLUMNS, overdue)
    cur.copy_rows("cov_durations", DURATION_COLUMNS, durations)
    cur.insert_many("INSERT INTO cov_clock (notification_id, recorded_max) VALUES (?, ?) "
                    "ON CONFLICT (notification_id) DO UPDATE SET recorded_max = excluded.recorded_max", marks)
