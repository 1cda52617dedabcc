"""What every benchmark shares: the machine it ran on, percentiles, a table,
results files, fresh stores, and the raw eventsourcing recorder as a yardstick.

Each benchmark times, in the same run, eventsourcing's own application
recorder (no hash chain, no domain, no projections) inserting as many stored
events of the same size in transactions of the same size: the ratio of our
rate to that one holds on a noisy machine where absolute figures wander.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import StoredEvent  # noqa: E402
from eventsourcing.postgres import PostgresApplicationRecorder  # noqa: E402
from eventsourcing.sqlite import SQLiteApplicationRecorder  # noqa: E402
from eventsourcing.utils import get_topic  # noqa: E402
from psycopg import sql  # noqa: E402

from emergency.application import AidApplication  # noqa: E402
from infra.stores import connect_postgres, event_store_env  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"


# ----- the machine ---------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
        "python": platform.python_version(), "os": platform.platform(), "sqlite": sqlite3.sqlite_version,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": _git_commit(),
    }


# ----- numbers -------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds."""
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)
    return {"p50_ms": ms(percentile(seconds, 50)), "p99_ms": ms(percentile(seconds, 99)),
            "max_ms": ms(max(seconds) if seconds else None)}


def peak_rss_mib() -> float:
    """Peak resident memory of this process."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


# ----- reporting -----------------------------------------------------------------


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return "" if value is None else str(value)
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    sys.stdout.flush()


def write_results(name: str, params: dict[str, Any], results: list[dict[str, Any]],
                  targets: dict[str, Any] | None = None) -> Path:
    """bench/results/<name>.json: what ran, where, and what it measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"benchmark": name, "machine": machine(), "params": params, "targets": targets or {},
                               "results": results}, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return out


def timed(started: float) -> float:
    return time.perf_counter() - started


# ----- stores --------------------------------------------------------------------


def postgres_base() -> str:
    return os.environ.get("EMERGENCY_TEST_POSTGRES_URL") or (
        os.environ.get("EMERGENCY_DATABASE_URL", "") if os.environ.get("EMERGENCY_DATABASE_URL", "").startswith(
            "postgres") else "")


def schema_url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


@contextmanager
def fresh_store(kind: str, tag: str) -> Iterator[str]:
    """A URL for an empty event store (`sqlite` file under var/bench, or a
    new PostgreSQL schema), removed afterwards."""
    if kind == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / f"{tag}-{uuid.uuid4().hex[:6]}.sqlite"
        try:
            yield f"sqlite:///{path}"
        finally:
            for found in WORK.glob(f"{path.stem}*"):
                found.unlink()
        return
    base = postgres_base()
    if not base:
        raise SystemExit("PostgreSQL: set EMERGENCY_TEST_POSTGRES_URL (eval \"$(infra/postgres.sh)\")")
    schema = f"bench_{tag}_{uuid.uuid4().hex[:6]}"
    try:
        yield schema_url(base, schema)
    finally:
        drop_schemas(base, [schema, f"{schema}_views"])


def views_beside(url: str) -> str:
    """The view store a fresh event store's projections go to (as Settings.views_url does)."""
    return url + "_views" if url.startswith("postgres") else ""


def drop_schemas(base: str, schemas: Sequence[str]) -> None:
    with connect_postgres(base) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ----- the yardstick -------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What a run stored: how many events, their mean state size, per transaction."""

    events: int
    state_bytes: int
    per_transaction: int


def stored_shape(url: str, after: int, transactions: int) -> Shape:
    """The shape of the events recorded after notification id `after` in
    `transactions` transactions."""
    app = AidApplication(env=event_store_env(url))
    try:
        count = size = 0
        start = after
        while True:
            page = app.recorder.select_notifications(start=start, limit=10_000, inclusive_of_start=False)
            if not page:
                break
            count += len(page)
            size += sum(len(n.state) for n in page)
            start = page[-1].id
    finally:
        app.close()
    return Shape(count, size // max(count, 1), max(1, round(count / max(transactions, 1))))


def raw_insert_rate(kind: str, shape: Shape) -> float:
    """Events/s of eventsourcing's plain application recorder inserting events
    of `shape` into a fresh store of `kind`, `per_transaction` at a time."""
    state = json.dumps({"x": "y" * max(shape.state_bytes - 10, 0)}).encode()
    topic = "emergency.domain.household:HouseholdCase.DamageAssessed"
    with fresh_store(kind, "raw") as url:
        env = event_store_env(url)
        plain = PostgresApplicationRecorder if kind == "postgres" else SQLiteApplicationRecorder
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(plain)
        app = AidApplication(env=env)
        try:
            groups = [[StoredEvent(uuid.uuid4(), 1, topic, state) for _ in range(min(shape.per_transaction,
                                                                                     shape.events - start))]
                      for start in range(0, shape.events, shape.per_transaction)]
            started = time.perf_counter()
            for group in groups:
                app.recorder.insert_events(group)
            return shape.events / timed(started)
        finally:
            app.close()


# ----- the server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`emergency serve` as a subprocess, logging JSON lines to a file."""

    def __init__(self, url: str, log_path: Path, read_your_writes: float = 2.0, workers: int = 1,
                 projector: str = "embedded"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(os.environ, EMERGENCY_DATABASE_URL=url, EMERGENCY_LOG_FORMAT="json", EMERGENCY_LOG_LEVEL="debug",
                   EMERGENCY_READ_YOUR_WRITES_SECONDS=str(read_your_writes))
        self.log = log_path.open("w")
        # With projector="external", `emergency project` runs beside the API processes and writes the views.
        self.projector = (subprocess.Popen([sys.executable, "-m", "infra.cli", "project"], cwd=ROOT, env=env,
                                           stdout=subprocess.DEVNULL, stderr=self.log)
                          if projector == "external" else None)
        self.process = subprocess.Popen([sys.executable, "-m", "infra.cli", "serve", "--port", str(self.port),
                                         "--workers", str(workers), "--projector", projector],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        if not self._until_current():
            self.stop()
            raise RuntimeError(f"emergency serve did not answer; see {log_path}")

    def _until_current(self, listening: float = 60, catching_up: float = 3600) -> bool:
        """Wait for the port to answer, then for the views to reach the log's head (a store prepared just before
        has a long log to project: 503 catching_up until then)."""
        started = time.monotonic()
        while True:
            try:
                self.health()
                return True
            except urllib.error.HTTPError as error:
                if error.code != 503 or time.monotonic() - started > catching_up:
                    return False
                progress = json.loads(error.read()).get("projections", {})
                print(f"  views catching up: {progress.get('position')} of {progress.get('head')}", flush=True)
                time.sleep(10)
            except OSError:
                if time.monotonic() - started > listening:
                    return False
                time.sleep(0.2)

    def roots(self, **others: int) -> dict[str, int]:
        """Its processes as `bench.cpu_use` groups them: the API's (workers under it) and the projector's."""
        return {"api": self.process.pid, **({"projector": self.projector.pid} if self.projector else {}), **others}

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def head(self) -> int:
        return self.health().get("last_notification_id") or 0

    def group_commits(self, since: int) -> int:
        """Group commits logged after byte offset `since` of the log."""
        with self.log_path.open() as handle:
            handle.seek(since)
            return sum('"group_commit"' in line for line in handle)

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def stop(self) -> None:
        for process in filter(None, (self.process, self.projector)):
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()
