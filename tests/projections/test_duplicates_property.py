"""Property: for any story of real households registered once or more (by
namesakes, spelled differently, a member more or less, or by citizen id
alone), paid, merged as the coordinator finds them the same, told apart
when they are not, and un-merged, the total paid to one real household
never exceeds its entitlement; and the coverage projection's fast answers
still equal the independent reference fold on both time axes."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emergency import clock
from emergency.commands import AssessDamage, Meta, RecordDisbursement, RegisterHousehold
from emergency.domain.duplicates import DuplicatePair
from emergency.duplicate_commands import ReopenDuplicate, ResolveDuplicate
from emergency.errors import AidError
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import open_views
from projections.coverage import EVERYWHERE, GROUPINGS, coverage
from projections.duplicates import open_communes, unresolved
from projections.runner import EmbeddedRunner
from tests.projections.reference import recompute, same
from tests.support.factories import COMMUNES, STORM_START, open_incident

pytestmark = pytest.mark.slow
STORY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COORDINATOR = Meta(actor="token:coordinator", role="coordinator")
# One dead and one seriously injured, whatever the household's size.
OWED = {"BURIAL": 25_000_000, "INJURED": 5_000_000}
NAMES = ("Nguyễn Văn An", "Trần Thị Bình")  # few: namesakes who are not the same household
SPELLINGS = (str, str.upper, lambda name: name.replace("ễ", "e").replace("ă", "a").replace("ầ", "a"))

steps = st.lists(st.tuples(
    st.sampled_from(("new", "again", "again", "pay", "pay", "pay", "resolve", "resolve", "reopen")),
    st.integers(0, 10**6), st.integers(0, 10**6)), min_size=4, max_size=30)


@dataclass
class Real:
    """A household as it is in the village, and its records in the system."""

    name: str
    members: int
    citizen_id: str
    records: list[UUID] = field(default_factory=list)
    id_given: bool = False  # whether a record of it carries its citizen id


def _record(service: AidService, incident: UUID, real: Real, name: str, members: int, citizen: bool,
            hours: int) -> None:
    count = len(service.log(0, 10_000))  # ids in order of registration: a story replays the same
    household = UUID(service.execute(RegisterHousehold(
        household_id=UUID(int=count + 1), incident_id=incident, commune_code=COMMUNES[0], head_name=name,
        members=members,
        citizen_id=real.citizen_id if citizen else None)).result["household_id"])
    service.execute(AssessDamage(household_id=household, assessed_at=STORM_START + timedelta(hours=hours),
                                   dead=1, injured=1, seriously_injured=1))
    real.records.append(household)
    real.id_given = real.id_given or citizen


def _pairs(service: AidService, reals: list[Real]) -> list[DuplicatePair]:
    ids = sorted({p for r in reals for h in r.records for p in service.app.repository.get(h).duplicate_pairs()})
    return [service.app.repository.get(UUID(p)) for p in ids]


def _play(service: AidService, story: list[tuple[str, int, int]]) -> list[Real]:
    incident = open_incident(service)
    reals: list[Real] = []
    for kind, a, b in story:
        clock.advance_to(clock.now() + timedelta(hours=a % 3))
        hours = 1 + b % 40
        try:
            if kind == "new" or not reals:
                reals.append(Real(NAMES[a % len(NAMES)], 2 + b % 4, f"{len(reals):012d}"))
                _record(service, incident, reals[-1], reals[-1].name, reals[-1].members, b % 2 == 0, hours)
            real = reals[a % len(reals)]
            if kind == "again":
                # Another name altogether, found by the citizen id alone (the rules can find no other).
                by_id = b % 4 == 0 and real.id_given
                name = f"Hộ {b}" if by_id else SPELLINGS[b % len(SPELLINGS)](real.name)
                _record(service, incident, real, name, max(1, real.members + (b % 3) - 1), by_id or b % 2 == 0,
                        hours)
            elif kind == "pay":
                records = [h for r in reals for h in r.records]
                support = ("BURIAL", "INJURED")[b % 2]
                service.execute(RecordDisbursement(
                    household_id=records[a % len(records)], support_type=support, form="cash",
                    amount_vnd=OWED[support] // 4 * (1 + b % 4), channel="cash_in_hand",
                    funding_source="state_budget", delivered_at=clock.now() - timedelta(hours=1),
                    delivered_by="xã"))
            elif kind in ("resolve", "reopen"):
                candidates = [p for p in _pairs(service, reals) if p.unresolved == (kind == "resolve")]
                if not candidates:
                    continue
                pair = candidates[a % len(candidates)]
                if kind == "reopen":
                    service.execute(ReopenDuplicate(pair_id=pair.id, reason="xác minh lại", reopened_by="xã",
                                                       reopened_at=clock.now()), COORDINATOR)
                else:
                    # The coordinator is right: the same household is merged, namesakes told apart.
                    owner = {str(h): i for i, r in enumerate(reals) for h in r.records}
                    one = owner[pair.household_ids[0]] == owner[pair.household_ids[1]]
                    service.execute(ResolveDuplicate(
                        pair_id=pair.id, outcome="same" if one else "different",
                        survivor_id=UUID(pair.household_ids[b % 2]) if one else None, reason="xác minh",
                        resolved_by="xã", resolved_at=clock.now()), COORDINATOR)
            event(f"recorded: {kind}")
        except AidError as error:
            event(f"refused: {kind} {error.code}")
    return reals


@STORY
@given(story=steps)
def test_no_story_pays_one_household_beyond_its_entitlement(story):
    with tempfile.TemporaryDirectory() as folder:
        store = Settings(database_url=f"sqlite:///{folder}/events.sqlite",
                         views_database_url=f"sqlite:///{folder}/views.sqlite", citizen_id_key="khoá")
        service = build_service(store)
        views = open_views(store)
        try:
            with clock.frozen_at(STORM_START + timedelta(hours=48)):
                reals = _play(service, story)
                for real in reals:
                    paid = {code: 0 for code in OWED}
                    for household in real.records:
                        for d in service.household(household)["disbursements"]:
                            if not d["voided"] and not d.get("from_household"):  # its own, not a merged copy
                                paid[d["support_type"]] += d["amount_vnd"]
                    assert all(paid[code] <= OWED[code] for code in OWED), (real, paid)
                EmbeddedRunner(service.app.recorder, views, batch_size=5).catch_up()
                envelopes = service.log(0, 10_000)
                # The commune's count of open pairs, moved batch by batch, is what its pairs are now.
                open_now = sorted(str(p.id) for p in _pairs(service, reals) if p.unresolved)
                incident = str(envelopes[0].aggregate_id)
                assert [p["pair_id"] for p in unresolved(views.store, incident, COMMUNES[0], None, 1000)] == open_now
                assert [(c["commune_code"], c["unresolved"]) for c in open_communes(
                    views.store, incident, EVERYWHERE, None, 10)] == ([(COMMUNES[0], len(open_now))] if open_now else [])
                for at in (STORM_START + timedelta(hours=30), clock.now() + timedelta(hours=60)):
                    for known in ("now", "then"):
                        for by in GROUPINGS:
                            same(coverage(views.store, envelopes[0].aggregate_id, at, by, known),
                                 recompute(envelopes, at, by, known), pytest.approx)
        finally:
            views.store.close()
            service.app.close()
