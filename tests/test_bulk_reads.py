"""A batch reads the records its commands name in one query: the aggregates it
gets must be those the repository would give, and reading ahead must not
leave a refused or failed batch's changes anywhere."""

from __future__ import annotations

from uuid import uuid4

from emergency import commands
from emergency.application import SHORT_STREAM
from emergency.service import AidService, Submission
from infra.settings import Settings
from infra.stores import build_service
from tests.support import factories


def _state(aggregate) -> dict:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_read_ahead_gives_what_the_repository_gives(service: AidService, settings: Settings, storm_clock) -> None:
    incident = factories.open_incident(service)
    household = factories.register(service, incident)
    factories.assess(service, household)
    missing = uuid4()
    # A second process on the same store: its cache knows nothing yet ...
    other = build_service(settings)
    try:
        read = other.app.get_many([household, missing])
        assert read[missing] is None
        assert _state(read[household]) == _state(other.app.repository.get(household))
        # ... then caches the household, which the first process changes afterwards.
        factories.assess(service, household, persons_short_of_food=2)
        forwarded = other.app.get_many([household])[household]
        assert forwarded.version == service.app.repository.get(household).version
        assert _state(forwarded) == _state(service.app.repository.get(household))
        # The copy handed out is not the cached object: changing it changes nothing shared.
        forwarded.members = 99
        assert other.app.repository.get(household).members == 4
    finally:
        other.app.close()


def test_long_streams_are_left_to_the_repository(service: AidService, storm_clock) -> None:
    incident = factories.open_incident(service)
    household = factories.register(service, incident)
    service.execute_batch([Submission(commands.CorrectHousehold(household_id=household, members=5 + i % 2, reason="recount"))
                           for i in range(SHORT_STREAM)])
    assert service.app.repository.get(household).version > SHORT_STREAM
    assert household not in service.app.get_many([household])
    # and a batch still reads it, the long way
    outcome = service.execute(commands.CorrectHousehold(household_id=household, head_name="Trần Thị Bình", reason="typo"))
    assert outcome.result["household_id"] == str(household)


def test_a_refused_batch_leaves_the_read_aggregates_unchanged(service: AidService, storm_clock) -> None:
    incident = factories.open_incident(service)
    household = factories.register(service, incident)
    before = _state(service.app.repository.get(household))
    # The assessment is applied to the household read ahead, then the batch's
    # second submission reuses its key with another body: refused, and the first
    # is saved alone; a third names a household that does not exist.
    first = Submission(commands.AssessDamage(household_id=household, assessed_at=factories.STORM_START.replace(hour=20),
                                      house_damage="total"), idempotency_key="k1")
    clash = Submission(commands.AssessDamage(household_id=household, assessed_at=factories.STORM_START.replace(hour=21),
                                      house_damage="partial"), idempotency_key="k1")
    absent = Submission(commands.AssessDamage(household_id=uuid4(), assessed_at=factories.STORM_START.replace(hour=21)))
    outcomes = service.execute_batch([first, clash, absent])
    assert [type(o).__name__ for o in outcomes] == ["Outcome", "Conflict", "NotFound"]
    after = service.app.repository.get(household)
    assert len(after.assessments) == 1 and after.version > before["_version"]
    # Refused alone, the cached household is not touched.
    refused = service.execute_batch([Submission(commands.AssessDamage(
        household_id=household, assessed_at=factories.STORM_START.replace(hour=22), dead=9))])
    assert refused[0].code == "exceeds_members"
    assert _state(service.app.repository.get(household)) == _state(after)
