"""Property: for any story of a few households (assessments, re-assessments
that revise or withdraw entitlements, decisions approving, adjusting or
rejecting them, possibly after the day asked about, payments, voids,
corrected household sizes, late syncs), the coverage projection's fast
answers equal the independent reference fold (`tests.projections.reference`)
and the slow replay, at any moment on both time axes."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emergency import clock, commands
from emergency.errors import AidError
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.asof import Cutoff, instant, replay
from projections.catalog import default_projections, open_views
from projections.coverage import GROUPINGS, Filters, coverage, overdue
from projections.runner import EmbeddedRunner
from tests.projections.reference import overdue_keys, recompute, same
from tests.support.factories import COMMUNES, STORM_START, open_incident

pytestmark = pytest.mark.slow
SUPPORTS = ("FOOD_DISASTER", "BURIAL", "INJURED", "HOUSE_REBUILD", "NECESSITIES")
STORY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

steps = st.lists(st.tuples(
    st.sampled_from(("assess", "assess", "decide", "decide", "pay", "pay", "void", "members", "reassess")),
    st.integers(0, 3),  # which household
    st.integers(0, 30),  # hours the clock moves on first
    st.integers(0, 60),  # how many hours before the clock the thing happened (a late sync when large)
    st.integers(0, 10**6)), min_size=4, max_size=30)


def _damage(seed: int) -> dict[str, Any]:
    return dict(dead=int(seed % 3 == 0), injured=int(seed % 5 == 0), persons_short_of_food=seed % 4,
                house_damage=("none", "partial", "heavy", "very_heavy", "total")[seed % 5])


def _play(service: AidService, story: list[tuple[str, int, int, int, int]]) -> None:
    incident = open_incident(service)
    households: list[UUID] = []
    paid: list[tuple[UUID, UUID]] = []
    for kind, which, move, ago, seed in story:
        clock.advance_to(clock.now() + timedelta(hours=move))
        at = max(clock.now() - timedelta(hours=ago), STORM_START)
        try:
            if kind == "assess" or not households:
                households.append(UUID(service.execute(commands.RegisterHousehold(
                    incident_id=incident, commune_code=COMMUNES[seed % 2], members=1 + seed % 6,
                    flags=["poor"] if seed % 2 else [], head_name=f"Hộ {seed}")).result["household_id"]))
                service.execute(commands.AssessDamage(household_id=households[-1], assessed_at=at, **_damage(seed)))
            household = households[which % len(households)]
            owed = [e for e in service.household(household)["entitlements"] if e["status"] != "withdrawn"]
            support = owed[seed % len(owed)]["support_type"] if owed else SUPPORTS[seed % len(SUPPORTS)]
            if kind == "reassess":
                service.execute(commands.AssessDamage(household_id=household, assessed_at=at, **_damage(seed // 7)))
            elif kind == "decide":
                choice = ("approve", "adjust", "reject", "approve")[seed % 4]
                extra = dict(amount_vnd=1_000_000 * (1 + seed % 40), reason="điều chỉnh") if choice == "adjust" \
                    else dict(reason="không đủ điều kiện") if choice == "reject" else {}
                service.execute(commands.RecordDecision(household_id=household, support_type=support, decision=choice,
                                                 decided_by="xã", decided_at=at, **extra))
            elif kind == "pay":
                in_kind = support in ("FOOD_DISASTER", "NECESSITIES")  # some amounts exceed what is owed: refused
                result = service.execute(commands.RecordDisbursement(
                    household_id=household, support_type=support, form="in_kind" if in_kind else "cash",
                    amount_vnd=None if in_kind else 250_000 * (1 + seed % 20),
                    quantity=(15 * (1 + seed % 6)) if in_kind else None,
                    unit=("kg rice" if support == "FOOD_DISASTER" else "bộ") if in_kind else None,
                    channel="in_kind_delivery" if in_kind else "cash_in_hand", funding_source="state_budget",
                    delivered_at=at, delivered_by="xã")).result
                paid.append((household, UUID(result["disbursement_id"])))
            elif kind == "void":
                target = paid[seed % len(paid)] if paid else (household, UUID(int=seed))  # none: refused
                service.execute(commands.CorrectDisbursement(household_id=target[0], disbursement_id=target[1], void=True,
                                                      reason="chi nhầm"))
            elif kind == "members":
                service.execute(commands.CorrectHousehold(household_id=household, members=1 + seed % 9, reason="đếm lại"))
            event(f"recorded: {kind}")
        except AidError:
            pass  # refused: nothing recorded, as the service promises


@STORY
@given(story=steps, asked=st.lists(st.integers(0, 10**6), min_size=3, max_size=3))
def test_fast_answers_equal_the_reference_on_both_axes(story, asked):
    with tempfile.TemporaryDirectory() as folder:
        store = Settings(database_url=f"sqlite:///{folder}/events.sqlite",
                         views_database_url=f"sqlite:///{folder}/views.sqlite")
        service = build_service(store)
        views = open_views(store)
        try:
            with clock.frozen_at(STORM_START + timedelta(hours=1)):
                _play(service, story)
                EmbeddedRunner(service.app.recorder, views, batch_size=7).catch_up()
                _check(service, views.store, asked)
        finally:
            views.store.close()
            service.app.close()


def _check(service: AidService, store: Any, asked: list[int]) -> None:
    envelopes = service.log(0, 10_000)
    incident = envelopes[0].aggregate_id
    span = (clock.now() + timedelta(hours=80) - STORM_START).total_seconds()
    for pick in asked:
        at = STORM_START + timedelta(seconds=span * pick / 10**6)
        for known in ("now", "then"):
            for by in GROUPINGS:
                same(coverage(store, incident, at, by, known), recompute(envelopes, at, by, known), pytest.approx)
            total, page = overdue(store, at, Filters(incident), limit=10_000, known=known)
            assert total == len(page) and [(r["household_id"], r["support_type"]) for r in page] == \
                overdue_keys(envelopes, at, known)
        # As known at a notification id, even inside one recorded instant: the slow replay agrees.
        position = envelopes[pick % len(envelopes)].notification_id
        point = instant(store, service.app.recorder, str(position), clock.now)
        then = replay(service.app.recorder, Cutoff(notification_id=position), default_projections())
        assert coverage(store, incident, point.at, "province", "then", position=position) == \
            coverage(then.store, incident, then.at, "province")
        then.store.close()
