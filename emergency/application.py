"""The event-sourced application: one notification log for every aggregate.

One log (not one per aggregate type) gives auditors, projections and the Kafka
relay a single total order to follow. Which database holds it is decided by
the environment handed in (see `infra.stores`).
"""

from __future__ import annotations

from copy import deepcopy
from datetime import date
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import EventStore, JSONTranscoder, Mapper, Recording, StoredEvent, Transcoding

from emergency.domain.fund import Fund
from emergency.domain.payload import NOT_PAYLOAD, PAYLOADS, EventMeta, stored_form
from emergency.event_format import DEFAULT_FORMAT, TAGGED, EventTranscoder

# Reads many aggregates' events up to a version in one go: {id: its events in
# version order}, ids with nothing recorded left out (see infra.stream_reads).
StreamReader = Callable[[Sequence[UUID], int], dict[UUID, list[StoredEvent]]]
# get_many reads streams up to this version; a longer one (a busy fund) is
# left to the repository, which starts from its latest snapshot.
SHORT_STREAM = 1000


@runtime_checkable
class FormatRecorder(Protocol):
    """A recorder that keeps its store's event format (`infra.audit_recorders`)."""

    def event_format(self, for_new_store: str) -> str:
        """The store's format; an empty store takes `for_new_store`, once."""
        ...


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class PayloadMapper(Mapper[UUID]):
    """eventsourcing's mapper, with events' payload models (`emergency.domain.payload`)
    stored as the objects they dump to, and read back into their models once
    upcast, so an aggregate always applies typed payloads."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        dumped = object.__new__(type(domain_event))
        object.__setattr__(dumped, "__dict__", {name: stored_form(value) for name, value in vars(domain_event).items()})
        return super().to_stored_event(dumped)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        payload = PAYLOADS.get(type(domain_event).__qualname__)
        if payload is not None:
            typed = payload.model_validate({name: value for name, value in state.items() if name not in NOT_PAYLOAD})
            state.update((name, getattr(typed, name)) for name in payload.model_fields)
        if "meta" in state:
            state["meta"] = EventMeta.model_validate(state["meta"])
        return domain_event


class AidApplication(Application):
    name = "emergency"
    # A fund busy with a campaign gets ~400,000 contributions a day: rebuild it
    # from its latest snapshot, not from its first event. A statement's batch
    # is one fund event of 1,000 of them, so a snapshot every 100 events keeps
    # a rebuild under 100,000 receipts however the fund was fed.
    snapshotting_intervals = {Fund: 100}
    # Set by the wiring where the store can read many aggregates in one query.
    stream_reader: StreamReader | None = None
    # How this store writes events (`emergency.event_format`): known once its recorder is open.
    event_format: str = TAGGED

    def get_many(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate | None]:
        """The aggregates recorded under `ids` as `repository.get` gives them
        (None: nothing recorded), read in one query rather than one each.
        Ids it cannot answer for (no bulk reader, a long stream) are left out."""
        wanted = list(dict.fromkeys(ids))
        if self.stream_reader is None or not wanted:
            return {}
        streams = self.stream_reader(wanted, SHORT_STREAM)
        found: dict[UUID, Aggregate | None] = {}
        for aggregate_id in wanted:
            stored = streams.get(aggregate_id)
            if not stored:
                found[aggregate_id] = None
            elif stored[-1].originator_version < SHORT_STREAM:
                found[aggregate_id] = self._project(aggregate_id, stored)
        return found

    def _project(self, aggregate_id: UUID, stored: list[StoredEvent]) -> Aggregate:
        """Fast-forward a copy of the cached aggregate (never the cached object
        itself: readers share it), or fold the whole stream."""
        aggregate = None
        cache = self.repository.cache
        if cache is not None:
            try:
                aggregate = cache.get(aggregate_id)
            except KeyError:
                pass
            else:
                if self.repository.deepcopy_from_cache:
                    aggregate = deepcopy(aggregate)
        for s in stored:
            if aggregate is None or s.originator_version > aggregate.version:
                aggregate = self.mapper.to_domain_event(s).mutate(aggregate)
        assert aggregate is not None
        return aggregate

    def save(self, *aggregates: Aggregate, **kwargs: Any) -> list[Recording]:
        """eventsourcing's `save`, less its runtime Protocol checks of every
        object (slow on Python 3.11: a tenth of a group commit's time); the
        service saves aggregates only."""
        processing_event = ProcessingEvent()
        for aggregate in aggregates:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _record(self, processing_event: ProcessingEvent) -> list[Recording]:
        """Cache what was just saved. The cache keeps fast-forwarding (other
        processes write too), but without this the next batch would re-read
        and replay this batch's events of a busy fund."""
        recordings = super()._record(processing_event)
        cache = self.repository.cache
        if cache is not None and self.repository.fastforward:
            created = {e.originator_id for e in processing_event.events if e.originator_version == 1}
            for aggregate_id, aggregate in processing_event.aggregates.items():
                if aggregate_id not in created:  # new ones (contributions) are rarely read again
                    cache.put(aggregate_id, aggregate)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:
        """Snapshot an aggregate whose saved events crossed its interval from
        its state in memory, rather than replaying the interval's events from
        the store (as eventsourcing does): the state is the same."""
        assert self.snapshots is not None
        due: dict[UUID, Aggregate] = {}
        for e in processing_event.events:
            aggregate = processing_event.aggregates.get(e.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if aggregate is not None and interval and e.originator_version % interval == 0:
                due[e.originator_id] = aggregate
        for aggregate in due.values():
            self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])

    def construct_mapper(self) -> Mapper[UUID]:
        return self._mapper(TAGGED)

    def _mapper(self, writes: str) -> Mapper[UUID]:
        tagged = self.construct_transcoder()
        assert isinstance(tagged, JSONTranscoder)
        return self.factory.mapper(transcoder=EventTranscoder(tagged, writes), mapper_class=PayloadMapper)

    def construct_event_store(self) -> EventStore[UUID]:
        """The recorder has opened (and set up) the store by now: the format it
        records decides how events are written. EVENT_FORMAT (`EMERGENCY_EVENT_FORMAT`)
        is the one an empty store takes; a store without a recorded format
        (the in-memory one) writes in it."""
        requested = self.env.get("EVENT_FORMAT") or DEFAULT_FORMAT
        recorder = self.recorder
        self.event_format = recorder.event_format(requested) if isinstance(recorder, FormatRecorder) else requested
        self.mapper = self._mapper(self.event_format)
        return super().construct_event_store()

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """Snapshots stay tagged in every store: no payload model types their state back."""
        return self.factory.event_store(mapper=self._mapper(TAGGED),
                                        recorder=self.factory.aggregate_recorder(purpose="snapshots"))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
