"""A synthetic relief campaign, from bank lines to households. Deterministic for a seed.

`write_statement` writes a bank statement in the import format (the benchmark
and the tests import it); `run_campaign` plays a whole campaign through the
service under a simulated clock (`CampaignPlay` gives its steps, to play
between a typhoon's): a Fatherland Front campaign with a central
fund fed by a statement, province funds raising money and rice locally,
allocations central → province → commune, household cases decided and paid
from the commune funds, a few payments voided. Its provinces and communes are
real (those of `emergency.scenario`), over an incident of its own or a given
one; names of people and accounts are invented.
"""

from __future__ import annotations

import csv
import functools
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TextIO
from uuid import UUID

from emergency import areas as official
from emergency import clock
from emergency.commands import (
    Area,
    AssessDamage,
    Command,
    CorrectDisbursement,
    Meta,
    OpenIncident,
    RecordDecision,
    RecordDisbursement,
    RegisterHousehold,
)
from emergency.errors import AidError
from emergency.funding.commands import AllocateFunds, Earmark, LaunchCampaign, OpenFund, RecordContribution
from emergency.names import fold
from emergency.scenario import FAMILY_NAMES, FIRST_NAMES, scenario_areas
from emergency.service import AidService, Submission
from emergency.statement import ImportReport, import_statement, read_statement

STORM = datetime(2024, 9, 7, 1, 0, tzinfo=timezone.utc)  # Typhoon Yagi's landfall
STATEMENT_DAY = datetime(2024, 9, 12, 17, 0, tzinfo=timezone.utc)  # 13/9 in Hà Nội, 386,402 transfers
# How long after the storm a campaign's last step comes (voiding mistaken payments).
CAMPAIGN_SPAN = timedelta(days=8, hours=5)
CENTRAL_ACCOUNT = "0011001932418"
RICE = ("gạo", "kg rice")  # item and unit, the unit as the rice entitlement states it
RICE_VALUE_PER_KG = 15_000
DESCRIPTIONS = ("UNG HO DONG BAO BI THIET HAI DO BAO SO 3", "UNG HO BAO YAGI", "CHUNG TAY VOI DONG BAO MIEN BAC",
                "UNG HO LU LUT", "MTTQ UNG HO")
AMOUNTS = ((20_000, 6), (50_000, 18), (100_000, 25), (200_000, 18), (500_000, 16), (1_000_000, 9),
           (2_000_000, 4), (5_000_000, 2), (10_000_000, 1))


def _bank_name(name: str) -> str:
    """Banks print remitters upper-case without diacritics."""
    return fold(name).upper()


def write_statement(handle: TextIO, lines: int, *, seed: int = 13, day: datetime = STATEMENT_DAY,
                    earmark_provinces: tuple[str, ...] = (), earmark_share: float = 0.05) -> None:
    """A bank statement of `lines` transfers spread over the 24 hours from `day`.

    A share of the transfers is earmarked to one of `earmark_provinces`, some
    to a purpose; some donors are enterprises, some ask not to be named.
    """
    rng = random.Random(seed)
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["date", "reference", "amount", "remitter", "description", "donor_type", "anonymous",
                     "earmark"])
    amounts, weights = zip(*AMOUNTS)
    step = timedelta(days=1) / max(lines, 1)
    for i in range(lines):
        at = (day + step * i).astimezone(clock.VIETNAM).replace(microsecond=0)
        enterprise = rng.random() < 0.02
        remitter = (f"CONG TY TNHH {rng.choice(FAMILY_NAMES)} {i % 997}" if enterprise
                    else f"{rng.choice(FAMILY_NAMES)} {rng.choice(FIRST_NAMES)}")
        amount = rng.choices(amounts, weights)[0] * (20 if enterprise else 1)
        roll = rng.random()
        earmark = ""
        if earmark_provinces and roll < earmark_share:
            earmark = f"province:{rng.choice(earmark_provinces)}"
        elif roll < earmark_share + 0.01:
            earmark = "purpose:housing"
        writer.writerow([at.isoformat(), f"FT{at:%y%j}{i:08d}", amount, _bank_name(remitter),
                         rng.choice(DESCRIPTIONS), "enterprise" if enterprise else "individual",
                         "true" if rng.random() < 0.03 else "false", earmark])


@dataclass
class CampaignConfig:
    statement: Path
    contributions: int = 100_000
    # the storm the campaign answers; its steps follow it as they followed Yagi's
    storm: datetime = STORM
    # the incident it is for (with its provinces' communes among its areas); None: opens its own
    incident_id: UUID | None = None
    provinces: int = 4
    communes_per_province: int = 3
    households_per_commune: int = 40
    local_receipts_per_province: int = 50
    rice_kg_per_province: int = 30_000
    void_share: float = 0.03
    seed: int = 93
    batch_size: int = 1000


@dataclass
class CampaignReport:
    incident_id: UUID
    campaign_id: UUID
    central_fund: UUID
    province_funds: dict[str, UUID]
    commune_funds: dict[str, UUID]
    households: list[UUID] = field(default_factory=list)
    commands: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    import_report: ImportReport | None = None


# A campaign's steps, each recorded at once at its time after the storm (Yagi's own pace:
# the statement of 13/9 imported the next morning, allocations after a week).
STEP_TIMES = {
    "open": timedelta(hours=2), "register": timedelta(days=1), "assess": timedelta(days=1, hours=4),
    "decide": timedelta(days=1, hours=8), "local_receipts": timedelta(days=2, hours=20),
    "statement": STATEMENT_DAY - STORM + timedelta(days=1, hours=2), "allocate_to_provinces": timedelta(days=7),
    "allocate_to_communes": timedelta(days=7, hours=6), "pay": timedelta(days=8), "void": CAMPAIGN_SPAN,
}
Step = tuple[datetime, Callable[[], None]]


class CampaignPlay:
    """The campaign as steps at their moments (`steps`), to run in time order, alone
    (`run_campaign`) or between the steps of a typhoon (`emergency.scenario.run_scenario`)."""

    def __init__(self, service: AidService, config: CampaignConfig, progress: Callable[[int], None] | None = None):
        self.service = service
        self.config = config
        self.rng = random.Random(config.seed)
        self.progress = progress
        self.meta = Meta(actor="scenario", source="demo")
        self.storm = config.storm
        self.areas = scenario_areas(config.provinces, config.communes_per_province)
        self._report: CampaignReport | None = None
        self.registered: list[tuple[UUID, str]] = []
        self.assessed: list[tuple[UUID, str, dict[str, Any] | None]] = []
        # decided entitlements: (household, commune, entitlement)
        self.owed: list[tuple[UUID, str, dict[str, Any]]] = []
        # allocations province → commune planned at the step before: their fields but the time
        self.to_communes: list[dict[str, Any]] = []
        self.paid: list[dict[str, Any] | None] = []
        self.commands = 0
        self.refused: dict[str, int] = {}

    def steps(self) -> list[Step]:
        return [(self.storm + after, functools.partial(self._step, name, self.storm + after))
                for name, after in STEP_TIMES.items()]

    def _step(self, name: str, at: datetime) -> None:
        # Under the step's clock from the start: its commands are checked against it as they are made.
        with clock.frozen_at(at):
            getattr(self, name)(at)

    @property
    def report(self) -> CampaignReport:
        """What the campaign recorded so far (from its first step on)."""
        assert self._report is not None, "the campaign has not been opened yet"
        self._report.commands, self._report.refused = self.commands, self.refused
        return self._report

    def run(self, commands: list[Command], at: datetime) -> list[dict[str, Any] | None]:
        """Run commands in batches at simulated time `at`; None for a refusal."""
        results: list[dict[str, Any] | None] = []
        with clock.frozen_at(at):
            for start in range(0, len(commands), self.config.batch_size):
                chunk = commands[start:start + self.config.batch_size]
                for outcome in self.service.execute_batch([Submission(cmd, self.meta) for cmd in chunk]):
                    results.append(self._result(outcome))
                if self.progress:
                    self.progress(len(chunk))
        return results

    def _result(self, outcome: Any) -> dict[str, Any] | None:
        self.commands += 1
        if isinstance(outcome, AidError):
            self.refused[outcome.code] = self.refused.get(outcome.code, 0) + 1
            return None
        return outcome.result

    def one(self, command: Command, at: datetime) -> dict[str, Any]:
        result = self.run([command], at)[0]
        assert result is not None, f"{command.name} was refused"
        return result

    # ----- the campaign's steps ------------------------------------------------

    def open(self, t: datetime) -> None:
        incident = self.config.incident_id or UUID(self.one(OpenIncident(
            incident_type="storm", title="Bão số 3 (mô phỏng)", started_at=self.storm,
            areas=[Area(province_code=p, commune_codes=cs) for p, cs in self.areas.items()]), t)["incident_id"])
        campaign = UUID(self.one(LaunchCampaign(
            title="Ủng hộ đồng bào bị thiệt hại do bão số 3", mobiliser_type="fatherland_front",
            mobiliser_name="Ban Cứu trợ Trung ương", incident_id=incident, launched_at=t), t)["campaign_id"])
        report = self._report = CampaignReport(incident, campaign, UUID(int=0), {}, {})
        report.central_fund = UUID(self.one(OpenFund(
            campaign_id=campaign, level="central", committee_name="Ban Cứu trợ Trung ương",
            bank_accounts=[CENTRAL_ACCOUNT]), t)["fund_id"])
        for p, communes in self.areas.items():
            report.province_funds[p] = UUID(self.one(OpenFund(
                campaign_id=campaign, level="province", province_code=p,
                committee_name=f"Ban vận động cứu trợ {_province_title(p)}"), t)["fund_id"])
            for commune in communes:
                report.commune_funds[commune] = UUID(self.one(OpenFund(
                    campaign_id=campaign, level="commune", province_code=p, commune_code=commune,
                    committee_name=f"Ban vận động cứu trợ {official.commune_name(commune)}"), t)["fund_id"])

    def register(self, t: datetime) -> None:
        rng = self.rng
        serial = itertools.count(1)  # numbered names: no namesakes to resolve as possible duplicates
        registrations = [RegisterHousehold(
            incident_id=self.report.incident_id, commune_code=commune, members=rng.randint(2, 6),
            flags=["poor"] if rng.random() < 0.4 else [],
            head_name=f"{rng.choice(FAMILY_NAMES)} {rng.choice(FIRST_NAMES)} {next(serial)}")
            for communes in self.areas.values() for commune in communes
            for _ in range(self.config.households_per_commune)]
        self.registered = [(UUID(r["household_id"]), cmd.commune_code)
                           for cmd, r in zip(registrations, self.run(registrations, t)) if r]
        self.report.households = [h for h, _ in self.registered]

    def assess(self, t: datetime) -> None:
        rng = self.rng
        assessments = [AssessDamage(
            household_id=h, assessed_at=self.storm + STEP_TIMES["register"],
            house_damage=rng.choice(("partial", "heavy", "very_heavy", "total")),
            # its injured are seriously injured, paid under INJURED
            **dict.fromkeys(("injured", "seriously_injured"), int(rng.random() < 0.1)), dead=int(rng.random() < 0.02),
            persons_short_of_food=rng.randint(1, 2)) for h, _ in self.registered]
        self.assessed = [(h, commune, result)
                         for (h, commune), result in zip(self.registered, self.run(assessments, t))]

    def decide(self, t: datetime) -> None:
        decisions, communes = [], []
        for h, commune, result in self.assessed:
            for support in (result or {}).get("entitlements", {}):
                decisions.append(RecordDecision(household_id=h, support_type=support, decision="approve",
                                                  decided_by="Chủ tịch UBND xã", decided_at=t))
                communes.append(commune)
        self.owed = [(UUID(r["household_id"]), commune, r["entitlement"])
                     for r, commune in zip(self.run(decisions, t), communes) if r]
        # Tents, blankets and water come from the state's reserve at once; the funds pay the rest later.
        self.run([RecordDisbursement(
            household_id=h, support_type=e["support_type"], form="in_kind", quantity=e["quantity"], unit=e["unit"],
            channel="in_kind_delivery", funding_source="state_budget", delivered_at=t, delivered_by="UBND xã")
            for h, _, e in self.owed if e["support_type"] == "NECESSITIES"], t)

    def local_receipts(self, t: datetime) -> None:
        """Provinces raise money and rice locally; a few donors give to a named household."""
        report, rng = self.report, self.rng
        received = self.storm + timedelta(days=2)
        commands: list[Command] = []
        for p, fund in report.province_funds.items():
            for i in range(self.config.local_receipts_per_province):
                commands.append(RecordContribution(
                    fund_id=fund, donor_name=f"{rng.choice(FAMILY_NAMES)} {rng.choice(FIRST_NAMES)}",
                    donor_type=rng.choice(("individual", "enterprise", "organisation")), channel="receipt",
                    receipt_number=f"PT-{p}-{i:05d}", received_at=received + timedelta(minutes=i),
                    amount_vnd=rng.choice((1, 2, 5, 10, 50)) * 1_000_000))
            commands.append(RecordContribution(
                fund_id=fund, donor_name="Tổng công ty Lương thực", donor_type="enterprise", channel="receipt",
                receipt_number=f"PN-{p}-rice", received_at=received, form="in_kind", item=RICE[0], unit=RICE[1],
                quantity=self.config.rice_kg_per_province,
                valuation_vnd=self.config.rice_kg_per_province * RICE_VALUE_PER_KG))
        for commune, fund in report.commune_funds.items():
            household = rng.choice([h for h, x in self.registered if x == commune])
            commands.append(RecordContribution(
                fund_id=fund, donor_name="Hội đồng hương", donor_type="organisation", channel="receipt",
                receipt_number=f"PT-{commune}-hh", received_at=received, amount_vnd=2_000_000,
                earmark=Earmark(kind="household", household_id=household)))
        self.run(commands, t)

    def statement(self, t: datetime) -> None:
        """A day of transfers into the central account, imported the next morning."""
        report = self.report
        with self.config.statement.open("w", encoding="utf-8", newline="") as handle:
            write_statement(handle, self.config.contributions, seed=self.config.seed,
                            day=self.storm + (STATEMENT_DAY - STORM), earmark_provinces=tuple(self.areas))
        with clock.frozen_at(t), \
                self.config.statement.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            report.import_report = import_statement(
                self.service, read_statement(handle), report.central_fund, CENTRAL_ACCOUNT,
                batch_size=self.config.batch_size, progress=self.progress)
        self.commands += report.import_report.lines

    def allocate_to_provinces(self, t: datetime) -> None:
        """Centre → provinces: what their communes are owed, plus the money
        donors earmarked for the province; then (at the next step) provinces →
        communes: what each commune's households are owed, earmarked money first."""
        report = self.report
        cash: dict[str, int] = {}
        rice: dict[str, int] = {}
        for _, commune, entitlement in self.owed:
            if entitlement["amount_vnd"]:
                cash[commune] = cash.get(commune, 0) + entitlement["amount_vnd"]
            elif entitlement["unit"] == RICE[1]:
                rice[commune] = rice.get(commune, 0) + entitlement["quantity"]
        central = self.service.funding.fund(report.central_fund)
        to_provinces, self.to_communes = [], []
        for p, communes in self.areas.items():
            province_fund = report.province_funds[p]
            earmarked, _ = central.holding(f"province:{p}", "cash")
            need = sum(cash.get(x, 0) for x in communes)
            common = dict(from_fund_id=report.central_fund, to_fund_id=province_fund, allocated_at=t,
                          decided_by="Ban Cứu trợ Trung ương")
            to_provinces.append(AllocateFunds(amount_vnd=need, **common))
            if earmarked:
                to_provinces.append(AllocateFunds(
                    amount_vnd=earmarked, earmark=Earmark(kind="province", province_code=p), **common))
            for commune in communes:
                share = min(earmarked * cash.get(commune, 0) // max(need, 1), cash.get(commune, 0))
                common = dict(from_fund_id=province_fund, to_fund_id=report.commune_funds[commune],
                              decided_by=f"Ban vận động {_province_title(p)}")
                if share:
                    self.to_communes.append(dict(
                        amount_vnd=share, earmark=Earmark(kind="province", province_code=p), **common))
                if cash.get(commune, 0) > share:
                    self.to_communes.append(dict(amount_vnd=cash[commune] - share, **common))
                if rice.get(commune):
                    self.to_communes.append(dict(form="in_kind", item=RICE[0], unit=RICE[1], quantity=rice[commune],
                                                 **common))
        self.run(to_provinces, t)

    def allocate_to_communes(self, t: datetime) -> None:
        self.run([AllocateFunds(allocated_at=t, **planned) for planned in self.to_communes], t)

    def pay(self, t: datetime) -> None:
        """Each decided support paid from the household's commune fund."""
        report = self.report
        payments = []
        for household, commune, e in self.owed:
            common = dict(household_id=household, support_type=e["support_type"],
                          fund_id=report.commune_funds[commune], funding_source="fatherland_front",
                          delivered_at=t, delivered_by="Cán bộ xã")
            if e["amount_vnd"]:
                payments.append(RecordDisbursement(form="cash", amount_vnd=e["amount_vnd"], channel="cash_in_hand",
                                                     **common))
            elif e["unit"] == RICE[1]:
                payments.append(RecordDisbursement(form="in_kind", quantity=e["quantity"], item=RICE[0],
                                                     unit=RICE[1], channel="in_kind_delivery", **common))
        self.paid = self.run(payments, t)

    def void(self, t: datetime) -> None:
        """A few payments made to the wrong household, taken back."""
        voids = [CorrectDisbursement(household_id=UUID(r["household_id"]), disbursement_id=UUID(r["disbursement_id"]),
                                       void=True, reason="chi nhầm hộ, thu hồi")
                 for r in self.paid if r and self.rng.random() < self.config.void_share]
        self.run(voids, t)


def _province_title(code: str) -> str:
    """"tỉnh Lào Cai", "Thành phố Hải Phòng": the official names of cities carry their kind already."""
    name = official.province_name(code) or code
    return name if name.startswith("Thành phố") else f"tỉnh {name}"


def run_campaign(service: AidService, config: CampaignConfig,
                 progress: Callable[[int], None] | None = None) -> CampaignReport:
    """Play the synthetic campaign through `service`; `progress(n)` hears of each batch."""
    play = CampaignPlay(service, config, progress)
    for _, step in play.steps():
        step()
    return play.report
