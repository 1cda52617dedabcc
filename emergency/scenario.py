"""A synthetic typhoon, played through the service as the field would live it.

Deterministic for a seed. The provinces and communes are real, from the
official list (`emergency.areas`): Typhoon Yagi's provinces first, then the
others, up to all 34 and their 3,321 communes. Households and damage are
invented; the flow is real: teams register and assess households over the
first days (some sync late from offline), coordinators decide, officers
disburse, some late, some households' details are corrected. Everything goes
through `AidService` commands under a simulated clock, so recorded times are
as plausible as occurred times.
Events scheduled after `until` have not happened yet and are left out: those
cases show up as pending or overdue, as they would on the day.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator
from uuid import UUID

from emergency import areas as official
from emergency import clock
from emergency.commands import (
    Area,
    AssessDamage,
    Command,
    ConfirmReceipt,
    CorrectHousehold,
    Meta,
    OpenIncident,
    RecordDecision,
    RecordDisbursement,
    RegisterHousehold,
)
from emergency.errors import AidError
from emergency.service import AidService, Submission

# Provinces Typhoon Yagi struck in September 2024, under their codes since
# 2025-07-01 (Lào Cai includes Yên Bái, Hải Phòng Hải Dương, Phú Thọ Vĩnh Phúc
# and Hòa Bình, Thái Nguyên Bắc Kạn, Tuyên Quang Hà Giang).
YAGI_PROVINCES = ("31", "22", "15", "25", "20", "19", "08", "04")
# In each, communes of places it hit hardest come first: the landfall coast of
# Hải Phòng and Quảng Ninh, Làng Nủ's landslide (Phúc Khánh), the floods of
# Yên Bái, Thái Nguyên and Tuyên Quang, the Phong Châu bridge (Lâm Thao).
YAGI_COMMUNES = {
    "31": ("11311", "11455", "11914", "11948"),  # Hồng Bàng, Đồ Sơn, Cát Hải, Bạch Long Vĩ
    # Hạ Long, Bãi Cháy, Hồng Gai, Cẩm Phả, Vân Đồn, Cô Tô
    "22": ("06688", "06673", "06685", "06793", "06994", "07192"),
    # Phúc Khánh, Bảo Yên, Yên Bái, Lục Yên, Trấn Yên, Văn Chấn
    "15": ("02998", "02947", "04252", "04303", "04498", "04672"),
    "25": ("08494", "07900", "08053", "08152"),  # Lâm Thao, Việt Trì, Hạ Hòa, Thanh Ba
    "20": ("06040", "06046", "05977"),  # Thất Khê, Tràng Định, Đông Kinh
    "19": ("05443", "05467", "05830", "05860"),  # Phan Đình Phùng, Gia Sàng, Đại Từ, Phổ Yên
    "08": ("02215", "02473", "02374", "01153"),  # Minh Xuân, Yên Sơn, Hàm Yên, Bắc Quang
    "04": ("01726", "01321", "01654"),  # Nguyên Bình, Bảo Lạc, Hòa An
}
FIRST_NAMES = ("Văn An", "Thị Bình", "Văn Cường", "Thị Dung", "Đức Em", "Thị Hoa", "Văn Khánh", "Thị Lan",
               "Minh Long", "Thị Mai", "Văn Nam", "Thị Oanh", "Quang Phúc", "Thị Quyên", "Văn Sơn", "Thị Thu")
FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương")
DAMAGE_WEIGHTS = {"none": 30, "partial": 35, "heavy": 15, "very_heavy": 12, "total": 8}


def scenario_areas(provinces: int, communes_per_province: int) -> dict[str, list[str]]:
    """Official codes: the first `provinces` provinces (Yagi's first), each with
    its first `communes_per_province` communes (Yagi's places first, then the
    others in code order; all of them in a smaller province)."""
    order = [*YAGI_PROVINCES, *(p for p in official.provinces() if p not in YAGI_PROVINCES)]
    if not 1 <= provinces <= len(order):
        raise ValueError(f"there are {len(order)} provinces, not {provinces}")
    found = {}
    for province in order[:provinces]:
        first = YAGI_COMMUNES.get(province, ())
        rest = [code for code in official.communes_of(province) if code not in first]
        found[province] = [*first, *rest][:communes_per_province]
    return found


@dataclass
class ScenarioConfig:
    households: int = 3000
    provinces: int = 4
    communes_per_province: int = 6
    started_at: datetime | None = None  # default: five days before `until`
    until: datetime | None = None  # default: now
    seed: int = 2024
    batch_size: int = 500
    # teams reach each household between 4 hours and this long after the start
    reach_hours: float = 72
    # how an officer behaves: share of cases decided and paid, and delay spread
    decide_share: float = 0.92
    pay_share: float = 0.88
    late_share: float = 0.15
    # share of households later found on the commune's list of poor households
    # (a correction of their details, a day after the assessment)
    correction_share: float = 0.0


@dataclass(order=True)
class _Step:
    at: datetime
    seq: int
    make: Callable[[], Command] = field(compare=False)
    then: Callable[[dict[str, Any]], None] | None = field(compare=False, default=None)


@dataclass
class ScenarioReport:
    incident_id: UUID
    started_at: datetime
    until: datetime
    commands: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class _Simulation:
    def __init__(self, service: AidService, config: ScenarioConfig):
        self.service = service
        self.config = config
        self.rng = random.Random(config.seed)
        self.until = config.until or clock.now()
        self.started_at = config.started_at or self.until - timedelta(days=5)
        self.queue: list[_Step] = []
        self.seq = 0
        self.meta = Meta(actor="scenario", source="demo")

    def at(self, when: datetime, make: Callable[[], Command],
           then: Callable[[dict[str, Any]], None] | None = None) -> None:
        if when <= self.until:
            self.seq += 1
            heapq.heappush(self.queue, _Step(when, self.seq, make, then))

    def hours(self, low: float, high: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low, high))

    def areas(self) -> list[Area]:
        return [Area(province_code=p, commune_codes=codes)
                for p, codes in scenario_areas(self.config.provinces, self.config.communes_per_province).items()]

    # ----- the household's story ------------------------------------------

    def household(self, incident_id: UUID, communes: list[str], index: int) -> None:
        rng = self.rng
        members = rng.choice((1, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7))
        flags = [f for f, p in (("poor", .12), ("near_poor", .10), ("hardship", .05), ("elderly", .15),
                                ("disabled", .04), ("ethnic_minority", .10)) if rng.random() < p]
        seen = self.started_at + self.hours(4, self.config.reach_hours)
        synced = seen + (self.hours(6, 40) if rng.random() < 0.1 else self.hours(0, 0.5))
        register = RegisterHousehold(
            incident_id=incident_id, commune_code=rng.choice(communes), members=members, flags=flags,
            # Numbered: a synthetic run has no coordinator to resolve namesakes
            # found as possible duplicates (README, Duplicate households).
            head_name=f"{rng.choice(FAMILY_NAMES)} {rng.choice(FIRST_NAMES)} {index + 1}")
        damage = rng.choices(list(DAMAGE_WEIGHTS), weights=list(DAMAGE_WEIGHTS.values()))[0]
        heavy = damage in ("very_heavy", "total")
        assessment = dict(
            assessed_at=seen, house_damage=damage,
            house_class=rng.choice(("permanent", "semi_permanent", "non_durable", "makeshift")),
            dead=int(rng.random() < 0.004), missing=int(rng.random() < 0.002),
            injured=int(rng.random() < 0.03) + int(rng.random() < 0.005), seriously_injured=int(rng.random() < 0.4),
            persons_short_of_food=members if heavy or rng.random() < 0.25 else 0,
            food_months=rng.choice((1, 1, 2, 3)), relocation_ordered=rng.random() < (0.25 if heavy else 0.01),
            evacuated=heavy or rng.random() < 0.1)
        assessment["dead"] = min(assessment["dead"], members)
        assessment["missing"] = min(assessment["missing"], members - assessment["dead"])
        assessment["seriously_injured"] = min(assessment["seriously_injured"], assessment["injured"])
        missed_poverty = "poor" not in flags and self.config.correction_share \
            and rng.random() < self.config.correction_share

        def registered(result: dict[str, Any]) -> None:
            household_id = UUID(result["household_id"])
            self.at(synced, lambda: AssessDamage(household_id=household_id, **assessment),
                    lambda r: self.entitlements(household_id, synced, r))
            if missed_poverty:
                # New supports it now qualifies for wait for a decision.
                self.at(synced + timedelta(days=1), lambda: CorrectHousehold(
                    household_id=household_id, flags=sorted({*flags, "poor"}),
                    reason="bổ sung theo danh sách hộ nghèo của xã"))
        self.at(synced, lambda: register, registered)

    def entitlements(self, household_id: UUID, recorded: datetime, result: dict[str, Any]) -> None:
        for entitlement in result["entitlements"].values():
            if entitlement["status"] == "pending" and self.rng.random() < self.config.decide_share:
                self.decision(household_id, recorded, entitlement)

    def decision(self, household_id: UUID, recorded: datetime, entitlement: dict[str, Any]) -> None:
        rng = self.rng
        decided_at = recorded + self.hours(1, 30)
        kind = "approve"
        extra: dict[str, Any] = {}
        if entitlement["amount_vnd"] is None and entitlement["quantity"] is None:
            kind, extra = "adjust", {"amount_vnd": 2_000_000 * entitlement["units"], "reason": "mức theo quyết định"}
        elif rng.random() < 0.03:
            kind, extra = "reject", {"reason": "không đủ điều kiện sau xác minh"}

        def command() -> Command:
            return RecordDecision(household_id=household_id, support_type=entitlement["support_type"],
                                    decision=kind, decided_by="Chủ tịch UBND xã", decided_at=decided_at, **extra)

        def decided(result: dict[str, Any]) -> None:
            decided_entitlement = result["entitlement"]
            if decided_entitlement["status"] != "rejected" and rng.random() < self.config.pay_share:
                self.payment(household_id, decided_at, decided_entitlement)
        self.at(decided_at, command, decided)

    def payment(self, household_id: UUID, decided_at: datetime, entitlement: dict[str, Any]) -> None:
        rng = self.rng
        due = datetime.fromisoformat(entitlement["due_at"])
        late = rng.random() < self.config.late_share
        delivered_at = due + self.hours(2, 96) if late else decided_at + self.hours(0.5, 20)
        delivered_at = max(delivered_at, decided_at)
        amount = entitlement["decided_amount_vnd"] or entitlement["amount_vnd"]
        quantity = entitlement["decided_quantity"] or entitlement["quantity"]
        in_kind = amount is None
        channel = "in_kind_delivery" if in_kind else rng.choice(("cash_in_hand", "bank_transfer"))
        source = rng.choice(("state_budget", "state_budget", "fatherland_front", "red_cross"))

        def command() -> Command:
            return RecordDisbursement(
                household_id=household_id, support_type=entitlement["support_type"],
                form="in_kind" if in_kind else "cash", amount_vnd=None if in_kind else amount,
                quantity=quantity if in_kind else None, unit=entitlement["unit"] if in_kind else None,
                channel=channel, funding_source=source, delivered_at=delivered_at, delivered_by="Cán bộ LĐTBXH xã")

        def paid(result: dict[str, Any]) -> None:
            if rng.random() < 0.7:
                confirmed_at = delivered_at + self.hours(0, 6)
                self.at(confirmed_at, lambda: ConfirmReceipt(
                    household_id=household_id, disbursement_id=UUID(result["disbursement_id"]),
                    confirmed_at=confirmed_at, confirmed_by="chủ hộ", method="signature"))
        self.at(delivered_at, command, paid)

    # ----- running --------------------------------------------------------

    def batches(self) -> Iterator[list[_Step]]:
        """Steps in time order, grouped so one batch spans at most 15 minutes."""
        while self.queue:
            first = heapq.heappop(self.queue)
            batch = [first]
            window = first.at + timedelta(minutes=15)
            while self.queue and len(batch) < self.config.batch_size and self.queue[0].at <= window:
                batch.append(heapq.heappop(self.queue))
            yield batch


# Something else that happens during the scenario: at a moment, a step that records under its own clock
# (a relief campaign's, `emergency.campaign_scenario.CampaignPlay`).
Interlude = tuple[datetime, Callable[[], None]]


def run_scenario(service: AidService, config: ScenarioConfig | None = None,
                 progress: Callable[[int], None] | None = None,
                 alongside: Callable[[UUID], Iterable[Interlude]] | None = None) -> ScenarioReport:
    """Play the scenario through `service`; `progress(n)` is told of each batch.

    `alongside(incident_id)` gives steps to run between the scenario's own, in
    time order, so the log's recorded times never run backwards.
    """
    sim = _Simulation(service, config or ScenarioConfig())
    opened_at = sim.started_at + timedelta(hours=2)
    report = ScenarioReport(incident_id=UUID(int=0), started_at=sim.started_at, until=sim.until)
    with clock.frozen_at(opened_at):
        opened = service.execute(OpenIncident(
            incident_type="storm", title="Bão số 3 (mô phỏng)", started_at=sim.started_at, areas=sim.areas()),
            sim.meta)
    report.incident_id = UUID(opened.result["incident_id"])
    interludes = sorted(alongside(report.incident_id), key=lambda i: i[0]) if alongside else []
    communes = [code for area in sim.areas() for code in area.commune_codes]
    for index in range(sim.config.households):
        sim.household(report.incident_id, communes, index)
    with clock.frozen_at(opened_at):
        for batch in sim.batches():
            recorded = max(clock.now(), batch[-1].at)
            while interludes and interludes[0][0] <= recorded:
                interludes.pop(0)[1]()
            clock.advance_to(recorded)
            outcomes = service.execute_batch([Submission(step.make(), sim.meta) for step in batch])
            for step, outcome in zip(batch, outcomes):
                if isinstance(outcome, AidError):
                    report.refused[outcome.code] = report.refused.get(outcome.code, 0) + 1
                elif step.then is not None:
                    step.then(outcome.result)
            report.commands += len(batch)
            if progress:
                progress(len(batch))
        for _, interlude in interludes:
            interlude()
    return report
