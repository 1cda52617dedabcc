"""Refused commands name their field and leave the records untouched."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from pydantic import ValidationError

from emergency import commands
from emergency.batch import Scope
from emergency.errors import AidError, Conflict, Forbidden, InvalidInput, NotFound
from emergency.service import AidService, Submission
from tests.support.factories import COMMUNES, OTHER_COMMUNE, STORM_START, assess, disburse, open_incident, register

pytestmark = pytest.mark.usefixtures("storm_clock")


def refused(service: AidService, command: commands.Command, error: type[AidError], field: str, code: str,
            **kwargs) -> None:
    before = service.last_notification_id()
    with pytest.raises(error) as caught:
        service.execute(command, **kwargs)
    assert (caught.value.field, caught.value.code) == (field, code)
    assert service.last_notification_id() == before, "a refused command recorded something"


@pytest.mark.parametrize("changes, field", [
    ({"members": 0}, "members"),
    ({"members": 2.0}, "members"),
    ({"commune_code": "311"}, "commune_code"),
    ({"flags": ["rich"]}, "flags"),
    ({"nickname": "x"}, "nickname"),
])
def test_malformed_fields_are_named(changes, field):
    fields = dict(incident_id=uuid4(), commune_code=COMMUNES[0], head_name="A", members=3)
    fields.update(changes)
    with pytest.raises(ValidationError) as caught:
        commands.RegisterHousehold(**fields)
    assert caught.value.errors()[0]["loc"][0] == field


def test_amounts_must_be_whole_vnd_and_times_aware_and_past():
    base = dict(household_id=uuid4(), support_type="BURIAL", form="cash", channel="cash_in_hand",
                funding_source="state_budget", delivered_by="x", delivered_at=STORM_START)
    for changes, field in [({"amount_vnd": 1000.5}, "amount_vnd"), ({"amount_vnd": -5}, "amount_vnd"),
                           ({"amount_vnd": 10, "delivered_at": STORM_START.replace(tzinfo=None)}, "delivered_at"),
                           ({"amount_vnd": 10, "delivered_at": STORM_START + timedelta(days=30)}, "delivered_at")]:
        with pytest.raises(ValidationError) as caught:
            commands.RecordDisbursement(**dict(base, **changes))
        assert caught.value.errors()[0]["loc"][0] == field


def test_unknown_province_and_unknown_incident(service: AidService):
    refused(service, commands.OpenIncident(incident_type="flood", title="x", started_at=STORM_START,
                                    areas=[{"province_code": "99", "commune_codes": ["99001"]}]),
            InvalidInput, "areas.0.province_code", "unknown_province")
    refused(service, commands.RegisterHousehold(incident_id=uuid4(), commune_code=COMMUNES[0], head_name="A", members=2),
            NotFound, "incident_id", "not_found")


def test_commune_outside_the_incident(service: AidService):
    incident = open_incident(service)
    refused(service, commands.RegisterHousehold(incident_id=incident, commune_code=OTHER_COMMUNE, head_name="A", members=2),
            InvalidInput, "commune_code", "commune_not_in_incident")


def test_assessment_checks_against_the_household(service: AidService):
    household = register(service, open_incident(service), members=3)
    refused(service, commands.AssessDamage(household_id=household, assessed_at=STORM_START + timedelta(hours=3),
                                    persons_short_of_food=5), InvalidInput, "persons_short_of_food", "exceeds_members")
    refused(service, commands.AssessDamage(household_id=household, assessed_at=STORM_START - timedelta(hours=3)),
            InvalidInput, "assessed_at", "before_incident")
    refused(service, commands.AssessDamage(household_id=household, assessed_at=STORM_START + timedelta(hours=3),
                                    injured=1, seriously_injured=2), InvalidInput, "seriously_injured",
            "exceeds_injured")
    refused(service, commands.AssessDamage(household_id=uuid4(), assessed_at=STORM_START), NotFound, "household_id",
            "not_found")


def test_disbursement_rules(service: AidService):
    household = register(service, open_incident(service))
    assess(service, household)
    refused(service, commands.RecordDisbursement(
        household_id=uuid4(), support_type="BURIAL", form="cash", amount_vnd=1, channel="cash_in_hand",
        funding_source="state_budget", delivered_at=STORM_START, delivered_by="x"), NotFound, "household_id",
        "not_found")
    refused(service, commands.RecordDisbursement(
        household_id=household, support_type="BURIAL", form="cash", amount_vnd=25_000_001, channel="cash_in_hand",
        funding_source="state_budget", delivered_at=STORM_START, delivered_by="x"), Conflict, "amount_vnd",
        "exceeds_entitlement")
    refused(service, commands.RecordDisbursement(
        household_id=household, support_type="HOUSE_REPAIR", form="cash", amount_vnd=1, channel="cash_in_hand",
        funding_source="state_budget", delivered_at=STORM_START, delivered_by="x"), NotFound, "support_type",
        "no_entitlement")
    paid = disburse(service, household, "BURIAL", amount_vnd=10_000_000)
    refused(service, commands.RecordDisbursement(
        household_id=household, disbursement_id=paid["disbursement_id"], support_type="BURIAL", form="cash",
        amount_vnd=1, channel="cash_in_hand", funding_source="state_budget", delivered_at=STORM_START,
        delivered_by="x"), Conflict, "disbursement_id", "duplicate_disbursement")


def test_decision_on_a_closed_incident(service: AidService):
    incident = open_incident(service)
    household = register(service, incident)
    assess(service, household)
    service.execute(commands.CloseIncident(incident_id=incident, closed_at=STORM_START + timedelta(days=1), reason="xong"))
    refused(service, commands.RecordDecision(household_id=household, support_type="BURIAL", decision="approve",
                                      decided_by="x", decided_at=STORM_START + timedelta(days=1)),
            Conflict, "incident_id", "incident_closed")


def test_stale_decision_revision(service: AidService):
    household = register(service, open_incident(service))
    assess(service, household)
    assess(service, household, dead=2, assessed_at=STORM_START + timedelta(hours=25))
    refused(service, commands.RecordDecision(household_id=household, support_type="BURIAL", decision="approve",
                                      revision=1, decided_by="x", decided_at=STORM_START + timedelta(hours=26)),
            Conflict, "revision", "stale_revision")


def test_scope_limits_where_a_team_writes(service: AidService):
    incident = open_incident(service)
    team = Scope(provinces=frozenset({"31"}), communes=frozenset({COMMUNES[1]}))
    refused(service, commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2),
            Forbidden, "commune_code", "out_of_scope", scope=team)
    assert service.execute(commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[1], head_name="A",
                                               members=2), scope=team).result["province_code"] == "31"


def test_a_refused_command_does_not_sink_its_batch(service: AidService):
    incident = open_incident(service)
    good = commands.RegisterHousehold(incident_id=incident, commune_code=COMMUNES[0], head_name="A", members=2)
    bad = commands.RegisterHousehold(incident_id=incident, commune_code=OTHER_COMMUNE, head_name="B", members=2)
    outcomes = service.execute_batch([Submission(good), Submission(bad), Submission(good)])
    assert isinstance(outcomes[1], InvalidInput)
    saved = [o for o in outcomes if not isinstance(o, AidError)]
    assert len(saved) == 2 and all(o.notification_ids for o in saved)
    assert saved[0].result["household_id"] != saved[1].result["household_id"]
