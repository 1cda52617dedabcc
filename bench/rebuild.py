"""Rebuild of every projection from a large event log: events/s and peak memory.

    python bench/rebuild.py [--events 10000000] [--batch-size 20000] [--jobs 1 2] [--store sqlite postgres]

Set-up (not timed, cached in var/bench/ between runs): a synthetic typhoon
and relief campaign are played through the service once (the template, about
27,000 events: households registered, assessed, decided, paid, corrected;
bank lines imported, funds allocated and charged); their stored events are
then copied, with every id replaced by a copy-specific one and every time
moved on by the template's span times the copy's number (so the log's clock
runs forward, as a real log's does, and not each copy back over the same
days), until the log holds `--events` events, written straight into the
events table in large transactions (no hash chain: a rebuild reads none).
For PostgreSQL the same log is copied into a schema of its own (kept, like
the SQLite file, for later runs; EMERGENCY_TEST_POSTGRES_URL names the server).

Measured, per store and per `--jobs`: `emergency rebuild` run as a
subprocess on that log into a fresh view store, its events/s and the peak
resident memory (VmHWM) of each of its processes; beside it, in the same
run, eventsourcing's recorder merely reading the same log page by page (the
floor any rebuild pays). Writes bench/results/rebuild.json.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

from common import ROOT, WORK, drop_schemas, postgres_base, print_table, schema_url, timed, write_results
from cpu_use import CpuUse, ceiling_per_s, per_unit_ms
from eventsourcing.persistence import StoredEvent
from tqdm import tqdm

from emergency.application import AidApplication  # noqa: E402
from emergency.campaign_scenario import CampaignConfig, run_campaign  # noqa: E402
from emergency.scenario import ScenarioConfig, run_scenario  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service, connect_postgres, event_store_env  # noqa: E402

TARGET = {"sqlite": 30_000, "postgres": 20_000}  # events/s (issue 18); the compass: 100,000
# Ids as stored: tagged 32-digit hex, or the dashed form inside plain strings;
# and times, as tagged ISO 8601 or (a plain store) a string of one with its offset.
_IDS = re.compile(rb'(?<="_data_":")[0-9a-f]{32}(?=")|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
                  rb'|(?<="_type_":"datetime_iso","_data_":")[^"]+(?=")'
                  rb'|(?<=")\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2}:\d{2}(?=")')
TRANSACTION = 20_000


def template(path: Path) -> Path:
    """The played scenario whose events are copied (made once)."""
    if not path.exists():
        partial = path.with_suffix(".partial.sqlite")
        partial.unlink(missing_ok=True)
        service = build_service(Settings(database_url=f"sqlite:///{partial}"))
        try:
            print("playing the template scenario (once)", flush=True)
            run_scenario(service, ScenarioConfig(households=3000))
            run_campaign(service, CampaignConfig(statement=WORK / "template-statement.csv", contributions=5000))
        finally:
            service.app.close()
        partial.rename(path)
    return path


class _Slots:
    """A stored event split around the ids it holds, to re-join with other ids."""

    def __init__(self, stored: StoredEvent):
        self.originator = stored.originator_id.int
        self.version = stored.originator_version
        self.topic = stored.topic
        self.parts: list[bytes] = []
        self.values: list[tuple[int, bool] | datetime] = []  # (id as int, dashed?) or a time
        last = 0
        for m in _IDS.finditer(stored.state):
            self.parts.append(stored.state[last:m.start()])
            text = m.group().decode()
            self.values.append(datetime.fromisoformat(text) if ":" in text
                               else (int(text.replace("-", ""), 16), "-" in text))
            last = m.end()
        self.parts.append(stored.state[last:])

    def times(self) -> list[datetime]:
        return [v for v in self.values if isinstance(v, datetime)]

    def copy(self, mask: int, shift: timedelta) -> tuple[str, int, str, bytes]:
        """A stored_events row of this event with every id xor-ed with `mask`, every time moved by `shift`."""
        out = [self.parts[0]]
        for value, part in zip(self.values, self.parts[1:]):
            if isinstance(value, datetime):
                out += [(value + shift).isoformat().encode(), part]
                continue
            h = f"{value[0] ^ mask:032x}"
            out += [(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if value[1] else h).encode(), part]
        return f"{self.originator ^ mask:032x}", self.version, self.topic, b"".join(out)


def _template_events(path: Path) -> list[_Slots]:
    app = AidApplication(env=event_store_env(f"sqlite:///{path}"))
    try:
        found, start = [], 0
        while page := app.recorder.select_notifications(start=start, limit=10_000, inclusive_of_start=False):
            found += [_Slots(n) for n in page]
            start = page[-1].id
        return found
    finally:
        app.close()


def _copies(slots: list[_Slots], events: int) -> Iterator[list[tuple[str, int, str, bytes]]]:
    batch: list[tuple[str, int, str, bytes]] = []
    made, copy = 0, 0
    times = [t for s in slots for t in s.times()]
    span = (max(times) - min(times)) + timedelta(days=1)
    while made < events:
        mask = uuid.uuid5(uuid.NAMESPACE_URL, f"emergency:bench:copy:{copy}").int
        shift = span * copy
        copy += 1
        for s in slots[:events - made]:
            batch.append(s.copy(mask, shift))
            if len(batch) == TRANSACTION:
                yield batch
                batch = []
        made += min(len(slots), events - made)
    if batch:
        yield batch


def event_log(events: int) -> Path:
    """A SQLite event store of `events` events (made once per size)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"rebuild-{events}-dated.sqlite"
    if path.exists():
        return path
    slots = _template_events(template(WORK / "template.sqlite"))
    partial = path.with_suffix(".partial.sqlite")
    partial.unlink(missing_ok=True)
    AidApplication(env=event_store_env(f"sqlite:///{partial}")).close()  # the store's tables
    # Straight into the events table, unsynced: a throw-away copy is being
    # made, not a record kept (it has no hash chain; a rebuild does not read one).
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    try:
        with tqdm(total=events, unit=" events", desc=f"writing a {events:,}-event log (once)") as bar:
            for batch in _copies(slots, events):
                conn.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", batch)
                conn.commit()
                bar.update(len(batch))
    finally:
        conn.close()
    partial.rename(path)
    return path


def postgres_log(path: Path, events: int) -> str:
    """The same log in a PostgreSQL schema of its own (copied once per size, kept)."""
    base = postgres_base()
    if not base:
        raise SystemExit("PostgreSQL: set EMERGENCY_TEST_POSTGRES_URL (eval \"$(infra/services.sh)\")")
    url = schema_url(base, f"bench_rebuild_{events}")
    with connect_postgres(url) as conn:
        made = conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = "
                            "'emergency_complete'", (f"bench_rebuild_{events}",)).fetchone()
    if made:
        return url
    drop_schemas(base, [f"bench_rebuild_{events}"])
    AidApplication(env=event_store_env(url)).close()  # the store's tables
    source = sqlite3.connect(path)
    try:
        with connect_postgres(url) as conn, tqdm(total=events, unit=" events",
                                                 desc="copying the log into PostgreSQL (once)") as bar:
            conn.execute(f"SET search_path TO bench_rebuild_{events}")
            rows = source.execute("SELECT originator_id, originator_version, topic, state FROM stored_events "
                                  "ORDER BY rowid")
            while page := rows.fetchmany(TRANSACTION):
                with conn.transaction(), conn.cursor().copy(
                        "COPY emergency_events (originator_id, originator_version, topic, state) FROM STDIN") as copy:
                    for row in page:
                        copy.write_row(row)
                bar.update(len(page))
            conn.execute("CREATE TABLE emergency_complete ()")  # marks the copy whole
    finally:
        source.close()
    return url


def raw_read_rate(url: str, page: int) -> float:
    """Events/s of eventsourcing's recorder reading the whole log, `page` at a time."""
    app = AidApplication(env=event_store_env(url))
    try:
        done, start = 0, 0
        started = time.perf_counter()
        while notifications := app.recorder.select_notifications(start=start, limit=page, inclusive_of_start=False):
            done += len(notifications)
            start = notifications[-1].id
        return done / timed(started)
    finally:
        app.close()


_REPORT = re.compile(r"rebuilt .* from (\d+) events in ([\d.]+) s \(([\d,]+) events/s\)")
_PEAKS = re.compile(r"peak memory ([\d.]+) MiB")


def rebuild(url: str, batch_size: int, jobs: int) -> dict[str, Any]:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        views_path = path.with_name(f"{path.stem}-views-{uuid.uuid4().hex[:6]}.sqlite")
        views = f"sqlite:///{views_path}"
    else:
        schema = f"bench_rebuild_views_{uuid.uuid4().hex[:6]}"
        views = schema_url(postgres_base(), schema)
    env = {"EMERGENCY_DATABASE_URL": url, "EMERGENCY_VIEWS_DATABASE_URL": views}
    try:
        started = time.perf_counter()
        # The rebuild's processes, once waited for, count in this one's (`bench.cpu_use`).
        cpu = CpuUse({"rebuild": os.getpid()}).start()
        process = subprocess.Popen([sys.executable, "-m", "infra.cli", "rebuild", "--batch-size", str(batch_size),
                                    "--jobs", str(jobs)],
                                   cwd=ROOT, env={**_environ(), **env}, stdout=subprocess.PIPE, text=True)
        output = process.stdout.read() if process.stdout else ""
        if process.wait():
            raise RuntimeError(f"emergency rebuild failed: {output}")
        wall, used = timed(started), cpu.stop()
    finally:
        if url.startswith("sqlite"):
            for found in views_path.parent.glob(f"{views_path.stem}*"):
                found.unlink()
        else:
            drop_schemas(postgres_base(), [schema, *(f"{schema}_rebuild{i}" for i in range(jobs))])
    print(output.strip())
    match = _REPORT.search(output)
    assert match, output
    peaks = [float(p) for p in _PEAKS.findall(output)]
    return {"events": int(match[1]), "seconds": float(match[2]), "events_per_s": int(match[3].replace(",", "")),
            "wall_seconds_with_start_up": round(wall, 1), "peak_rss_mib": max(peaks),
            "peak_rss_mib_per_process": peaks, "busy_cores": used["busy_cores"],
            "cpu_us_per_event": {k: v * 1000 for k, v in per_unit_ms(used, int(match[1])).items()},
            # With start-up and the final merge: the cores' ceiling on the whole command.
            "cpu_ceiling_events_per_s": ceiling_per_s(used, int(match[1]), ("rebuild", "postgres"))}


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EMERGENCY_")}


COLUMNS = ("store", "jobs", "events", "seconds", "events_per_s", "peak_rss_mib", "raw_read_events_per_s",
           "vs_raw_read", "target_events_per_s", "busy_cores", "cpu_ceiling_events_per_s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch-size", type=int, default=20_000, help="events per transaction of the rebuild")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="process counts to measure")
    parser.add_argument("--store", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    args = parser.parse_args()
    path = event_log(args.events)
    rows = []
    for store in args.store:
        url = f"sqlite:///{path}" if store == "sqlite" else postgres_log(path, args.events)
        for jobs in args.jobs:
            row = rebuild(url, args.batch_size, jobs)
            raw = raw_read_rate(url, args.batch_size)
            rows.append({"store": store, "jobs": jobs, **row, "raw_read_events_per_s": round(raw),
                         "vs_raw_read": round(row["events_per_s"] / raw, 3), "target_events_per_s": TARGET[store],
                         "batch_size": args.batch_size})
    print_table("Rebuild of every projection", rows, COLUMNS)
    write_results("rebuild", {"events": args.events, "batch_size": args.batch_size, "jobs": args.jobs}, rows,
                  {f"{store}_events_per_s": target for store, target in TARGET.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
