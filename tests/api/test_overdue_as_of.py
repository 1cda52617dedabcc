"""The overdue list at a past point, on both time axes (what the dashboard's
as-of control shows): as known then, a payment recorded later is not there
yet; as now known, it counts from when it was delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emergency import clock
from tests.support import payloads
from tests.support.api import Api, Household
from tests.support.factories import STORM_START


async def owed(api: Api, household: Household, as_of: str, known: str = "then") -> tuple[dict[str, Any], set[str]]:
    query = f"?as_of={as_of.replace('+', '%2B')}&known={known}"
    reply = await api.get(f"/incidents/{household.storm.incident_id}/overdue{query}", household.storm.coordinator)
    assert reply.status == 200, reply.body
    return reply.body, {case["support_type"] for case in reply.body["cases"]}


async def test_the_overdue_list_as_known_then_and_as_now_known(api: Api, household: Household):
    # Assessed at 20 h; rice, necessities and the rebuild are due two days later, at 68 h.
    clock.advance_to(STORM_START.replace(hour=8, day=10))  # 79 h
    await api.created(f"{household.path}/disbursements", household.storm.coordinator, payloads.disbursement(
        support_type="HOUSE_REBUILD", amount_vnd=40_000_000, delivered_at=payloads.at(78)))
    clock.advance_to(STORM_START.replace(hour=17, day=10))  # 88 h

    before_due, owed_before = await owed(api, household, payloads.at(60))
    assert before_due["total"] == 0 and not owed_before
    due, owed_due = await owed(api, household, payloads.at(70))
    assert {"FOOD_DISASTER", "NECESSITIES", "HOUSE_REBUILD"} <= owed_due
    assert datetime.fromisoformat(due["as_of"]) == datetime.fromisoformat(payloads.at(70))
    rebuild = next(c for c in due["cases"] if c["support_type"] == "HOUSE_REBUILD")
    assert (rebuild["owed_vnd"], rebuild["overdue_hours"]) == (40_000_000, 2.0)

    # At 78.5 h the payment of 78 h had happened, but was recorded only at 79 h.
    then, owed_then = await owed(api, household, payloads.at(78.5), "then")
    now, owed_now = await owed(api, household, payloads.at(78.5), "now")
    assert "HOUSE_REBUILD" in owed_then and "HOUSE_REBUILD" not in owed_now
    assert then["total"] == now["total"] + 1
    _, owed_later = await owed(api, household, payloads.at(80), "then")
    assert owed_later == owed_now


async def test_a_bad_point_is_refused_naming_the_parameter(api: Api, household: Household):
    for query, field in (("?as_of=yesterday", "as_of"), ("?as_of=2024-09-08T10:00:00", "as_of"),
                         (f"?as_of={payloads.at(60)}&known=later".replace("+", "%2B"), "known")):
        reply = await api.get(f"/incidents/{household.storm.incident_id}/overdue{query}", household.storm.coordinator)
        assert reply.status == 422 and reply.body["field"] == field, (query, reply.body)
