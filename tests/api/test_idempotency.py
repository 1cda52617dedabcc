"""Idempotency-Key over HTTP: a retry gets the first result and records
nothing; another body under the same key is a 409; many simultaneous retries
of one key record once."""

from __future__ import annotations

import asyncio
from collections import Counter

from infra.settings import Settings
from tests.support import payloads
from tests.support.api import Api, Household, Storm, running
from tests.support.factories import PROVINCE


async def test_a_retry_returns_the_first_result_and_records_nothing(api: Api, household: Household):
    body = payloads.disbursement(amount_vnd=10_000_000)
    first = await api.post(f"{household.path}/disbursements", household.field, body, key="pay-1")
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    head = await api.head()
    retry = await api.post(f"{household.path}/disbursements", household.field, body, key="pay-1")
    assert (retry.status, retry.headers["Idempotent-Replayed"]) == (200, "true")
    assert retry.body == dict(first.body, replayed=True, last_notification_id=None)
    assert await api.head() == head
    # Without a key the same body is a second payment (within what is owed).
    assert (await api.post(f"{household.path}/disbursements", household.field, body)).status == 201


async def test_the_same_key_with_another_body_is_a_conflict(api: Api, household: Household):
    await api.created(f"{household.path}/disbursements", household.field,
                      payloads.disbursement(amount_vnd=10_000_000), key="pay-2")
    head = await api.head()
    other = await api.post(f"{household.path}/disbursements", household.field,
                           payloads.disbursement(amount_vnd=12_000_000), key="pay-2")
    assert (other.status, other.error) == (409, ("idempotency_key_reused", "Idempotency-Key"))
    assert await api.head() == head


async def test_keys_belong_to_the_caller(api: Api, storm: Storm):
    one, other = api.token("field", PROVINCE), api.token("field", PROVINCE)
    body = payloads.household(storm.incident_id)
    mine = await api.created("/households", one, body, key="hh-1")
    theirs = await api.created("/households", other, body, key="hh-1")
    assert mine["household_id"] != theirs["household_id"]


async def test_concurrent_retries_of_one_key_record_once(api: Api, storm: Storm):
    field = api.token("field", PROVINCE)
    body = payloads.household(storm.incident_id)
    head = await api.head()
    replies = await asyncio.gather(*(api.post("/households", field, body, key="flaky-network-1")
                                     for _ in range(40)))
    assert Counter(r.status for r in replies) == {201: 1, 200: 39}
    assert len({r.body["result"]["household_id"] for r in replies}) == 1
    registered = [e for e in await api.events(head) if e["aggregate_type"] == "HouseholdCase"]
    assert len(registered) == 1


async def test_concurrent_retries_with_different_bodies_record_one_of_them(api: Api, storm: Storm):
    field = api.token("field", PROVINCE)
    bodies = [payloads.household(storm.incident_id, members=n) for n in (2, 3)] * 10
    head = await api.head()
    replies = await asyncio.gather(*(api.post("/households", field, b, key="same-key") for b in bodies))
    winner = next(r for r in replies if r.status == 201)
    members = (await api.get(f"/households/{winner.body['result']['household_id']}", field)).body["members"]
    for body, reply in zip(bodies, replies):
        assert reply.status in ((200, 201) if body["members"] == members else (409,))
    assert Counter(r.status for r in replies)[201] == 1
    assert len([e for e in await api.events(head) if e["aggregate_type"] == "HouseholdCase"]) == 1


async def test_retries_spread_over_two_servers_on_one_store_record_once(api: Api, api_settings: Settings,
                                                                        storm: Storm):
    field = api.token("field", PROVINCE)
    body = payloads.household(storm.incident_id)
    head = await api.head()
    async with running(api_settings) as url:
        other = Api(api.session, url, api.tokens)
        replies = await asyncio.gather(*(server.post("/households", field, body, key="two-servers")
                                         for server in (api, other) * 10))
    assert Counter(r.status for r in replies) == {201: 1, 200: 19}
    assert len([e for e in await api.events(head) if e["aggregate_type"] == "HouseholdCase"]) == 1
