"""Incidents' and campaigns' rules, as given events, a command, then events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from emergency.commands import Area, CloseIncident, ExtendIncidentAreas
from emergency.domain.campaign import CampaignExtended, CampaignLaunched
from emergency.domain.incident import IncidentAreasExtended, IncidentClosed, IncidentOpened
from emergency.errors import Conflict
from emergency.funding.commands import ExtendCampaign
from emergency.funding.rules import load_funding_policy
from tests.domain.given import Scenario
from tests.domain.household_events import INCIDENT, STORM

CAMPAIGN = UUID("50000000-0000-4000-8000-000000000001")


@pytest.fixture
def incident() -> Scenario:
    return Scenario().given(INCIDENT, IncidentOpened(incident_type="storm", title="Bão Yagi", started_at=STORM,
                                                     areas={"31": ["11311"]}))


def test_extending_an_incident_records_only_the_communes_it_adds(incident: Scenario):
    incident.when(ExtendIncidentAreas(incident_id=INCIDENT, areas=[
        Area(province_code="31", commune_codes=["11311", "11455"]), Area(province_code="22", commune_codes=["06688"])]))
    incident.then((INCIDENT, IncidentAreasExtended(areas={"31": ["11455"], "22": ["06688"]})))


def test_extending_an_incident_by_communes_it_has_records_nothing(incident: Scenario):
    incident.when(ExtendIncidentAreas(incident_id=INCIDENT, areas=[Area(province_code="31", commune_codes=["11311"])]))
    incident.then()


def test_an_incident_closes_once_and_not_before_it_started(incident: Scenario):
    incident.when(CloseIncident(incident_id=INCIDENT, closed_at=STORM - timedelta(hours=1), reason="nhầm"))
    incident.then_refused(Conflict, "closed_before_start", "closed_at")
    incident.when(CloseIncident(incident_id=INCIDENT, closed_at=STORM + timedelta(days=1), reason="khắc phục xong"))
    incident.then((INCIDENT, IncidentClosed(closed_at=STORM + timedelta(days=1), reason="khắc phục xong")))
    incident.when(CloseIncident(incident_id=INCIDENT, closed_at=STORM + timedelta(days=1), reason="khắc phục xong"))
    incident.then_refused(Conflict, "incident_closed", "incident_id")


def launched(**changes: Any) -> CampaignLaunched:
    fields: dict[str, Any] = dict(
        title="Ủng hộ đồng bào bị bão số 3", mobiliser_type="fatherland_front",
        mobiliser_name="Ủy ban Trung ương MTTQ Việt Nam", level="central", province_code=None, commune_code=None,
        incident_id=None, launched_at=STORM, receiving_until=STORM + timedelta(days=30),
        distribution_until=STORM + timedelta(days=60), distribution_commitment=None,
        rule_version=load_funding_policy().on(STORM.date()).id)
    return CampaignLaunched(**(fields | changes))


def extend(**changes: Any) -> ExtendCampaign:
    return ExtendCampaign(campaign_id=CAMPAIGN, reason="còn nhiều hộ chưa nhận", decided_by="Ban Thường trực",
                          **changes)


def test_receiving_longer_moves_the_end_of_distribution_as_far():
    scenario = Scenario().given(CAMPAIGN, launched())
    scenario.when(extend(receiving_until=STORM + timedelta(days=40)))
    scenario.then((CAMPAIGN, CampaignExtended(receiving_until=STORM + timedelta(days=40),
                                              distribution_until=STORM + timedelta(days=70),
                                              reason="còn nhiều hộ chưa nhận", decided_by="Ban Thường trực")))


def test_an_extension_never_shortens_a_window():
    scenario = Scenario().given(CAMPAIGN, launched())
    scenario.when(extend(distribution_until=STORM + timedelta(days=50)))
    scenario.then_refused(Conflict, "not_an_extension", "distribution_until")
