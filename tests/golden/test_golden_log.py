"""Golden logs on SQLite and PostgreSQL: a log recorded once replays to the
same rows years later, its hash chain still verifies, and today's commands
still record the current one byte for byte, and each aggregate of an older
one as it was recorded.

A log recorded in a disaster is evidence: a change to an event's stored form
(a renamed command field that leaks into events, a new field without a class
version and upcaster) fails here before it can reach a store.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emergency import domain
from emergency.application import AidApplication
from emergency.domain.household import HouseholdCaseDisbursed
from emergency.domain.payload import PAYLOADS
from emergency.envelope import from_stored_event, plain
from emergency.event_format import TAGGED
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from tests.golden import log, scenario


@pytest.fixture
def event_format() -> str:
    """The golden logs are tagged, as every store was before stores recorded their format."""
    return TAGGED


def as_json(rows: dict[str, list[list[Any]]]) -> dict[str, list[list[Any]]]:
    return json.loads(json.dumps(rows))


@pytest.mark.parametrize("name", log.LOGS)
def test_a_golden_log_replays_to_its_rows(name: str, service: AidService, settings: Settings, capsys):
    lines = log.read_log(name)
    assert [link for link in log.chain_of(lines)] == [(line["notification_id"], line["hash"]) for line in lines]
    log.load(service.app, lines)
    assert log.lines_of(service.app) == lines, "the store holds the log as recorded, with the same chain"
    assert main(["--database-url", settings.database_url, "verify"]) == 0
    assert f"{len(lines):,} events" in capsys.readouterr().out
    assert as_json(log.projected_rows(service.app, settings.views_url())) == log.read_rows(name)


def test_todays_commands_record_the_golden_log_byte_for_byte(service: AidService):
    scenario.record(service)
    recorded, golden = log.lines_of(service.app), log.read_log(log.CURRENT)
    for made, kept in zip(recorded, golden):
        assert made == kept, f"event {kept['notification_id']} ({kept['topic']}) is no longer stored as recorded"
    assert len(recorded) == len(golden)


def streams(lines: list[log.Line]) -> dict[str, list[tuple[int, str, Any]]]:
    """Each aggregate's events, in version order: (version, topic, stored state)."""
    found: dict[str, list[tuple[int, str, Any]]] = {}
    for line in lines:
        found.setdefault(line["originator_id"], []).append(
            (line["originator_version"], line["topic"], line["state"]))
    return found


def without_candidates(state: str) -> Any:
    """A registration's idempotency record as it was kept before registrations
    named their possible duplicates: the result without `duplicate_candidates`."""
    kept = json.loads(state)
    assert kept["command"] == "register_household" and kept["result"].pop("duplicate_candidates") == []
    return kept


def test_todays_commands_record_each_aggregate_of_the_first_golden_log_as_it_was_recorded(service: AidService):
    """The typhoon log was recorded before registrations kept an index of the
    households and named their possible duplicates: today its story records
    those indexes' events between its own, so its notification ids and chain
    differ. Every one of its aggregates' events is still stored byte for byte
    as recorded, but for the result kept beside an idempotency key of a
    registration, which gained `duplicate_candidates` (none) and nothing else."""
    scenario.record(service)
    today, first = streams(log.lines_of(service.app)), streams(log.read_log("typhoon"))
    for aggregate, kept in first.items():
        made = today[aggregate]
        if kept[0][1] == "emergency.domain.idempotency:IdempotencyRecord.Recorded":
            made = [(version, topic, without_candidates(state)) for version, topic, state in made]
            kept = [(version, topic, json.loads(state)) for version, topic, state in kept]
        assert made == kept, f"aggregate {aggregate} ({kept[0][1]}) is no longer stored as recorded"


def event_classes() -> list[type]:
    return [member for cls in (getattr(domain, name) for name in domain.__all__) if cls is not domain.AidAggregate
            for name, member in vars(cls).items()
            if isinstance(member, type) and issubclass(member, domain.AidAggregate.Event)
            and name not in ("Event", "Created", "Snapshot")]


def test_every_kind_of_event_has_a_payload_model_and_a_place_in_the_golden_log():
    classes = event_classes()
    assert {cls.__qualname__ for cls in classes} == set(PAYLOADS)
    kinds = {line["topic"] for name in log.LOGS for line in log.read_log(name)}
    missing = {f"{cls.__module__}:{cls.__qualname__}" for cls in classes} - kinds
    assert not missing, "kinds of event the golden log never shows: add them to tests/golden/scenario.py"


@pytest.mark.parametrize("name", log.LOGS)
def test_every_golden_event_decodes_into_its_payload_model_whole(name: str):
    """Each kind's payload model is its schema: the data of every recorded
    event (upcast to its class's version) validates, and dumps back to all of it."""
    for line in log.read_log(name):
        envelope = from_stored_event(log.stored(line), line["notification_id"])
        payload = PAYLOADS[envelope.kind].decode(envelope)
        assert plain(payload.model_dump()) == envelope.data, f"event {line['notification_id']} ({envelope.kind})"


def test_a_disbursement_recorded_before_disbursements_named_an_item_reads_as_one_without_it():
    """Disbursements recorded before goods could be drawn from a fund's stock
    stored no `item`: the golden log's cash disbursements without it decode,
    and rebuild the household, as the ones stored with `item: null`."""
    app = AidApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    lines = [line for line in log.read_log(log.CURRENT) if line["topic"].endswith(":HouseholdCase.Disbursed")
             and json.loads(line["state"])["disbursement"]["item"] is None]
    assert lines, "the golden log has cash disbursements"
    for line in lines:
        state = json.loads(line["state"])
        del state["disbursement"]["item"]
        older = log.stored(dict(line, state=json.dumps(state)))
        assert HouseholdCaseDisbursed.decode(from_stored_event(older)) == \
            HouseholdCaseDisbursed.decode(from_stored_event(log.stored(line)))
        assert vars(app.mapper.to_domain_event(older)) == vars(app.mapper.to_domain_event(log.stored(line)))


def test_an_old_assessment_is_upcast_when_the_golden_log_is_read(service: AidService):
    """The copy stored as class version 1 (`injured` alone) reads as its
    version 2 twin recorded by today's code: each injured person paid as
    seriously injured, and a later correction kept that support."""
    lines = log.read_log(log.CURRENT)
    log.load(service.app, lines)
    old, twin = scenario.ids("h_dung_v1"), scenario.ids("h_dung")
    [stored] = [json.loads(line["state"]) for line in lines
                if line["originator_id"] == str(old) and line["topic"] == scenario.ASSESSED]
    assert "class_version" not in stored and "seriously_injured" not in stored["assessment"]

    [assessed] = [e for e in service.aggregate_history(old) if e.type == "DamageAssessed"]
    [twin_assessed] = [e for e in service.aggregate_history(twin) if e.type == "DamageAssessed"]
    assert assessed.data == twin_assessed.data and assessed.data["assessment"]["seriously_injured"] == 2
    household = service.household(old)
    assert household["current_assessment"] == service.household(twin)["current_assessment"]
    [injured] = [e for e in household["entitlements"] if e["support_type"] == "INJURED"]
    assert (injured["units"], injured["amount_vnd"], injured["revision"]) == (2, 10_000_000, 1)
