"""One household's entitlement cases as step functions of the moment asked about.

Coverage at a moment X counts each case in the state it was in at X. This
module turns a household's recorded facts into that function, as a list of
segments: each is the case's state from its start until the next one's. The
coverage projection (`projections.coverage_projection`) derives from the
segments everything the read side answers: the sums on both time axes, the
overdue list and the time-to-delivery percentiles. Nothing here reads a
clock or a database.

The rules (DOMAIN.md; README, Projections):
- A fact that changes a case (an entitlement determined or revised, its
  withdrawal, a decision) takes effect when it occurred: at the assessment
  it rests on, or at the decision's time. Facts apply in the order they were
  recorded, so each takes effect no earlier than the one before it (its
  effective time is the running maximum of occurred times). "As now known
  for day X" thus counts a decision only if it was decided by X.
- A revision keeps the moment the need was first seen (the deadline does
  too); after a withdrawal, a new entitlement starts afresh.
- Deliveries count from their delivered time; a voided one never counts, a
  restated one at its restated amount (the household's current record).
- A case is done when its deliveries so far cover what is owed at that
  moment (the computed amount, or the adjusted one once the adjustment took
  effect); on time if that happened by the deadline. Not done, it is
  overdue from just after its deadline.
"""

from __future__ import annotations

from operator import sub
from typing import Any, Iterable, NamedTuple, Sequence

RICE_UNIT = "kg rice"
OPEN = 2**62  # the end of a segment that lasts
# The sums kept per area, support type and moment (see `Vector`).
FIELDS = ("n", "decided", "rejected", "on_time", "late", "overdue", "within", "vnd", "paid_vnd", "rice",
          "paid_rice", "persons", "persons_overdue")
WIDTH = len(FIELDS)
ZERO: tuple[int, ...] = (0,) * WIDTH
HOUSEHOLD = "*"  # the support type under which a household's own counts are kept


class Owed(NamedTuple):
    """What the facts in effect at a moment say is owed under one case."""

    need_at: int
    due_at: int
    amount_vnd: int | None
    quantity: int | None
    unit: str | None
    status: str  # pending | approved | adjusted | rejected | withdrawn
    decided: bool


class Shown(NamedTuple):
    """An overdue case as the overdue list shows it."""

    need_at: int
    due_at: int
    amount_vnd: int | None
    quantity: int | None
    unit: str | None
    delivered_vnd: int
    delivered_quantity: int


class Segment(NamedTuple):
    start: int
    vector: tuple[int, ...]  # FIELDS, for this case (or household) alone
    shown: Shown | None  # while overdue
    duration: int | None  # while done: µs from the need to the delivery that completed it


class Stretch(NamedTuple):
    """Where a value holds without a break: what an overdue case shows, or a done case's duration."""

    start: int
    end: int
    value: Any


def owed_at(facts: Sequence[list[Any]], at: int) -> Owed | None:
    """Fold the facts in effect at `at` (fact forms: `Household` below)."""
    owed: Owed | None = None
    effective = -OPEN
    for fact in facts:
        effective = max(effective, fact[1])
        if effective > at:
            break
        owed = _apply(owed, fact)
    return owed


_DECIDED = {"approve": "approved", "adjust": "adjusted", "reject": "rejected"}


def _apply(owed: Owed | None, fact: list[Any]) -> Owed:
    kind = fact[0]
    if kind == "det":
        live = owed is not None and owed.status != "withdrawn"
        need_at = owed.need_at if live and owed is not None else fact[1]
        return Owed(need_at, fact[2], fact[3], fact[4], fact[5], "pending", False)
    assert owed is not None, "a case is determined before anything else happens to it"
    need_at, due_at, amount_vnd, quantity, unit, _, decided = owed
    if kind == "wd":
        return Owed(need_at, due_at, amount_vnd, quantity, unit, "withdrawn", decided)
    if fact[2] == "adjust":
        amount_vnd, quantity = fact[3], fact[4]
    return Owed(need_at, due_at, amount_vnd, quantity, unit, _DECIDED[fact[2]], True)


def breakpoints(facts: Sequence[list[Any]], deliveries: Sequence[tuple[int, str, int, int]]) -> list[int]:
    """Every moment the case's state can change at."""
    found: set[int] = set()
    effective = -OPEN
    for fact in facts:
        effective = max(effective, fact[1])
        found.add(effective)
        if fact[0] == "det":
            found.add(fact[2] + 1)  # overdue from just after the deadline
    found.update(d[0] for d in deliveries)
    return sorted(found)


def state(owed: Owed | None, deliveries: Sequence[tuple[int, str, int, int]], at: int,
          members: int) -> tuple[tuple[int, ...], Shown | None, int | None]:
    """(vector, shown while overdue, duration while done) of one case at `at`;
    `deliveries` are its live ones as (delivered at, id, VND, quantity), in order."""
    if owed is None or owed.status == "withdrawn":
        return ZERO, None, None
    if owed.status == "rejected":
        return (0, 1, 1) + ZERO[3:], None, None
    paid_vnd = paid_quantity = 0
    completed = None
    for delivered_at, _, vnd, quantity in deliveries:
        if delivered_at > at:
            break
        paid_vnd, paid_quantity = paid_vnd + vnd, paid_quantity + quantity
        covers = paid_vnd >= (owed.amount_vnd or 0) and paid_quantity >= (owed.quantity or 0)
        if completed is None and covers and (owed.amount_vnd is not None or owed.quantity is not None):
            completed = delivered_at
    on_time = completed is not None and completed <= owed.due_at
    late = completed is not None and completed > owed.due_at
    overdue = completed is None and owed.due_at < at
    rice = owed.unit == RICE_UNIT
    vector = (1, int(owed.decided), 0, int(on_time), int(late), int(overdue),
              int(completed is None and not overdue), owed.amount_vnd or 0, paid_vnd,
              (owed.quantity or 0) if rice else 0, paid_quantity if rice else 0, members, members if overdue else 0)
    shown = Shown(owed.need_at, owed.due_at, owed.amount_vnd, owed.quantity, owed.unit, paid_vnd,
                  paid_quantity) if overdue else None
    return vector, shown, (completed - owed.need_at if completed is not None else None)


def case_segments(facts: Sequence[list[Any]], deliveries: Sequence[tuple[int, str, int, int]],
                  members: int) -> list[Segment]:
    """The case's whole life as segments, each differing from the one before."""
    found: list[Segment] = []
    for moment in breakpoints(facts, deliveries):
        vector, shown, duration = state(owed_at(facts, moment), deliveries, moment, members)
        if found and found[-1][1:] == (vector, shown, duration):
            continue
        if not found and vector == ZERO:
            continue
        found.append(Segment(moment, vector, shown, duration))
    return found


def household_segments(cases: Iterable[list[Segment]], members: int) -> list[Segment]:
    """The household's own counts: in need while any case counts (and is not
    rejected), overdue while any case is."""
    # Each case's (in need, overdue) as it changes, swept in time order.
    changes = sorted((s.start, index, s.vector[0], s.vector[5]) for index, c in enumerate(cases) for s in c)
    now: dict[int, tuple[int, int]] = {}
    found: list[Segment] = []
    for position, (moment, index, in_need, overdue) in enumerate(changes):
        now[index] = (in_need, overdue)
        if position + 1 < len(changes) and changes[position + 1][0] == moment:
            continue  # other cases change at this moment too
        need = int(any(n for n, _ in now.values()))
        late = int(any(o for _, o in now.values()))
        vector = (need,) + ZERO[1:5] + (late,) + ZERO[6:11] + (members * need, members * late)
        if (found and found[-1].vector == vector) or (not found and vector == ZERO):
            continue
        found.append(Segment(moment, vector, None, None))
    return found


def steps(segments: Sequence[Segment]) -> dict[int, tuple[int, ...]]:
    """The segments as changes of the vector: moment -> difference."""
    found: dict[int, tuple[int, ...]] = {}
    before = ZERO
    for segment in segments:
        change = tuple(map(sub, segment.vector, before))
        if any(change):
            found[segment.start] = change
        before = segment.vector
    return found


def stretches(segments: Sequence[Segment], attribute: str) -> list[Stretch]:
    """The stretches where `attribute` (`shown` or `duration`) holds a value,
    adjacent equal ones merged."""
    found: list[Stretch] = []
    for index, segment in enumerate(segments):
        value = getattr(segment, attribute)
        if value is None:
            continue
        end = segments[index + 1].start if index + 1 < len(segments) else OPEN
        if found and found[-1].end == segment.start and found[-1].value == value:
            found[-1] = found[-1]._replace(end=end)
        else:
            found.append(Stretch(segment.start, end, value))
    return found
