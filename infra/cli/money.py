"""`emergency import-statement` and `emergency funds …`: contributions from the command line.

    emergency import-statement FILE --fund ID [--account NO]
    emergency funds check [--campaign ID]            exit 1 if any đồng is unaccounted for
    emergency funds report [--campaign ID] [--by fund|donor-type|province]
    emergency funds trace REFERENCE [--account NO]   where a transfer went
    emergency funds disclose CAMPAIGN [--search TEXT] [--disbursements] [--since TIME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable
from uuid import UUID

from tqdm import tqdm

from emergency import areas
from emergency.commands import Meta
from emergency.errors import InvalidInput
from emergency.service import AidService, as_uuid
from emergency.statement import ImportReport, import_statement, read_statement
from infra.cli.audit import aware_time
from infra.cli.views import catch_up
from infra.settings import Settings
from infra.stores import build_service
from projections import disclosure, fund_reports, trace
from projections.catalog import open_views
from projections.rows import to_micros
from projections.runner import ProjectionSet

SHOWN_ERRORS = 200


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    statement = subparsers.add_parser("import-statement", help="record a bank statement's lines as contributions")
    statement.add_argument("file", type=Path, help="CSV: date,reference,amount,remitter,description (README)")
    statement.add_argument("--fund", required=True, help="the fund whose account the statement is of")
    statement.add_argument("--account", help="the account number (default: the fund's only account)")
    statement.add_argument("--batch-size", type=int, default=1000, help="lines per transaction")
    statement.add_argument("--actor", default="import", help="who imports, recorded on every event")
    statement.set_defaults(run=run_import)

    funds = subparsers.add_parser("funds", help="campaign funds: conservation check, reports, donor trace, "
                                                "public disclosure").add_subparsers(dest="funds_command", required=True)
    check = funds.add_parser("check", help="received = allocated out + disbursed + balance, per fund and in total")
    check.add_argument("--campaign")
    check.set_defaults(run=run_check)
    report = funds.add_parser("report", help="money per fund, donor type or province")
    report.add_argument("--campaign")
    report.add_argument("--by", choices=("fund", "donor-type", "province"), default="fund")
    report.set_defaults(run=run_report)
    follow = funds.add_parser("trace", help="where a transfer went: funds, provinces, households")
    follow.add_argument("reference", help="the bank transaction reference (or receipt number)")
    follow.add_argument("--account")
    follow.add_argument("--json", action="store_true", help="the whole path as JSON")
    follow.set_defaults(run=run_trace)
    disclose = funds.add_parser("disclose", help="the public list (sao kê): contributions or disbursements")
    disclose.add_argument("campaign")
    disclose.add_argument("--search", default="", help="a reference, an amount in VND, or a name")
    disclose.add_argument("--disbursements", action="store_true", help="list disbursements, not contributions")
    disclose.add_argument("--limit", type=int, default=50)
    disclose.add_argument("--since", type=aware_time, help="list from this moment on (default: from the first)")
    disclose.set_defaults(run=run_disclose)


# ----- import -------------------------------------------------------------------


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    service = build_service(settings)
    fund = service.funding.fund(as_uuid(args.fund, "fund"))
    account = args.account or _only_account(fund.bank_accounts)
    with args.file.open("rb") as raw:
        total = sum(1 for _ in raw) - 1
    with args.file.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle, \
            tqdm(total=max(total, 0), unit=" lines", desc="importing") as bar:
        report = import_statement(service, read_statement(handle), fund.id, account, batch_size=args.batch_size,
                                  meta=Meta(actor=args.actor, source="import"), progress=bar.update)
    print_import(report)
    return 1 if report.rejected else 0


def _only_account(accounts: list[str]) -> str:
    if len(accounts) != 1:
        raise InvalidInput(f"the fund has {len(accounts)} accounts: name one with --account", field="account")
    return accounts[0]


def print_import(report: ImportReport) -> None:
    print(f"{report.lines:,} lines: {report.recorded:,} recorded, {len(report.already_recorded):,} already recorded, "
          f"{len(report.rejected):,} rejected")
    if report.already_recorded:
        print(f"already recorded: lines {_ranges(report.already_recorded)}")
    for error in report.rejected[:SHOWN_ERRORS]:
        print(f"  {error}")
    if len(report.rejected) > SHOWN_ERRORS:
        print(f"  … and {len(report.rejected) - SHOWN_ERRORS:,} more")


def _ranges(numbers: list[int], shown: int = 20) -> str:
    """`2-1001, 1005` for [2, …, 1001, 1005]."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans[:shown])
    return text + (f", … ({len(spans) - shown} more ranges)" if len(spans) > shown else "")


# ----- reports ------------------------------------------------------------------


def _views(settings: Settings) -> tuple[AidService, ProjectionSet]:
    service = build_service(settings)
    views = open_views(settings)
    catch_up(service, views, "catching up")
    return service, views


def recorded_balances(service: AidService) -> fund_reports.RecordedBalances:
    """A fund's buckets as its aggregate records them, at a version."""
    return lambda fund_id, version: service.funding.fund(UUID(fund_id), version).balances


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    service, views = _views(settings)
    with views.store.read() as cur:
        result = fund_reports.check(cur, recorded_balances(service), args.campaign)
    print(f"{result.funds} funds: received from donors {result.received_from_donors:,} VND = disbursed "
          f"{result.disbursed:,} + balance {result.balance:,} (allocated between funds {result.allocated:,})")
    for violation in result.violations:
        print(f"VIOLATION {violation.rule} fund {violation.fund_id}: {violation.detail}")
    if result.unlisted:
        print(f"… and {result.unlisted} more violations")
    print("conservation holds" if result.ok else "conservation VIOLATED")
    return 0 if result.ok else 1


def _table(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in columns))


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    _, views = _views(settings)
    with views.store.read() as cur:
        if args.by == "donor-type":
            _table(fund_reports.by_donor_type(cur, args.campaign),
                   ["donor_type", "contributions", "cash_vnd", "in_kind_vnd"])
        elif args.by == "province":
            _table((dict(r, province_name=areas.province_name(r["province_code"]) or "")
                    for r in fund_reports.by_province(cur, args.campaign)),
                   ["province_code", "province_name", "raised_locally", "from_central", "from_other_provinces",
                    "sent_out", "disbursed", "balance"])
        else:
            flows = ["from_donors", "from_funds", "allocated_out", "disbursed", "balance"]
            _table(({"fund": f"{r['level']} {r['commune_code'] or r['province_code'] or ''}".strip(),
                     "committee": r["committee_name"], **{f"{k}": r["cash"][k] for k in flows},
                     "in_kind_balance": r["in_kind"]["balance"]} for r in fund_reports.fund_report(cur, args.campaign)),
                   ["fund", "committee", *flows, "in_kind_balance"])
    return 0


def run_trace(args: argparse.Namespace, settings: Settings) -> int:
    _, views = _views(settings)
    with views.store.read() as cur:
        found = trace.find_contributions(cur, args.reference, args.account)
        if not found:
            print(f"no contribution with reference {args.reference}", file=sys.stderr)
            return 2
        for contribution_id in found:
            result = trace.trace(cur, contribution_id)
            if args.json:
                print(json.dumps(result, ensure_ascii=False, indent=2))
            else:
                _print_path(result["path"])
                print(f"funded {result['funded_vnd']} VND of support to {result['households']} households")
    return 0


def _print_path(stop: dict[str, Any], depth: int = 0) -> None:
    pad = "  " * depth
    where = f"{stop['level']} {stop['commune_code'] or stop['province_code'] or ''}".strip()
    print(f"{pad}{stop['arrived_vnd']} VND reached {stop['committee_name']} ({where}, {stop['bucket']}); "
          f"still held {stop['still_held_vnd']}")
    for funded in stop["funded"]:
        print(f"{pad}  → household {funded['household_id']} {funded['support_type']}: {funded['amount_vnd']} VND")
    for child in stop["allocated"]:
        _print_path(child, depth + 1)


def run_disclose(args: argparse.Namespace, settings: Settings) -> int:
    _, views = _views(settings)
    with views.store.read() as cur:
        totals = disclosure.totals(cur, args.campaign)
        print(", ".join(f"{k} {v:,}" for k, v in totals.items()))
        start = (to_micros(args.since), "") if args.since else None  # every id sorts after ""
        if args.disbursements:  # the list with names for the commune's notice board, its name too
            _table((dict(r, commune_name=areas.commune_name(r["commune_code"]) or "")
                    for r in disclosure.disbursements(cur, args.campaign, args.search, args.limit, start)),
                   [*disclosure.DISBURSEMENT_FIELDS[1:5], "commune_name", *disclosure.DISBURSEMENT_FIELDS[5:]])
        else:
            _table(disclosure.contributions(cur, args.campaign, args.search, args.limit, start),
                   ["received_at", "reference", "receipt_number", "donor_name", "donor_type", "value_vnd", "item",
                    "quantity", "bucket", "committee_name", "description"])
    return 0
