"""`emergency rebuild` and `emergency coverage`: the projections from the command line."""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from tqdm import tqdm

from emergency import areas, clock
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections import parallel
from projections.asof import instant
from projections.catalog import PROJECTIONS, open_views
from projections.coverage import GROUPINGS, KNOWN, Filters, coverage, overdue
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import ViewStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rebuild = subparsers.add_parser("rebuild", help="drop every projection and rebuild it from the event log")
    rebuild.add_argument("--batch-size", type=int, default=20_000, help="events per transaction")
    rebuild.add_argument("--projection", action="append", choices=[p.name for p in PROJECTIONS], help=(
        "rebuild only this one (repeatable); the others keep their rows and positions"))
    rebuild.add_argument("--jobs", type=int, default=1, metavar="N", help=(
        "processes: the log-ordered projections (coverage) in one, the others split by aggregate over the rest"))
    rebuild.set_defaults(run=run_rebuild)
    report = subparsers.add_parser("coverage", help="timely coverage of an incident, now or as of a past point")
    report.add_argument("--incident", required=True, help="incident id")
    report.add_argument("--by", choices=sorted(GROUPINGS), default="province")
    report.add_argument("--as-of", help="an ISO time with offset, or a notification id (default: now)")
    report.add_argument("--known", choices=KNOWN, default="then",
                        help="with --as-of: 'then' = as known at that point, 'now' = as now known for it")
    report.add_argument("--overdue", type=int, default=5, metavar="N", help="list the N oldest overdue cases")
    report.set_defaults(run=run_coverage)


def catch_up(service: AidService, views: ProjectionSet, desc: str, batch_size: int = 5000) -> int:
    """Bring `views` up to the log's head, with a progress bar."""
    runner = EmbeddedRunner(service.app.recorder, views, batch_size=batch_size)
    head = service.last_notification_id()
    with tqdm(total=max(head - views.position, 0), unit=" events", desc=desc) as bar:
        return runner.catch_up(progress=bar.update)


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    service = build_service(settings)
    views = open_views(settings, only=args.projection)
    views.drop_all()
    parallel.tune_gc()
    started = time.perf_counter()
    until = service.last_notification_id()
    if args.jobs > 1 and until:
        folded = rebuild_in_parallel(views, settings, args.jobs, until, args.batch_size)
        done = max(f.events for f in folded)
    else:
        folded, done = [], catch_up(service, views, "rebuilding", args.batch_size)
    elapsed = time.perf_counter() - started
    print(f"rebuilt {', '.join(p.name for p in views.projections)} from {done} events in {elapsed:.1f} s "
          f"({done / elapsed if elapsed else 0:,.0f} events/s), position {views.position}")
    for shard in folded:
        print(f"  process {shard.index}: {shard.events} events read, peak memory {shard.peak_rss_mib} MiB")
    print(f"  main process: peak memory {parallel.peak_rss_mib()} MiB")
    return 0


def rebuild_in_parallel(views: ProjectionSet, settings: Settings, jobs: int, until: int,
                        batch_size: int) -> list[parallel.Folded]:
    """`parallel.rebuild` with a progress bar per process."""
    shards = parallel.plan(views.projections, jobs)
    bars = [tqdm(total=until, unit=" events", desc=f"rebuilding {shard.label}", position=i)
            for i, shard in enumerate(shards)]
    try:
        return parallel.rebuild(views, settings.views_url(), settings.database_url, shards, until, batch_size,
                                lambda index, events: bars[index].update(events))
    finally:
        for bar in bars:
            bar.close()


def run_coverage(args: argparse.Namespace, settings: Settings) -> int:
    service = build_service(settings)
    views = open_views(settings)
    catch_up(service, views, "catching up")
    point = instant(views.store, service.app.recorder, args.as_of, clock.now)
    print_coverage(views.store, args.incident, point.at, args.by, args.overdue, args.known, point.position)
    return 0


def _named(column: str, code: str) -> str:
    """An area code with its official name: `15 Lào Cai`, `02998 Xã Phúc Khánh`."""
    name = (areas.province_name(code) if column == "province_code"
            else areas.commune_name(code) if column == "commune_code" else None)
    return f"{code} {name}" if name else str(code)


def print_coverage(store: ViewStore, incident_id: str, at: datetime, by: str = "province",
                   oldest_overdue: int = 5, known: str = "now", position: int | None = None) -> None:
    local = at.astimezone(clock.VIETNAM).strftime("%Y-%m-%d %H:%M")
    print(f"\nTimely coverage against the 100% target, incident {incident_id}, at {local} (Hà Nội time)")
    columns = GROUPINGS[by][1:]
    header = (*(by_name for by_name in columns), "households", "entitled", "on time", "late", "overdue", "pending",
              "timely %", "median h", "p90 h", "VND disbursed / entitled", "rice kg delivered / entitled")
    print(" | ".join(header))
    total = coverage(store, incident_id, at, "incident", known, position=position)
    rows = ([] if by == "incident" else coverage(store, incident_id, at, by, known, position=position)) + \
        [dict(total[0], **{c: "ALL" for c in columns})] if total else []
    for row in rows:
        print(" | ".join(str(v) for v in (
            *(_named(c, row[c]) for c in columns), row["households_in_need"], row["entitlements"],
            row["disbursed_on_time"], row["late"], row["overdue"], row["within_deadline"], row["timely_pct"],
            row["median_hours_to_delivery"], row["p90_hours_to_delivery"],
            f"{row['disbursed_vnd']:,} / {row['entitled_vnd']:,}",
            f"{row['rice_delivered_kg']:,} / {row['rice_entitled_kg']:,}")))
    count, oldest = overdue(store, at, Filters(incident_id), limit=oldest_overdue, known=known, position=position)
    print(f"\nIn the gap: {count} overdue entitlements." + (" Oldest:" if oldest else ""))
    for case in oldest:
        owed = f"{case['owed_vnd']:,} VND" if case["owed_vnd"] is not None else f"{case['owed_quantity']} {case['unit']}"
        print(f"  household {case['household_id']} in {_named('commune_code', case['commune_code'])}: "
              f"{case['support_type']} ({owed} owed) overdue by {case['overdue_hours']:.0f} h")
