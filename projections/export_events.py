"""The whole event log as JSON Lines, for auditors and archives.

One line per event in log order: its public envelope (`emergency.envelope`)
plus `hash`, its link in the hash chain (`infra.audit_chain`; null if it has
none). A reader holding published checkpoints can compare the hash at each
checkpointed position with what was published.
"""

from __future__ import annotations

import json
from typing import Iterator, Protocol, Sequence

from eventsourcing.persistence import Notification

from emergency.envelope import from_notification

PAGE = 5000


class ChainedLog(Protocol):
    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True
                             ) -> Sequence[Notification]: ...

    def select_chain(self, after: int, limit: int, stop: int | None = None) -> list[tuple[int, str]]: ...


def event_lines(log: ChainedLog, until: int | None = None) -> Iterator[str]:
    """Every event (up to notification id `until`) as one JSON line."""
    after = 0
    while page := log.select_notifications(after, PAGE, until, inclusive_of_start=False):
        hashes = dict(log.select_chain(after, 2 * PAGE, page[-1].id))
        for notification in page:
            line = from_notification(notification).to_dict()
            line["hash"] = hashes.get(notification.id)
            yield json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
        after = page[-1].id
