"""The event-sourced application: one notification log for every aggregate.

One log (not one per aggregate type) gives auditors, projections and the Kafka
relay a single total order to follow. Which database holds it is decided by
the environment handed in (see `infra.stores`).
"""

from __future__ import annotations

from datetime import date

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
