"""The rules of time, one small case each: the clock alone makes a case
overdue; a late field submission shows on the "as now known" axis and leaves
what was known then as it was; a delivery after the deadline counts as late."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from emergency import clock
from emergency.service import AidService
from infra.settings import Settings
from projections.asof import Cutoff, Replayer, replay, views_at
from projections.catalog import default_projections, open_views
from projections.coverage import Filters, coverage, overdue
from projections.runner import EmbeddedRunner
from tests.conftest import STORM_START
from tests.factories import assess, disburse, open_incident, register

pytestmark = pytest.mark.usefixtures("storm_clock")


def hours(n: float) -> datetime:
    return STORM_START + timedelta(hours=n)


def short_of_food(service: AidService, incident: UUID, assessed: float) -> UUID:
    """A household whose only entitlement is rice, due two days after `assessed`."""
    household = register(service, incident, flags=[])
    assess(service, household, assessed_at=hours(assessed), dead=0, injured=0, house_damage="none",
           persons_short_of_food=2)
    return household


@pytest.fixture
def live(settings: Settings, service: AidService):
    views = open_views(settings)
    runner = EmbeddedRunner(service.app.recorder, views)

    def totals(at: datetime) -> dict:
        runner.catch_up()
        return coverage(views.store, incident_id, at, "incident")[0]

    incident_id = str(open_incident(service))
    yield incident_id, views, totals
    views.store.close()


def test_time_passing_alone_makes_a_case_overdue(service: AidService, live):
    incident_id, views, totals = live
    household = short_of_food(service, UUID(incident_id), assessed=40)  # due at 88 h
    before, after = totals(hours(87)), totals(hours(89))
    assert (before["within_deadline"], before["overdue"], before["timely_pct"]) == (1, 0, None)
    assert (after["within_deadline"], after["overdue"], after["timely_pct"]) == (0, 1, 0.0)
    assert after["households_overdue"] == 1 and after["persons_overdue"] == 4
    assert views.position == service.last_notification_id()  # no event was needed
    count, cases = overdue(views.store, hours(89), Filters(incident_id))
    assert count == 1 and cases[0]["household_id"] == str(household)
    assert cases[0]["owed_quantity"] == 30 and cases[0]["overdue_hours"] == 1.0


def test_a_delivery_after_the_deadline_is_late_and_timed_from_the_assessment(service: AidService, live):
    incident_id, _, totals = live
    household = short_of_food(service, UUID(incident_id), assessed=20)  # due at 68 h
    clock.advance_to(hours(80))
    disburse(service, household, "FOOD_DISASTER", form="in_kind", quantity=30, unit="kg rice",
             channel="in_kind_delivery", delivered_at=hours(70))
    at_69, at_71 = totals(hours(69)), totals(hours(71))
    assert (at_69["overdue"], at_69["late"], at_69["rice_delivered_kg"]) == (1, 0, 0)
    assert (at_71["overdue"], at_71["late"], at_71["disbursed"], at_71["rice_delivered_kg"]) == (0, 1, 1, 30)
    assert at_71["median_hours_to_delivery"] == at_71["p90_hours_to_delivery"] == 50.0


def test_a_late_submission_shows_as_now_known_and_leaves_what_was_known_then(service: AidService, live):
    incident_id, views, totals = live
    short_of_food(service, UUID(incident_id), assessed=47)  # recorded at 48 h, due at 95 h
    day = hours(60)
    clock.advance_to(day)
    reported_then = totals(day)
    assert reported_then["households_in_need"] == 1
    # A team assessed a household at 50 h, offline; it syncs at 72 h.
    clock.advance_to(hours(72))
    late = short_of_food(service, UUID(incident_id), assessed=50)
    replayer = Replayer(service.app.recorder, default_projections)
    then_store, then_at = views_at(views.store, replayer, day.isoformat(), "then", clock.now)
    assert then_at == day
    assert coverage(then_store, incident_id, day, "incident")[0] == reported_then
    now_store, _ = views_at(views.store, replayer, day.isoformat(), "now", clock.now)
    assert totals(day)["households_in_need"] == 2 and now_store is views.store
    # By the late household's deadline (98 h) both axes agree that it is overdue.
    later = hours(99)
    clock.advance_to(later)
    count, cases = overdue(replay(service.app.recorder, Cutoff(recorded_at=later), default_projections()).store,
                           later, Filters(incident_id))
    assert count == 2 and cases[-1]["household_id"] == str(late)
