"""What the hash chain costs, and how fast the log verifies and exports.

    python bench/audit_chain.py [--events 20000] [--postgres URL]

For each store (a fresh SQLite file; PostgreSQL in a fresh schema when a URL
is given or EMERGENCY_TEST_POSTGRES_URL is set), inserts the same synthetic
events through the application recorder, with the chained recorder and with
eventsourcing's plain one, at 1, 10 and 100 events per transaction; then
times `verify` and the JSON Lines export over the chained log. Prints one
JSON object per measurement and writes them to bench/results/audit_chain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emergency.application import AidApplication  # noqa: E402
from infra.audit_chain import verify  # noqa: E402
from infra.stores import connect_postgres, event_store_env  # noqa: E402
from projections.export_events import event_lines  # noqa: E402

TOPIC = "emergency.domain.household:HouseholdCase.Disbursed"
# A state the size of a real disbursement event (~600 bytes of JSON).
STATE = json.dumps({"disbursement": {"amount_vnd": 25_000_000, "channel": "bank_transfer", "delivered_by": "x" * 40,
                                     "notes": "y" * 300}, "meta": {"actor": "bench", "request_id": "z" * 32},
                    "timestamp": {"_type_": "datetime_iso", "_data_": "2024-09-09T01:00:00+00:00"}}).encode()


def events(count: int, batch: int) -> Iterator[list[StoredEvent]]:
    for start in range(0, count, batch):
        yield [StoredEvent(uuid.uuid4(), 1, TOPIC, STATE) for _ in range(min(batch, count - start))]


def insert_rate(url: str, chained: bool, count: int, batch: int) -> float:
    env = event_store_env(url)
    if not chained:
        plain = PostgresApplicationRecorder if url.startswith("postgres") else SQLiteApplicationRecorder
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(plain)
    app = AidApplication(env=env)
    try:
        started = time.perf_counter()
        for group in events(count, batch):
            app.recorder.insert_events(group)
        return count / (time.perf_counter() - started)
    finally:
        app.close()


def read_rates(url: str) -> dict[str, float]:
    app = AidApplication(env=event_store_env(url))
    try:
        started = time.perf_counter()
        result = verify(app.recorder)
        verified = time.perf_counter() - started
        assert result.mismatch is None, result.mismatch
        started = time.perf_counter()
        lines = sum(1 for _ in event_lines(app.recorder))
        exported = time.perf_counter() - started
        return {"events": result.checked, "verify_events_per_s": round(result.checked / verified),
                "export_jsonl_events_per_s": round(lines / exported)}
    finally:
        app.close()


def stores(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, Any]]:
    """(name, factory of a fresh store URL) for each backend measured."""
    yield "sqlite", lambda tag: f"sqlite:///{workdir}/{tag}.sqlite"
    base = args.postgres or os.environ.get("EMERGENCY_TEST_POSTGRES_URL", "")
    if base:
        yield "postgresql", lambda tag: f"{base}{'&' if '?' in base else '?'}schema=bench_{tag}_{uuid.uuid4().hex[:6]}"


def drop(url: str) -> None:
    if url.startswith("postgres"):
        schema = url.rpartition("schema=")[2]
        with connect_postgres(url) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres", help="postgresql:// URL of a server to measure too")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend, fresh in stores(args, Path(workdir)):
            for batch in (1, 10, 100):
                count = args.events if batch > 1 else args.events // 5
                row: dict[str, Any] = {"store": backend, "events_per_transaction": batch, "events": count}
                for chained in (False, True):
                    url = fresh(f"{'chain' if chained else 'plain'}{batch}")
                    row["chained_inserts_per_s" if chained else "plain_inserts_per_s"] = round(
                        insert_rate(url, chained, count, batch))
                    if chained and batch == 100:
                        results.append({"store": backend, **read_rates(url)})
                        print(json.dumps(results[-1]), flush=True)
                    drop(url)
                row["chain_overhead_pct"] = round(100 * (1 - row["chained_inserts_per_s"] / row["plain_inserts_per_s"]),
                                                  1)
                results.append(row)
                print(json.dumps(row), flush=True)
    out = Path(__file__).parent / "results" / "audit_chain.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
