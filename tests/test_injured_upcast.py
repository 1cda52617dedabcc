"""Assessments recorded before `seriously_injured` existed, on SQLite and PostgreSQL.

Their `injured` was paid as seriously injured, one INJURED support each: read
back, they say so (`seriously_injured` = `injured`, by the event class's upcast),
so later changes to the household leave that support as it was determined.
The stored events are never rewritten.
"""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from emergency import clock, commands
from emergency.event_format import TAGGED
from emergency.service import AidService
from tests.support.factories import STORM_START, assess, open_incident, register

ASSESSED = "emergency.domain.household:HouseholdCase.DamageAssessed"


@pytest.fixture
def event_format() -> str:
    """Version 1 assessments were stored by the code before stores recorded their format: tagged."""
    return TAGGED


def as_version_1(stored: StoredEvent, originator_id: UUID) -> StoredEvent:
    """The event as the code before `seriously_injured` stored it, under another household's id."""
    state = json.loads(stored.state)
    if stored.topic == ASSESSED:
        del state["class_version"], state["assessment"]["seriously_injured"]
    return StoredEvent(originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())


def an_old_household(service: AidService) -> UUID:
    """A household with two injured, both paid as seriously injured, in the version 1 form."""
    recorded = register(service, open_incident(service), members=4)
    assess(service, recorded, dead=0, injured=2, seriously_injured=2, house_damage="partial",
           persons_short_of_food=0)
    old = uuid4()
    service.app.recorder.insert_events([as_version_1(s, old) for s in service.app.recorder.select_events(recorded)])
    return old


def stored_assessment(service: AidService, household: UUID) -> bytes:
    [found] = [s for s in service.app.recorder.select_events(household) if s.topic == ASSESSED]
    return found.state


def test_an_old_assessment_reads_its_injured_as_seriously_injured(service: AidService):
    with clock.frozen_at(STORM_START + timedelta(hours=21)):
        old = an_old_household(service)
        stored = stored_assessment(service, old)
        assert b"seriously_injured" not in stored and b"class_version" not in stored

        household = service.household(old)
        assert household["current_assessment"]["seriously_injured"] == 2
        [event] = [e for e in service.aggregate_history(old) if e.type == "DamageAssessed"]
        assert event.data["assessment"]["seriously_injured"] == 2 and "class_version" not in event.data

        # Corrected details make the rules run again over the old assessment: INJURED stays as it was.
        service.execute(commands.CorrectHousehold(household_id=old, flags=["poor", "elderly"], reason="bổ sung"))
        injured = {e["support_type"]: e for e in service.household(old)["entitlements"]}["INJURED"]
        assert (injured["units"], injured["amount_vnd"], injured["revision"], injured["status"]) == (
            2, 10_000_000, 1, "pending")
        assert stored_assessment(service, old) == stored, "a stored event was rewritten"


def test_new_assessments_are_stored_as_version_2(service: AidService):
    with clock.frozen_at(STORM_START + timedelta(hours=21)):
        household = register(service, open_incident(service), members=4)
        result = assess(service, household, dead=0, injured=3, seriously_injured=1, house_damage="partial",
                        persons_short_of_food=0)
    state = json.loads(stored_assessment(service, household))
    assert state["class_version"] == 2
    assert (state["assessment"]["injured"], state["assessment"]["seriously_injured"]) == (3, 1)
    assert result["entitlements"]["INJURED"]["units"] == 1
