"""The commands behind the golden logs: a few households and a small campaign
through every kind of event the system records, (since households are
checked for possible duplicates) one household registered twice, merged and
told apart again, and (since requests for help are recorded) requests filed
by the public and by an officer, each ended its own way.

Every id is given, the clock is simulated, and the ids the service draws
itself (an allocation's, a request's reference) come from a seeded generator, so the same commands
record the same bytes on any store, on any day (see `test_golden_log.py`).
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from unittest import mock
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from emergency import clock
from emergency.commands import (
    Area,
    AssessDamage,
    CloseIncident,
    Command,
    ConfirmReceipt,
    CorrectDisbursement,
    CorrectHousehold,
    ExtendIncidentAreas,
    Meta,
    OpenIncident,
    RecordDecision,
    RecordDisbursement,
    RegisterHousehold,
)
from emergency.domain.duplicates import DuplicatePair
from emergency.duplicate_commands import ReopenDuplicate, ResolveDuplicate
from emergency.funding.commands import (
    AllocateFunds,
    Earmark,
    ExtendCampaign,
    LaunchCampaign,
    OpenFund,
    RecordContribution,
)
from emergency.request_commands import AssessRequest, FilePublicRequest, FileRequest, MergeRequest, RejectRequest
from emergency.service import AidService, Submission

STORM = datetime(2024, 9, 7, 1, 0, tzinfo=timezone.utc)
VN = timezone(timedelta(hours=7))
ASSESSED = "emergency.domain.household:HouseholdCase.DamageAssessed"
ACCOUNT = "0011001932418"
STATEMENT_ACCOUNT = "0021000456789"


def ids(name: str) -> UUID:
    """A fixed id per name, readable in the log by its first digit (1 incident, 2 household, …)."""
    return UUID(NAMES[name])


NAMES = {
    "incident": "10000000-0000-4000-8000-000000000001",
    "h_an": "20000000-0000-4000-8000-000000000001", "h_binh": "20000000-0000-4000-8000-000000000002",
    "h_chi": "20000000-0000-4000-8000-000000000003", "h_dung": "20000000-0000-4000-8000-000000000004",
    "h_dung_v1": "20000000-0000-4000-8000-000000000005",
    "a_an": "30000000-0000-4000-8000-000000000001", "a_binh": "30000000-0000-4000-8000-000000000002",
    "a_binh_again": "30000000-0000-4000-8000-000000000003", "a_chi": "30000000-0000-4000-8000-000000000004",
    "a_dung": "30000000-0000-4000-8000-000000000005",
    "d_rice": "40000000-0000-4000-8000-000000000001", "d_burial": "40000000-0000-4000-8000-000000000002",
    "d_rebuild": "40000000-0000-4000-8000-000000000003", "d_necessities": "40000000-0000-4000-8000-000000000004",
    "d_injured": "40000000-0000-4000-8000-000000000005",
    "campaign": "50000000-0000-4000-8000-000000000001", "statement_campaign": "50000000-0000-4000-8000-000000000002",
    "h_em": "20000000-0000-4000-8000-000000000006", "h_em_again": "20000000-0000-4000-8000-000000000007",
    "a_em": "30000000-0000-4000-8000-000000000006", "a_em_again": "30000000-0000-4000-8000-000000000007",
    "d_em_burial": "40000000-0000-4000-8000-000000000006",
}


@contextmanager
def drawn_ids(seed: int = 17) -> Iterator[None]:
    """The ids the service draws with uuid4 (allocations) and the references of
    requests for help, from a seeded generator."""
    rng = random.Random(seed)
    references = iter(f"GOLDENAA{a}{b}" for a in "ABCD" for b in "ABCD")
    with mock.patch("emergency.funding.handlers.uuid4", lambda: UUID(int=rng.getrandbits(128), version=4)), \
            mock.patch("emergency.help_requests.new_reference", lambda: next(references)):
        yield


class Play:
    """Runs the scenario's steps, each at its own moment of a simulated clock."""

    def __init__(self, service: AidService):
        self.service = service

    def at(self, hours: float) -> datetime:
        moment = STORM + timedelta(hours=hours)
        clock.advance_to(moment)
        return moment

    def run(self, command: Command, key: str | None = None) -> dict[str, Any]:
        meta = Meta(actor="token:golden", role="coordinator", request_id=f"req-{command.name}", source="test")
        return self.service.execute(command, meta, idempotency_key=key, key_scope="token:golden" if key else "").result


def record(service: AidService) -> None:
    """Play the scenario into an empty store."""
    with clock.frozen_at(STORM), drawn_ids():
        play = Play(service)
        _incident(play)
        _households(play)
        _version_1_household(play)
        _decisions(play)
        funds = _campaign(play)
        _payments(play, funds)
        _registered_twice(play)
        _requests(play)
        play.at(200)
        play.run(CloseIncident(incident_id=ids("incident"), closed_at=STORM + timedelta(hours=199),
                                 reason="Kết thúc ứng phó"))
        _statement(play)


def _incident(play: Play) -> None:
    play.at(1)
    play.run(OpenIncident(incident_id=ids("incident"), incident_type="storm", title="Bão Yagi (số 3)",
                            started_at=STORM, areas=[Area(province_code="31", commune_codes=["11311", "11455"])]))
    play.at(2)
    play.run(ExtendIncidentAreas(incident_id=ids("incident"), areas=[
        Area(province_code="31", commune_codes=["11914"]), Area(province_code="22", commune_codes=["06688"])]))


def _households(play: Play) -> None:
    play.at(3)
    # Sent with an idempotency key: the first result is recorded beside it.
    play.run(RegisterHousehold(household_id=ids("h_an"), incident_id=ids("incident"), commune_code="11311",
                                 head_name="Nguyễn Văn An", members=5, flags=["poor", "elderly"]), key="reg-an-1")
    play.run(RegisterHousehold(household_id=ids("h_binh"), incident_id=ids("incident"), commune_code="11455",
                                 head_name="Trần Thị Bình", members=3))
    play.run(RegisterHousehold(household_id=ids("h_chi"), incident_id=ids("incident"), commune_code="06688",
                                 head_name="Lê Văn Chí", members=4, flags=["near_poor"]))
    play.at(20)
    play.run(AssessDamage(household_id=ids("h_an"), assessment_id=ids("a_an"),
                            assessed_at=datetime(2024, 9, 8, 2, 30, tzinfo=VN), dead=1, injured=2,
                            seriously_injured=1, house_damage="total", house_class="semi_permanent",
                            persons_short_of_food=4, food_months=2, evacuated=True, notes="Nhà sập hoàn toàn"))
    play.run(AssessDamage(household_id=ids("h_binh"), assessment_id=ids("a_binh"),
                            assessed_at=STORM + timedelta(hours=19), missing=1, house_damage="very_heavy",
                            house_class="non_durable", persons_short_of_food=3, relocation_ordered=True))
    play.run(AssessDamage(household_id=ids("h_chi"), assessment_id=ids("a_chi"),
                            assessed_at=STORM + timedelta(hours=19, minutes=30), injured=1, house_damage="heavy",
                            orphaned_children=1, livelihood_lost=True))
    play.at(26)
    # A poverty flag found later: the housing supports come into reach, and a revision follows.
    play.run(CorrectHousehold(household_id=ids("h_binh"), members=4, flags=["hardship"],
                                reason="Bổ sung hộ khó khăn"))
    # A second look: the house stands after all, and no relocation was ordered.
    play.run(AssessDamage(household_id=ids("h_binh"), assessment_id=ids("a_binh_again"),
                            assessed_at=STORM + timedelta(hours=25), missing=1, house_damage="heavy",
                            persons_short_of_food=4, supersedes=ids("a_binh")))


def _version_1_household(play: Play) -> None:
    """A household as the code before `seriously_injured` recorded it: its
    DamageAssessed is class version 1, `injured` alone (each paid as
    seriously injured). Recorded through the service, then copied in that
    form under an id of its own, as such events were stored then."""
    play.at(27)
    play.run(RegisterHousehold(household_id=ids("h_dung"), incident_id=ids("incident"), commune_code="11311",
                                 head_name="Phạm Thị Dung", members=2))
    play.run(AssessDamage(household_id=ids("h_dung"), assessment_id=ids("a_dung"),
                            assessed_at=STORM + timedelta(hours=26), injured=2, seriously_injured=2,
                            house_damage="partial"))
    app = play.service.app
    transcoder = app.mapper.transcoder
    old = []
    for stored in app.recorder.select_events(ids("h_dung")):
        state = transcoder.decode(stored.state)
        if stored.topic == ASSESSED:
            del state["class_version"], state["assessment"]["seriously_injured"]
        old.append(StoredEvent(ids("h_dung_v1"), stored.originator_version, stored.topic, transcoder.encode(state)))
    app.recorder.insert_events(old)
    play.at(28)
    # A later change to the old household recomputes the same INJURED support, not a smaller one.
    play.run(CorrectHousehold(household_id=ids("h_dung_v1"), flags=["disabled"], reason="Bổ sung"))


def _decisions(play: Play) -> None:
    play.at(30)
    decided_at = STORM + timedelta(hours=29)

    def decide(household: str, support: str, decision: str, **more: Any) -> None:
        play.run(RecordDecision(household_id=ids(household), support_type=support, decision=decision,
                                  decided_by="Chủ tịch UBND xã", decided_at=decided_at, **more))
    for support in ("FOOD_DISASTER", "BURIAL", "INJURED"):
        decide("h_an", support, "approve")
    decide("h_an", "HOUSE_REBUILD", "adjust", amount_vnd=45_000_000, reason="Tỉnh hỗ trợ thêm", level="province")
    decide("h_an", "NECESSITIES", "adjust", quantity=2, reason="Hai gói nhu yếu phẩm")
    decide("h_binh", "FOOD_DISASTER", "approve", revision=2)
    decide("h_binh", "BURIAL", "reject", reason="Người mất tích đã trở về")
    decide("h_chi", "CHILD", "adjust", amount_vnd=6_000_000, reason="Theo mức của tỉnh")
    decide("h_chi", "LIVELIHOOD", "reject", reason="Đã có hỗ trợ khác")


def _campaign(play: Play) -> dict[str, UUID]:
    play.at(31)
    play.run(LaunchCampaign(campaign_id=ids("campaign"), title="Ủng hộ đồng bào bão số 3",
                               mobiliser_type="fatherland_front", mobiliser_name="Ban Cứu trợ Trung ương",
                               incident_id=ids("incident"), launched_at=STORM + timedelta(hours=30)))
    play.run(ExtendCampaign(campaign_id=ids("campaign"), receiving_until=STORM + timedelta(days=100),
                               reason="Theo đề nghị của tỉnh", decided_by="Thường trực"))

    def fund(level: str, **more: Any) -> UUID:
        return UUID(play.run(OpenFund(campaign_id=ids("campaign"), level=level, committee_name=f"Ban {level}",
                                         **more))["fund_id"])
    funds = {"central": fund("central", bank_accounts=[ACCOUNT]), "province": fund("province", province_code="31"),
             "commune": fund("commune", province_code="31", commune_code="11311")}
    play.at(40)
    received = STORM + timedelta(hours=39)

    def bank(reference: str, amount: int, **more: Any) -> None:
        fields: dict[str, Any] = dict(donor_name="Nguyễn Thị Mai", donor_type="individual")
        play.run(RecordContribution(fund_id=funds["central"], channel="bank", account=ACCOUNT, reference=reference,
                                       received_at=received, amount_vnd=amount, **(fields | more)))
    bank("FT24251001", 500_000_000)
    bank("FT24251002", 2_410_500, currency="USD", original_amount="100.50", donor_type="overseas",
         anonymous=True, description="Kiều bào ủng hộ")
    bank("FT24251003", 60_000_000, earmark=Earmark(kind="province", province_code="31"))
    bank("FT24251004", 10_000_000, earmark=Earmark(kind="household", household_id=ids("h_an")))
    bank("FT24251005", 30_000_000, earmark=Earmark(kind="purpose", purpose="housing"))
    play.run(RecordContribution(fund_id=funds["commune"], donor_name="Hội Phụ nữ phường",
                                   donor_type="organisation", channel="receipt", receipt_number="PT-0001",
                                   received_at=received, form="in_kind", item="gạo", unit="kg", quantity=500,
                                   valuation_vnd=7_500_000))
    play.at(50)
    allocated = STORM + timedelta(hours=49)
    play.run(AllocateFunds(from_fund_id=funds["central"], to_fund_id=funds["province"], amount_vnd=200_000_000,
                              allocated_at=allocated, decided_by="Thường trực", note="Đợt 1"))
    play.run(AllocateFunds(from_fund_id=funds["central"], to_fund_id=funds["province"], amount_vnd=60_000_000,
                              earmark=Earmark(kind="province", province_code="31"), allocated_at=allocated,
                              decided_by="Thường trực"))
    play.run(AllocateFunds(from_fund_id=funds["province"], to_fund_id=funds["commune"], amount_vnd=100_000_000,
                              allocated_at=allocated, decided_by="Thường trực tỉnh"))
    play.run(AllocateFunds(from_fund_id=funds["central"], to_fund_id=funds["commune"], amount_vnd=10_000_000,
                              earmark=Earmark(kind="household", household_id=ids("h_an")), allocated_at=allocated,
                              decided_by="Thường trực"))
    return funds


def _payments(play: Play, funds: dict[str, UUID]) -> None:
    play.at(60)
    delivered = STORM + timedelta(hours=59)

    def pay(disbursement: str, support: str, **more: Any) -> None:
        fields: dict[str, Any] = dict(form="cash", channel="cash_in_hand", funding_source="fatherland_front",
                                      delivered_by="cán bộ phường")
        play.run(RecordDisbursement(household_id=ids("h_an"), disbursement_id=ids(disbursement),
                                      support_type=support, delivered_at=delivered, **(fields | more)))
    pay("d_rice", "FOOD_DISASTER", form="in_kind", quantity=120, unit="kg", item="gạo", fund_id=funds["commune"],
        channel="in_kind_delivery")
    pay("d_burial", "BURIAL", amount_vnd=20_000_000, fund_id=funds["commune"])
    pay("d_rebuild", "HOUSE_REBUILD", amount_vnd=40_000_000, funding_source="state_budget",
        channel="bank_transfer")
    pay("d_necessities", "NECESSITIES", form="in_kind", quantity=2, unit="gói", funding_source="state_budget",
        channel="in_kind_delivery", valuation_vnd=1_000_000)
    pay("d_injured", "INJURED", amount_vnd=5_000_000, fund_id=funds["commune"])
    play.at(70)
    play.run(ConfirmReceipt(household_id=ids("h_an"), disbursement_id=ids("d_burial"),
                              confirmed_at=STORM + timedelta(hours=69), confirmed_by="Nguyễn Văn An",
                              method="thumbprint"))
    play.at(80)
    # Corrections are new events: a payment voided, one restated down (the fund gets the difference back),
    # one restated up (the fund is charged the difference), one restated that no fund paid.
    play.run(CorrectDisbursement(household_id=ids("h_an"), disbursement_id=ids("d_injured"), void=True,
                                   reason="Ghi nhầm hộ"))
    play.run(CorrectDisbursement(household_id=ids("h_an"), disbursement_id=ids("d_rice"), quantity=100,
                                   reason="Cân lại"))
    play.run(CorrectDisbursement(household_id=ids("h_an"), disbursement_id=ids("d_burial"), amount_vnd=25_000_000,
                                   reason="Đủ mức hỗ trợ"))
    play.run(CorrectDisbursement(household_id=ids("h_an"), disbursement_id=ids("d_rebuild"), amount_vnd=45_000_000,
                                   reason="Theo quyết định của tỉnh"))


def _registered_twice(play: Play) -> None:
    """Two teams register one household, each offline and under an id of its
    own: the pair is found, a coordinator lets one payment through, merges the
    two, then (a later visit) undoes the merge and tells them apart."""
    play.at(90)
    play.run(RegisterHousehold(household_id=ids("h_em"), incident_id=ids("incident"), commune_code="11455",
                                 head_name="Hoàng Văn Em", members=3))
    play.run(RegisterHousehold(household_id=ids("h_em_again"), incident_id=ids("incident"), commune_code="11455",
                                 head_name="HOANG VAN EM", members=3))
    for household, assessment, hours in (("h_em", "a_em", 89), ("h_em_again", "a_em_again", 89.5)):
        play.run(AssessDamage(household_id=ids(household), assessment_id=ids(assessment),
                                assessed_at=STORM + timedelta(hours=hours), dead=1, house_damage="partial"))
    play.at(92)
    play.run(RecordDecision(household_id=ids("h_em_again"), support_type="BURIAL", decision="approve",
                              decided_by="Chủ tịch UBND xã", decided_at=STORM + timedelta(hours=91)))
    play.run(RecordDisbursement(household_id=ids("h_em_again"), disbursement_id=ids("d_em_burial"),
                                  support_type="BURIAL", form="cash", amount_vnd=5_000_000, channel="cash_in_hand",
                                  funding_source="state_budget", delivered_at=STORM + timedelta(hours=91),
                                  delivered_by="cán bộ phường", duplicate_override="Mai táng không chờ được"))
    pair = DuplicatePair.id_for(ids("h_em"), ids("h_em_again"))
    play.at(95)
    play.run(ResolveDuplicate(pair_id=pair, outcome="same", survivor_id=ids("h_em"), reason="Cùng một hộ",
                              resolved_by="Chủ tịch UBND xã", resolved_at=STORM + timedelta(hours=94)))
    play.at(100)
    play.run(ReopenDuplicate(pair_id=pair, reason="Hai anh em cùng tên", reopened_by="Chủ tịch UBND xã",
                             reopened_at=STORM + timedelta(hours=99)))
    play.run(ResolveDuplicate(pair_id=pair, outcome="different", reason="Hai hộ khác nhau",
                              resolved_by="Chủ tịch UBND xã", resolved_at=STORM + timedelta(hours=99)))


def _requests(play: Play) -> None:
    """A neighbour reports a household no team reached, through the public
    form; an officer records two more (one naming the incident and a
    household), then answers them: assessed (late), rejected, merged."""
    play.at(110)
    public = play.run(FilePublicRequest(commune_code="11311", village="Thôn Đông", phone="0912 345 678",
                                        description="Nhà bà Hoa ở xóm 3 chưa ai đến"), key="form-1")
    binh = play.run(FileRequest(commune_code="11455", village="Thôn Bắc", phone="0987654321",
                                description="Chưa nhận tiền mai táng", kind="disputes_payment",
                                incident_id=ids("incident"), household_id=ids("h_binh"),
                                filed_at=STORM + timedelta(hours=108)))
    again = play.run(FileRequest(commune_code="11311", village="Thôn Đông", phone="0912 345 678",
                                 description="Báo lại nhà bà Hoa", filed_at=STORM + timedelta(hours=109)))
    play.at(170)
    play.run(AssessRequest(request_id=UUID(public["request_id"]), household_id=ids("h_an"),
                           assessment_id=ids("a_an"), resolved_at=STORM + timedelta(hours=169),
                           resolved_by="Chủ tịch UBND xã"))
    play.run(RejectRequest(request_id=UUID(binh["request_id"]), reason="Đã nhận đủ",
                           resolved_at=STORM + timedelta(hours=120), resolved_by="Chủ tịch UBND xã"))
    play.run(MergeRequest(request_id=UUID(again["request_id"]), into_request_id=UUID(public["request_id"]),
                          resolved_at=STORM + timedelta(hours=111), resolved_by="Chủ tịch UBND xã"))


def _statement(play: Play) -> None:
    """A second campaign whose bank statement is imported: the lines of one
    batch are one event of its fund together."""
    play.at(201)
    play.run(LaunchCampaign(campaign_id=ids("statement_campaign"), title="Ủng hộ tái thiết",
                            mobiliser_type="red_cross", mobiliser_name="Hội Chữ thập đỏ",
                            launched_at=STORM + timedelta(hours=200)))
    fund = UUID(play.run(OpenFund(campaign_id=ids("statement_campaign"), level="central",
                                  committee_name="Hội Chữ thập đỏ", bank_accounts=[STATEMENT_ACCOUNT]))["fund_id"])
    meta = Meta(actor="token:golden", role="coordinator", request_id="req-import", source="import")
    lines = [RecordContribution(fund_id=fund, channel="bank", account=STATEMENT_ACCOUNT, reference=reference,
                                received_at=STORM + timedelta(hours=200, minutes=minutes), amount_vnd=amount,
                                donor_name=name, donor_type="individual")
             for reference, minutes, amount, name in (("FT24258000001", 5, 200_000, "TRAN VAN BINH"),
                                                     ("FT24258000002", 9, 1_000_000, "LE THI HOA"))]
    play.service.execute_batch([Submission(line, meta) for line in lines])
