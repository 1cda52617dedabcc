"""Standard exports for the humanitarian ecosystem, streamed line by line.

- `hxl_incidents`, `hxl_communes`: CSV with an HXL hashtag row under the
  header (https://hxlstandard.org): damage and timely coverage per incident,
  and per commune of one incident.
- `sendai`: Sendai Framework indicators of one incident, in total and per
  province: A-2 deaths, A-3 missing, B-2 injured, B-3 people whose dwellings
  were damaged, B-4 people whose dwellings were destroyed.
- `view_export` dispatches these and a campaign's IATI file
  (`projections.export_iati`) by name, for the CLI and the HTTP routes.

Sources: the damage rows (`projections.export_damage`: each household's
current assessment, as now known) and the case rows (`projections.cases`,
evaluated at `at` as coverage is). Sendai counts people as the members of
each household whose house is damaged or destroyed (houses × household
size, with each household's own size). Circular 43/2015 damage levels map as:
"total" (> 70% destroyed, collapsed, washed away) → destroyed (B-4);
"very_heavy" (50-70%), "heavy" (30-50%), "partial" (< 30%) → damaged (B-3);
"none" → neither.

Areas carry their official names beside their codes (`#adm1+name`,
`#adm2+name`, from `emergency.areas`); a code the current list no longer has
leaves its name empty. Every function yields text lines ending in a newline,
so the CLI and the HTTP routes can stream them as they come.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

from emergency import areas
from emergency.errors import InvalidInput, NotFound
from projections.coverage import coverage
from projections.duplicates import not_merged
from projections.export_iati import iati_xml
from projections.rows import iso, to_micros
from projections.store import ViewStore

DAMAGED = ("partial", "heavy", "very_heavy")
DESTROYED = ("total",)

# (column, HXL hashtag) of the figures shared by incident and commune rows.
FIGURE_COLUMNS = (
    ("households_affected", "#affected+households"), ("persons_affected", "#affected+ind"),
    ("killed", "#affected+killed"), ("missing", "#affected+missing"), ("injured", "#affected+injured"),
    ("houses_damaged", "#affected+houses+damaged"), ("houses_destroyed", "#affected+houses+destroyed"),
    ("households_evacuated", "#affected+households+evacuated"),
    ("households_in_need", "#affected+inneed+households"), ("persons_in_need", "#affected+inneed+ind"),
    ("households_reached", "#reached+households"), ("persons_reached", "#reached+ind"),
    ("entitlements", "#indicator+entitlements+num"), ("disbursed_on_time", "#indicator+ontime+num"),
    ("late", "#indicator+late+num"), ("overdue", "#indicator+overdue+num"),
    ("timely_pct", "#indicator+timely+pct"), ("entitled_vnd", "#value+entitled+vnd"),
    ("disbursed_vnd", "#value+disbursed+vnd"), ("date_reported", "#date+reported"),
)
COMMUNE_COLUMNS = (("incident_id", "#event+id"), ("province_code", "#adm1+code"), ("province_name", "#adm1+name"),
                   ("commune_code", "#adm2+code"), ("commune_name", "#adm2+name"), *FIGURE_COLUMNS)
INCIDENT_COLUMNS = (("incident_id", "#event+id"), ("title", "#event+name"), ("incident_type", "#event+type"),
                    ("started_at", "#date+start"), ("closed_at", "#date+end"), ("province_codes", "#adm1+code+list"),
                    ("province_names", "#adm1+name+list"), *FIGURE_COLUMNS)
SENDAI_COLUMNS = (("incident_id", "#event+id"), ("indicator", "#indicator+code"), ("name", "#indicator+name"),
                  ("province_code", "#adm1+code"), ("province_name", "#adm1+name"), ("value", "#indicator+value+num"),
                  ("date_reported", "#date+reported"))
SENDAI_INDICATORS = (
    ("A-2", "Number of deaths", "killed"),
    ("A-3", "Number of missing persons", "missing"),
    ("B-2", "Number of injured or ill people", "injured"),
    ("B-3", "Number of people whose damaged dwellings were attributed to disasters", "people_damaged_dwellings"),
    ("B-4", "Number of people whose destroyed dwellings were attributed to disasters", "people_destroyed_dwellings"),
)
COVERAGE_FIGURES = ("households_in_need", "persons_in_need", "entitlements", "disbursed_on_time", "late",
                    "overdue", "timely_pct", "entitled_vnd", "disbursed_vnd")


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
              hashtags: Sequence[str] | None = None) -> Iterator[str]:
    """CSV text, one line at a time: header, optional HXL hashtag row, rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Iterable[Any]) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(columns)
    if hashtags is not None:
        yield line(hashtags)
    for row in rows:
        yield line("" if row.get(c) is None else row[c] for c in columns)


def _hxl(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    return csv_lines([c for c, _ in columns], rows, [t for _, t in columns])


def _grouped(by: Sequence[str], alias: str = "") -> tuple[str, str]:
    """(select prefix, GROUP BY clause) for grouping by columns `by` (none: one total row)."""
    columns = ", ".join(f"{alias}{c}" for c in by)
    return (f"{columns}, ", f" GROUP BY {columns}") if by else ("", "")


def _damage(store: ViewStore, incident_id: str, by: Sequence[str]) -> dict[tuple[str, ...], dict[str, int]]:
    damaged, destroyed = (", ".join(f"'{level}'" for level in levels) for levels in (DAMAGED, DESTROYED))
    select, group = _grouped(by)
    names = ("households_affected", "persons_affected", "killed", "missing", "injured", "houses_damaged",
             "houses_destroyed", "households_evacuated", "people_damaged_dwellings", "people_destroyed_dwellings")
    query = f"""SELECT {select}COUNT(*), SUM(members), SUM(dead), SUM(missing), SUM(injured),
        SUM(CASE WHEN house_damage IN ({damaged}) THEN 1 ELSE 0 END),
        SUM(CASE WHEN house_damage IN ({destroyed}) THEN 1 ELSE 0 END), SUM(evacuated),
        SUM(CASE WHEN house_damage IN ({damaged}) THEN members ELSE 0 END),
        SUM(CASE WHEN house_damage IN ({destroyed}) THEN members ELSE 0 END)
        FROM damage_households WHERE incident_id = ? AND assessment_id IS NOT NULL
        AND {not_merged("damage_households.household_id")}{group}"""
    with store.read() as cur:
        rows = cur.execute(query, (incident_id,)).fetchall()
    width = len(by)
    return {tuple(r[:width]): dict(zip(names, (int(v or 0) for v in r[width:]))) for r in rows}


def _reached(store: ViewStore, incident_id: str, at: datetime,
             by: Sequence[str]) -> dict[tuple[str, ...], dict[str, int]]:
    """Households (and their people) that received at least one delivery by `at`."""
    select, group = _grouped(by, "h.")
    query = f"""SELECT {select}COUNT(*), SUM(h.members) FROM case_households h
        WHERE h.incident_id = ? AND {not_merged("h.household_id")}
        AND EXISTS (SELECT 1 FROM case_deliveries d WHERE d.household_id = h.household_id
            AND d.voided = 0 AND d.delivered_at <= {to_micros(at)}){group}"""
    with store.read() as cur:
        rows = cur.execute(query, (incident_id,)).fetchall()
    width = len(by)
    return {tuple(r[:width]): {"households_reached": int(r[width] or 0), "persons_reached": int(r[width + 1] or 0)}
            for r in rows}


def _figures(store: ViewStore, incident_id: str, at: datetime, by: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Damage, reach and coverage of one incident at `at`, keyed by () or (province[, commune])."""
    keys = {"incident": (), "province": ("province_code",), "commune": ("province_code", "commune_code")}[by]
    covered = {tuple(str(r[k]) for k in keys): r for r in coverage(store, incident_id, at, by)}
    damage = _damage(store, incident_id, keys)
    reached = _reached(store, incident_id, at, keys)
    found = {}
    for key in sorted(set(covered) | set(damage) | set(reached)):
        row: dict[str, Any] = {c: 0 for c, _ in FIGURE_COLUMNS}
        row.update(incident_id=incident_id, timely_pct=None, date_reported=at.isoformat(), **dict(zip(keys, key)))
        row.update({name: covered[key][name] for name in COVERAGE_FIGURES} if key in covered else {})
        row.update(damage.get(key, {}))
        row.update(reached.get(key, {}))
        found[key] = row
    return found


def commune_rows(store: ViewStore, incident_id: str, at: datetime) -> Iterator[dict[str, Any]]:
    for row in _figures(store, incident_id, at, "commune").values():
        yield dict(row, province_name=areas.province_name(row["province_code"]),
                   commune_name=areas.commune_name(row["commune_code"]))


def hxl_communes(store: ViewStore, incident_id: str, at: datetime) -> Iterator[str]:
    """Damage and timely coverage per commune of one incident, with HXL hashtags."""
    return _hxl(COMMUNE_COLUMNS, commune_rows(store, incident_id, at))


def incident_rows(store: ViewStore, at: datetime) -> Iterator[dict[str, Any]]:
    with store.read() as cur:
        incidents = cur.execute("SELECT incident_id, title, incident_type, started_at, closed_at "
                                "FROM case_incidents ORDER BY started_at, incident_id").fetchall()
    for incident_id, title, incident_type, started_at, closed_at in incidents:
        totals = _figures(store, incident_id, at, "incident")[()]
        with store.read() as cur:
            provinces = cur.execute("SELECT DISTINCT province_code FROM case_households WHERE incident_id = ? "
                                    "ORDER BY province_code", (incident_id,)).fetchall()
        yield {**totals, "title": title, "incident_type": incident_type, "started_at": iso(started_at),
               "closed_at": iso(closed_at), "province_codes": " ".join(p[0] for p in provinces),
               "province_names": "; ".join(areas.province_name(p[0]) or p[0] for p in provinces)}


def hxl_incidents(store: ViewStore, at: datetime) -> Iterator[str]:
    """One row per incident: damage and timely coverage, with HXL hashtags."""
    return _hxl(INCIDENT_COLUMNS, incident_rows(store, at))


def sendai_rows(store: ViewStore, incident_id: str, at: datetime) -> Iterator[dict[str, Any]]:
    total = _damage(store, incident_id, ())[()]
    provinces = _damage(store, incident_id, ("province_code",))
    for code, name, figure in SENDAI_INDICATORS:
        for province, values in [("", total), *((p[0], v) for p, v in sorted(provinces.items()))]:
            yield {"incident_id": incident_id, "indicator": code, "name": name, "province_code": province,
                   "province_name": areas.province_name(province), "value": values[figure],
                   "date_reported": at.isoformat()}


def sendai(store: ViewStore, incident_id: str, at: datetime) -> Iterator[str]:
    """Sendai Framework indicators A-2, A-3, B-2, B-3, B-4 of one incident, in total and per province."""
    return _hxl(SENDAI_COLUMNS, sendai_rows(store, incident_id, at))



def _known_incident(store: ViewStore, incident_id: str | None) -> str:
    if incident_id is None:
        raise InvalidInput("this export is of one incident: name it", field="incident_id", code="missing_incident")
    with store.read() as cur:
        found = cur.execute("SELECT 1 FROM case_incidents WHERE incident_id = ?", (incident_id,)).fetchone()
    if found is None:
        raise NotFound(f"no incident with id {incident_id}", field="incident_id")
    return incident_id


# Exports read from the view store: name -> what it is.
VIEW_EXPORTS = {
    "hxl-incidents": "incidents with damage and timely coverage (CSV + HXL)",
    "hxl-communes": "damage and timely coverage per commune of one incident (CSV + HXL)",
    "sendai": "Sendai Framework A-2, A-3, B-2, B-3, B-4 of one incident (CSV + HXL)",
    "iati": "a campaign's incoming funds, commitments, disbursements and expenditure (IATI-style XML)",
}


def view_export(kind: str, store: ViewStore, at: datetime, incident_id: str | None = None,
                campaign_id: str | None = None) -> Iterator[str]:
    """The lines of export `kind`; bad input is refused before the first line."""
    if kind == "hxl-incidents":
        return hxl_incidents(store, at)
    if kind == "iati":
        return iati_xml(store, campaign_id, at)
    incident_id = _known_incident(store, incident_id)
    if kind == "hxl-communes":
        return hxl_communes(store, incident_id, at)
    if kind == "sendai":
        return sendai(store, incident_id, at)
    raise InvalidInput(f"unknown export {kind!r}; one of {sorted(VIEW_EXPORTS)}", field="kind")
