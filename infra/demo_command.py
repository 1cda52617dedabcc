"""`emergency demo`: load a synthetic typhoon and print its timely coverage."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from emergency.scenario import ScenarioConfig, run_scenario
from infra.projections_command import catch_up, print_coverage
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import open_views


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
    views = open_views(settings)
    catch_up(service, views, "projecting")
    print_coverage(views.store, str(report.incident_id), report.until)
    return 0
