"""How long a day of Yagi bank transfers takes to import, check and project.

    python bench/import_statement.py [--lines 400000] [--stores sqlite,postgres] [--batch-size 1000]

For each store: a fresh event store with a Fatherland Front campaign and its
central fund; a synthetic statement of `--lines` transfers over one day
(deterministic, as the tests use); then measures
- import: the statement through `emergency.statement.import_statement`
  (lines/s, wall and CPU), each line a contribution, each batch of lines one
  event of the fund;
- re-import: the same file again (records nothing, reports every line);
- project: the funds projection caught up from an empty view store;
- check: the conservation check over the projected rows;
and, as a yardstick, eventsourcing's plain recorder inserting as many events
of the same size in transactions of the same size. Writes
bench/results/import_statement.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from common import (
    WORK,
    fresh_store,
    peak_rss_mib,
    print_table,
    raw_insert_rate,
    stored_shape,
    views_beside,
    write_results,
)

from emergency import clock  # noqa: E402
from emergency.campaign_scenario import CENTRAL_ACCOUNT, STATEMENT_DAY, STORM, write_statement  # noqa: E402
from emergency.funding import commands as funding_commands  # noqa: E402
from emergency.statement import import_statement, read_statement  # noqa: E402
from infra.cli.money import recorded_balances  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service  # noqa: E402
from projections import fund_reports  # noqa: E402
from projections.funds import FundsProjection  # noqa: E402
from projections.runner import EmbeddedRunner, ProjectionSet  # noqa: E402
from projections.store import open_view_store  # noqa: E402


def measure(kind: str, lines: int, batch_size: int) -> list[dict[str, Any]]:
    statement = WORK / f"statement-{lines}.csv"
    if not statement.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        with statement.open("w", encoding="utf-8", newline="") as handle:
            write_statement(handle, lines)
    rows = []
    with fresh_store(kind, "statement") as url:
        settings = Settings(database_url=url, views_database_url=views_beside(url) or
                            url.replace(".sqlite", "-views.sqlite"))
        service = build_service(settings)
        with clock.frozen_at(STORM + timedelta(hours=3)):
            campaign = service.execute(funding_commands.LaunchCampaign(
                title="Ủng hộ đồng bào bão số 3", mobiliser_type="fatherland_front",
                mobiliser_name="Ban Cứu trợ Trung ương", launched_at=STORM + timedelta(hours=2))).result
            fund = service.execute(funding_commands.OpenFund(campaign_id=campaign["campaign_id"], level="central",
                                               committee_name="Ban Cứu trợ Trung ương",
                                               bank_accounts=[CENTRAL_ACCOUNT])).result["fund_id"]
        after = service.last_notification_id()

        def run_import() -> tuple[Any, float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            with clock.frozen_at(STATEMENT_DAY + timedelta(days=1, hours=2)), \
                    statement.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
                report = import_statement(service, read_statement(handle), fund, CENTRAL_ACCOUNT,
                                          batch_size=batch_size)
            return report, time.perf_counter() - wall, time.process_time() - cpu

        first, wall, cpu = run_import()
        assert first.recorded == lines, first.rejected[:3]
        imported = _row(kind, "import", lines, wall, cpu)
        rows.append(imported)
        again, wall, cpu = run_import()
        assert again.recorded == 0 and len(again.already_recorded) == lines
        rows.append(_row(kind, "re-import", lines, wall, cpu))
        shape = stored_shape(url, after, -(-lines // batch_size))
        imported["note"] = f"{shape.events:,} events stored, {shape.events / lines:.3f} a line"
        views = ProjectionSet(open_view_store(settings.views_url()), [FundsProjection()])
        wall, cpu = time.perf_counter(), time.process_time()
        events = EmbeddedRunner(service.app.recorder, views).catch_up()
        projected = _row(kind, "project", events, time.perf_counter() - wall, time.process_time() - cpu)
        rows.append(projected)
        total = imported["seconds"] + projected["seconds"]  # what the target measures
        rows.append({"store": kind, "step": "import + project", "items": lines, "seconds": round(total, 1),
                     "per_second": lines / total, "cpu_seconds": None, "note": "target: ≤ 100 s at 400,000 lines"})
        wall, cpu = time.perf_counter(), time.process_time()
        with views.store.read() as cur:
            result = fund_reports.check(cur, recorded_balances(service))
        assert result.ok and result.received_from_donors == result.balance
        rows.append(_row(kind, "check", lines, time.perf_counter() - wall, time.process_time() - cpu))
        views.store.close()
        service.app.close()
        raw = raw_insert_rate(kind, shape)
        rows.append({"store": kind, "step": "raw recorder", "items": shape.events, "seconds": shape.events / raw,
                     "per_second": raw, "cpu_seconds": None,
                     "note": f"{shape.per_transaction} events of {shape.state_bytes} bytes per transaction"})
    return rows


def _row(kind: str, step: str, items: int, wall: float, cpu: float) -> dict[str, Any]:
    return {"store": kind, "step": step, "items": items, "seconds": round(wall, 1), "per_second": items / wall,
            "cpu_seconds": round(cpu, 1), "note": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=400_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    rows = [row for kind in args.stores.split(",") for row in measure(kind, args.lines, args.batch_size)]
    print_table(f"Bank statement of {args.lines:,} lines (one day of the Yagi campaign)", rows,
                ["store", "step", "items", "seconds", "per_second", "cpu_seconds", "note"])
    print(f"peak memory {peak_rss_mib()} MiB")
    write_results("import_statement", {"lines": args.lines, "batch_size": args.batch_size,
                                       "peak_rss_mib": peak_rss_mib()}, rows)


if __name__ == "__main__":
    main()
