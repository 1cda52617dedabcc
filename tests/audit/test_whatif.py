"""What-if: a past incident recomputed under another base level or rule version, recording nothing."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from emergency import clock, commands
from emergency.policy import load_policy
from emergency.service import AidService
from emergency.whatif import Rules, fold_incident, what_if
from infra.cli import main
from infra.cli.audit import domain_events
from infra.settings import Settings
from tests.support.factories import COMMUNES, STORM_START, assess, disburse, open_incident, register

LATER = STORM_START + timedelta(days=10)


@pytest.fixture
def storm(service: AidService) -> dict[str, UUID]:
    """September 2024 (base level 500,000 VND): a household with one dead and one
    injured, paid its burial support in full on time; a second, only injured, unpaid."""
    with clock.frozen_at(STORM_START + timedelta(hours=40)):
        incident = open_incident(service)
        paid = register(service, incident, members=4, flags=["poor"])
        assess(service, paid, dead=1, injured=1, house_damage="total")
        service.execute(commands.RecordDecision(household_id=paid, support_type="BURIAL", decision="approve",
                                         decided_by="Chủ tịch UBND xã", decided_at=STORM_START + timedelta(hours=25)))
        disburse(service, paid, "BURIAL", amount_vnd=25_000_000)
        unpaid = register(service, incident, members=3, flags=[], commune_code=COMMUNES[1])
        assess(service, unpaid, dead=0, injured=1, house_damage="partial", persons_short_of_food=0)
    return {"incident": incident, "paid": paid, "unpaid": unpaid}


def report_of(service: AidService, incident: UUID, rules: Rules, policy=None):
    households = fold_incident(domain_events(service.app, "test"), incident)
    return what_if(*households, policy or service.policy, rules, LATER)


def lines_by(report) -> dict[tuple[str, str], object]:
    return {(line.household_id, line.support_type): line for line in report.lines}


def test_the_2021_base_level_lowers_base_linked_supports_only(service: AidService, storm):
    before = service.last_notification_id()
    report = report_of(service, storm["incident"], Rules(base_level_on=date(2021, 7, 1)))
    lines = lines_by(report)
    burial = lines[(str(storm["paid"]), "BURIAL")]
    assert (burial.recorded_vnd, burial.what_if_vnd, burial.change) == (25_000_000, 18_000_000, "less")
    assert burial.what_if.base_level_vnd == 360_000 and burial.recorded["base_level_vnd"] == 500_000
    injured = lines[(str(storm["unpaid"]), "INJURED")]
    assert (injured.recorded_vnd, injured.what_if_vnd) == (5_000_000, 3_600_000)
    rebuild = lines[(str(storm["paid"]), "HOUSE_REBUILD")]
    assert (rebuild.what_if_vnd, rebuild.change) == (40_000_000, "same")
    totals = report.totals()["ALL"]
    assert totals["difference_vnd"] == -(7_000_000 + 1_400_000 + 1_400_000)
    assert service.last_notification_id() == before  # nothing recorded


def test_a_higher_base_level_leaves_a_paid_household_short(service: AidService, storm):
    report = report_of(service, storm["incident"], Rules(base_level_on=date(2026, 7, 1)))
    burial = lines_by(report)[(str(storm["paid"]), "BURIAL")]
    assert burial.what_if_vnd == 27_000_000 and burial.delivered_vnd == 25_000_000
    assert burial.state(LATER) == "overdue"  # under these rules the family was not paid in full
    recorded = report_of(service, storm["incident"], Rules(base_level_on=date(2024, 7, 1)))
    assert lines_by(recorded)[(str(storm["paid"]), "BURIAL")].state(LATER) == "on_time"
    assert report.totals()["BURIAL"]["still_owed_vnd"] == 2_000_000
    assert report.totals()["BURIAL"]["timely_pct"] == 0.0
    assert recorded.totals()["BURIAL"]["timely_pct"] == 100.0


def test_another_rule_version_by_name(service: AidService, storm, tmp_path: Path):
    override = tmp_path / "31.toml"
    override.write_text('province = "31"\n[[version]]\nid = "HP-2025"\neffective_from = 2025-01-01\n'
                        '[version.support.HOUSE_REBUILD]\nfixed_vnd = 60000000\n')
    report = report_of(service, storm["incident"], Rules(version_id="ND20-2021+HP-2025"), load_policy([override]))
    rebuild = lines_by(report)[(str(storm["paid"]), "HOUSE_REBUILD")]
    assert (rebuild.recorded["rule_version"], rebuild.what_if.rule_version) == ("ND20-2021", "ND20-2021+HP-2025")
    assert (rebuild.recorded_vnd, rebuild.what_if_vnd) == (40_000_000, 60_000_000)


def test_cli_prints_totals_and_writes_every_household(service: AidService, storm, settings: Settings,
                                                      tmp_path: Path, capsys):
    before = service.last_notification_id()
    out = tmp_path / "households.csv"
    code = main(["--database-url", settings.database_url, "what-if", "--incident", str(storm["incident"]),
                 "--base-level-on", "2021-07-01", "--at", LATER.isoformat(), "--households", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "25,000,000 → 18,000,000" in printed
    assert "2 households would be entitled differently" in printed
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    burial = next(r for r in rows if r["household_id"] == str(storm["paid"]) and r["support_type"] == "BURIAL")
    assert (burial["recorded_amount_vnd"], burial["what_if_amount_vnd"], burial["state"]) == (
        "25000000", "18000000", "on_time")
    assert service.last_notification_id() == before


def test_cli_refuses_without_rules_or_with_unknown_ones(storm, settings: Settings, capsys):
    incident = str(storm["incident"])
    assert main(["--database-url", settings.database_url, "what-if", "--incident", incident]) == 2
    assert "field --rule-version" in capsys.readouterr().err
    assert main(["--database-url", settings.database_url, "what-if", "--incident", incident,
                 "--rule-version", "ND99"]) == 2
    assert "unknown rule version" in capsys.readouterr().err
    assert main(["--database-url", settings.database_url, "what-if", "--incident",
                 "00000000-0000-4000-8000-00000000dead", "--base-level-on", "2021-07-01"]) == 2
    assert "no incident" in capsys.readouterr().err
