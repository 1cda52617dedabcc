"""Timely coverage against the 100% target, the overdue list and the trend,
at any moment on either time axis, read from the coverage projection
(`projections.coverage_projection`).

"Timely" follows DOMAIN.md: an entitlement is delivered in full before its
deadline. At a moment X a case counts once its need was assessed, until it
is withdrawn; it is then exactly one of rejected, on time (delivered in full
by its deadline), late (in full, after it), overdue (not in full, deadline
passed) or within its deadline. The timely share counts only cases that are
due or done: one still within its deadline is neither a success nor a
failure yet. Counts are in entitlements (one household's claim to one
support type); households and persons are counted once per group.

Every count is a sum of deltas up to X (`projections.checkpoints`), so a
request reads a few rows per group it returns, whatever the number of
households or events. The time-to-delivery percentiles are order
statistics: they read the durations of the group's delivered cases in
index order, up to the 90th percentile's rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import add
from typing import Any, Callable, Iterable, Sequence

from emergency.areas import commune_name, communes_of, province_name
from emergency.areas import provinces as official_provinces
from emergency.errors import InvalidInput
from projections import checkpoints
from projections.coverage_projection import AXES
from projections.rows import iso, placeholders, to_micros
from projections.store import Cursor, ViewStore
from projections.timeline import FIELDS, HOUSEHOLD, WIDTH

GROUPINGS = {
    "incident": ("incident_id",),
    "province": ("incident_id", "province_code"),
    "commune": ("incident_id", "province_code", "commune_code"),
    "support_type": ("incident_id", "support_type"),
}
KNOWN = ("then", "now")
HOUR_US = 3_600_000_000
_N, _DECIDED, _REJECTED, _ON_TIME, _LATE, _OVERDUE, _WITHIN, _VND, _PAID, _RICE, _PAID_RICE, _PERSONS, \
    _PERSONS_OVERDUE = range(WIDTH)
def micros_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidInput("a moment needs a timezone offset", field="at", code="naive_time")
    return to_micros(moment)


def axis_of(known: str) -> int:
    if known not in KNOWN:
        raise InvalidInput(f"known must be one of {KNOWN}", field="known", code="invalid_known")
    return AXES[known]


@dataclass(frozen=True)
class Areas:
    """The areas a reader may see: None means every one."""

    provinces: frozenset[str] | None = None
    communes: frozenset[str] | None = None

    def sql(self) -> tuple[str, list[Any]]:
        clauses, params = "", []
        for column, codes in (("province_code", self.provinces), ("commune_code", self.communes)):
            if codes is not None:
                ordered = sorted(codes)
                clauses += f" AND {column} IN ({placeholders(len(ordered))})" if ordered else " AND 1 = 0"
                params += ordered
        return clauses, params


EVERYWHERE = Areas()


@dataclass(frozen=True)
class Filters:
    incident_id: str | None = None
    province_code: str | None = None
    commune_code: str | None = None
    support_type: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        clauses, params = "", []
        for name in ("incident_id", "province_code", "commune_code", "support_type"):
            value = getattr(self, name)
            if value is not None:
                clauses += f" AND {name} = ?"
                params.append(value)
        return clauses, params


def _level(by: str, within: Areas, support_filter: bool = False) -> int:
    """The coarsest level of sums that answers `by` within some areas."""
    if within.communes is not None:
        return checkpoints.DETAIL if by == "support_type" or support_filter else 2
    if within.provinces is not None:
        return 2 if by == "commune" and not support_filter else 1
    return {"incident": 0, "support_type": 0, "province": 1, "commune": 2}[by]


LAST = 2**62  # a position after every event: a moment asked as a time counts all it had recorded


def sums(cur: Cursor, incident_id: str, axis: int, at: int, level: int, within: Areas = EVERYWHERE,
         position: int = LAST) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """(province, commune, support type, vector) of `level`, summed up to
    `at` inclusive (on the "then" axis, of the events recorded in that very
    instant, those up to `position`)."""
    number = checkpoints.incident_number(cur, incident_id)
    if number is None:
        return []
    where, params = within.sql()
    return [(r[0], r[1], r[2], r[3:]) for r in checkpoints.sums(cur, number, axis, level, at, position, where, params)]


@dataclass
class _Group:
    key: tuple[str, ...]
    cases: list[int] = field(default_factory=lambda: [0] * WIDTH)
    households: list[int] = field(default_factory=lambda: [0] * WIDTH)


# A summed row's (province, commune, support type) -> its group's key, per grouping.
_KEYS: dict[str, Callable[[str, str, str, str], tuple[str, ...]]] = {
    "incident": lambda i, p, c, s: (i,), "province": lambda i, p, c, s: (i, p),
    "commune": lambda i, p, c, s: (i, p, c), "support_type": lambda i, p, c, s: (i, s)}


def _groups(found: Iterable[tuple[str, str, str, Sequence[int]]], incident_id: str,
            by: str) -> dict[tuple[str, ...], _Group]:
    groups: dict[tuple[str, ...], _Group] = {}
    key_of = _KEYS[by]
    for province, commune, support_type, vector in found:
        if by == "support_type" and support_type == HOUSEHOLD:
            continue
        key = key_of(incident_id, province, commune, support_type)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key)
        if support_type == HOUSEHOLD:
            group.households = list(map(add, group.households, vector))
        else:
            group.cases = list(map(add, group.cases, vector))
    for group in groups.values():
        if by == "support_type":
            group.households = group.cases
    return {key: g for key, g in sorted(groups.items()) if g.cases[_N] + g.cases[_REJECTED] > 0}


def _row(by: str, group: _Group) -> dict[str, Any]:
    c, h = group.cases, group.households
    due_or_done = c[_ON_TIME] + c[_LATE] + c[_OVERDUE]
    timely = round(100 * c[_ON_TIME] / due_or_done, 2) if due_or_done else None
    key = dict(zip(GROUPINGS[by], group.key))
    names = {name: lookup(key[code]) for code, name, lookup in _NAMED if code in key}
    return {
        **key, **names,
        "households_in_need": h[_N], "persons_in_need": h[_PERSONS],
        "households_overdue": h[_OVERDUE], "persons_overdue": h[_PERSONS_OVERDUE],
        "entitlements": c[_N], "decided": c[_DECIDED], "rejected": c[_REJECTED],
        "disbursed": c[_ON_TIME] + c[_LATE], "disbursed_on_time": c[_ON_TIME], "late": c[_LATE],
        "overdue": c[_OVERDUE], "within_deadline": c[_WITHIN],
        "timely_pct": timely, "gap_to_target_pct": round(100 - timely, 2) if timely is not None else None,
        "median_hours_to_delivery": None, "p90_hours_to_delivery": None,
        "entitled_vnd": c[_VND], "disbursed_vnd": c[_PAID],
        "rice_entitled_kg": c[_RICE], "rice_delivered_kg": c[_PAID_RICE],
    }


def blank_row(by: str, key: tuple[str, ...]) -> dict[str, Any]:
    """The row of a group with nothing recorded yet (one with only requests for help)."""
    return _row(by, _Group(key))


_NAMED = (("province_code", "province_name", province_name), ("commune_code", "commune_name", commune_name))


def _stabbing(axis: int, at: int, position: int) -> tuple[str, list[int]]:
    """Rows of a stretch that holds at the moment asked about, on `axis`
    (`projections.coverage_projection.Known`)."""
    if axis == AXES["now"]:
        return "now_from <= ? AND x_to > ?", [at, at]
    return "(then_from, then_from_id) <= (?, ?) AND (x_to, x_to_id) > (?, ?)", [at, position, at, position]


def _percentiles(cur: Cursor, row: dict[str, Any], by: str, axis: int, at: int, within: Areas,
                 position: int) -> None:
    """Median and 90th percentile of hours from need to full delivery, as
    `statistics.median` and `statistics.quantiles(n=10, method="inclusive")`
    compute them over the group's delivered cases."""
    done = row["disbursed"]
    if not done:
        return
    where, params = within.sql()
    group = "" if by == "incident" else f" AND {GROUPINGS[by][-1]} = ?"
    holds, holds_params = _stabbing(axis, at, position)
    select = (f"SELECT duration FROM cov_durations WHERE incident_id = ?{group} AND {holds}{where} "
              "ORDER BY duration {} LIMIT 2 OFFSET ?")
    fixed = [row["incident_id"], *([row[GROUPINGS[by][-1]]] if group else []), *holds_params, *params]

    def two(rank: int) -> list[float]:
        """The durations of ranks `rank` and `rank + 1` (from 0), read from the nearer end of the index."""
        if rank < done // 2:
            found = cur.execute(select.format("ASC"), [*fixed, rank]).fetchall()
        else:
            found = cur.execute(select.format("DESC"), [*fixed, max(done - 2 - rank, 0)]).fetchall()[::-1]
            found = found if rank + 1 < done else found[-1:]
        return [int(r[0]) / HOUR_US for r in found]

    middle = two((done - 1) // 2)
    row["median_hours_to_delivery"] = round(middle[0] if done % 2 else (middle[0] + middle[1]) / 2, 2)
    if done == 1:
        row["p90_hours_to_delivery"] = round(middle[0], 2)
        return
    j, delta = divmod(9 * (done - 1), 10)
    pair = two(j)
    row["p90_hours_to_delivery"] = round((pair[0] * (10 - delta) + pair[1] * delta) / 10, 2)


@dataclass(frozen=True)
class Page:
    """Which rows of a grouping to return, and in what order."""

    sort: str = "code"  # code | name | gap | overdue
    search: str | None = None
    limit: int | None = None
    offset: int = 0


SORTS = ("code", "name", "gap", "overdue")


def _timely_order(row: dict[str, Any]) -> tuple[bool, float]:
    """Lowest timely share first, groups with nothing due or done last (as `_RANKED` orders them)."""
    due_or_done = row["disbursed"] + row["overdue"]
    return due_or_done == 0, row["disbursed_on_time"] / due_or_done if due_or_done else 0.0


def _sorted(rows: list[dict[str, Any]], by: str, page: Page) -> list[dict[str, Any]]:
    if page.search:
        needle = page.search.casefold()
        rows = [r for r in rows if any(needle in str(r.get(k) or "").casefold() for k in _SEARCHED[by])]
    if page.sort == "gap":
        rows = sorted(rows, key=lambda r: (*_timely_order(r), -r["overdue"]))
    elif page.sort == "overdue":
        rows = sorted(rows, key=lambda r: (-r["overdue"], *_timely_order(r)))
    elif page.sort == "name":
        rows = sorted(rows, key=lambda r: str(r.get(_NAMES[by]) or r.get(GROUPINGS[by][-1]) or "").casefold())
    return rows


_NAMES = {"incident": "incident_id", "province": "province_name", "commune": "commune_name",
          "support_type": "support_type"}
_SEARCHED = {"incident": ("incident_id",), "province": ("province_code", "province_name"),
             "commune": ("commune_code", "commune_name", "province_code", "province_name"),
             "support_type": ("support_type",)}


def coverage(store: ViewStore, incident_id: str, at: datetime, by: str = "incident", known: str = "now",
             within: Areas = EVERYWHERE, page: Page = Page(), position: int | None = None) -> list[dict[str, Any]]:
    """Coverage rows of one incident at `at` on the `known` axis, grouped `by`
    incident, province, commune or support type, within some areas, with
    the areas' official names. At a moment asked as a notification id,
    `position` is that id."""
    return coverage_page(store, incident_id, at, by, known, within, page, position)[1]


def coverage_page(store: ViewStore, incident_id: str, at: datetime, by: str = "incident", known: str = "now",
                  within: Areas = EVERYWHERE, page: Page = Page(),
                  position: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(rows matching the search in all, the page of them)."""
    if by not in GROUPINGS:
        raise InvalidInput(f"group_by must be one of {sorted(GROUPINGS)}", field="group_by")
    axis, moment, last = axis_of(known), micros_of(at), LAST if position is None else position
    with store.read() as cur:
        if by == "commune" and page.sort != "name" and page.limit is not None:
            total, chosen = _ranked_communes(cur, incident_id, axis, moment, within, last, page)
        else:
            groups = _groups(sums(cur, incident_id, axis, moment, _level(by, within), within, last), incident_id, by)
            rows = _sorted([_row(by, g) for g in groups.values()], by, page)
            total, chosen = len(rows), rows[page.offset:None if page.limit is None else page.offset + page.limit]
        for row in chosen:
            _percentiles(cur, row, by, axis, moment, within, last)
    return total, chosen


def _case_sum(name: str, households: bool = False) -> str:
    return f"SUM(CASE WHEN support_type {'=' if households else '<>'} '{HOUSEHOLD}' THEN {name} ELSE 0 END)"


# A commune's sums, its cases' and its households' apart, from the rows of level 2; and how a page orders them.
_COMMUNE_SUMS = ", ".join([*(f"CAST({_case_sum(n)} AS BIGINT)" for n in FIELDS),
                           *(f"CAST({_case_sum(n, True)} AS BIGINT)" for n in FIELDS)])
_DUE_OR_DONE = f"({_case_sum('on_time')} + {_case_sum('late')} + {_case_sum('overdue')})"
_TIMELY = (f"CASE WHEN {_DUE_OR_DONE} = 0 THEN 1 ELSE 0 END, "
           f"CASE WHEN {_DUE_OR_DONE} = 0 THEN 0 ELSE 1.0 * {_case_sum('on_time')} / {_DUE_OR_DONE} END")
_RANKED = {"code": "province_code, commune_code",
           "gap": f"{_TIMELY}, {_case_sum('overdue')} DESC, province_code, commune_code",
           "overdue": f"{_case_sum('overdue')} DESC, {_TIMELY}, province_code, commune_code"}


def _ranked_communes(cur: Cursor, incident_id: str, axis: int, at: int, within: Areas, position: int,
                     page: Page) -> tuple[int, list[dict[str, Any]]]:
    """One page of commune rows, summed, ordered and cut by the database: a
    request reads the page, not every commune of the incident."""
    number = checkpoints.incident_number(cur, incident_id)
    where, params = within.sql()
    if page.search:
        matched, pattern = _communes_named(page.search), f"%{page.search}%"
        where += (f" AND (commune_code LIKE ? OR province_code LIKE ? "
                  f"OR commune_code IN ({placeholders(len(matched)) or 'NULL'}))")
        params += [pattern, pattern, *matched]
    found = [] if number is None else checkpoints.parts(cur, number, axis, 2, at, position, where, params)
    if not found:
        return 0, []
    sql, values = checkpoints.union(found)
    rows = cur.execute(
        f"SELECT province_code, commune_code, {_COMMUNE_SUMS}, COUNT(*) OVER () FROM ({sql}) u "
        f"GROUP BY province_code, commune_code HAVING {_case_sum('n')} + {_case_sum('rejected')} > 0 "
        f"ORDER BY {_RANKED[page.sort]} LIMIT ? OFFSET ?", [*values, page.limit, page.offset]).fetchall()
    width = len(FIELDS)
    groups = [_Group((incident_id, r[0], r[1]), list(r[2:2 + width]), list(r[2 + width:2 + 2 * width]))
              for r in rows]
    total = int(rows[0][-1]) if rows else _count_communes(cur, sql, values)
    return total, [_row("commune", g) for g in groups]


def _count_communes(cur: Cursor, sql: str, values: list[Any]) -> int:
    """How many communes there are when the page asked for lies past the last."""
    found = cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM ({sql}) u GROUP BY province_code, commune_code "
                        f"HAVING {_case_sum('n')} + {_case_sum('rejected')} > 0) c", values).fetchone()
    return int(found[0]) if found else 0


def _communes_named(text: str) -> list[str]:
    """Codes of the official communes or provinces whose name contains `text` (any case)."""
    needle = text.casefold()
    provinces = {code for code, name in official_provinces().items() if needle in name.casefold()}
    return sorted(code for province in official_provinces() for code in communes_of(province)
                  if province in provinces or needle in (commune_name(code) or "").casefold())


def series(store: ViewStore, incident_id: str, moments: Sequence[datetime], known: str = "now",
           within: Areas = EVERYWHERE) -> list[dict[str, Any] | None]:
    """The incident's coverage totals at each moment (no percentiles): the trend."""
    axis, level = axis_of(known), _level("incident", within)
    found: list[dict[str, Any] | None] = []
    with store.read() as cur:
        for moment in moments:
            groups = _groups(sums(cur, incident_id, axis, micros_of(moment), level, within), incident_id,
                             "incident")
            found.append(_row("incident", groups[(incident_id,)]) if groups else None)
    return found


OVERDUE_COLUMNS = ("household_id", "head_name", "incident_id", "province_code", "commune_code", "support_type",
                   "members", "need_at", "due_at", "amount_vnd", "quantity", "unit", "delivered_vnd",
                   "delivered_quantity")
After = tuple[int, str, str]  # (due at µs, household id, support type): the last case of a page


def overdue(store: ViewStore, at: datetime, filters: Filters = Filters(), limit: int = 100, offset: int = 0,
            known: str = "now", within: Areas = EVERYWHERE, after: After | None = None,
            position: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Cases past their deadline at `at` and not delivered in full, oldest
    deadline first: (how many in all, one page of them). A page starts
    `offset` rows after the case `after` (the last one of the page before)."""
    if filters.incident_id is None:
        raise InvalidInput("name the incident", field="incident_id")
    axis, moment, last = axis_of(known), micros_of(at), LAST if position is None else position
    where, params = filters.sql()
    area_where, area_params = within.sql()
    holds, holds_params = _stabbing(axis, moment, last)
    keyset = " AND (due_at, household_id, support_type) > (?, ?, ?)" if after is not None else ""
    query = (f"SELECT {', '.join(OVERDUE_COLUMNS)} FROM cov_overdue WHERE due_at < ?{where}{area_where} "
             f"AND {holds}{keyset} ORDER BY due_at, household_id, support_type LIMIT ? OFFSET ?")
    with store.read() as cur:
        rows = cur.execute(query, [moment, *params, *area_params, *holds_params, *(after or ()), limit,
                                   offset]).fetchall()
        total = _overdue_total(cur, filters, axis, moment, within, last)
    return total, [_overdue_row(dict(zip(OVERDUE_COLUMNS, r)), moment) for r in rows]


def _overdue_total(cur: Cursor, filters: Filters, axis: int, at: int, within: Areas, position: int) -> int:
    """How many cases are overdue, from the sums: the narrowest areas named decide the level."""
    assert filters.incident_id is not None
    narrowed = Areas(
        frozenset({filters.province_code}) & (within.provinces or {filters.province_code})
        if filters.province_code else within.provinces,
        frozenset({filters.commune_code}) & (within.communes or {filters.commune_code})
        if filters.commune_code else within.communes)
    by = "support_type" if filters.support_type else "incident"
    level = _level(by, narrowed, support_filter=filters.support_type is not None)
    return sum(vector[_OVERDUE] for _, _, support_type, vector in sums(cur, filters.incident_id, axis, at, level,
                                                                        narrowed, position)
               if support_type != HOUSEHOLD and (filters.support_type is None or support_type == filters.support_type))


def _overdue_row(row: dict[str, Any], at: int) -> dict[str, Any]:
    owed_vnd, owed_quantity = row["amount_vnd"], row["quantity"]
    row["owed_vnd"] = None if owed_vnd is None else max(owed_vnd - row["delivered_vnd"], 0)
    row["owed_quantity"] = None if owed_quantity is None else max(owed_quantity - row["delivered_quantity"], 0)
    row["overdue_hours"] = round((at - row["due_at"]) / HOUR_US, 2)
    row["cursor"] = f"{row['due_at']}.{row['household_id']}.{row['support_type']}"
    row["need_at"], row["due_at"] = iso(row["need_at"]), iso(row["due_at"])
    return row
