"""The PostgreSQL recorder inserts events as four arrays of plain types, where
eventsourcing sends one array of a composite type: the two must store the
same rows, hand back the same notification ids, and so chain the same links."""

from __future__ import annotations

import uuid
from typing import Any, Callable, Sequence

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from emergency.application import AidApplication
from infra.audit_recorders import ChainedPostgresApplicationRecorder
from infra.stores import event_store_env


class LibraryInsert(ChainedPostgresApplicationRecorder):
    """The chained recorder, inserting as eventsourcing itself does."""

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        PostgresApplicationRecorder._insert_stored_events(self, curs, stored_events, **kwargs)


def batches() -> list[list[StoredEvent]]:
    """Events whose bytes and topics hold what text escaping must get right."""
    awkward = [b"", b"\x00\x01\xff", b'{"a":"\\"quoted\\" {braces}, (parens)"}', "Bão Yagi, Lào Cai".encode(),
               b"\\x41 NULL", bytes(range(256)) * 8]
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    return [
        [StoredEvent(first, v, "emergency.domain.household:HouseholdCase.Registered", state)
         for v, state in enumerate(awkward, start=1)],
        [StoredEvent(second, 1, 'topic with "quotes", {braces} and \\ backslash', b"{}")],
        [StoredEvent(uuid.UUID(int=1000 + n), 1, "ordinary", f'{{"n":{n}}}'.encode()) for n in range(500)],
    ]


def recorded(url: str, recorder: type | None) -> tuple[list[Sequence[int] | None], list[tuple], list[tuple]]:
    env = event_store_env(url)
    if recorder is not None:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(recorder)
    app = AidApplication(env=env)
    try:
        ids = [app.recorder.insert_events(batch) for batch in batches()]
        rows = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                for n in app.recorder.select_notifications(start=None, limit=1000)]
        return ids, rows, app.recorder.select_chain(0, 1000)
    finally:
        app.close()


def test_plain_arrays_store_what_the_composite_array_stores(new_schema_url: Callable[[], str]) -> None:
    ours, library = recorded(new_schema_url(), None), recorded(new_schema_url(), LibraryInsert)
    ids, rows, links = ours
    sent = [(e.originator_id, e.originator_version, e.topic, e.state) for batch in batches() for e in batch]
    assert [row[1:] for row in rows] == sent  # every byte and character back, in log order
    assert [row[0] for row in rows] == [n for batch in ids for n in batch or ()]
    assert [len(batch or ()) for batch in ids] == [6, 1, 500]
    assert ours == library  # ids, rows and chain links alike
    assert len(links) == len(sent)
