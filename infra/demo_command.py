"""`emergency demo`: load a synthetic typhoon and print its timely coverage."""

from __future__ import annotations

import argparse
from datetime import datetime

from tqdm import tqdm

from emergency import clock
from emergency.scenario import ScenarioConfig, run_scenario
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.cases import CaseFile
from projections.coverage import coverage, overdue


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="load a synthetic typhoon into the store and print its coverage")
    demo.add_argument("--households", type=int, default=3000)
    demo.add_argument("--provinces", type=int, default=4, choices=range(1, 7))
    demo.add_argument("--seed", type=int, default=2024)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    service = build_service(settings)
    config = ScenarioConfig(households=args.households, provinces=args.provinces, seed=args.seed)
    print(f"Loading a synthetic typhoon: {args.households} households in {args.provinces} provinces "
          f"into {settings.database_url}")
    with tqdm(unit=" commands", desc="recording") as bar:
        report = run_scenario(service, config, progress=bar.update)
    print(f"{report.commands} commands recorded"
          + (f", refused: {report.refused}" if report.refused else ""))
    print_coverage(service, str(report.incident_id), report.until)
    return 0


def load_cases(service: AidService) -> CaseFile:
    cases = CaseFile()
    after = 0
    with tqdm(unit=" events", desc="reading the log") as bar:
        while page := service.log(after, 10_000):
            for envelope in page:
                cases.apply(envelope)
            after = page[-1].notification_id or after
            bar.update(len(page))
    return cases


def print_coverage(service: AidService, incident_id: str, now: datetime) -> None:
    cases = [c for c in load_cases(service).cases.values() if c.incident_id == incident_id]
    local = now.astimezone(clock.VIETNAM).strftime("%Y-%m-%d %H:%M")
    print(f"\nTimely coverage against the 100% target, incident {incident_id}, as of {local} (Hà Nội time)")
    header = ("province", "households", "entitled", "on time", "late", "overdue", "pending", "timely %",
              "median h", "VND disbursed / entitled")
    print(" | ".join(header))
    rows = coverage(cases, now, "province") + [dict(coverage(cases, now, "incident")[0], province_code="ALL")]
    for row in rows:
        print(" | ".join(str(v) for v in (
            row["province_code"], row["households_in_need"], row["entitlements"], row["disbursed_on_time"],
            row["late"], row["overdue"], row["within_deadline"], row["timely_pct"],
            row["median_hours_to_delivery"], f"{row['disbursed_vnd']:,} / {row['entitled_vnd']:,}")))
    gap = overdue(cases, now)
    print(f"\nIn the gap: {len(gap)} overdue entitlements. Oldest:")
    for case in gap[:5]:
        late_h = (now - case.due_at).total_seconds() / 3600
        owed = f"{case.amount_vnd:,} VND" if case.amount_vnd is not None else f"{case.quantity} {case.unit}"
        print(f"  household {case.household_id} commune {case.commune_code}: {case.support_type} "
              f"({owed}) overdue by {late_h:.0f} h")
