"""The rules of time, one small case each: the clock alone makes a case
overdue; a late field submission shows on the "as now known" axis and leaves
what was known then as it was; a delivery after the deadline counts as late;
a decision counts on a past day only if it was made by then."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from emergency import clock, commands
from emergency.service import AidService
from infra.settings import Settings
from projections.asof import Cutoff, instant, replay
from projections.catalog import default_projections, open_views
from projections.coverage import Filters, coverage, overdue
from projections.runner import EmbeddedRunner
from tests.support.factories import STORM_START, assess, disburse, open_incident, register

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

    def totals(at: datetime, known: str = "now") -> dict:
        runner.catch_up()
        return coverage(views.store, incident_id, at, "incident", known)[0]

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
    assert totals(day, "then") == reported_then
    assert totals(day, "now")["households_in_need"] == 2
    # By the late household's deadline (98 h) both axes agree that it is overdue.
    later = hours(99)
    clock.advance_to(later)
    for known in ("then", "now"):
        count, cases = overdue(views.store, later, Filters(incident_id), known=known)
        assert count == 2 and cases[-1]["household_id"] == str(late)
    # The slow replay of what was recorded by then says the same.
    then = replay(service.app.recorder, Cutoff(recorded_at=day), default_projections())
    assert coverage(then.store, incident_id, day, "incident")[0] == reported_then


def test_an_adjustment_decided_after_the_day_asked_about_does_not_count_on_that_day(service: AidService, live):
    """As now known for day X, the amount owed is what had been decided by X:
    an adjustment decided later changes later days only, on both axes."""
    incident_id, views, totals = live
    household = register(service, UUID(incident_id))
    assess(service, household, assessed_at=hours(20), dead=1, injured=0, house_damage="none",
           persons_short_of_food=0)  # BURIAL: 50 × 500,000 VND
    service.execute(commands.RecordDecision(household_id=household, support_type="BURIAL", decision="approve",
                                     decided_by="Chủ tịch UBND xã", decided_at=hours(29)))
    clock.advance_to(hours(60))
    service.execute(commands.RecordDecision(household_id=household, support_type="BURIAL", decision="adjust",
                                     amount_vnd=30_000_000, reason="mai táng hai người",
                                     decided_by="Chủ tịch UBND xã", decided_at=hours(59)))
    # Recorded at 48 h (the clock's start) and 60 h.
    entitled = {known: [totals(hours(n), known)["entitled_vnd"] for n in (50, 59.5, 61)] for known in ("now", "then")}
    assert entitled == {"now": [25_000_000, 30_000_000, 30_000_000], "then": [25_000_000, 25_000_000, 30_000_000]}
    assert totals(hours(40))["entitled_vnd"] == 25_000_000
    # A payment of the first amount made before the adjustment completed the case then.
    clock.advance_to(hours(70))
    disburse(service, household, "BURIAL", amount_vnd=25_000_000, delivered_at=hours(45))
    at_50, at_65 = totals(hours(50)), totals(hours(65))
    assert (at_50["disbursed_on_time"], at_50["overdue"], at_50["within_deadline"]) == (1, 0, 0)
    assert (at_65["disbursed"], at_65["disbursed_vnd"], at_65["entitled_vnd"]) == (0, 25_000_000, 30_000_000)


def test_a_notification_id_stands_for_the_moment_its_prefix_was_recorded(service: AidService, live):
    incident_id, views, totals = live
    short_of_food(service, UUID(incident_id), assessed=40)
    recorded_at = clock.now()
    totals(recorded_at)
    position = service.last_notification_id()
    clock.advance_to(hours(80))
    short_of_food(service, UUID(incident_id), assessed=70)
    totals(hours(80))
    assert instant(views.store, service.app.recorder, str(position), clock.now) == (recorded_at, position)
    assert instant(views.store, service.app.recorder, None, clock.now) == (hours(80), None)


def test_of_events_recorded_in_one_instant_a_notification_id_counts_those_up_to_it(service: AidService, live):
    """The clock stands still here, as it does within a batch: every event
    shares one recorded time, and only the notification id tells them apart."""
    incident_id, views, totals = live
    positions = []
    for assessed in (10, 11, 12):
        household = short_of_food(service, UUID(incident_id), assessed=assessed)
        positions.append(service.last_notification_id())
        disburse(service, household, "FOOD_DISASTER", form="in_kind", quantity=30, unit="kg rice",
                 channel="in_kind_delivery", delivered_at=hours(assessed + 1))
    totals(clock.now())
    for position in positions:
        point = instant(views.store, service.app.recorder, str(position), clock.now)
        then = replay(service.app.recorder, Cutoff(notification_id=position), default_projections())
        assert coverage(views.store, incident_id, point.at, "incident", "then", position=position) == \
            coverage(then.store, incident_id, then.at, "incident")
        then.store.close()
    first = coverage(views.store, incident_id, clock.now(), "incident", "then", position=positions[0])[0]
    assert (first["households_in_need"], first["disbursed"]) == (1, 0)
