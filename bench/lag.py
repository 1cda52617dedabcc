"""End-to-end lag: from a write's acknowledgement to the projection showing it.

    python bench/lag.py [--paths embedded,kafka] [--rate 200] [--seconds 10]

- embedded: `emergency serve` on a fresh SQLite store with read-your-writes
  off, so a write is answered as soon as it is committed; this process posts
  single assessments at `--rate` per second and listens to the live feed
  (`GET /live/coverage`, Server-Sent Events, one message per event that
  changed a case). Lag of a write: from its 201 to the first feed message at
  or past its last notification id.
- kafka: a fresh PostgreSQL schema; `emergency relay` and `emergency consume`
  run as processes on a fresh topic, the consumer feeding the catalog's
  projections into a view schema of its own; this process records the same
  assessments through `AidService` (acknowledged when committed) and polls
  the Kafka-fed change feed (`case_changes`) every 5 ms for their ids.

Each assessment is of a destroyed house, so it changes at least one case.
Writes bench/results/lag.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from common import ROOT, Server, fresh_store, latency_summary, print_table, views_beside, write_results
from ingest import prepare

from api.tokens import TokenStore  # noqa: E402
from emergency import commands  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service  # noqa: E402
from projections.store import open_view_store  # noqa: E402

TARGET = {"embedded_p99_ms": 200, "kafka_p99_ms": 1000}


def plan(url: str, writes: int) -> tuple[str, list[dict[str, Any]]]:
    incident, assessments = prepare(url, writes)
    for a in assessments:  # every write changes a case
        a.update(house_damage="total", persons_short_of_food=1)
    return incident, assessments


def lags(acks: dict[int, float], shown: list[tuple[int, float]]) -> list[float]:
    """Per acknowledged write (last notification id -> ack time), the time until
    the first shown id at or past it; writes never shown are left out."""
    ids = [n for n, _ in shown]
    found = []
    for last, acked in acks.items():
        i = bisect.bisect_left(ids, last)
        if i < len(ids):
            found.append(max(0.0, shown[i][1] - acked))
    return found


# ----- embedded ---------------------------------------------------------------------


async def _listen(session: aiohttp.ClientSession, url: str, shown: list[tuple[int, float]],
                  ready: asyncio.Event) -> None:
    async with session.get(url) as response:
        ready.set()
        current = None
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("id: "):
                current = int(line[4:])
            elif line.startswith("event: change") and current is not None:
                shown.append((current, time.perf_counter()))


async def _embedded_load(base: str, token: str, incident: str, assessments: list[dict[str, Any]],
                         rate: float) -> tuple[dict[int, float], list[tuple[int, float]], int]:
    headers = {"Authorization": f"Bearer {token}"}
    shown: list[tuple[int, float]] = []
    acks: dict[int, float] = {}
    failed = 0
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as session:
        ready = asyncio.Event()
        listener = asyncio.create_task(_listen(session, f"{base}/live/coverage?incident={incident}", shown, ready))
        await ready.wait()

        async def write(a: dict[str, Any]) -> None:
            nonlocal failed
            async with session.post(f"{base}/households/{a['household_id']}/assessments", json=a) as response:
                body = await response.json()
                if response.status == 201:
                    acks[body["last_notification_id"]] = time.perf_counter()
                else:
                    failed += 1

        started = time.perf_counter()
        tasks = []
        for i, a in enumerate(assessments):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(write(a)))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 10
        while (not shown or shown[-1][0] < max(acks, default=0)) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        listener.cancel()
    return acks, shown, failed


def embedded(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    writes = int(args.rate * args.seconds)
    with fresh_store("sqlite", "lag") as url:
        incident, assessments = plan(url, writes)
        token = TokenStore.from_settings(Settings(database_url=url)).create("bench", "coordinator", ())[1]
        server = Server(url, workdir / "serve-lag.log", read_your_writes=0)
        try:
            acks, shown, failed = asyncio.run(_embedded_load(server.base, token, incident, assessments, args.rate))
        finally:
            server.stop()
    return _row("embedded", "sqlite", args, acks, lags(acks, shown), failed)


# ----- kafka ------------------------------------------------------------------------


def _process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "infra.cli", *command], cwd=ROOT, env={**os.environ, **env},
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_for_rows(store: Any, table: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with store.read() as cur:
                if cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0] >= count:
                    return
        except Exception:  # the consumer has not created its tables yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the Kafka-fed views did not reach {count} rows of {table} in {timeout} s")


def _poll(store: Any, pending: dict[int, float], shown: dict[int, float], stop: threading.Event) -> None:
    """Note when each pending id shows in the change feed; after `stop`, wait
    at most 10 s more for the last ones."""
    deadline = None
    while pending or not stop.is_set():
        if stop.is_set():
            deadline = deadline or time.perf_counter() + 10
            if time.perf_counter() > deadline:
                return
        ids = list(pending)
        if ids:
            with store.read() as cur:
                rows = cur.execute("SELECT DISTINCT notification_id FROM case_changes WHERE notification_id "
                                   f"IN ({', '.join('?' * len(ids))})", ids).fetchall()
            now = time.perf_counter()
            for (n,) in rows:
                shown[n] = now
                pending.pop(n, None)
        time.sleep(0.005)


def kafka(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if not args.bootstrap:
        raise SystemExit("kafka: set EMERGENCY_KAFKA_BOOTSTRAP (eval \"$(infra/services.sh)\")")
    writes = int(args.rate * args.seconds)
    with fresh_store("postgres", "lag") as url:
        _, assessments = plan(url, writes)
        views_url = views_beside(url)
        env = {"EMERGENCY_DATABASE_URL": url, "EMERGENCY_VIEWS_DATABASE_URL": views_url,
               "EMERGENCY_KAFKA_BOOTSTRAP": args.bootstrap, "EMERGENCY_KAFKA_TOPIC": f"bench-lag-{uuid.uuid4().hex[:8]}",
               "EMERGENCY_LOG_FORMAT": "json"}
        relay = _process(["relay"], env, workdir / "relay.log")
        consumer = _process(["consume", "--group", f"bench-lag-{uuid.uuid4().hex[:8]}", "--session-timeout-ms",
                             "6000"], env, workdir / "consume.log")
        service = build_service(Settings(database_url=url))
        store = open_view_store(views_url)
        try:
            _wait_for_rows(store, "case_households", writes, 180)
            acks, shown, pending = {}, {}, {}
            stop = threading.Event()
            poller = threading.Thread(target=_poll, args=(store, pending, shown, stop))
            poller.start()
            meta = commands.Meta(actor="bench", source="bench")
            started = time.perf_counter()
            for i, a in enumerate(assessments):
                delay = started + i / args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                outcome = service.execute(commands.AssessDamage.model_validate(a), meta)
                acked = time.perf_counter()
                pending[outcome.last_notification_id] = acked
                acks[outcome.last_notification_id] = acked
            stop.set()
            poller.join()
        finally:
            for process in (relay, consumer):
                process.terminate()
                process.wait(timeout=30)
            store.close()
            service.app.close()
    found = [max(0.0, shown[n] - acked) for n, acked in acks.items() if n in shown]
    return _row("kafka", "postgres", args, acks, found, 0)


def _row(path: str, store: str, args: argparse.Namespace, acks: dict[int, float], found: list[float],
         failed: int) -> dict[str, Any]:
    return {"path": path, "store": store, "offered_per_s": args.rate, "writes": len(acks), "failed": failed,
            "shown": len(found), **latency_summary(found),
            "target_p99_ms": TARGET[f"{path}_p99_ms"]}


COLUMNS = ("path", "store", "offered_per_s", "writes", "shown", "p50_ms", "p99_ms", "max_ms", "target_p99_ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", default="embedded,kafka")
    parser.add_argument("--rate", type=float, default=200, help="writes per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--bootstrap", default=os.environ.get("EMERGENCY_KAFKA_BOOTSTRAP", ""))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for path in args.paths.split(","):
            rows.append({"embedded": embedded, "kafka": kafka}[path](args, Path(workdir)))
            print_table(f"lag, {path}", rows[-1:], COLUMNS)
    print_table("End-to-end lag, write acknowledged to projection showing it", rows, COLUMNS)
    write_results("lag", {"rate": args.rate, "seconds": args.seconds}, rows, TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
