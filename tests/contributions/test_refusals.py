"""Each rule of the money refuses with a typed error naming the field, and
records nothing: not the fund's event, not the household's."""

from __future__ import annotations

import threading
from typing import Any, Callable
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from emergency import clock, commands
from emergency.batch import Scope
from emergency.errors import AidError, Conflict, Forbidden, InvalidInput, NotFound
from emergency.funding import commands as funding_commands
from emergency.service import AidService, Submission
from infra.settings import Settings
from infra.stores import build_service
from tests.support.factories import COMMUNES, QUANG_NINH, assess, register
from tests.support.fund_builders import (
    ACCOUNT,
    Funds,
    allocate,
    approve,
    bank,
    conservation,
    hours,
    open_funds,
    pay,
    receipt,
    views_of,
)

M = 1_000_000


@pytest.fixture
def funds(service: AidService) -> Funds:
    with clock.frozen_at(hours(72)):
        return open_funds(service)


@pytest.fixture(autouse=True)
def _clock():
    with clock.frozen_at(hours(72)):
        yield


def household(service: AidService, funds: Funds, commune: str = COMMUNES[0], **assessment: Any) -> UUID:
    h = register(service, funds.incident, commune_code=commune, flags=["poor"])
    fields: dict[str, Any] = dict(dead=0, injured=1, house_damage="total", persons_short_of_food=2)
    fields.update(assessment)
    assess(service, h, **fields)
    return h


def refused(service: AidService, command: commands.Command, error: type[AidError], field: str, code: str,
            **options: Any) -> AidError:
    """Run `command`, expect the refusal, and check that nothing was recorded."""
    position = service.last_notification_id()
    with pytest.raises(error) as caught:
        service.execute(command, **options)
    assert (caught.value.field, caught.value.code) == (field, code), caught.value.message
    assert service.last_notification_id() == position
    return caught.value


def test_no_allocation_beyond_the_balance(service: AidService, funds: Funds, settings: Settings):
    service.execute(bank(funds.central, "FT1", 100 * M))
    command = funding_commands.AllocateFunds(from_fund_id=funds.central, to_fund_id=funds.province, amount_vnd=100 * M + 1,
                               allocated_at=hours(20), decided_by="x")
    refused(service, command, Conflict, "amount_vnd", "insufficient_funds")
    allocate(service, funds.central, funds.province, 100 * M)  # exactly the balance is fine
    refused(service, command.model_copy(update={"amount_vnd": 1}), Conflict, "amount_vnd", "insufficient_funds")
    assert conservation(service, views_of(service, settings.views_url())).ok


def test_no_goods_beyond_the_stock(service: AidService, funds: Funds):
    service.execute(receipt(funds.province, "PN1", None, form="in_kind", item="gạo", unit="kg rice", quantity=100,
                            valuation_vnd=1_500_000))
    refused(service, funding_commands.AllocateFunds(from_fund_id=funds.province, to_fund_id=funds.commune, form="in_kind",
                                      item="gạo", unit="kg rice", quantity=101, allocated_at=hours(20),
                                      decided_by="x"), Conflict, "quantity", "insufficient_funds")
    refused(service, funding_commands.AllocateFunds(from_fund_id=funds.province, to_fund_id=funds.commune, form="in_kind",
                                      item="gạo", unit="kg", quantity=1, allocated_at=hours(20),
                                      decided_by="x"), Conflict, "quantity", "insufficient_funds")


def test_no_disbursement_beyond_the_balance_and_the_household_records_nothing(service: AidService, funds: Funds):
    h = household(service, funds)
    approve(service, h, "HOUSE_REBUILD")
    service.execute(receipt(funds.commune, "PT1", 39 * M))
    refused(service, pay(funds.commune, h, "HOUSE_REBUILD", 40 * M), Conflict, "amount_vnd", "insufficient_funds")
    assert service.household(h)["disbursements"] == []
    service.execute(receipt(funds.commune, "PT2", 1 * M))
    service.execute(pay(funds.commune, h, "HOUSE_REBUILD", 40 * M))
    assert service.funding.fund(funds.commune).total("cash") == 0


def test_household_money_pays_only_that_household(service: AidService, funds: Funds):
    h1, h2 = household(service, funds), household(service, funds)
    service.execute(receipt(funds.commune, "PT1", 40 * M, earmark=funding_commands.Earmark(kind="household", household_id=h1)))
    refused(service, pay(funds.commune, h2, "HOUSE_REBUILD", 40 * M), Conflict, "amount_vnd", "earmarked_elsewhere")
    service.execute(pay(funds.commune, h1, "HOUSE_REBUILD", 40 * M))


def test_area_money_stays_in_its_area(service: AidService, funds: Funds):
    earmarked = funding_commands.Earmark(kind="province", province_code="31")
    service.execute(bank(funds.central, "FT1", 50 * M, earmark=earmarked))
    # not to another province's fund
    refused(service, funding_commands.AllocateFunds(from_fund_id=funds.central, to_fund_id=funds.other_province, amount_vnd=M,
                                      earmark=earmarked, allocated_at=hours(20), decided_by="x"),
            Conflict, "earmark", "earmark_mismatch")
    # nor counted as undesignated money
    refused(service, funding_commands.AllocateFunds(from_fund_id=funds.central, to_fund_id=funds.other_province, amount_vnd=M,
                                      allocated_at=hours(20), decided_by="x"), Conflict, "amount_vnd",
            "insufficient_funds")
    # a commune fund cannot take money designated for another province
    refused(service, receipt(funds.commune, "PT9", M, earmark=funding_commands.Earmark(kind="province", province_code="22")),
            Conflict, "earmark", "earmark_mismatch")
    allocate(service, funds.central, funds.province, 50 * M, earmark=earmarked)
    allocate(service, funds.province, funds.commune, 50 * M, earmark=earmarked)
    # in the commune it pays households of province 31, not of province 22 (from a fund there)
    outsider = household(service, funds, commune=QUANG_NINH)
    refused(service, pay(funds.commune, outsider, "HOUSE_REBUILD", 40 * M), Conflict, "amount_vnd",
            "earmarked_elsewhere")
    service.execute(pay(funds.commune, household(service, funds), "HOUSE_REBUILD", 40 * M))


def test_purpose_money_pays_only_its_purpose(service: AidService, funds: Funds):
    h = household(service, funds)
    service.execute(receipt(funds.commune, "PT1", 40 * M, earmark=funding_commands.Earmark(kind="purpose", purpose="housing")))
    refused(service, pay(funds.commune, h, "INJURED", 5 * M), Conflict, "amount_vnd", "earmarked_elsewhere")
    service.execute(pay(funds.commune, h, "HOUSE_REBUILD", 40 * M))
    refused(service, receipt(funds.commune, "PT2", M, earmark=funding_commands.Earmark(kind="purpose", purpose="fireworks")),
            InvalidInput, "earmark.purpose", "unknown_purpose")


def test_undesignated_money_pays_only_what_decree_93_allows(service: AidService, funds: Funds):
    h = household(service, funds, dead=1, orphaned_children=1)
    service.execute(commands.RecordDecision(household_id=h, support_type="CHILD", decision="adjust", amount_vnd=3 * M,
                                     reason="mức hỗ trợ của tỉnh", decided_by="x", decided_at=hours(30)))
    service.execute(receipt(funds.commune, "PT1", 10 * M))
    refused(service, pay(funds.commune, h, "CHILD", 3 * M), Conflict, "amount_vnd", "purpose_not_allowed")
    service.execute(receipt(funds.commune, "PT2", 3 * M, earmark=funding_commands.Earmark(kind="purpose", purpose="children")))
    service.execute(pay(funds.commune, h, "CHILD", 3 * M))


def test_no_receipt_outside_the_campaign_window(service: AidService, funds: Funds):
    refused(service, bank(funds.central, "FT1", M, received_at=hours(0.5)), Conflict, "received_at",
            "outside_campaign_window")
    with clock.frozen_at(hours(24 * 95)):
        refused(service, bank(funds.central, "FT2", M, received_at=hours(24 * 91 + 2)), Conflict, "received_at",
                "outside_campaign_window")


def test_a_bank_reference_is_recorded_once(service: AidService, funds: Funds):
    service.execute(bank(funds.central, "FT1", M))
    error = refused(service, bank(funds.central, "FT1", 2 * M, donor_name="someone else"), Conflict, "reference",
                    "already_recorded")
    assert "FT1" in error.message and ACCOUNT in error.message
    service.execute(receipt(funds.province, "PT1", M))
    refused(service, receipt(funds.province, "PT1", M), Conflict, "receipt_number", "already_recorded")
    service.execute(receipt(funds.commune, "PT1", M))  # receipt books are per fund


def test_a_reference_twice_in_one_batch_records_once(service: AidService, funds: Funds):
    outcomes = service.execute_batch([Submission(bank(funds.central, "FT1", M))] * 3)
    assert [getattr(o, "code", "recorded") for o in outcomes] == ["recorded", "already_recorded", "already_recorded"]
    assert service.funding.fund(funds.central).total("cash") == M


@pytest.mark.parametrize("command, error, field, code", [
    (lambda f: bank(f.central, "FT1", M, account="9999999"), InvalidInput, "account", "unknown_account"),
    (lambda f: bank(uuid4(), "FT1", M), NotFound, "fund_id", "not_found"),
    (lambda f: receipt(f.commune, "PT1", M, earmark=funding_commands.Earmark(kind="household", household_id=uuid4())),
     NotFound, "earmark.household_id", "not_found"),
    (lambda f: receipt(f.province, "PT1", M, earmark=funding_commands.Earmark(kind="province", province_code="99")),
     InvalidInput, "earmark.province_code", "unknown_province"),
    (lambda f: funding_commands.OpenFund(campaign_id=f.campaign, level="province", province_code="31", committee_name="again"),
     Conflict, "level", "fund_exists"),
    (lambda f: funding_commands.LaunchCampaign(title="t", mobiliser_type="red_cross", mobiliser_name="Hội CTĐ",
                                 launched_at=hours(1), receiving_until=hours(24 * 91)),
     InvalidInput, "receiving_until", "window_too_long"),
    (lambda f: funding_commands.LaunchCampaign(title="t", mobiliser_type="red_cross", mobiliser_name="Hội CTĐ",
                                 launched_at=hours(1), receiving_until=hours(24 * 10),
                                 distribution_until=hours(24 * 31)),
     InvalidInput, "distribution_until", "window_too_long"),
    (lambda f: funding_commands.ExtendCampaign(campaign_id=f.campaign, receiving_until=hours(24), reason="r", decided_by="x"),
     Conflict, "receiving_until", "not_an_extension"),
])
def test_bad_references_and_windows(service: AidService, funds: Funds, command: Callable[[Funds], commands.Command],
                                    error: type[AidError], field: str, code: str):
    refused(service, command(funds), error, field, code)


def test_a_disbursement_names_a_fund_that_may_pay_it(service: AidService, funds: Funds):
    h = household(service, funds)
    service.execute(receipt(funds.commune, "PT1", 50 * M))
    refused(service, pay(funds.commune, h, "HOUSE_REBUILD", 40 * M, funding_source="red_cross"), InvalidInput,
            "funding_source", "funding_source_mismatch")
    refused(service, pay(funds.commune, h, "FOOD_DISASTER", form="in_kind", quantity=30, unit="kg rice",
                         channel="in_kind_delivery"), InvalidInput, "item", "item_required")
    refused(service, pay(uuid4(), h, "HOUSE_REBUILD", 40 * M), NotFound, "fund_id", "not_found")


def test_a_caller_writes_only_within_its_scope(service: AidService, funds: Funds):
    service.execute(bank(funds.central, "FT1", 10 * M))
    commune_officer = Scope(provinces=frozenset({"31"}), communes=frozenset({COMMUNES[0]}))
    refused(service, funding_commands.AllocateFunds(from_fund_id=funds.central, to_fund_id=funds.commune, amount_vnd=M,
                                      allocated_at=hours(20), decided_by="x"), Forbidden, "from_fund_id",
            "out_of_scope", scope=commune_officer)
    service.execute(receipt(funds.commune, "PT1", M), scope=commune_officer)


def test_a_voided_or_restated_payment_settles_with_the_fund(service: AidService, funds: Funds, settings: Settings):
    h = household(service, funds)
    service.execute(receipt(funds.commune, "PT1", 45 * M))
    paid = service.execute(pay(funds.commune, h, "HOUSE_REBUILD", 30 * M)).result["disbursement_id"]
    service.execute(commands.CorrectDisbursement(household_id=h, disbursement_id=paid, amount_vnd=40 * M, reason="đủ mức"))
    assert service.funding.fund(funds.commune).total("cash") == 5 * M
    refused(service, commands.CorrectDisbursement(household_id=h, disbursement_id=paid, amount_vnd=40 * M + 1,
                                           reason="quá mức"), Conflict, "amount_vnd", "exceeds_entitlement")
    service.execute(commands.CorrectDisbursement(household_id=h, disbursement_id=paid, amount_vnd=25 * M, reason="bớt"))
    assert service.funding.fund(funds.commune).total("cash") == 20 * M
    service.execute(commands.CorrectDisbursement(household_id=h, disbursement_id=paid, void=True, reason="nhầm"))
    assert service.funding.fund(funds.commune).total("cash") == 45 * M
    result = conservation(service, views_of(service, settings.views_url()))
    assert result.ok, result.violations


def test_floats_and_half_stated_channels_are_refused():
    with pytest.raises(ValidationError):
        funding_commands.RecordContribution(fund_id=uuid4(), donor_name="A", donor_type="individual", channel="bank",
                              account=ACCOUNT, reference="FT1", received_at=hours(2), amount_vnd=1.5)
    with pytest.raises(ValidationError):
        funding_commands.RecordContribution(fund_id=uuid4(), donor_name="A", donor_type="individual", channel="bank",
                              account=ACCOUNT, received_at=hours(2), amount_vnd=1)
    with pytest.raises(ValidationError):
        funding_commands.RecordContribution(fund_id=uuid4(), donor_name="A", donor_type="overseas", channel="bank",
                              account=ACCOUNT, reference="FT1", received_at=hours(2), amount_vnd=2_540_000,
                              currency="USD")


def test_concurrent_writers_to_one_fund_lose_nothing(service: AidService, funds: Funds, settings: Settings):
    writers = [build_service(settings) for _ in range(2)]
    barrier = threading.Barrier(len(writers))

    def record(writer: AidService, tag: str) -> None:
        barrier.wait()
        with clock.frozen_at(hours(72)):
            for start in range(0, 60, 10):
                outcomes = writer.execute_batch([Submission(bank(funds.central, f"FT-{tag}-{i}", M))
                                                 for i in range(start, start + 10)])
                assert not [o for o in outcomes if isinstance(o, AidError)]
        # and one allocation each, racing the other's contributions
        with clock.frozen_at(hours(72)):
            allocate(writer, funds.central, funds.province, 5 * M)

    threads = [threading.Thread(target=record, args=(w, str(n))) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.app.close()
    assert service.funding.fund(funds.central).total("cash") == 110 * M
    assert service.funding.fund(funds.province).total("cash") == 10 * M
    assert conservation(service, views_of(service, settings.views_url())).ok
