"""Past points and the moments they stand for, and the slow replay auditors use.

A point is an ISO time with offset, or a notification id. A notification id
stands for the moment by which it and every event before it had been
recorded (`recorded_moment`): the log's prefix a reader saw then. Coverage
reads both time axes at such a moment from the coverage projection, with no
replay (`projections.coverage`).

`replay` folds the log's prefix up to a point into a private in-memory view
store with every projection's own code: what the live projections showed
then. Auditors use it (`emergency replay`, `emergency diff`), and tests use
it as the slow reference the fast answers must equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, NamedTuple, Sequence

from emergency.envelope import Envelope, from_notification
from emergency.errors import InvalidInput, NotFound
from projections.base import Projection
from projections.rows import to_micros
from projections.runner import NotificationSource, ProjectionSet
from projections.store import ViewStore, open_view_store

# How far back to look for the event before a gap in the notification ids.
GAP_SPAN = 1000
# Notifications read after the nearest clock mark (marks are at most 256 apart).
MARK_SPAN = 5000


@dataclass(frozen=True)
class Cutoff:
    """A point in the log: a notification id, or a recorded time."""

    notification_id: int | None = None
    recorded_at: datetime | None = None

    @classmethod
    def parse(cls, text: str, field: str = "as_of") -> Cutoff:
        """`12345` (notification id) or an ISO time with offset."""
        if text.isascii() and text.isdigit():
            if len(text) > 18:
                raise InvalidInput("a notification id has at most 18 digits", field=field, code="invalid_as_of")
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


def moment_of(source: NotificationSource, notification_id: int) -> datetime:
    """When the event with this notification id (or the last one before it:
    rolled-back inserts leave gaps in the ids) was recorded."""
    start = max(1, notification_id - GAP_SPAN)
    found = source.select_notifications(start=start, limit=GAP_SPAN + 1, stop=notification_id)
    if not found:
        raise NotFound(f"no event is recorded at or just before notification id {notification_id}",
                       field="as_of")
    return datetime.fromisoformat(from_notification(found[-1]).recorded_at)


def recorded_moment(store: ViewStore, source: NotificationSource, notification_id: int) -> datetime:
    """The moment a notification id stands for on both time axes: when it and
    every event before it had been recorded (the running maximum of recorded
    times, from the coverage projection's clock marks and the few events
    after the nearest mark)."""
    with store.read() as cur:
        mark = cur.execute("SELECT notification_id, recorded_max FROM cov_clock WHERE notification_id <= ? "
                           "ORDER BY notification_id DESC LIMIT 1", (notification_id,)).fetchone()
    start, best = (int(mark[0]), int(mark[1])) if mark else (0, None)
    if notification_id > start:
        found = source.select_notifications(start=start, limit=min(notification_id - start, MARK_SPAN),
                                            stop=notification_id, inclusive_of_start=False)
        for envelope in (from_notification(n) for n in found):
            moment = to_micros(datetime.fromisoformat(envelope.recorded_at))
            best = moment if best is None else max(best, moment)
    if best is None:
        raise NotFound(f"no event is recorded at or before notification id {notification_id}", field="as_of")
    return datetime.fromtimestamp(best // 1_000_000, timezone.utc).replace(microsecond=best % 1_000_000)


class Instant(NamedTuple):
    """A point as the read side asks it: a moment and, for a notification id,
    that id (of events recorded in the very same instant, those after it
    were not known yet)."""

    at: datetime
    position: int | None = None


def instant(store: ViewStore, source: NotificationSource, as_of: str | None,
            now: Callable[[], datetime]) -> Instant:
    """What an `as_of` (None: now) stands for."""
    if as_of is None:
        return Instant(now())
    cutoff = Cutoff.parse(as_of)
    if cutoff.recorded_at is not None:
        return Instant(cutoff.recorded_at)
    assert cutoff.notification_id is not None
    return Instant(recorded_moment(store, source, cutoff.notification_id), cutoff.notification_id)
