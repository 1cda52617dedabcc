"""Reading at disaster scale: coverage, the overdue list, time travel, the
trend and the public incident, against a store of one typhoon.

    python bench/read_scale.py [--households 400000] [--stores sqlite,postgres] [--repeat 20]

Set-up (not timed; cached in var/bench/read-scale-<N>/ between runs): a
synthetic typhoon of N households in one incident over the 34 provinces
(`emergency.scenario`: registered, assessed, some synced late, decided,
paid, some late), mistakes found afterwards (voided and restated payments,
corrected household sizes, re-assessments, amounts adjusted after the
fact), and a relief campaign whose central fund imports a bank statement of
N lines (`emergency.campaign_scenario`). Played once through the service
into SQLite and projected; PostgreSQL gets a copy of the same events, then
its own projections.

Measured, on each store, against `emergency serve` as a subprocess: each
request `--repeat` times (p50, p99), the server's resident memory before
and after; every "past" request asks a moment never asked before, the
others are asked once first (a running server has its pages warm). Beside
them, in the same run: `GET /healthz` (the server's own floor: one HTTP
round trip and one store call) and a single indexed row read straight from
the view store. Writes bench/results/read_scale_<store>.json, one file per
store, so a run of one store keeps the other's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from uuid import UUID

from common import ROOT, WORK, Server, latency_summary, postgres_base, print_table, schema_url, write_results
from psycopg import sql
from tqdm import tqdm

from emergency import clock  # noqa: E402
from emergency.application import AidApplication  # noqa: E402
from emergency.campaign_scenario import CampaignConfig, run_campaign  # noqa: E402
from emergency.commands import AssessDamage, Command, CorrectDisbursement, CorrectHousehold, Meta, RecordDecision  # noqa: E402
from emergency.errors import AidError  # noqa: E402
from emergency.scenario import ScenarioConfig, run_scenario  # noqa: E402
from emergency.service import AidService, Submission  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service, connect_postgres, event_store_env  # noqa: E402
from projections.catalog import open_views  # noqa: E402
from projections.runner import EmbeddedRunner  # noqa: E402

UNTIL = datetime(2024, 9, 16, 10, 0, tzinfo=timezone.utc)
STARTED = UNTIL - timedelta(days=9)
CORRECTED_AT = UNTIL + timedelta(hours=2)
TARGETS = {"coverage_now_p50_ms": 100, "coverage_now_p99_ms": 200, "overdue_ms": 100, "past_ms": 300,
           "past_memory_growth_mib": 100, "series_24_ms": 500, "public_incident_ms": 200}


# ----- the store (made once) -----------------------------------------------------


def _corrections(service: AidService, incident_id: str, households: int) -> int:
    """Mistakes found after the fact, about one household in 200 each."""
    rng = random.Random(11)
    sample = max(households // 200, 10)
    log = _household_events(service, incident_id)
    paid = [e for e in log if e.type == "Disbursed"]
    approved = [e for e in log if e.type == "Decided" and e.data["decision"]["decision"] == "approve"
                and e.data["decision"]["support_type"] in ("BURIAL", "INJURED", "HOUSE_REPAIR", "HOUSE_REBUILD")]
    cases = sorted({e.aggregate_id for e in log if e.type == "EntitlementDetermined"})
    commands: list[Command] = []
    for e in rng.sample(paid, min(sample, len(paid))):
        d = e.data["disbursement"]
        restate = bool(d.get("amount_vnd")) and rng.random() < 0.5
        commands.append(CorrectDisbursement(
            household_id=UUID(e.aggregate_id), disbursement_id=UUID(d["disbursement_id"]), void=not restate,
            amount_vnd=d["amount_vnd"] // 2 if restate else None, reason="sai sót"))
    for household in rng.sample(cases, min(sample, len(cases))):
        commands.append(CorrectHousehold(household_id=UUID(household), members=rng.randint(1, 9),
                                           reason="đếm lại nhân khẩu"))
    for household in rng.sample(cases, min(sample, len(cases))):
        commands.append(AssessDamage(household_id=UUID(household), assessed_at=CORRECTED_AT - timedelta(hours=1),
                                       house_damage=rng.choice(("none", "heavy", "total")), persons_short_of_food=1))
    for e in rng.sample(approved, min(sample, len(approved))):
        commands.append(RecordDecision(
            household_id=UUID(e.aggregate_id), support_type=e.data["decision"]["support_type"], decision="adjust",
            amount_vnd=45_000_000, reason="điều chỉnh theo thực tế", decided_by="Chủ tịch UBND xã",
            decided_at=CORRECTED_AT - timedelta(minutes=30)))
    meta = Meta(actor="bench", source="demo")
    with clock.frozen_at(CORRECTED_AT):
        outcomes = [o for start in range(0, len(commands), 500)
                    for o in service.execute_batch([Submission(x, meta) for x in commands[start:start + 500]])]
    return sum(not isinstance(o, AidError) for o in outcomes)


def _household_events(service: AidService, incident_id: str) -> Iterator[Any]:
    after = 0
    while page := service.log(after, 10_000):
        for envelope in page:
            if envelope.aggregate_type == "HouseholdCase":
                yield envelope
        after = page[-1].notification_id or after


def sqlite_store(households: int) -> tuple[Path, str]:
    """(folder, incident id) of the cached SQLite store of `households` households."""
    folder = WORK / f"read-scale-{households}"
    done = folder / "incident.json"
    if done.exists():
        return folder, json.loads(done.read_text())["incident_id"]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.sqlite*"):
        old.unlink()
    service = build_service(_settings(folder))
    try:
        with tqdm(total=households * 6, unit=" commands", desc=f"playing a typhoon of {households:,} households "
                                                                 "(once)") as bar:
            report = run_scenario(service, ScenarioConfig(households=households, provinces=34,
                                                          communes_per_province=100, started_at=STARTED,
                                                          until=UNTIL, batch_size=1000), progress=bar.update)
        incident_id = str(report.incident_id)
        print(f"corrections after the fact: {_corrections(service, incident_id, households)} recorded", flush=True)
        with tqdm(total=households, unit=" lines", desc="the relief campaign's statement (once)") as bar:
            run_campaign(service, CampaignConfig(statement=folder / "statement.csv", contributions=households),
                         progress=bar.update)
        _project(service, _settings(folder))
    finally:
        service.app.close()
    done.write_text(json.dumps({"incident_id": incident_id, "households": households}))
    return folder, incident_id


def _settings(folder: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{folder}/events.sqlite")


def _project(service: AidService, settings: Settings) -> None:
    """Bring the store's views to its head (all of them the first time; a
    projection whose version changed since is rebuilt)."""
    views = open_views(settings)
    try:
        head = service.last_notification_id() or 0
        with tqdm(total=head - views.position, unit=" events", desc="projecting") as bar:
            EmbeddedRunner(service.app.recorder, views, batch_size=5000).catch_up(progress=bar.update)
    finally:
        views.store.close()


def postgres_store(folder: Path, households: int) -> str:
    """The URL of a PostgreSQL schema holding a copy of the SQLite store's
    events and its own projections (made once; kept between runs)."""
    base = postgres_base()
    if not base:
        raise SystemExit("PostgreSQL: set EMERGENCY_TEST_POSTGRES_URL (eval \"$(infra/postgres.sh)\")")
    schema = f"bench_read_scale_{households}"
    url = schema_url(base, schema)
    marker = folder / "postgres.json"
    if marker.exists() and json.loads(marker.read_text()).get("schema") == schema and _schema_exists(base, schema):
        return url
    with connect_postgres(base) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    AidApplication(env=event_store_env(url)).close()  # the store's tables
    source = sqlite3.connect(folder / "events.sqlite")
    total = source.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    with connect_postgres(base) as conn, tqdm(total=total, unit=" events", desc="copying to PostgreSQL (once)") as bar:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        with conn.cursor().copy("COPY emergency_events (originator_id, originator_version, topic, state) "
                                "FROM STDIN") as copy:
            for row in source.execute("SELECT originator_id, originator_version, topic, state FROM stored_events "
                                      "ORDER BY rowid"):
                copy.write_row((UUID(row[0]), row[1], row[2], row[3]))
                bar.update()
    source.close()
    service = build_service(Settings(database_url=url))
    try:
        _project(service, Settings(database_url=url))
    finally:
        service.app.close()
    with connect_postgres(base) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    marker.write_text(json.dumps({"schema": schema}))
    return url


def _schema_exists(base: str, schema: str) -> bool:
    with connect_postgres(base) as conn:
        return conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                            (schema,)).fetchone() is not None


# ----- measuring -----------------------------------------------------------------


class Client:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def get(self, path: str) -> tuple[float, Any]:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            body = response.read()
        return time.perf_counter() - started, json.loads(body)


def _token(url: str) -> str:
    found = subprocess.run([sys.executable, "-m", "infra.cli", "token", "create", "--role", "coordinator", "--name",
                            "bench"], cwd=ROOT, env=dict(os.environ, EMERGENCY_DATABASE_URL=url), check=True,
                           capture_output=True, text=True)
    return found.stdout.strip().splitlines()[-1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _moment(name: str, index: int) -> str:
    """A moment in the incident's first eight days, never the same for two requests of a run."""
    rng = random.Random(f"{name}:{index}")
    return urllib.parse.quote((STARTED + timedelta(microseconds=rng.randrange(8 * 86_400 * 10**6))).isoformat(),
                              safe="")


def requests(incident: str, sample: dict[str, str]) -> dict[str, Callable[[int], str]]:
    """What is measured: a name and the path of its i-th request."""
    base = f"/incidents/{incident}"
    found: dict[str, Callable[[int], str]] = {
        f"coverage now by {by}": (lambda by: lambda i: f"{base}/coverage?group_by={by}")(by)
        for by in ("incident", "province", "commune", "support_type")}
    found.update({
        "coverage by commune, widest gap, page of 50": lambda i: f"{base}/coverage?group_by=commune&sort=gap&limit=50",
        "overdue, first page": lambda i: f"{base}/overdue?limit=50&known=now",
        "overdue, page 200 (offset 9,950)": lambda i: f"{base}/overdue?limit=50&offset=9950&known=now",
        "overdue, one province": lambda i: f"{base}/overdue?limit=50&known=now&province={sample['province']}",
        "overdue, one commune and support": lambda i: (f"{base}/overdue?limit=50&known=now&commune="
                                                       f"{sample['commune']}&support_type={sample['support_type']}"),
        "overdue, one support type": lambda i: f"{base}/overdue?limit=50&known=now&support_type={sample['support_type']}",
    })
    for known in ("then", "now"):
        for by in ("province", "commune"):
            name = f"past, known={known}, coverage by {by}"
            found[name] = (lambda known, by, name: lambda i: (
                f"{base}/coverage?group_by={by}&known={known}&as_of={_moment(name, i)}"))(known, by, name)
        name = f"past, known={known}, overdue first page"
        found[name] = (lambda known, name: lambda i: (
            f"{base}/overdue?limit=50&known={known}&as_of={_moment(name, i)}"))(known, name)
    found["series of 24 points, known=now"] = lambda i: f"{base}/coverage/series?points=24&known=now"
    found["series of 24 points, known=then"] = lambda i: f"{base}/coverage/series?points=24&known=then"
    found["series of 96 points, known=now"] = lambda i: f"{base}/coverage/series?points=96&known=now"
    found["public incident"] = lambda i: f"/public/incidents/{incident}"
    found["healthz (the server's floor)"] = lambda i: "/healthz"
    return found


def _sample(client: Client, incident: str) -> dict[str, str]:
    _, page = client.get(f"/incidents/{incident}/overdue?limit=1&known=now")
    case = page["cases"][0]
    return {"province": case["province_code"], "commune": case["commune_code"], "support_type": case["support_type"]}


def _raw_row_read(views_url: str, household_id: str) -> float:
    """Seconds for one indexed row read straight from the view store (the store's own floor)."""
    from projections.store import open_view_store

    store = open_view_store(views_url)
    try:
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            with store.read() as cur:
                cur.execute("SELECT facts FROM cov_households WHERE household_id = ?", (household_id,)).fetchone()
            timings.append(time.perf_counter() - started)
        return sorted(timings)[len(timings) // 2]
    finally:
        store.close()


def measure(kind: str, url: str, incident: str, repeat: int, households: int) -> list[dict[str, Any]]:
    token = _token(url)
    server = Server(url, WORK / f"read-scale-{kind}.log")
    rows: list[dict[str, Any]] = []
    try:
        client = Client(server.base, token)
        sample = _sample(client, incident)
        _, first_case = client.get(f"/incidents/{incident}/overdue?limit=1&known=now")
        raw = _raw_row_read(Settings(database_url=url).views_url(), first_case["cases"][0]["household_id"])
        for name, path in requests(incident, sample).items():
            if not name.startswith("past"):  # a running server has read these before; a past moment never
                client.get(path(repeat))
            before = _rss_mib(server.process.pid)
            timings = [client.get(path(i))[0] for i in range(repeat)]
            after = _rss_mib(server.process.pid)
            rows.append({"store": kind, "households": households, "request": name, **latency_summary(timings),
                         "rss_before_mib": before, "rss_growth_mib": round(after - before, 1),
                         "raw_row_read_ms": round(raw * 1000, 3)})
            print_table(f"{kind}, {households:,} households", rows[-1:],
                        ("request", "p50_ms", "p99_ms", "max_ms", "rss_growth_mib", "raw_row_read_ms"))
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, action="append", help="default: 40,000 and 400,000")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--build-only", action="store_true", help="make the cached stores, measure nothing")
    args = parser.parse_args()
    results = []
    for households in args.households or [40_000, 400_000]:
        folder, incident = sqlite_store(households)
        for kind in args.stores.split(","):
            url = f"sqlite:///{folder}/events.sqlite" if kind == "sqlite" else postgres_store(folder, households)
            service = build_service(Settings(database_url=url))
            try:
                _project(service, Settings(database_url=url))
            finally:
                service.app.close()
            if not args.build_only:
                results += measure(kind, url, incident, args.repeat, households)
    if args.build_only:
        return
    print_table("reading at disaster scale", results,
                ("store", "households", "request", "p50_ms", "p99_ms", "rss_growth_mib", "raw_row_read_ms"))
    for kind in args.stores.split(","):
        write_results(f"read_scale_{kind}", {"households": args.households or [40_000, 400_000],
                                             "repeat": args.repeat, "store": kind},
                      [row for row in results if row["store"] == kind], TARGETS)


if __name__ == "__main__":
    main()
