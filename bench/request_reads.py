"""What the requests-for-help reads cost as requests pile up.

    python bench/request_reads.py [--requests 100000] [--stores sqlite,postgres] [--repeat 20]

Set-up (not timed): N requests spread over every commune of the official
list (a tenth of them in one commune), a third still open, folded into a
fresh view store by the projection's own code. Measured, each `--repeat`
times (p50, p99): the public counts of every province and commune, one
province's counts, and a page of 100 of the busiest commune's overdue list
(the first, and one deep in it by its keyset cursor), and the requests'
stage of one incident's coverage (all of them are of one incident), by
incident and by commune, each at a moment never asked before, on both time
axes. Writes bench/results/request_reads.json.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from common import fresh_store, latency_summary, print_table, views_beside, write_results

from emergency import areas
from emergency.envelope import Envelope
from projections.coverage import Areas
from projections.help_requests import HelpRequestProjection
from projections.request_reads import Point, counts, overdue, stages
from projections.store import open_view_store

START = datetime(2024, 9, 7, 1, tzinfo=timezone.utc)
INCIDENT = str(uuid.UUID(int=10**9))


def envelopes(n: int) -> list[Envelope]:
    communes = sorted(areas.in_use().communes.values(), key=lambda c: c.code)
    rng = random.Random(7)
    found: list[Envelope] = []
    for i in range(n):
        commune = communes[0] if i % 10 == 0 else rng.choice(communes)
        filed = START + timedelta(minutes=rng.randrange(14 * 24 * 60))
        request_id = str(uuid.UUID(int=i + 1))
        found.append(Envelope(len(found) + 1, request_id, "HelpRequest", 1, "Filed", filed.isoformat(), {
            "reference": f"R{i:09d}", "incident_id": INCIDENT, "province_code": commune.province_code,
            "commune_code": commune.code, "village": "Thôn 1", "phone": "0912345678", "description": "chưa ai đến",
            "request_kind": "not_assessed", "household_id": None, "filed_at": filed.isoformat(),
            "due_at": (filed + timedelta(days=2)).isoformat(), "rule_version": "ND20-2021", "source": "public"}, {}))
        if i % 3:
            ended = filed + timedelta(hours=rng.randrange(1, 96))
            found.append(Envelope(len(found) + 1, request_id, "HelpRequest", 2, "Assessed", ended.isoformat(), {
                "household_id": request_id, "assessment_id": request_id, "resolved_at": ended.isoformat(),
                "resolved_by": "UBND xã"}, {}))
    return found


def measure(url: str, n: int, repeat: int) -> list[dict[str, Any]]:
    store = open_view_store(url)
    projection = HelpRequestProjection()
    events = envelopes(n)
    with store.transaction() as cur:
        projection.create(cur)
        for start in range(0, len(events), 5000):
            projection.apply(cur, events[start:start + 5000])
    busiest = sorted(areas.in_use().communes)[0]
    rng = random.Random(3)
    results = []
    for known in ("now", "then"):
        def point() -> Point:
            return Point(START + timedelta(minutes=rng.randrange(20 * 24 * 60)), known)
        there = Areas(communes=frozenset({busiest}))
        deep = overdue(store, Point(START + timedelta(days=20), known), 5000, there)[1][-1]["cursor"]
        due, _, request_id = deep.partition(".")

        def stage(by: str) -> Any:
            with store.read() as cur:
                return stages(cur, INCIDENT, point(), by)
        reads = {
            "public counts, every area": lambda: counts(store, point()),
            "one province's counts": lambda: counts(store, point(), province="01"),
            "overdue, first page": lambda: overdue(store, point(), 100, there),
            "overdue, deep page": lambda: overdue(store, point(), 100, there, (int(due), request_id)),
            "coverage stage, by incident": lambda: stage("incident"),
            "coverage stage, by commune": lambda: stage("commune"),
        }
        for name, read in reads.items():
            seconds = []
            for _ in range(repeat):
                started = time.perf_counter()
                read()
                seconds.append(time.perf_counter() - started)
            results.append({"read": name, "known": known, **latency_summary(seconds)})
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    results = []
    for kind in args.stores.split(","):
        with fresh_store(kind, "requests") as url:
            found = [{"store": kind, **r} for r in measure(views_beside(url) or url, args.requests, args.repeat)]
        print_table(f"{kind}: {args.requests:,} requests", found, ("read", "known", "p50_ms", "p99_ms", "max_ms"))
        results += found
    write_results("request_reads", {"requests": args.requests, "repeat": args.repeat}, results)


if __name__ == "__main__":
    main()
