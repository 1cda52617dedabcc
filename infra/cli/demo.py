"""`emergency demo`: the story of a typhoon like Yagi, told in the store.

Over the provinces Typhoon Yagi struck (official codes and names), a typhoon
that began nine days ago: field teams assess households over eight days,
officers decide and pay, some on time, some late, some not yet; some
households' details are corrected. Beside it, the Fatherland Front's relief
campaign: a central fund fed by a bank statement (anonymous and earmarked
transfers among them), allocations to the provincial committees and on to the
communes, payments to households from those funds, a few voided. Both play in
one time order. Then it prints the timely coverage and the campaign's totals;
with `--serve` it serves the dashboard (with a coordinator token made for the
demo) and the public page on the store.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from tqdm import tqdm

from api.tokens import TokenStore
from emergency import clock
from emergency.campaign_scenario import CampaignConfig, CampaignPlay, Step
from emergency.scenario import YAGI_PROVINCES, ScenarioConfig, run_scenario
from infra.cli.serve import listening_on, serve
from infra.cli.views import catch_up, print_coverage
from infra.settings import Settings
from infra.stores import build_service
from projections import disclosure, fund_reports
from projections.catalog import open_views
from projections.runner import ProjectionSet

STORM_AGO = timedelta(days=9)  # the campaign's last step (CAMPAIGN_SPAN after the storm) is behind us
REACH = timedelta(days=8)  # field teams reach the last households a day ago: some are still within deadline


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser("demo", help="load a typhoon over Yagi's provinces and its relief campaign, "
                                              "print its coverage; with --serve, then serve the pages on it")
    demo.add_argument("--households", type=int, default=3000)
    demo.add_argument("--provinces", type=int, default=len(YAGI_PROVINCES), choices=range(1, 35),
                      metavar="1-34", help=f"how many provinces (default: Yagi's {len(YAGI_PROVINCES)})")
    demo.add_argument("--contributions", type=int, default=3000, help="bank transfers on the campaign's statement")
    demo.add_argument("--statement", type=Path, default=Path("var/demo-statement.csv"),
                      help="where to write the statement the campaign imports")
    demo.add_argument("--seed", type=int, default=2024)
    demo.add_argument("--serve", action="store_true", help="then serve the dashboard and the public page")
    demo.add_argument("--host", help="with --serve: address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=int, help="with --serve: port to listen on (default 8080)")
    demo.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    service = build_service(settings)
    now = clock.now()
    storm = now - STORM_AGO
    args.statement.parent.mkdir(parents=True, exist_ok=True)
    print(f"Loading a typhoon over {args.provinces} provinces Yagi struck: {args.households} households, "
          f"and the Fatherland Front's relief campaign ({args.contributions} bank transfers), "
          f"into {settings.database_url}")

    with tqdm(unit=" commands", desc="recording") as bar:
        plays: list[CampaignPlay] = []

        def relief_campaign(incident_id: UUID) -> list[Step]:
            """The campaign for the typhoon's incident, in its communes."""
            plays.append(CampaignPlay(service, CampaignConfig(
                statement=args.statement, contributions=args.contributions, storm=storm, incident_id=incident_id,
                provinces=args.provinces, communes_per_province=2, households_per_commune=10,
                local_receipts_per_province=10, seed=args.seed), bar.update))
            return plays[0].steps()

        report = run_scenario(service, ScenarioConfig(
            households=args.households, provinces=args.provinces, started_at=storm, until=now, seed=args.seed,
            reach_hours=REACH / timedelta(hours=1), correction_share=0.03), progress=bar.update,
            alongside=relief_campaign)
    relief = plays[0].report
    refused = {k: report.refused.get(k, 0) + relief.refused.get(k, 0) for k in {*report.refused, *relief.refused}}
    print(f"{report.commands + relief.commands} commands recorded" + (f", refused: {refused}" if refused else ""))
    views = open_views(settings)
    catch_up(service, views, "projecting")
    print_coverage(views.store, str(report.incident_id), now)
    print_campaign(views, str(relief.campaign_id))
    if args.serve:
        serving = listening_on(settings, args.host, args.port)
        token = TokenStore.from_settings(settings).create("Điều phối viên (demo)", "coordinator")[1]
        serve(serving, lambda: print_urls(serving, token))
    return 0


def print_campaign(views: ProjectionSet, campaign_id: str) -> None:
    with views.store.read() as cur:
        totals = disclosure.totals(cur, campaign_id)
        provinces = fund_reports.by_province(cur, campaign_id)
    allocated = sum(p["from_central"] + p["from_other_provinces"] for p in provinces)
    print(f"\nRelief campaign {campaign_id}: {totals['contributions']:,} contributions, "
          f"{totals['received_cash_vnd']:,} VND and goods worth {totals['received_in_kind_vnd']:,} VND received; "
          f"{allocated:,} VND allocated to {len(provinces)} provinces; {totals['disbursed_cash_vnd']:,} VND paid to "
          f"{totals['households']:,} households from its funds")


def print_urls(settings: Settings, token: str) -> None:
    base = f"http://{settings.host}:{settings.port}"
    print(f"\nServing the demo at {base} (Ctrl-C stops it)\n"
          f"  dashboard, for coordinators: {base}/dashboard\n"
          f"    sign in with the token made for this demo: {token}\n"
          f"  public page, no token:        {base}/transparency", flush=True)
