"""Every write route over real HTTP: a household's whole story, offline sync
with ids made on the device, batches, and the request id in the events."""

from __future__ import annotations

from uuid import uuid4

from tests.support import payloads
from tests.support.api import Api, Household, Storm
from tests.support.factories import COMMUNES, PROVINCE


async def test_a_household_story_through_every_write_route(api: Api, storm: Storm):
    field = api.token("field", PROVINCE)
    household_id, assessment_id, disbursement_id = str(uuid4()), str(uuid4()), str(uuid4())
    registered = await api.created("/households", field,
                                   payloads.household(storm.incident_id, household_id=household_id))
    assert registered == {"household_id": household_id, "incident_id": storm.incident_id,
                          "province_code": PROVINCE, "duplicate_candidates": []}
    path = f"/households/{household_id}"
    await api.created(f"{path}/corrections", field, {"members": 5, "reason": "a child was not counted"})
    assessed = await api.created(f"{path}/assessments", field, payloads.assessment(assessment_id=assessment_id))
    assert assessed["assessment_id"] == assessment_id
    assert assessed["entitlements"]["BURIAL"]["amount_vnd"] == payloads.BURIAL_VND
    decided = await api.created(f"{path}/decisions", storm.coordinator, payloads.decision())
    assert decided["entitlement"]["status"] == "approved"
    paid = await api.created(f"{path}/disbursements", field, payloads.disbursement(disbursement_id=disbursement_id))
    assert paid["disbursement_id"] == disbursement_id
    await api.created(f"{path}/disbursements/{disbursement_id}/receipt", field,
                      {"confirmed_at": payloads.at(31), "confirmed_by": "Nguyễn Văn An", "method": "thumbprint"})
    await api.created(f"{path}/disbursements/{disbursement_id}/corrections", storm.coordinator,
                      {"amount_vnd": 20_000_000, "reason": "receipt shows 20,000,000"})

    case = (await api.get(path, field)).body
    assert case["members"] == 5
    [payment] = case["disbursements"]
    assert (payment["amount_vnd"], payment["receipt"]["method"]) == (20_000_000, "thumbprint")

    incident = f"/incidents/{storm.incident_id}"
    extended = await api.created(f"{incident}/areas", storm.coordinator,
                                 {"areas": [{"province_code": "22", "commune_codes": [payloads.LATER_COMMUNE]}]})
    assert payloads.LATER_COMMUNE in extended["areas"]["22"]
    await api.created(f"{incident}/close", storm.coordinator, {"closed_at": payloads.at(40), "reason": "done"})
    assert (await api.get(incident, storm.coordinator)).body["closed_at"] is not None


async def test_the_path_and_the_body_may_both_name_the_household(api: Api, household: Household):
    body = payloads.assessment(household_id=household.household_id.upper(), assessed_at=payloads.at(22))
    reply = await api.post(f"{household.path}/assessments", household.field, body)
    assert reply.status == 201 and reply.body["result"]["household_id"] == household.household_id


async def test_events_carry_the_request_id_the_actor_and_the_role(api: Api, storm: Storm):
    field = api.token("field", PROVINCE, name="Đội xã A")
    [token] = [t for t in api.tokens.list() if t.name == "Đội xã A"]
    sent = await api.post("/households", field, payloads.household(storm.incident_id),
                          headers={"X-Request-ID": "device-7.sync-42"})
    assert sent.headers["X-Request-ID"] == "device-7.sync-42"
    made_up = await api.post("/households", field, payloads.household(storm.incident_id, head_name="Trần Thị Bình"))
    generated = made_up.headers["X-Request-ID"]
    assert generated and generated != "device-7.sync-42"

    auditor = api.token("auditor")
    for reply, request_id in ((sent, "device-7.sync-42"), (made_up, generated)):
        history = await api.get(f"/aggregates/{reply.body['result']['household_id']}/events", auditor)
        [registered] = history.body["events"]
        assert registered["meta"] == {"actor": f"token:{token.token_id}", "role": "field",
                                      "request_id": request_id, "source": "api"}


async def test_an_offline_team_syncs_in_any_order_the_api_accepts(api: Api, storm: Storm):
    """Ids made on the device let the assessment be resent, under its key,
    once its household has arrived; nothing is recorded twice."""
    field = api.token("field", PROVINCE)
    household_id = str(uuid4())
    assessment = payloads.assessment(assessment_id=str(uuid4()))
    early = await api.post(f"/households/{household_id}/assessments", field, assessment, key="dev7-op2")
    assert (early.status, early.error) == (404, ("not_found", "household_id"))

    await api.created("/households", field, payloads.household(storm.incident_id, household_id=household_id),
                      key="dev7-op1")
    late = await api.post(f"/households/{household_id}/assessments", field, assessment, key="dev7-op2")
    assert late.status == 201
    head = await api.head()
    again = await api.post(f"/households/{household_id}/assessments", field, assessment, key="dev7-op2")
    assert again.status == 200 and again.body["result"] == late.body["result"]
    assert await api.head() == head


async def test_a_batch_records_each_assessment_on_its_own(api: Api, storm: Storm):
    field = api.token("field", PROVINCE)
    households = [(await api.created("/households", field, payloads.household(storm.incident_id, commune_code=c)))
                  ["household_id"] for c in (COMMUNES[0], COMMUNES[1], COMMUNES[0])]
    items = [{"assessment": payloads.assessment(household_id=h)} for h in households]
    items[0]["idempotency_key"] = "dev7-assess-1"
    items.append({"assessment": payloads.assessment(household_id=households[0], dead=-1)})
    items.append({"assessment": payloads.assessment(household_id=str(uuid4()))})

    first = await api.post("/assessments/batch", field, {"items": items}, key="sync-2024-09-08")
    assert first.status == 200
    assert [r["status"] for r in first.body["results"]] == [201, 201, 201, 422, 404]
    assert (first.body["recorded"], first.body["replayed"], first.body["refused"]) == (3, 0, 2)
    assert first.body["results"][3]["error"]["field"] == "items.3.assessment.dead"
    assert first.body["results"][4]["error"] == {"error": "not_found", "field": "household_id",
                                                 "message": first.body["results"][4]["error"]["message"]}

    head = await api.head()
    retry = await api.post("/assessments/batch", field, {"items": items}, key="sync-2024-09-08")
    assert [r["status"] for r in retry.body["results"]] == [200, 200, 200, 422, 404]
    assert [r["outcome"] for r in retry.body["results"][:3]] == [
        dict(r["outcome"], replayed=True, last_notification_id=None) for r in first.body["results"][:3]]
    assert await api.head() == head

    # An item resent in another batch, under its own key, is not recorded twice.
    resent = await api.post("/assessments/batch", field, {"items": [items[0]]})
    assert resent.body["results"][0]["status"] == 200
    assert await api.head() == head
