"""Finding possible duplicates as the households grow: registrations in
batches of 1,000, a share of them a second record of a household already
registered, on a fresh store each.

    python bench/duplicates.py [--stores sqlite,postgres] [--households 400000] [--again 0.01]

Reports registrations/s of the first and the last tenth (a lookup by id
costs the same at any size: the two should match), the pairs found, and the
plan of the listing's query (`projections.duplicates.unresolved`) on SQLite
after the views have caught up. Writes bench/results/duplicates.json.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from common import fresh_store, print_table, views_beside, write_results
from tqdm import tqdm

from emergency import commands  # noqa: E402
from emergency.scenario import FAMILY_NAMES, FIRST_NAMES, scenario_areas  # noqa: E402
from emergency.service import Submission  # noqa: E402
from infra.settings import Settings, sqlite_path  # noqa: E402
from infra.stores import build_service  # noqa: E402
from projections.catalog import open_views  # noqa: E402
from projections.runner import EmbeddedRunner  # noqa: E402

BATCH = 1000
META = commands.Meta(actor="bench", source="bench")


def run(url: str, households: int, again: float) -> dict[str, Any]:
    rng = random.Random(11)
    settings = Settings(database_url=url, views_database_url=views_beside(url))
    service = build_service(settings)
    areas = scenario_areas(4, 12)
    codes = [code for area in areas.values() for code in area]
    try:
        incident = service.execute(commands.OpenIncident(
            incident_type="storm", title="Bão Yagi (bench)", started_at=datetime.now(timezone.utc) - timedelta(days=1),
            areas=[commands.Area(province_code=p, commune_codes=list(cs)) for p, cs in areas.items()]), META).result
        registered: list[tuple[str, str, int]] = []
        rates, pairs = [], 0
        for start in tqdm(range(0, households, BATCH), unit="batch", desc="register"):
            batch = []
            for i in range(start, min(start + BATCH, households)):
                if registered and rng.random() < again:  # a second team's record of one already registered
                    commune, name, members = rng.choice(registered)
                else:
                    commune, members = rng.choice(codes), rng.choice((1, 2, 3, 4, 4, 5, 6))
                    name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(FIRST_NAMES)} {i + 1}"
                    registered.append((commune, name, members))
                batch.append(Submission(commands.RegisterHousehold(
                    household_id=uuid.uuid4(), incident_id=incident["incident_id"], commune_code=commune,
                    head_name=name, members=members), META))
            began = time.perf_counter()
            outcomes = service.execute_batch(batch)
            rates.append(len(batch) / (time.perf_counter() - began))
            pairs += sum(len(o.result["duplicate_candidates"]) for o in outcomes)
        tenth = max(1, len(rates) // 10)
        found = {"households": households, "pairs": pairs,
                 "first_tenth_per_s": sum(rates[:tenth]) / tenth, "last_tenth_per_s": sum(rates[-tenth:]) / tenth}
        if url.startswith("sqlite"):
            found["listing_plan"] = _listing_plan(settings, service, incident["incident_id"], codes[0])
        return found
    finally:
        service.app.close()


def _listing_plan(settings: Settings, service: Any, incident_id: str, commune: str) -> str:
    views = open_views(settings)
    try:
        EmbeddedRunner(service.app.recorder, views).catch_up()
    finally:
        views.store.close()
    with sqlite3.connect(sqlite_path(settings.views_url())) as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT * FROM dup_pairs WHERE incident_id = ? AND commune_code = ? "
                          "AND status = 'unresolved' AND pair_id > ? ORDER BY pair_id LIMIT 100",
                          (incident_id, commune, "")).fetchall()
    return "; ".join(row[-1] for row in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--households", type=int, default=400_000)
    parser.add_argument("--again", type=float, default=0.01, help="share registered a second time")
    args = parser.parse_args()
    results = []
    for kind in args.stores.split(","):
        with fresh_store(kind, "dup") as url:
            results.append({"store": kind, **run(url, args.households, args.again)})
    print_table("Possible duplicates found on registration", results,
                ("store", "households", "pairs", "first_tenth_per_s", "last_tenth_per_s"))
    for r in results:
        if "listing_plan" in r:
            print(f"{r['store']} listing plan: {r['listing_plan']}")
    write_results("duplicates", vars(args), results)


if __name__ == "__main__":
    main()
