"""Given events, when a command, then events: an aggregate's rules tested in
milliseconds on the in-memory store, through the service's public `execute`.

`given` records events as their payload models (`emergency.domain.payload`)
straight into the store, as any earlier command would have left them; `when`
runs one command; `then` compares the events it recorded, decoded into their
payload models, with the expected ones; `then_refused` checks the refusal
and that nothing was recorded.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from emergency import clock, domain
from emergency.application import AidApplication
from emergency.areas import load_registry
from emergency.batch import Scope
from emergency.commands import Command, Meta
from emergency.domain.payload import PAYLOADS, EventMeta, EventPayload
from emergency.envelope import from_stored_event
from emergency.errors import AidError
from emergency.policy import load_policy
from emergency.service import AidService, Outcome

META = EventMeta(actor="tester", role=None, request_id=None, source="test")

Recorded = tuple[UUID, EventPayload]  # an event: its aggregate's id and its payload


class Scenario:
    def __init__(self) -> None:
        self.app = AidApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.service = AidService(self.app, load_policy(), load_registry(None))
        self._versions: Counter[UUID] = Counter()
        self._seen = 0
        self.outcome: Outcome | AidError | None = None

    def given(self, aggregate_id: UUID, *payloads: EventPayload, at: datetime | None = None) -> Scenario:
        """Record `payloads` as the next events of aggregate `aggregate_id`."""
        stored = []
        for payload in payloads:
            aggregate_name, _, event_name = payload.kind.partition(".")
            aggregate: type[Aggregate] = getattr(domain, aggregate_name)
            event_class = getattr(aggregate, event_name)
            self._versions[aggregate_id] += 1
            fields = {name: getattr(payload, name) for name in type(payload).model_fields}
            if issubclass(event_class, Aggregate.Created):
                fields["originator_topic"] = get_topic(aggregate)
            event = event_class(originator_id=aggregate_id, originator_version=self._versions[aggregate_id],
                                timestamp=at or clock.now(), meta=META, **fields)
            stored.append(self.app.mapper.to_stored_event(event))
        self.app.recorder.insert_events(stored)
        return self

    def when(self, command: Command, scope: Scope = Scope()) -> Scenario:
        self._seen = self.app.recorder.max_notification_id() or 0
        try:
            self.outcome = self.service.execute(command, Meta(actor="tester", source="test"), scope=scope)
        except AidError as error:
            self.outcome = error
        return self

    @property
    def result(self) -> dict:
        assert isinstance(self.outcome, Outcome), f"the command was refused: {self.outcome!r}"
        return self.outcome.result

    def recorded(self) -> list[Recorded]:
        """What the last command recorded, decoded into payload models, in order."""
        envelopes = [from_stored_event(n, n.id) for n in self.app.recorder.select_notifications(self._seen + 1, 1000)]
        return [(UUID(e.aggregate_id), PAYLOADS[e.kind].decode(e)) for e in envelopes]

    def then(self, *expected: Recorded) -> None:
        assert isinstance(self.outcome, Outcome), f"the command was refused: {self.outcome!r}"
        recorded = self.recorded()
        assert recorded == list(expected), f"recorded:\n{recorded}\nexpected:\n{list(expected)}"

    def then_refused(self, error: type[AidError], code: str, field: str) -> None:
        assert isinstance(self.outcome, error), f"expected {error.__name__} {code}, got {self.outcome!r}"
        assert (self.outcome.code, self.outcome.field) == (code, field)
        assert self.recorded() == [], f"a refused command recorded {self.recorded()}"
