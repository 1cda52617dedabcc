"""Sums of the coverage deltas up to any moment, in a few rows per group.

The coverage projection records each change of the counts as a delta at the
moment it takes effect (`cov_deltas`). Coverage at a moment X is the sum of
the deltas up to X, kept readable in a few rows per group thus:

- **Checkpoints** (`cov_checkpoints`): at aligned moments, the sum of every
  delta before it, one row per group of a level (incident by support type,
  province by support type, commune). The sum up to X is the last
  checkpoint at or before X plus the single deltas since. Checkpoints are
  made as the log's clock passes interval ends (five minutes, half an hour,
  an hour by level), at the first end after `SPACING` deltas and at the last
  end a batch's clock passed: a reader sums at most `SPACING` deltas plus
  one interval's, and there are far fewer checkpoint rows than deltas. A
  delta that arrives late (a field team syncing after a day offline) is
  added to every checkpoint after its moment.
- **Totals** (`cov_totals`): every delta summed, for any moment after the
  last delta (`cov_reach`): long after an incident, "now" is one row per
  group.

Incidents are numbered (`cov_incidents`) to keep these keys short.
"""

from __future__ import annotations

from typing import Any, Sequence

from projections.store import Cursor
from projections.timeline import FIELDS, HOUSEHOLD

MINUTE = 60_000_000  # µs
# Deltas between checkpoints (plus one interval's): what a reader sums beyond a checkpoint at most.
SPACING = 1000
ALL_TYPES = ""  # level 2's support type for the case counts of every type
# How a level keys a delta of table `{t}` (province, commune, support type), and how far apart its checkpoints are.
LEVELS: dict[int, tuple[tuple[str, str, str], int]] = {
    0: (("''", "''", "{t}support_type"), 5 * MINUTE),
    1: (("{t}province_code", "''", "{t}support_type"), 30 * MINUTE),
    2: (("{t}province_code", "{t}commune_code",
         f"CASE WHEN {{t}}support_type = '{HOUSEHOLD}' THEN '{HOUSEHOLD}' ELSE '{ALL_TYPES}' END"), 60 * MINUTE),
}
DETAIL = 3  # no checkpoints: the deltas themselves, for a scope of a few communes
DETAIL_KEYS = ("province_code", "commune_code", "support_type")
DELTA_COLUMNS = ("incident_no", "axis", "t", "known_id", "province_code", "commune_code", "support_type", *FIELDS)
KEY = ("incident_no", "axis", "level", "province_code", "commune_code", "support_type")
CHECKPOINT_COLUMNS = (*KEY[:3], "at", *KEY[3:], *FIELDS)
METRICS = ", ".join(FIELDS)
TOTALS = ", ".join(f"SUM({name})" for name in FIELDS)
# Read back as integers on both databases (PostgreSQL sums BIGINT as NUMERIC).
READ_TOTALS = ", ".join(f"CAST(SUM({name}) AS BIGINT)" for name in FIELDS)
NONZERO = " OR ".join(f"SUM({name}) <> 0" for name in FIELDS)
ADDED = ", ".join(f"{name} = {{table}}.{name} + excluded.{name}" for name in FIELDS)

_metric_columns = ", ".join(f"{name} BIGINT NOT NULL" for name in FIELDS)
_area_columns = "province_code TEXT NOT NULL, commune_code TEXT NOT NULL, support_type TEXT NOT NULL"
DDL = (
    "CREATE TABLE IF NOT EXISTS cov_incidents (incident_id TEXT PRIMARY KEY, incident_no INTEGER NOT NULL UNIQUE)",
    f"""CREATE TABLE IF NOT EXISTS cov_deltas (incident_no INTEGER NOT NULL, axis SMALLINT NOT NULL,
        t BIGINT NOT NULL, known_id BIGINT NOT NULL, {_area_columns}, {_metric_columns})""",
    "CREATE INDEX IF NOT EXISTS cov_deltas_time ON cov_deltas (incident_no, axis, t)",
    "CREATE INDEX IF NOT EXISTS cov_deltas_commune ON cov_deltas (incident_no, axis, commune_code, t)",
    f"""CREATE TABLE IF NOT EXISTS cov_checkpoints (incident_no INTEGER NOT NULL, axis SMALLINT NOT NULL,
        level SMALLINT NOT NULL, at BIGINT NOT NULL, {_area_columns}, {_metric_columns},
        PRIMARY KEY (incident_no, axis, level, at, province_code, commune_code, support_type))""",
    """CREATE TABLE IF NOT EXISTS cov_marks (incident_no INTEGER NOT NULL, axis SMALLINT NOT NULL,
        level SMALLINT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (incident_no, axis, level, at))""",
    f"""CREATE TABLE IF NOT EXISTS cov_totals ({', '.join(f'{k} {t}' for k, t in zip(KEY[:3], (
        'INTEGER NOT NULL', 'SMALLINT NOT NULL', 'SMALLINT NOT NULL')))}, {_area_columns}, {_metric_columns},
        PRIMARY KEY ({', '.join(KEY)}))""",
    """CREATE TABLE IF NOT EXISTS cov_reach (incident_no INTEGER NOT NULL, axis SMALLINT NOT NULL,
        last_t BIGINT NOT NULL, PRIMARY KEY (incident_no, axis))""",
)
TABLES = ("cov_incidents", "cov_deltas", "cov_checkpoints", "cov_marks", "cov_totals", "cov_reach")


def record(cur: Cursor, rows: Sequence[tuple[Any, ...]], clock: int) -> None:
    """Add a batch's deltas (`DELTA_COLUMNS` rows), bring totals and the
    checkpoints before them up to date, and make the checkpoints the log's
    clock has passed."""
    if rows:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS cov_batch (incident_no INTEGER, axis SMALLINT, t BIGINT, "
                    f"known_id BIGINT, province_code TEXT, commune_code TEXT, support_type TEXT, "
                    f"{', '.join(f'{n} BIGINT' for n in FIELDS)})")
        cur.execute("DELETE FROM cov_batch")
        cur.copy_rows("cov_batch", DELTA_COLUMNS, rows)
        cur.execute(f"INSERT INTO cov_deltas ({', '.join(DELTA_COLUMNS)}) SELECT {', '.join(DELTA_COLUMNS)} "
                    "FROM cov_batch")
        cur.execute("INSERT INTO cov_reach (incident_no, axis, last_t) SELECT incident_no, axis, MAX(t) FROM cov_batch "
                    "WHERE true GROUP BY incident_no, axis ON CONFLICT (incident_no, axis) DO UPDATE SET last_t = "
                    "CASE WHEN excluded.last_t > cov_reach.last_t THEN excluded.last_t ELSE cov_reach.last_t END")
        for level in LEVELS:
            _add_totals(cur, level)
            _add_to_checkpoints_after(cur, level)
    _make_checkpoints(cur, clock)


def level_keys(level: int, table: str = "") -> list[str]:
    """The level's key expressions over a delta row (of `table`, if named)."""
    return [key.format(t=f"{table}." if table else "") for key in LEVELS[level][0]]


def _grouped(keys: Sequence[str]) -> str:
    """PostgreSQL groups by no constant."""
    return ", ".join(k for k in keys if k != "''")


def _add_totals(cur: Cursor, level: int) -> None:
    keys = level_keys(level)
    cur.execute(f"INSERT INTO cov_totals ({', '.join(KEY)}, {METRICS}) "
                f"SELECT incident_no, axis, {level}, {', '.join(keys)}, {TOTALS} FROM cov_batch WHERE true "
                f"GROUP BY incident_no, axis, {_grouped(keys)} "
                f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {ADDED.format(table='cov_totals')}")


def _add_to_checkpoints_after(cur: Cursor, level: int) -> None:
    """Deltas before a checkpoint already made (late news) add to it."""
    keys = level_keys(level, "b")
    cur.execute(f"INSERT INTO cov_checkpoints (incident_no, axis, level, at, province_code, commune_code, "
                f"support_type, {METRICS}) "
                f"SELECT b.incident_no, b.axis, {level}, m.at, {', '.join(keys)}, "
                f"{', '.join(f'SUM(b.{n})' for n in FIELDS)} FROM cov_batch b JOIN cov_marks m "
                f"ON m.incident_no = b.incident_no AND m.axis = b.axis AND m.level = {level} AND m.at > b.t "
                f"WHERE true GROUP BY b.incident_no, b.axis, m.at, {_grouped(keys)} "
                f"ON CONFLICT (incident_no, axis, level, at, province_code, commune_code, support_type) "
                f"DO UPDATE SET {ADDED.format(table='cov_checkpoints')}")


def _make_checkpoints(cur: Cursor, clock: int) -> None:
    """For each incident, axis and level: checkpoints at the interval ends
    the clock has passed, each the one before it plus the deltas in between,
    summed here from one read of the deltas since the last, written in bulk."""
    reached = cur.execute("SELECT incident_no, axis, last_t FROM cov_reach").fetchall()
    last = {tuple(row[:3]): row[3] for row in cur.execute(
        "SELECT incident_no, axis, level, MAX(at) FROM cov_marks GROUP BY incident_no, axis, level").fetchall()}
    made: list[tuple[Any, ...]] = []
    marks: list[tuple[int, int, int, int]] = []
    for incident_no, axis, last_t in reached:
        for level, (_, every) in LEVELS.items():
            since = last.get((incident_no, axis, level))
            if since is not None and last_t < since:
                continue  # no delta since its last checkpoint: a long log's past incidents cost no query
            _checkpoints(cur, (incident_no, axis, level), since, clock - clock % every, every, made, marks)
    cur.copy_rows("cov_checkpoints", CHECKPOINT_COLUMNS, made)
    cur.copy_rows("cov_marks", KEY[:3] + ("at",), marks)


def _checkpoints(cur: Cursor, group: tuple[int, int, int], since: int | None, limit: int, every: int,
                 made: list[tuple[Any, ...]], marks: list[tuple[int, int, int, int]]) -> None:
    """The checkpoints of (incident, axis, level) after the one at `since`, up
    to `limit`: at an interval's end once `SPACING` deltas have passed since
    the last checkpoint, and at the last interval end before `limit`. So a
    reader sums at most `SPACING` deltas plus one interval's, and a batch
    leaves no deltas before `limit` to read again."""
    incident_no, axis, level = group
    after = "" if since is None else " AND t >= ?"
    # Summed per interval and key in SQL: far fewer rows reach Python than
    # there are deltas. (Integer division, not `%`: psycopg's placeholder.)
    slots = cur.execute(f"SELECT t / {every} * {every} + {every} AS slot, COUNT(*), {_as_detail(level)}, "
                        f"{READ_TOTALS} FROM cov_deltas WHERE incident_no = ? AND axis = ? AND t < ?{after} "
                        f"GROUP BY slot, {_grouped(level_keys(level))} ORDER BY slot",
                        (incident_no, axis, limit, *([] if since is None else [since]))).fetchall()
    if not slots:
        return
    held: dict[tuple[Any, ...], list[int]] = {}
    if since is not None:
        for row in cur.execute(f"SELECT province_code, commune_code, support_type, {METRICS} FROM cov_checkpoints "
                               "WHERE incident_no = ? AND axis = ? AND level = ? AND at = ?",
                               (*group, since)).fetchall():
            held[tuple(row[:3])] = list(row[3:])
    passed = 0
    for index, row in enumerate(slots):
        at, passed = row[0], passed + row[1]
        sums = held.setdefault(tuple(row[2:5]), [0] * len(FIELDS))
        for position, value in enumerate(row[5:]):
            sums[position] += value
        if index + 1 < len(slots) and (slots[index + 1][0] == at or passed < SPACING):
            continue
        made.extend((*group, at, *key, *sums) for key, sums in held.items() if any(sums))
        marks.append((*group, at))
        passed = 0


def _as_detail(level: int) -> str:
    return ", ".join(f"{k} AS {n}" for k, n in zip(level_keys(level), DETAIL_KEYS))


def incident_number(cur: Cursor, incident_id: str) -> int | None:
    row = cur.execute("SELECT incident_no FROM cov_incidents WHERE incident_id = ?", (incident_id,)).fetchone()
    return int(row[0]) if row else None


Part = tuple[str, list[Any]]  # a SELECT of (province, commune, support type, *FIELDS) rows, and its parameters


def sums(cur: Cursor, incident_no: int, axis: int, level: int, at: int, position: int, where: str = "",
         where_params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """(province, commune, support type, *FIELDS) of `level`, summed over the
    deltas up to `at` inclusive (at `at` itself, those known by notification
    id `position`), within the `where` clause on area columns."""
    found = parts(cur, incident_no, axis, level, at, position, where, where_params)
    return _summed(cur, found) if found else []


def union(found: list[Part]) -> Part:
    """The parts as one subquery's text and parameters: its rows are to be summed per key."""
    return " UNION ALL ".join(sql for sql, _ in found), [p for _, ps in found for p in ps]


def parts(cur: Cursor, incident_no: int, axis: int, level: int, at: int, position: int, where: str = "",
          where_params: Sequence[Any] = ()) -> list[Part]:
    """The rows whose sum per key is `sums`: a checkpoint's and the deltas since, or the totals."""
    if level == DETAIL:
        return [(f"SELECT {', '.join(DETAIL_KEYS)}, {METRICS} FROM cov_deltas WHERE incident_no = ? "
                 f"AND axis = ? AND t <= ? AND (t < ? OR known_id <= ?){where}",
                 [incident_no, axis, at, at, position, *where_params])]
    reach = cur.execute("SELECT last_t FROM cov_reach WHERE incident_no = ? AND axis = ?",
                        (incident_no, axis)).fetchone()
    if reach is None:
        return []
    if reach[0] < at:
        return [(f"SELECT {', '.join(DETAIL_KEYS)}, {METRICS} FROM cov_totals WHERE incident_no = ? "
                 f"AND axis = ? AND level = ?{where}", [incident_no, axis, level, *where_params])]
    mark = cur.execute("SELECT MAX(at) FROM cov_marks WHERE incident_no = ? AND axis = ? AND level = ? AND at <= ?",
                       (incident_no, axis, level, at)).fetchone()
    since = mark[0] if mark and mark[0] is not None else None
    found = [(f"SELECT {_as_detail(level)}, {METRICS} FROM cov_deltas "
              "WHERE incident_no = ? AND axis = ?" + ("" if since is None else " AND t >= ?")
              + f" AND t <= ? AND (t < ? OR known_id <= ?){where}",
              [incident_no, axis, *([] if since is None else [since]), at, at, position, *where_params])]
    if since is not None:
        found.insert(0, (f"SELECT {', '.join(DETAIL_KEYS)}, {METRICS} FROM cov_checkpoints WHERE incident_no = ? "
                         f"AND axis = ? AND level = ? AND at = ?{where}",
                         [incident_no, axis, level, since, *where_params]))
    return found


def _summed(cur: Cursor, found: list[Part]) -> list[tuple[Any, ...]]:
    sql, params = union(found)
    return cur.execute(f"SELECT {', '.join(DETAIL_KEYS)}, {READ_TOTALS} FROM ({sql}) u "
                       f"GROUP BY {', '.join(DETAIL_KEYS)}", params).fetchall()
