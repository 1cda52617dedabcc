"""HTTP ingest of damage assessments against `emergency serve`, single and batched.

    python bench/ingest.py [--stores sqlite,postgres] [--seconds 8] \
        [--single-rates 250,5000] [--batch-rates 600,5000] [--batch-size 100]

For each store: registers households in a fresh store, starts `emergency
serve` on it (JSON logs, read-your-writes on, as deployed), and runs the load
process (bench/load.py) once per offered rate: single assessments
(`POST /households/{id}/assessments`) and batches (`POST /assessments/batch`),
each with an Idempotency-Key. Reports assessments/s recorded, p50/p99/max
latency, the events they stored, and the raw eventsourcing recorder inserting
as many events of the same size in transactions of the same size (from the
server's group-commit log). `--workers 1,2` runs every step against each
number of API processes; `--projector external` runs `emergency project`
beside them. Writes bench/results/ingest.json (ingest_external_projector.json
with an external projector).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from common import ROOT, Server, fresh_store, latency_summary, print_table, raw_insert_rate, stored_shape, write_results
from cpu_use import CpuUse, ceiling_per_s, per_unit_ms

from api.tokens import TokenStore  # noqa: E402
from emergency import commands  # noqa: E402
from emergency.scenario import DAMAGE_WEIGHTS, scenario_areas  # noqa: E402
from emergency.service import Submission  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service  # noqa: E402

TARGET = {"assessments_per_s": 5000, "p99_ms": 50}
# Four provinces of twelve communes each (official codes).
AREAS = scenario_areas(4, 12)
META = commands.Meta(actor="bench", source="bench")


def assessment(rng: random.Random, household_id: uuid.UUID, members: int, at: datetime) -> dict[str, Any]:
    """One household's first assessment, damage drawn as the synthetic typhoon draws it."""
    damage = rng.choices(list(DAMAGE_WEIGHTS), weights=list(DAMAGE_WEIGHTS.values()))[0]
    heavy = damage in ("very_heavy", "total")
    return {"household_id": str(household_id), "assessment_id": str(uuid.uuid4()), "assessed_at": at.isoformat(),
            "house_damage": damage, **dict.fromkeys(("injured", "seriously_injured"), int(rng.random() < 0.03)),
            "dead": int(rng.random() < 0.004),
            "persons_short_of_food": members if heavy or rng.random() < 0.25 else 0,
            "food_months": rng.choice((1, 2, 3)), "relocation_ordered": heavy and rng.random() < 0.25,
            "evacuated": heavy}


def prepare(url: str, households: int) -> tuple[str, list[dict[str, Any]]]:
    """Open an incident and register `households` households; return the
    incident's id and one assessment to send for each household."""
    rng = random.Random(7)
    started = datetime.now(timezone.utc) - timedelta(days=1)
    service = build_service(Settings(database_url=url))
    try:
        incident = service.execute(commands.OpenIncident(
            incident_type="storm", title="Bão Yagi (bench)", started_at=started,
            areas=[commands.Area(province_code=p, commune_codes=codes) for p, codes in AREAS.items()]),
            META).result["incident_id"]
        plan = []
        codes = [code for area in AREAS.values() for code in area]
        for start in range(0, households, 1000):
            batch = [(uuid.uuid4(), rng.choice((1, 2, 3, 4, 4, 5, 6))) for _ in range(min(1000, households - start))]
            # Numbered names: one name for all would make every household a possible duplicate of the others.
            outcomes = service.execute_batch([Submission(commands.RegisterHousehold(
                household_id=h, incident_id=incident, commune_code=rng.choice(codes),
                head_name=f"Nguyễn Văn An {start + i + 1}", members=m,
                flags=["poor"] if rng.random() < 0.12 else []), META) for i, (h, m) in enumerate(batch)])
            assert not any(isinstance(o, Exception) for o in outcomes), outcomes
            plan += [assessment(rng, h, m, started + timedelta(hours=6)) for h, m in batch]
        return incident, plan
    finally:
        service.app.close()


def steps(args: argparse.Namespace) -> Iterator[tuple[str, float]]:
    for rate in args.single_rates:
        yield "single", rate
    for rate in args.batch_rates:
        yield "batch", rate


def measure(kind: str, args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    needed = int(sum(rate for _, rate in steps(args)) * args.seconds) * len(args.workers) + 1000
    rows: list[dict[str, Any]] = []
    with fresh_store(kind, "ingest") as url:
        print(f"{kind}: registering {needed:,} households", flush=True)
        _, plan = prepare(url, needed)
        token = TokenStore.from_settings(Settings(database_url=url)).create("bench", "coordinator", ())[1]
        used = 0
        for workers in args.workers:
            used = measure_server(kind, url, token, plan, used, workers, args, workdir, rows)
    return rows


def measure_server(kind: str, url: str, token: str, plan: list[dict[str, Any]], used: int, workers: int,
                   args: argparse.Namespace, workdir: Path, rows: list[dict[str, Any]]) -> int:
    """Every step against one `emergency serve --workers N`; the plan's assessments used so far."""
    server = Server(url, workdir / f"serve-{kind}.log", workers=workers, projector=args.projector)
    try:
        for mode, rate in steps(args):
            count = int(rate * args.seconds)
            plan_file = workdir / "plan.json"
            plan_file.write_text(json.dumps({"assessments": plan[used:used + count]}))
            used += count
            head, offset = server.head(), server.log_size()
            out = workdir / "load.json"
            cpu = CpuUse(server.roots(load=os.getpid())).start()
            subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--url", server.base, "--token",
                            token, "--plan", str(plan_file), "--mode", mode, "--rate", str(rate), "--seconds",
                            str(args.seconds), "--batch-size", str(args.batch_size), "--out", str(out)],
                           check=True)
            used_cpu = cpu.stop()
            load = json.loads(out.read_text())
            events = server.head() - head
            rows.append({**row(kind, load, events, server.group_commits(offset), url, head),
                         **cpu_columns(used_cpu, load["assessments_recorded"]),
                         "workers": workers, "projector": args.projector})
            print_table(f"{kind} {mode} at {rate:,.0f} assessments/s offered, {workers} worker(s)", rows[-1:],
                        COLUMNS)
    finally:
        server.stop()
    return used


def cpu_columns(seconds: dict[str, float], recorded: int) -> dict[str, Any]:
    """What the step's assessments cost in CPU, per process group, and the rate the cores allow at that cost."""
    working = ("api", "projector", "postgres", "load")
    per_assessment = per_unit_ms(seconds, recorded)
    return {"busy_cores": seconds["busy_cores"], "cpu_ms_per_assessment": per_assessment,
            "cpu_ms": round(sum(per_assessment.get(g, 0) for g in working), 2),
            "cpu_ceiling_per_s": ceiling_per_s(seconds, recorded, working)}


def row(kind: str, load: dict[str, Any], events: int, commits: int, url: str, head: int) -> dict[str, Any]:
    recorded = load["assessments_recorded"]
    rate = recorded / load["seconds"]
    shape = stored_shape(url, head, commits)
    raw = raw_insert_rate(kind, shape)
    errors = {k: v for k, v in load["statuses"].items() if k not in ("200", "201")}
    return {"store": kind, "mode": load["mode"], "batch": load["batch_size"], "offered_per_s": load["offered_per_s"],
            "assessments_per_s": round(rate), **latency_summary(load["latencies_s"]),
            "requests": load["requests"], "errors": sum(errors.values()), "error_statuses": errors,
            "events_per_assessment": round(events / max(recorded, 1), 2), "events_per_s": round(rate * events
                                                                                                / max(recorded, 1)),
            "events_per_commit": shape.per_transaction, "event_bytes": shape.state_bytes,
            "raw_events_per_s": round(raw), "vs_raw": round(rate * events / max(recorded, 1) / raw, 3)}


COLUMNS = ("store", "workers", "mode", "batch", "offered_per_s", "assessments_per_s", "p50_ms", "p99_ms", "max_ms", "errors",
           "events_per_assessment", "events_per_commit", "events_per_s", "raw_events_per_s", "vs_raw", "busy_cores",
           "cpu_ms", "cpu_ceiling_per_s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rates = lambda text: [float(x) for x in text.split(",") if x]  # noqa: E731
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=8)
    # A load the server sustains (latency without a queue), and the target's.
    parser.add_argument("--single-rates", type=rates, default=[250.0, 5000.0])
    parser.add_argument("--batch-rates", type=rates, default=[600.0, 5000.0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--workers", type=lambda text: [int(x) for x in text.split(",") if x], default=[1],
                        help="API processes (`serve --workers`), each a run of every step: e.g. 1,2,4")
    parser.add_argument("--projector", choices=("embedded", "external"), default="embedded",
                        help="external: `emergency project` beside the API processes writes the views")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.stores.split(","):
            results += measure(kind, args, Path(workdir))
    print_table("HTTP ingest of damage assessments", results, COLUMNS)
    # Each projector setting keeps its own results: ingest.json (embedded), ingest_external_projector.json.
    name = "ingest" if args.projector == "embedded" else f"ingest_{args.projector}_projector"
    write_results(name, {"seconds": args.seconds, "batch_size": args.batch_size, "workers": args.workers,
                             "projector": args.projector}, results, TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
