"""Retried submissions never double-count; concurrent writers never lose updates."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from emergency import commands
from emergency.errors import Conflict
from emergency.service import AidService, Submission
from infra.settings import Settings
from infra.stores import build_service
from tests.support.factories import COMMUNES, STORM_START, assess, open_incident, register

pytestmark = pytest.mark.usefixtures("storm_clock")


def test_same_key_same_body_returns_the_first_result(service: AidService):
    incident = open_incident(service)
    command = commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2)
    first = service.execute(command, idempotency_key="device-7/42")
    position = service.last_notification_id()
    again = service.execute(command, idempotency_key="device-7/42")
    assert again.replayed and again.result == first.result
    assert service.last_notification_id() == position


def test_same_key_different_body_is_a_conflict(service: AidService):
    incident = open_incident(service)
    service.execute(commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2),
                    idempotency_key="k")
    with pytest.raises(Conflict) as caught:
        service.execute(commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=3),
                        idempotency_key="k")
    assert (caught.value.field, caught.value.code) == ("Idempotency-Key", "idempotency_key_reused")


def test_keys_are_namespaced_by_caller(service: AidService):
    incident = open_incident(service)
    command = commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2)
    one = service.execute(command, idempotency_key="1", key_scope="team-a")
    other = service.execute(command, idempotency_key="1", key_scope="team-b")
    assert one.result["household_id"] != other.result["household_id"]


def test_duplicate_keys_inside_one_batch_record_once(service: AidService):
    incident = open_incident(service)
    command = commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2)
    outcomes = service.execute_batch([Submission(command, idempotency_key="x")] * 3)
    assert [o.replayed for o in outcomes] == [False, True, True]
    assert len({o.result["household_id"] for o in outcomes}) == 1


def test_concurrent_retries_of_one_key_record_once(settings: Settings, service: AidService):
    incident = open_incident(service)
    command = commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2)
    services = [build_service(settings) for _ in range(4)]
    results = []
    barrier = threading.Barrier(len(services))

    def submit(svc: AidService) -> None:
        barrier.wait()
        results.append(svc.execute(command, idempotency_key="same"))

    threads = [threading.Thread(target=submit, args=(svc,)) for svc in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for svc in services:
        svc.app.close()
    assert len({r.result["household_id"] for r in results}) == 1
    registered = [e for e in service.log(0, 1000) if e.kind == "HouseholdCase.Registered"]
    assert len(registered) == 1


def test_concurrent_writers_to_one_household_lose_nothing(settings: Settings, service: AidService):
    household = register(service, open_incident(service), members=6)
    assess(service, household, dead=0, injured=0, persons_short_of_food=6, food_months=3)  # 270 kg owed
    services = [build_service(settings) for _ in range(3)]
    errors = []

    def deliver(svc: AidService, n: int) -> None:
        for _ in range(n):
            try:
                svc.execute(commands.RecordDisbursement(
                    household_id=household, support_type="FOOD_DISASTER", form="in_kind", quantity=10,
                    unit="kg rice", channel="in_kind_delivery", funding_source="red_cross",
                    delivered_at=STORM_START + timedelta(hours=30), delivered_by="x"))
            except Conflict as error:  # only over-delivery may be refused
                errors.append(error.code)

    threads = [threading.Thread(target=deliver, args=(svc, 10)) for svc in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for svc in services:
        svc.app.close()
    delivered = [d for d in service.household(household)["disbursements"]]
    assert sum(d["quantity"] for d in delivered) == 270 == 10 * len(delivered)
    assert errors == ["exceeds_entitlement"] * 3
