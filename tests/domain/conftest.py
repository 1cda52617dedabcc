"""The fixtures of the given-events / when-command / then-events tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Iterator

import pytest

from emergency import clock
from emergency.domain.household import HouseholdCaseDamageAssessed, HouseholdCaseEntitlementDetermined
from tests.domain.given import Scenario
from tests.domain.household_events import FIRST, HOUSEHOLD, INCIDENT, STORM, assessment, burial, opened, registered


@pytest.fixture(autouse=True)
def two_days_into_the_storm() -> Iterator[None]:
    with clock.frozen_at(STORM + timedelta(days=2)):
        yield


@pytest.fixture
def case() -> Scenario:
    """A registered household whose assessment (one dead) gave a BURIAL entitlement."""
    return Scenario().given(INCIDENT, opened()).given(
        HOUSEHOLD, registered(), HouseholdCaseDamageAssessed(assessment=assessment()),
        HouseholdCaseEntitlementDetermined(entitlement=burial(), basis=FIRST))
