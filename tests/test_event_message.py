"""The Kafka message of an event (`Envelope.to_json`, `consumers.topic.decode`).

Every envelope of the golden story, from a tagged log and from a plain store,
comes back from its message unchanged, and the message is standard compact
UTF-8 JSON that any reader parses to the same values.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from consumers.topic import decode
from emergency.envelope import Envelope, from_notification, from_stored_event
from emergency.event_format import PLAIN
from infra.stores import build_service
from tests.golden import log, scenario
from tests.support.stores import fresh_store


def tagged_envelopes() -> list[Envelope]:
    return [from_stored_event(log.stored(line), line["notification_id"]) for line in log.read_log(log.CURRENT)]


def plain_envelopes(folder: Path) -> list[Envelope]:
    with fresh_store("sqlite", folder) as settings:
        service = build_service(settings.model_copy(update={"event_format": PLAIN}))
        try:
            scenario.record(service)
            return [from_notification(n) for n in service.app.recorder.select_notifications(start=1, limit=10**6)]
        finally:
            service.app.close()


@pytest.fixture(params=["tagged", "plain"])
def envelopes(request: pytest.FixtureRequest, tmp_path: Path) -> list[Envelope]:
    return tagged_envelopes() if request.param == "tagged" else plain_envelopes(tmp_path)


def values(tree: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every leaf value of a JSON tree, with the key it sits under."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield from values(value, name)
    elif isinstance(tree, list):
        for item in tree:
            yield from values(item, key)
    else:
        yield key, tree


def test_every_envelope_comes_back_from_its_message_unchanged(envelopes: list[Envelope]):
    assert len({e.kind for e in envelopes}) > 20  # the story records every kind of event
    for envelope in envelopes:
        assert decode(envelope.to_json()) == envelope


def test_a_message_is_compact_utf8_json_with_the_envelope_s_values(envelopes: list[Envelope]):
    messages = [e.to_json() for e in envelopes]
    for envelope, message in zip(envelopes, messages):
        assert json.loads(message.decode("utf-8")) == envelope.to_dict()
        assert message == json.dumps(envelope.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
    # What the story gives these checks: Vietnamese text as itself, money as
    # integer VND and as decimal digits, timezone-aware times.
    text = b"".join(messages)
    assert "Nguyễn Văn An".encode() in text and "Bão Yagi (số 3)".encode() in text
    leaves = [leaf for e in envelopes for leaf in values(e.data)]
    assert any(key == "amount_vnd" and type(value) is int and value >= 1_000_000 for key, value in leaves)
    assert ("original_amount", "100.50") in leaves
    assert all(datetime.fromisoformat(e.recorded_at).utcoffset() is not None for e in envelopes)
    assert any(isinstance(v, str) and v.endswith("+07:00") and datetime.fromisoformat(v).tzinfo
               for _, v in leaves)
