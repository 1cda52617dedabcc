"""The one clock every recorded event reads its timestamp from.

Real time by default. A scenario that replays a past disaster (the demo, the
benchmarks, tests of "as known on day X") runs under a simulated clock so that
recorded times are as plausible as occurred times.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

# Held by whoever sets the clock; readers take `_frozen` in one read, which
# needs no lock (a lock shared by the API's loop and its writer thread made
# them queue for each other under load).
_lock = threading.Lock()
_frozen: datetime | None = None
# The earliest moment a record may name: before it, a time is a mistake (a
# year typed as 194, seconds taken for a date). `EMERGENCY_EARLIEST_TIME`.
_earliest = datetime(2000, 1, 1, tzinfo=VIETNAM)


def earliest() -> datetime:
    return _earliest


def set_earliest(moment: datetime) -> None:
    global _earliest
    if moment.tzinfo is None:
        raise ValueError("the earliest time needs a timezone offset")
    _earliest = moment


def now() -> datetime:
    """Timezone-aware current time (UTC), possibly simulated."""
    frozen = _frozen
    return frozen if frozen is not None else datetime.now(timezone.utc)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Stop the clock at `moment` (timezone-aware) for the block."""
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("a simulated clock needs a timezone-aware moment")
    with _lock:
        previous, _frozen = _frozen, moment.astimezone(timezone.utc)
    try:
        yield
    finally:
        with _lock:
            _frozen = previous


def advance_to(moment: datetime) -> None:
    """Move a frozen clock forward (used inside `frozen_at`)."""
    global _frozen
    with _lock:
        if _frozen is None:
            raise RuntimeError("advance_to needs a frozen clock")
        moment = moment.astimezone(timezone.utc)
        if moment < _frozen:
            raise ValueError("the clock never runs backwards")
        _frozen = moment
