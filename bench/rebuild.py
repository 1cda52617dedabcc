"""Rebuild of every projection from a large event log: events/s and peak memory.

    python bench/rebuild.py [--events 10000000] [--batch-size 5000]

Set-up (not timed, cached in var/bench/ between runs): a synthetic typhoon
and relief campaign are played through the service once (the template, about
27,000 events: households registered, assessed, decided, paid, corrected;
bank lines imported, funds allocated and charged); their stored events are
then copied, with every id replaced by a copy-specific one, until the log
holds `--events` events, written through the store's own (hash-chaining)
recorder in large transactions.

Measured: `emergency rebuild` run as a subprocess on that log into a fresh
view store (SQLite), its events/s and its peak resident memory (the
process's VmHWM, sampled until it exits); beside it,
eventsourcing's recorder merely reading the same log page by page (the floor
any rebuild pays). Writes bench/results/rebuild.json.
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
from pathlib import Path
from typing import Iterator

from common import ROOT, WORK, print_table, timed, write_results
from eventsourcing.persistence import StoredEvent
from tqdm import tqdm

from emergency.application import AidApplication  # noqa: E402
from emergency.campaign_scenario import CampaignConfig, run_campaign  # noqa: E402
from emergency.scenario import ScenarioConfig, run_scenario  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service, event_store_env  # noqa: E402

TARGET = {"events_per_s": 100_000}
# Ids as stored: tagged 32-digit hex, or the dashed form inside plain strings.
_IDS = re.compile(rb'(?<="_data_":")[0-9a-f]{32}(?=")|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
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
        self.ids: list[tuple[int, bool]] = []  # (id as int, dashed?)
        last = 0
        for m in _IDS.finditer(stored.state):
            self.parts.append(stored.state[last:m.start()])
            text = m.group().decode()
            self.ids.append((int(text.replace("-", ""), 16), "-" in text))
            last = m.end()
        self.parts.append(stored.state[last:])

    def copy(self, mask: int) -> tuple[str, int, str, bytes]:
        """A stored_events row of this event with every id xor-ed with `mask`."""
        out = [self.parts[0]]
        for (value, dashed), part in zip(self.ids, self.parts[1:]):
            h = f"{value ^ mask:032x}"
            out += [(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if dashed else h).encode(), part]
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
    while made < events:
        mask = uuid.uuid5(uuid.NAMESPACE_URL, f"emergency:bench:copy:{copy}").int
        copy += 1
        for s in slots[:events - made]:
            batch.append(s.copy(mask))
            if len(batch) == TRANSACTION:
                yield batch
                batch = []
        made += min(len(slots), events - made)
    if batch:
        yield batch


def event_log(events: int) -> Path:
    """A SQLite event store of `events` events (made once per size)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"rebuild-{events}.sqlite"
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


def raw_read_rate(path: Path, page: int) -> float:
    """Events/s of eventsourcing's recorder reading the whole log, `page` at a time."""
    app = AidApplication(env=event_store_env(f"sqlite:///{path}"))
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


def rebuild(path: Path, batch_size: int) -> dict[str, float]:
    views = path.with_name(f"{path.stem}-views-{uuid.uuid4().hex[:6]}.sqlite")
    env = {"EMERGENCY_DATABASE_URL": f"sqlite:///{path}", "EMERGENCY_VIEWS_DATABASE_URL": f"sqlite:///{views}"}
    try:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "infra.cli", "rebuild", "--batch-size", str(batch_size)],
                                   cwd=ROOT, env={**_environ(), **env}, stdout=subprocess.PIPE, text=True)
        peak = _peak_rss_mib(process)
        output = process.stdout.read() if process.stdout else ""
        if process.wait():
            raise RuntimeError(f"emergency rebuild failed: {output}")
        wall = timed(started)
    finally:
        for found in views.parent.glob(f"{views.stem}*"):
            found.unlink()
    print(output.strip())
    match = _REPORT.search(output)
    assert match, output
    return {"events": int(match[1]), "seconds": float(match[2]), "events_per_s": int(match[3].replace(",", "")),
            "wall_seconds_with_start_up": round(wall, 1), "peak_rss_mib": peak}


def _peak_rss_mib(process: subprocess.Popen) -> float:
    """The child's own high-water mark of resident memory (VmHWM), read until
    it exits. Not getrusage: a child started from a large parent counts the
    parent's pages it had before exec."""
    peak = 0
    while process.poll() is None:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.2)
    return round(peak / 1024, 1)


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EMERGENCY_")}


COLUMNS = ("events", "seconds", "events_per_s", "peak_rss_mib", "raw_read_events_per_s", "vs_raw_read",
           "target_events_per_s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch-size", type=int, default=5000, help="events per transaction of the rebuild")
    args = parser.parse_args()
    path = event_log(args.events)
    row = rebuild(path, args.batch_size)
    raw = raw_read_rate(path, args.batch_size)
    row.update(raw_read_events_per_s=round(raw), vs_raw_read=round(row["events_per_s"] / raw, 3),
               target_events_per_s=TARGET["events_per_s"], store="sqlite", batch_size=args.batch_size)
    print_table("Rebuild of every projection", [row], COLUMNS)
    write_results("rebuild", {"events": args.events, "batch_size": args.batch_size}, [row], TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
