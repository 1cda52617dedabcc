"""Open-loop HTTP load of damage assessments: the load process of bench/ingest.py.

    python bench/load.py --url http://127.0.0.1:8080 --token T --plan plan.json \
        --mode single|batch --rate 5000 --seconds 10 [--batch-size 100] --out result.json

Sends assessments at a fixed offered rate (assessments per second), whatever
the server's answers do: request i leaves at start + i/rate (a batch carries
`batch-size` assessments). Its latency runs from that scheduled moment to the
complete response, so a server that falls behind shows it in the latency
instead of slowing the load down (no coordinated omission). The plan (written
by bench/ingest.py) lists registered households and the assessment to send
for each; each is assessed once, with its own Idempotency-Key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp


async def _send(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, int]:
    """(status, assessments recorded) of one request."""
    async with session.post(url, data=body, headers=headers) as response:
        payload = await response.read()
        if response.status == 200 and url.endswith("/assessments/batch"):
            return 200, json.loads(payload)["recorded"]
        return response.status, 1 if response.status == 201 else 0


def _requests(args: argparse.Namespace, plan: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """(path, body, idempotency key) of every request, made before the clock starts."""
    items = plan["assessments"]
    total = min(len(items), int(args.rate * args.seconds))
    if args.mode == "single":
        return [(f"/households/{a['household_id']}/assessments", json.dumps(a).encode(), f"load-{a['assessment_id']}")
                for a in items[:total]]
    made = []
    for start in range(0, total - args.batch_size + 1, args.batch_size):
        chunk = items[start:start + args.batch_size]
        body = {"items": [{"idempotency_key": f"load-{a['assessment_id']}", "assessment": a} for a in chunk]}
        made.append(("/assessments/batch", json.dumps(body).encode(), f"load-batch-{chunk[0]['assessment_id']}"))
    return made


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = json.loads(Path(args.plan).read_text())
    requests = _requests(args, plan)
    per_request = 1 if args.mode == "single" else args.batch_size
    interval = per_request / args.rate
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    recorded = 0
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        base = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}

        async def one(due: float, path: str, body: bytes, key: str) -> None:
            nonlocal recorded
            try:
                status, done = await _send(session, args.url + path, body, {**base, "Idempotency-Key": key})
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status, done = 0, 0
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
            recorded += done

        tasks = []
        started = time.perf_counter()
        for i, (path, body, key) in enumerate(requests):
            due = started + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, path, body, key)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {"mode": args.mode, "offered_per_s": args.rate, "batch_size": per_request, "requests": len(requests),
            "assessments_recorded": recorded, "seconds": elapsed, "statuses": statuses, "latencies_s": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--mode", choices=("single", "batch"), required=True)
    parser.add_argument("--rate", type=float, required=True, help="offered assessments per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--connections", type=int, default=512)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    Path(args.out).write_text(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
