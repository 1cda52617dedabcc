"""Possible duplicate households through the service, on each store: who is
found as a candidate, what a pair holds back, and what a merge and its
undoing do to entitlements and payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator
from uuid import UUID, uuid4

import pytest

from emergency.batch import Scope
from emergency.commands import AssessDamage, Command, CorrectDisbursement, Meta, RecordDisbursement, RegisterHousehold
from emergency.duplicate_commands import ReopenDuplicate, ResolveDuplicate
from emergency.errors import AidError
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import open_views
from projections.exports import commune_rows
from projections.runner import EmbeddedRunner
from tests.support.factories import COMMUNES, PROVINCE, STORM_START, assess, disburse, open_incident, register

pytestmark = pytest.mark.usefixtures("storm_clock")

CITIZEN = "001204012345"
COORDINATOR = Meta(actor="token:coordinator", role="coordinator")
BURIAL = 25_000_000


def at(hours: float) -> Any:
    return STORM_START + timedelta(hours=hours)


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return Settings.model_validate(settings.model_dump() | {"citizen_id_key": "a secret of the province"})


@pytest.fixture
def duplicates(keyed: Settings) -> Iterator[AidService]:
    service = build_service(keyed)
    yield service
    service.app.close()


def refused(service: AidService, command: Command, meta: Meta = Meta(), **kwargs: Any) -> AidError:
    with pytest.raises(AidError) as caught:
        service.execute(command, meta, **kwargs)
    return caught.value


def namesake(service: AidService, incident: UUID, **changes: Any) -> UUID:
    return register(service, incident, head_name="Nguyễn Văn An", **changes)


def candidates(service: AidService, incident: UUID, **fields: Any) -> tuple[UUID, list[str]]:
    body: dict[str, Any] = dict(incident_id=incident, commune_code=COMMUNES[0], head_name="Nguyễn Văn An",
                                members=4, flags=["poor"])
    result = service.execute(RegisterHousehold(**(body | fields))).result
    return UUID(result["household_id"]), result["duplicate_candidates"]


def pair_of(service: AidService, household: UUID) -> UUID:
    pairs = service.app.repository.get(household).duplicate_pairs()
    assert len(pairs) == 1, pairs
    return UUID(next(iter(pairs)))


def assessed_pair(service: AidService) -> tuple[UUID, UUID, UUID]:
    """One household registered and assessed twice: its two records and their pair."""
    incident = open_incident(service)
    first, second = namesake(service, incident), namesake(service, incident)
    for h in (first, second):
        assess(service, h)
    return first, second, pair_of(service, second)


def resolve(service: AidService, pair: UUID, outcome: str, survivor: UUID | None = None, **kwargs: Any):
    return service.execute(ResolveDuplicate(pair_id=pair, outcome=outcome, survivor_id=survivor,
                                               reason="xác minh tại thôn", resolved_by="Chủ tịch UBND xã",
                                               resolved_at=at(40)), COORDINATOR, **kwargs).result


def reopen(service: AidService, pair: UUID) -> dict[str, Any]:
    return service.execute(ReopenDuplicate(pair_id=pair, reason="xác minh lại", reopened_by="Chủ tịch UBND xã",
                                              reopened_at=at(44)), COORDINATOR).result


def payment(household: UUID, amount: int, delivered: float = 30, **changes: Any) -> RecordDisbursement:
    return RecordDisbursement(household_id=household, support_type="BURIAL", form="cash", amount_vnd=amount,
                                channel="cash_in_hand", funding_source="state_budget", delivered_at=at(delivered),
                                delivered_by="cán bộ xã", **changes)


def paid_burial(service: AidService, household: UUID, amount: int, **changes: Any) -> dict[str, Any]:
    return disburse(service, household, "BURIAL", amount_vnd=amount, **changes)


def test_a_namesake_of_about_the_same_size_in_the_commune_is_a_candidate(duplicates: AidService):
    incident = open_incident(duplicates)
    first, found = candidates(duplicates, incident)
    assert found == []
    # Case and diacritics folded; members within one.
    second, found = candidates(duplicates, incident, head_name="NGUYEN VAN  AN", members=5)
    assert found == [str(first)]
    _, found = candidates(duplicates, incident, head_name="nguyễn văn an", members=3)
    assert found == [str(first)]  # the second, of five, is two apart
    # Not: two members apart, another commune, another name.
    assert candidates(duplicates, incident, members=7)[1] == []
    assert candidates(duplicates, incident, commune_code=COMMUNES[1])[1] == []
    assert candidates(duplicates, incident, head_name="Nguyễn Văn Anh")[1] == []


def test_three_members_and_five_are_two_apart(duplicates: AidService):
    incident = open_incident(duplicates)
    three, _ = candidates(duplicates, incident, members=3)
    five, found = candidates(duplicates, incident, members=5)
    assert found == []
    _, found = candidates(duplicates, incident, members=4)
    assert sorted(found) == sorted([str(three), str(five)])


def test_the_same_citizen_id_is_a_candidate_whatever_the_name_and_is_kept_only_as_a_keyed_hash(
        duplicates: AidService):
    incident = open_incident(duplicates)
    first, _ = candidates(duplicates, incident, citizen_id=CITIZEN)
    second, found = candidates(duplicates, incident, head_name="Nguyễn Thị Bình", members=2,
                               commune_code=COMMUNES[1], citizen_id=CITIZEN)
    assert found == [str(first)]
    pair = duplicates.app.repository.get(pair_of(duplicates, second))
    assert pair.reasons == ["citizen_id"]
    # A team of the other commune is not told the first household's id, though the pair is recorded.
    third = duplicates.execute(RegisterHousehold(
        incident_id=incident, commune_code=COMMUNES[1], head_name="Lê Văn Cường", members=3, citizen_id=CITIZEN),
        scope=Scope(provinces=frozenset({PROVINCE}), communes=frozenset({COMMUNES[1]}))).result
    assert third["duplicate_candidates"] == [str(second)]
    assert len(duplicates.app.repository.get(first).duplicate_pairs()) == 2
    recorded = "".join(str(e.to_dict()) for e in duplicates.log(0, 10_000))
    assert CITIZEN not in recorded
    raw = b"".join(n.state for n in duplicates.app.recorder.select_notifications(start=1, limit=10_000))
    assert CITIZEN.encode() not in raw


def test_a_citizen_id_without_a_key_or_of_the_wrong_form_is_refused(service: AidService, duplicates: AidService):
    error = refused(service, RegisterHousehold(incident_id=open_incident(service), commune_code=COMMUNES[0],
                                                 head_name="A", members=2, citizen_id=CITIZEN))
    assert (error.status, error.code, error.field) == (422, "citizen_id_not_accepted", "citizen_id")
    with pytest.raises(ValueError, match="12 digits"):
        RegisterHousehold(incident_id=uuid4(), commune_code=COMMUNES[0], head_name="A", members=2,
                            citizen_id="12345")


def test_an_open_pair_holds_back_payments_to_either_unless_a_coordinator_overrides(duplicates: AidService):
    incident = open_incident(duplicates)
    first = namesake(duplicates, incident)
    assess(duplicates, first)
    second, _ = candidates(duplicates, incident)
    assess(duplicates, second)
    for payee, other in ((second, first), (first, second)):
        error = refused(duplicates, payment(payee, BURIAL))
        assert (error.status, error.code, error.field) == (409, "possible_duplicate", "household_id")
        assert str(other) in error.message
    reason = "two brothers of one name, seen in person"
    error = refused(duplicates, payment(second, BURIAL, duplicate_override=reason), Meta(role="field"))
    assert (error.status, error.code, error.field) == (403, "forbidden_role", "duplicate_override")
    paid = duplicates.execute(payment(second, BURIAL, duplicate_override=reason), COORDINATOR).result
    overrides = [e for e in duplicates.log(0, 10_000) if e.kind == "DuplicatePair.PaymentOverridden"]
    assert [(o.data["household_id"], o.data["disbursement_id"], o.data["reason"], o.meta["role"])
            for o in overrides] == [(str(second), paid["disbursement_id"], reason, "coordinator")]


def test_the_setting_may_let_payments_through(keyed: Settings):
    service = build_service(Settings.model_validate(keyed.model_dump() | {"duplicate_payments": "allow"}))
    try:
        incident = open_incident(service)
        first = namesake(service, incident)
        second = namesake(service, incident)
        for h in (first, second):
            assess(service, h)
            paid_burial(service, h, BURIAL)
        assert [len(service.household(h)["disbursements"]) for h in (first, second)] == [1, 1]
        assert service.app.repository.get(second).duplicate_pairs()  # found all the same
    finally:
        service.app.close()


def test_different_households_are_paid_each_and_a_reopened_pair_holds_back_again(duplicates: AidService):
    first, second, pair = assessed_pair(duplicates)
    assert resolve(duplicates, pair, "different")["status"] == "different"
    paid_burial(duplicates, first, BURIAL)
    paid_burial(duplicates, second, 10_000_000)
    assert reopen(duplicates, pair)["status"] == "unresolved"
    assert refused(duplicates, payment(second, 1_000_000)).code == "possible_duplicate"


def test_a_merge_bounds_both_households_payments_by_one_entitlement(duplicates: AidService):
    incident = open_incident(duplicates)
    first = namesake(duplicates, incident)
    assess(duplicates, first, assessed_at=at(10))
    paid = paid_burial(duplicates, first, 15_000_000)  # before the second team's record came in
    second = namesake(duplicates, incident)
    assess(duplicates, second, assessed_at=at(20), injured=0)
    result = resolve(duplicates, pair_of(duplicates, second), "same", survivor=second)
    assert (result["survivor_id"], result["absorbed_id"]) == (str(second), str(first))
    survivor = duplicates.household(second)
    assert survivor["assessments"] == 2  # both histories
    assert survivor["current_assessment"]["assessed_at"] == at(20).isoformat()  # the newest situation
    assert [e["support_type"] for e in survivor["entitlements"] if e["status"] != "withdrawn"] == \
        ["FOOD_DISASTER", "NECESSITIES", "BURIAL", "HOUSE_REBUILD"]
    absorbed = duplicates.household(first)
    assert {e["status"] for e in absorbed["entitlements"]} == {"withdrawn"}
    error = refused(duplicates, payment(second, 15_000_000, 45))
    assert (error.code, error.field) == ("exceeds_entitlement", "amount_vnd")
    paid_burial(duplicates, second, BURIAL - 15_000_000, delivered_at=at(45))
    # The absorbed household takes no more writes; what was paid to it is corrected by reopening first.
    error = refused(duplicates, AssessDamage(household_id=first, assessed_at=at(46)))
    assert (error.status, error.code, error.field) == (409, "merged_household", "household_id")
    assert str(second) in error.message
    error = refused(duplicates, CorrectDisbursement(household_id=second, disbursement_id=paid["disbursement_id"],
                                                      void=True, reason="chi nhầm"))
    assert (error.code, error.field) == ("merged_disbursement", "disbursement_id")


def test_undoing_a_merge_gives_each_household_its_own_again_and_the_pair_holds_back(duplicates: AidService):
    first, second, pair = assessed_pair(duplicates)
    resolve(duplicates, pair, "same", survivor=first)
    paid_burial(duplicates, first, BURIAL)
    reopen(duplicates, pair)
    restored = duplicates.household(second)
    assert restored["assessments"] == 1
    assert {e["support_type"]: e["status"] for e in restored["entitlements"]}["BURIAL"] == "pending"
    assert duplicates.household(first)["assessments"] == 1
    for h in (first, second):
        assert refused(duplicates, payment(h, 1_000_000, 45)).code == "possible_duplicate"
    # Merged again the other way: the survivor takes in what the first was paid, in full.
    resolve(duplicates, pair, "same", survivor=second)
    error = refused(duplicates, payment(second, 1_000_000, 45))
    assert error.code == "exceeds_entitlement"


def test_three_records_of_one_household_merge_into_one(duplicates: AidService):
    incident = open_incident(duplicates)
    records = [namesake(duplicates, incident) for _ in range(3)]
    for h in records:
        assess(duplicates, h)
    pairs = {UUID(p) for h in records for p in duplicates.app.repository.get(h).duplicate_pairs()}
    assert len(pairs) == 3
    ordered = sorted(pairs, key=lambda p: sorted(duplicates.app.repository.get(p).household_ids))
    for pair in ordered:
        ids = duplicates.app.repository.get(pair).household_ids
        resolve(duplicates, pair, "same", survivor=UUID(ids[0]))
    roots = {duplicates.app.repository.get(h).merged_into() or str(h) for h in records}
    assert len(roots) == 1
    survivor = UUID(roots.pop())
    assert duplicates.household(survivor)["assessments"] == 3
    # A fourth record of it is a candidate of the survivor alone.
    _, found = candidates(duplicates, incident)
    assert found == [str(survivor)]


def test_bad_resolutions_are_refused_naming_the_field(duplicates: AidService):
    incident = open_incident(duplicates)
    first = namesake(duplicates, incident)
    second = namesake(duplicates, incident)
    pair = pair_of(duplicates, second)
    with pytest.raises(ValueError, match="survivor_id"):
        ResolveDuplicate(pair_id=pair, outcome="same", reason="x", resolved_by="x", resolved_at=at(40))
    error = refused(duplicates, ResolveDuplicate(pair_id=pair, outcome="same", survivor_id=uuid4(), reason="x",
                                                    resolved_by="x", resolved_at=at(40)), COORDINATOR)
    assert (error.status, error.code, error.field) == (422, "not_in_pair", "survivor_id")
    error = refused(duplicates, ResolveDuplicate(pair_id=first, outcome="different", reason="x", resolved_by="x",
                                                    resolved_at=at(40)), COORDINATOR)
    assert (error.status, error.field) == (404, "pair_id")
    assert refused(duplicates, ReopenDuplicate(pair_id=pair, reason="x", reopened_by="x",
                                                  reopened_at=at(40)), COORDINATOR).code == "not_resolved"
    resolve(duplicates, pair, "different")
    error = refused(duplicates, ResolveDuplicate(pair_id=pair, outcome="different", reason="x", resolved_by="x",
                                                    resolved_at=at(40)), COORDINATOR)
    assert (error.status, error.code, error.field) == (409, "already_resolved", "pair_id")
    elsewhere = Scope(provinces=frozenset({PROVINCE}), communes=frozenset({COMMUNES[1]}))
    error = refused(duplicates, ReopenDuplicate(pair_id=pair, reason="x", reopened_by="x", reopened_at=at(40)),
                    COORDINATOR, scope=elsewhere)
    assert (error.status, error.code, error.field) == (403, "out_of_scope", "pair_id")


def test_exports_count_a_merged_household_once(keyed: Settings, duplicates: AidService):
    views = open_views(keyed)
    try:
        incident = open_incident(duplicates)
        first = namesake(duplicates, incident)
        assess(duplicates, first)
        paid_burial(duplicates, first, 10_000_000, delivered_at=at(25))
        second = namesake(duplicates, incident)
        assess(duplicates, second)
        pair = pair_of(duplicates, second)
        runner = EmbeddedRunner(duplicates.app.recorder, views)

        def figures() -> tuple[int, ...]:
            runner.catch_up()
            [row] = [r for r in commune_rows(views.store, str(incident), at(47)) if r["commune_code"] == COMMUNES[0]]
            return row["households_affected"], row["persons_affected"], row["households_reached"], \
                row["households_in_need"]

        assert figures() == (2, 8, 1, 2)
        resolve(duplicates, pair, "same", survivor=second)
        assert figures() == (1, 4, 1, 1)  # the survivor is reached by what the absorbed was paid
        reopen(duplicates, pair)
        assert figures() == (2, 8, 1, 2)
    finally:
        views.store.close()
