"""Projections as they stood at a past moment, and the two time axes.

"As known on day X" replays the log up to X into a private in-memory view
store (the projections' own fold, so the answer is what the live projection
showed then) and evaluates it at X. The cut is a prefix of the log: it stops
at the first event recorded after X (or after notification id N), which is
what a reader saw at X, since the log only grows at its end.

"As now known for day X" reads the live rows and evaluates them at X: every
fact known now counts if it occurred by X (see `projections.coverage`).

Past prefixes never change, so replays that ended before the log's head are
kept in a small cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

from emergency.envelope import Envelope, from_notification
from emergency.errors import InvalidInput, NotFound
from projections.base import Projection
from projections.runner import NotificationSource, ProjectionSet
from projections.store import ViewStore, open_view_store

KNOWN = ("then", "now")
# How far back to look for the event before a gap in the notification ids.
GAP_SPAN = 1000


@dataclass(frozen=True)
class Cutoff:
    """A point in the log: a notification id, or a recorded time."""

    notification_id: int | None = None
    recorded_at: datetime | None = None

    @classmethod
    def parse(cls, text: str, field: str = "as_of") -> Cutoff:
        """`12345` (notification id) or an ISO time with offset."""
        if text.isdigit():
            return cls(notification_id=int(text))
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{text!r} is neither a notification id nor an ISO time", field=field,
                               code="invalid_as_of") from None
        if moment.tzinfo is None:
            raise InvalidInput("as_of needs a timezone offset, e.g. 2024-09-12T17:00:00+07:00", field=field,
                               code="naive_time")
        return cls(recorded_at=moment)

    def includes(self, envelope: Envelope) -> bool:
        if self.notification_id is not None:
            return envelope.notification_id <= self.notification_id  # type: ignore[operator]
        assert self.recorded_at is not None
        return datetime.fromisoformat(envelope.recorded_at) <= self.recorded_at


@dataclass
class Replay:
    store: ViewStore
    position: int  # the last notification id folded in
    at: datetime  # the moment the replay stands for
    complete: bool  # the log goes on past the cutoff: this prefix is final


def replay(source: NotificationSource, cutoff: Cutoff, projections: Sequence[Projection],
           batch_size: int = 5000) -> Replay:
    """Fold the log's prefix up to `cutoff` into a fresh in-memory view store."""
    views = ProjectionSet(open_view_store("sqlite:///:memory:"), projections)
    position, last_time, complete = 0, None, False
    while not complete:
        notifications = source.select_notifications(start=position, limit=batch_size,
                                                    stop=cutoff.notification_id, inclusive_of_start=False)
        if not notifications:
            break
        envelopes = [from_notification(n) for n in notifications]
        kept = _prefix(envelopes, cutoff)
        complete = len(kept) < len(envelopes)
        if kept:
            views.apply(kept)
            position, last_time = kept[-1].notification_id or position, kept[-1].recorded_at
    if cutoff.notification_id is not None:
        complete = complete or (source.max_notification_id() or 0) >= cutoff.notification_id
        at = datetime.fromisoformat(last_time) if last_time else datetime(1970, 1, 1, tzinfo=timezone.utc)
    else:
        assert cutoff.recorded_at is not None
        at = cutoff.recorded_at
    return Replay(views.store, position, at, complete)


def _prefix(envelopes: list[Envelope], cutoff: Cutoff) -> list[Envelope]:
    for index, envelope in enumerate(envelopes):
        if not cutoff.includes(envelope):
            return envelopes[:index]
    return envelopes


class Replayer:
    """Replays on demand, keeping the last few final ones."""

    def __init__(self, source: NotificationSource, projections: Callable[[], Sequence[Projection]],
                 keep: int = 4):
        self.source = source
        self.projections = projections
        self.keep = keep
        self._cache: OrderedDict[Cutoff, Replay] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, cutoff: Cutoff) -> Replay:
        with self._lock:
            found = self._cache.get(cutoff)
            if found is not None:
                self._cache.move_to_end(cutoff)
                return found
        result = replay(self.source, cutoff, self.projections())
        if result.complete:
            with self._lock:
                self._cache[cutoff] = result
                while len(self._cache) > self.keep:
                    self._cache.popitem(last=False)[1].store.close()
        return result


def moment_of(source: NotificationSource, notification_id: int) -> datetime:
    """When the event with this notification id (or the last one before it:
    rolled-back inserts leave gaps in the ids) was recorded."""
    start = max(1, notification_id - GAP_SPAN)
    found = source.select_notifications(start=start, limit=GAP_SPAN + 1, stop=notification_id)
    if not found:
        raise NotFound(f"no event is recorded at or just before notification id {notification_id}",
                       field="as_of")
    return datetime.fromisoformat(from_notification(found[-1]).recorded_at)


def views_at(live: ViewStore, replayer: Replayer, as_of: str | None, known: str,
             now: Callable[[], datetime]) -> tuple[ViewStore, datetime]:
    """The rows to read and the moment to evaluate them at, for an `as_of`
    point (None: now) on the `known` axis ("then": as known at that point,
    "now": as now known for that point)."""
    if known not in KNOWN:
        raise InvalidInput(f"known must be one of {KNOWN}", field="known", code="invalid_known")
    if as_of is None:
        return live, now()
    cutoff = Cutoff.parse(as_of)
    if known == "then":
        result = replayer(cutoff)
        return result.store, result.at
    if cutoff.recorded_at is not None:
        return live, cutoff.recorded_at
    assert cutoff.notification_id is not None
    return live, moment_of(replayer.source, cutoff.notification_id)
