"""A household's whole history, recorded and replayed on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from emergency import clock, commands
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from tests.support.factories import STORM_START, assess, disburse, open_incident, register

INCIDENT = UUID("00000000-0000-4000-8000-000000000001")
HOUSEHOLD = UUID("00000000-0000-4000-8000-000000000002")
ASSESSMENT = UUID("00000000-0000-4000-8000-000000000003")
REASSESSMENT = UUID("00000000-0000-4000-8000-000000000004")
PAYMENT = UUID("00000000-0000-4000-8000-000000000005")
RICE = UUID("00000000-0000-4000-8000-000000000006")


def record_history(service: AidService) -> None:
    """assessed → entitlements → decided → disbursed → corrected, with fixed ids and times."""
    with clock.frozen_at(STORM_START + timedelta(hours=21)):
        open_incident(service, incident_id=INCIDENT)
        register(service, INCIDENT, household_id=HOUSEHOLD)
        assess(service, HOUSEHOLD, assessment_id=ASSESSMENT)
        clock.advance_to(STORM_START + timedelta(hours=40))
        service.execute(commands.RecordDecision(household_id=HOUSEHOLD, support_type="BURIAL", decision="approve",
                                         decided_by="Chủ tịch UBND xã", decided_at=STORM_START + timedelta(hours=30)))
        service.execute(commands.RecordDecision(household_id=HOUSEHOLD, support_type="HOUSE_REBUILD", decision="adjust",
                                         amount_vnd=45_000_000, reason="tỉnh hỗ trợ thêm", level="province",
                                         decided_by="Sở Y tế", decided_at=STORM_START + timedelta(hours=31)))
        disburse(service, HOUSEHOLD, "BURIAL", disbursement_id=PAYMENT, amount_vnd=20_000_000)
        disburse(service, HOUSEHOLD, "FOOD_DISASTER", disbursement_id=RICE, form="in_kind", amount_vnd=None,
                 quantity=60, unit="kg rice", channel="in_kind_delivery")
        service.execute(commands.CorrectDisbursement(household_id=HOUSEHOLD, disbursement_id=PAYMENT,
                                              amount_vnd=25_000_000, reason="phiếu chi ghi sai số tiền"))
        service.execute(commands.ConfirmReceipt(household_id=HOUSEHOLD, disbursement_id=PAYMENT,
                                         confirmed_at=STORM_START + timedelta(hours=39), confirmed_by="chủ hộ"))
        # A second visit finds an injured member recovered and one more person missing.
        assess(service, HOUSEHOLD, assessment_id=REASSESSMENT, supersedes=ASSESSMENT, injured=0, missing=1,
               assessed_at=STORM_START + timedelta(hours=38))


def test_whole_history_is_recorded_as_events(service: AidService):
    record_history(service)
    kinds = [e.type for e in service.aggregate_history(HOUSEHOLD, limit=1000)]
    assert kinds[:2] == ["Registered", "DamageAssessed"]
    for expected in ("EntitlementDetermined", "Decided", "Disbursed", "DisbursementCorrected",
                     "ReceiptConfirmed", "EntitlementWithdrawn"):
        assert expected in kinds
    household = service.household(HOUSEHOLD)
    entitlements = {e["support_type"]: e for e in household["entitlements"]}
    # The second assessment: two people now dead or missing, nobody injured.
    assert entitlements["BURIAL"]["amount_vnd"] == 50_000_000 and entitlements["BURIAL"]["revision"] == 2
    assert entitlements["BURIAL"]["status"] == "pending"  # a revised entitlement needs a new decision
    assert entitlements["INJURED"]["status"] == "withdrawn"
    assert entitlements["HOUSE_REBUILD"]["decided_amount_vnd"] == 45_000_000
    # The revision keeps the deadline of the first assessment.
    assert entitlements["BURIAL"]["due_at"] == entitlements["INJURED"]["due_at"]
    payment = next(d for d in household["disbursements"] if d["disbursement_id"] == str(PAYMENT))
    assert payment["amount_vnd"] == 25_000_000 and payment["receipt"]["confirmed_by"] == "chủ hộ"


def test_replay_from_a_fresh_application_gives_the_same_state(settings: Settings, service: AidService):
    record_history(service)
    before = service.household(HOUSEHOLD)
    reopened = build_service(settings)
    try:
        assert reopened.household(HOUSEHOLD) == before
        assert reopened.incident(INCIDENT) == service.incident(INCIDENT)
    finally:
        reopened.app.close()


def test_both_stores_record_and_replay_the_same_history(tmp_path, postgres_url: str):
    histories = []
    states = []
    for url in (f"sqlite:///{tmp_path}/a.sqlite", postgres_url):
        service = build_service(Settings(database_url=url))
        try:
            record_history(service)
            histories.append([(e.aggregate_type, e.type, e.version, e.recorded_at, e.data)
                              for e in service.aggregate_history(HOUSEHOLD, limit=1000)])
            states.append(service.household(HOUSEHOLD))
        finally:
            service.app.close()
    assert histories[0] == histories[1]
    assert states[0] == states[1]
    assert len(histories[0]) > 10


def test_the_log_pages_in_order_after_a_cursor(service: AidService):
    record_history(service)
    everything = service.log(0, 1000)
    ids = [e.notification_id for e in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    middle = ids[len(ids) // 2]
    assert [e.notification_id for e in service.log(middle, 1000)] == [i for i in ids if i > middle]
    assert service.last_notification_id() == ids[-1]
