"""The base aggregate: its events take their recorded time from `emergency.clock`."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

from emergency import clock


class AidAggregate(Aggregate):
    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Created(Event, Aggregate.Created):
        pass
