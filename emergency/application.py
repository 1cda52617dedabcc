"""The event-sourced application: one notification log for every aggregate.

One log (not one per aggregate type) gives auditors, projections and the Kafka
relay a single total order to follow. Which database holds it is decided by
the environment handed in (see `infra.stores`).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Recording, Transcoding

from emergency.domain.fund import Fund


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class AidApplication(Application):
    name = "emergency"
    # A fund busy with a campaign gets ~400,000 events a day: rebuild it from
    # its latest snapshot, not from its first event.
    snapshotting_intervals = {Fund: 1000}

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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
