"""What the hash chain costs, and how fast the log verifies and exports.

    python bench/audit_chain.py [--events 20000] [--postgres URL]

For each store (a fresh SQLite file; PostgreSQL in a fresh schema when a URL
is given or EMERGENCY_TEST_POSTGRES_URL is set), inserts the same synthetic
events through the application recorder, with the chained recorder and with
eventsourcing's plain one, at 1, 10 and 100 events per transaction; then
times `verify` and the JSON Lines export over the chained log. Prints tables
and writes bench/results/audit_chain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any, Iterator

from common import fresh_store, postgres_base, print_table, write_results
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from emergency.application import AidApplication  # noqa: E402
from infra.audit_chain import verify  # noqa: E402
from infra.stores import event_store_env  # noqa: E402
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres", help="postgresql:// URL of a server to measure too")
    args = parser.parse_args()
    if args.postgres:
        os.environ["EMERGENCY_TEST_POSTGRES_URL"] = args.postgres
    results = []
    for kind in ("sqlite", "postgres") if postgres_base() else ("sqlite",):
        backend = "postgresql" if kind == "postgres" else kind
        for batch in (1, 10, 100):
            count = args.events if batch > 1 else args.events // 5
            row: dict[str, Any] = {"store": backend, "events_per_transaction": batch, "events": count}
            for chained in (False, True):
                with fresh_store(kind, f"{'chain' if chained else 'plain'}{batch}") as url:
                    row["chained_inserts_per_s" if chained else "plain_inserts_per_s"] = round(
                        insert_rate(url, chained, count, batch))
                    if chained and batch == 100:
                        results.append({"store": backend, **read_rates(url)})
                        print_table("verify and export", results[-1:], list(results[-1]))
            row["chain_overhead_pct"] = round(100 * (1 - row["chained_inserts_per_s"] / row["plain_inserts_per_s"]), 1)
            results.append(row)
            print_table("inserts", [row], list(row))
    write_results("audit_chain", {"events": args.events}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
