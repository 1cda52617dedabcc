"""Contributions saved in one batch are one event of their fund together, and
each still shows as its own contribution: in the movements, the trace, the
public list and the command's log positions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from uuid import UUID

import pytest

from emergency import clock
from emergency.commands import Command
from emergency.errors import AidError
from emergency.funding import commands as funding_commands
from emergency.service import AidService, Outcome, Submission
from infra.cli import main
from infra.settings import Settings
from infra.stores import build_service
from projections import disclosure, export_iati, trace
from tests.support.fund_builders import Funds, bank, hours, open_funds, views_of


@pytest.fixture
def funds(service: AidService) -> Funds:
    with clock.frozen_at(hours(72)):
        return open_funds(service)


def run(service: AidService, *commands: Command) -> list[Outcome | AidError]:
    with clock.frozen_at(hours(72)):
        return service.execute_batch([Submission(command) for command in commands])


def fund_events(service: AidService, fund_id: UUID) -> list[str]:
    return [e.type for e in service.aggregate_history(fund_id)]


def test_a_batch_of_contributions_is_one_fund_event_and_each_keeps_its_own_movement(
        service: AidService, funds: Funds, settings: Settings):
    outcomes = run(service, bank(funds.central, "FT101", 500_000), bank(funds.central, "FT102", 2_000_000),
                   bank(funds.central, "FT103", 300_000, earmark={"kind": "province", "province_code": "31"}))
    assert all(isinstance(o, Outcome) for o in outcomes)
    assert fund_events(service, funds.central) == ["Opened", "ContributionsReceived"]
    fund = service.funding.fund(funds.central)
    assert fund.holding("none", "cash") == (2_500_000, 2_500_000)
    assert fund.holding("province:31", "cash") == (300_000, 300_000)
    # Each command is told the fund event's position beside its contribution's.
    fund_event = next(e for e in service.log() if e.kind == "Fund.ContributionsReceived")
    assert all(fund_event.notification_id in o.notification_ids and len(o.notification_ids) == 2
               for o in outcomes if isinstance(o, Outcome))
    views = views_of(service, settings.views_url())
    with views.store.read() as cur:
        movements = cur.execute("SELECT c.reference, m.bucket, m.value_vnd, m.balance_before FROM funds_movement m "
                                "JOIN funds_contribution c ON c.contribution_id = m.ref WHERE m.fund_id = ? AND "
                                "m.kind = 'contribution'", (str(funds.central),)).fetchall()
        # one row each, with the bucket's value before it in the order the lines came
        assert sorted(movements) == [("FT101", "none", 500_000, 0), ("FT102", "none", 2_000_000, 500_000),
                                     ("FT103", "province:31", 300_000, 0)]
        first = str(outcomes[0].result["contribution_id"])  # type: ignore[union-attr]
        assert trace.trace(cur, first)["path"]["still_held_vnd"] == "500000.00"
        listed = disclosure.contributions(cur, str(funds.campaign))
        public = disclosure.totals(cur, str(funds.campaign))
    assert sorted(item["reference"] for item in listed) == ["FT101", "FT102", "FT103"]
    assert (public["contributions"], public["received_cash_vnd"]) == (3, 2_800_000)


def test_another_command_of_the_batch_sees_the_contributions_gathered_before_it(service: AidService, funds: Funds):
    allocation = funding_commands.AllocateFunds(from_fund_id=funds.central, to_fund_id=funds.province,
                                                amount_vnd=2_500_000, allocated_at=hours(20), decided_by="Thường trực")
    outcomes = run(service, bank(funds.central, "FT201", 500_000), bank(funds.central, "FT202", 2_000_000),
                   allocation, bank(funds.central, "FT203", 100_000))
    assert all(isinstance(o, Outcome) for o in outcomes), outcomes
    # the allocation's own positions do not include the contributions' event
    assert len(outcomes[2].notification_ids) == 2  # type: ignore[union-attr]
    assert fund_events(service, funds.central) == ["Opened", "ContributionsReceived", "AllocatedOut",
                                                   "ContributionReceived"]
    assert service.funding.fund(funds.central).holding("none", "cash") == (100_000, 100_000)


def test_a_refused_line_leaves_the_others_of_its_batch_recorded_together(service: AidService, funds: Funds):
    run(service, bank(funds.central, "FT301", 500_000))
    outcomes = run(service, bank(funds.central, "FT302", 700_000), bank(funds.central, "FT301", 500_000),
                   bank(funds.central, "FT303", 800_000, received_at=hours(0)))
    assert isinstance(outcomes[0], Outcome)
    assert [getattr(o, "code", None) for o in outcomes[1:]] == ["already_recorded", "outside_campaign_window"]
    assert fund_events(service, funds.central) == ["Opened", "ContributionReceived", "ContributionReceived"]
    assert service.funding.fund(funds.central).holding("none", "cash") == (1_200_000, 1_200_000)


def test_the_iati_export_pages_through_a_fund_event_of_more_contributions_than_a_page(
        service: AidService, funds: Funds, settings: Settings, tmp_path: Path):
    lines = [bank(funds.central, f"FT4{n:05}", 10_000 + n) for n in range(export_iati.PAGE + 1)]
    assert all(isinstance(o, Outcome) for o in run(service, *lines))
    assert fund_events(service, funds.central) == ["Opened", "ContributionsReceived"]
    out = tmp_path / "iati.xml"
    assert main(["--database-url", settings.database_url, "export", "iati", "--campaign", str(funds.campaign),
                 "--output", str(out)]) == 0
    central = next(a for a in ET.parse(out).getroot().findall("iati-activity")
                   if a.find("reporting-org").get("ref") == str(funds.central))
    incoming = [int(t.find("value").text) for t in central.findall("transaction")
                if t.find("transaction-type").get("code") == "1"]
    assert sorted(incoming) == [line.amount_vnd for line in lines]


def test_a_fund_read_back_past_its_snapshots_holds_what_its_events_say(service: AidService, funds: Funds,
                                                                       settings: Settings):
    for n in range(120):  # a statement of single lines: one fund event each, past a snapshot
        run(service, bank(funds.central, f"FT5{n:05}", 1_000 + n))
    run(service, *(bank(funds.central, f"FT6{n:05}", 100) for n in range(50)))
    fresh = build_service(settings)  # nothing cached: the fund is rebuilt from the store
    try:
        total = sum(1_000 + n for n in range(120)) + 50 * 100
        assert fresh.funding.fund(funds.central).holding("none", "cash") == (total, total)
        at = sum(1_000 + n for n in range(109))  # version 110: after Opened and 109 contributions
        assert fresh.funding.fund(funds.central, version=110).holding("none", "cash") == (at, at)
    finally:
        fresh.app.close()
