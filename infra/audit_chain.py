"""The hash chain over the event log: its canonical encoding and its verification.

Every stored event has a link in `event_chain(notification_id, hash)`,
written in the same transaction as the event (see `infra.audit_recorders`).
In log order (ascending notification id; ids may have gaps on PostgreSQL)

    hash(n) = SHA-256( previous hash      32 bytes; the first event uses 32 zero bytes
                     ‖ notification id    8-byte big-endian unsigned
                     ‖ originator id      4-byte big-endian length ‖ UTF-8 text
                                          (a UUID as lowercase hex with hyphens)
                     ‖ originator version 8-byte big-endian unsigned
                     ‖ topic              4-byte big-endian length ‖ UTF-8 text
                     ‖ state              4-byte big-endian length ‖ the stored bytes )

and is kept as 64 lowercase hex digits. Changing, removing or moving any
event changes every hash from there on. Someone able to rewrite both tables
can recompute the chain, so positions and hashes are also exported as
checkpoints (`emergency checkpoint export`) to publish outside the system;
`verify` against a published file then shows a rewrite of anything before
the newest checkpoint.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Iterator, Protocol, Sequence, TypeVar

from eventsourcing.persistence import Notification, StoredEvent

GENESIS = bytes(32)
PAGE = 10_000


_ID_AND_LENGTH = struct.Struct(">QI")
_LENGTH = struct.Struct(">I")


def link_hash(previous: bytes, notification_id: int, event: StoredEvent) -> bytes:
    """One link of the chain, in the canonical encoding above."""
    originator = str(event.originator_id).encode("utf-8")
    topic = event.topic.encode("utf-8")
    return hashlib.sha256(b"".join((
        previous, _ID_AND_LENGTH.pack(notification_id, len(originator)), originator,
        _ID_AND_LENGTH.pack(event.originator_version, len(topic)), topic,
        _LENGTH.pack(len(event.state)), event.state))).digest()


def links(previous_hex: str | None, numbered: Iterable[tuple[int, StoredEvent]]) -> list[tuple[int, str]]:
    """(notification id, hash) for events appended after the chain head `previous_hex`."""
    previous = bytes.fromhex(previous_hex) if previous_hex else GENESIS
    found = []
    for notification_id, event in sorted(numbered, key=lambda pair: pair[0]):
        previous = link_hash(previous, notification_id, event)
        found.append((notification_id, previous.hex()))
    return found


class ChainedRecorder(Protocol):
    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True
                             ) -> Sequence[Notification]: ...

    def select_chain(self, after: int, limit: int, stop: int | None = None) -> list[tuple[int, str]]: ...

    def max_chain_id(self) -> int: ...

    def max_notification_id(self) -> int | None: ...


@dataclass(frozen=True)
class Checkpoint:
    notification_id: int
    hash: str
    at: str  # when the checkpoint was taken (ISO 8601)

    def to_json(self) -> str:
        return json.dumps({"notification_id": self.notification_id, "hash": self.hash, "at": self.at})


def read_checkpoints(lines: Iterable[str]) -> list[Checkpoint]:
    found = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                raw = json.loads(line)
                found.append(Checkpoint(int(raw["notification_id"]), str(raw["hash"]), str(raw["at"])))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"checkpoint file line {number}: {error}") from None
    return found


@dataclass(frozen=True)
class Mismatch:
    notification_id: int
    problem: str  # content | hash | missing_event | unchained_event | checkpoint
    detail: str


@dataclass
class WalkResult:
    checked: int = 0
    head: tuple[int, str] | None = None  # last verified (notification id, hash)
    mismatch: Mismatch | None = None


T = TypeVar("T")


def _paged(fetch: Callable[[int], Sequence[T]], position: Callable[[T], int]) -> Iterator[T]:
    after = 0
    while page := fetch(after):
        yield from page
        after = position(page[-1])


class _Walk:
    """Walks the log and the chain side by side, recomputing every link."""

    def __init__(self, recorder: ChainedRecorder, checkpoints: Sequence[Checkpoint],
                 on_link: Callable[[int, str], None] | None, progress: Callable[[int], None] | None):
        # Events appended while we walk are not ours to judge: both sides stop
        # at the head seen now (ids up to it are all committed, in order). The
        # chain is read second: it may not end before the log unless tampered.
        stop = max(recorder.max_notification_id() or 0, recorder.max_chain_id())
        self.recorder, self.stop = recorder, stop
        # Why the log's reading stopped short, when a row no longer decodes.
        self.unreadable: Exception | None = None
        self.events = _paged(self._events_after, lambda n: n.id)
        self.chain = _paged(lambda after: recorder.select_chain(after, PAGE, stop), lambda link: link[0])
        self.checkpoints = {c.notification_id: c for c in checkpoints}
        self.on_link = on_link
        self.progress = progress
        self.result = WalkResult()

    def _events_after(self, after: int) -> Sequence[Notification]:
        try:
            return self.recorder.select_notifications(after, PAGE, self.stop, inclusive_of_start=False)
        except _UNDECODABLE:
            pass
        # A row of this page no longer decodes: read up to it one by one, so
        # the walk stops right before it and names it by its link.
        page: list[Notification] = []
        while True:
            try:
                one = self.recorder.select_notifications(page[-1].id if page else after, 1, self.stop,
                                                         inclusive_of_start=False)
            except _UNDECODABLE as error:
                self.unreadable = error
                return page
            if not one:
                return page
            page.extend(one)

    def run(self) -> WalkResult:
        previous = GENESIS
        event, link = next(self.events, None), next(self.chain, None)
        while event is not None or link is not None:
            if link is None or (event is not None and event.id < link[0]):
                assert event is not None
                return self._fail(event.id, "unchained_event", "has no link in the chain: it was inserted "
                                  "outside the recorder, or its link was deleted")
            if event is None and self.unreadable is not None:
                return self._fail(link[0], "content", "cannot be read back: a stored column was rewritten "
                                  f"outside the recorder ({type(self.unreadable).__name__}: {self.unreadable})")
            if event is None or link[0] < event.id:
                return self._fail(link[0], "missing_event", "is missing from the log, but the chain records it")
            wrong = _wrong_types(event)
            if wrong:
                return self._fail(event.id, "content", f"was rewritten outside the recorder: its {wrong}")
            expected = link_hash(previous, event.id, event)
            if expected.hex() != link[1]:
                return self._link_broken(event.id, link[1])
            if not self._matches_checkpoint(event.id, link[1]):
                return self.result
            previous = expected
            self._passed(event.id, link[1])
            event, link = next(self.events, None), next(self.chain, None)
        self._check_unseen_checkpoints()
        return self.result

    def _link_broken(self, notification_id: int, recorded: str) -> WalkResult:
        """The event's content or its recorded hash changed: the next link tells which."""
        following, following_link = next(self.events, None), next(self.chain, None)
        if following is not None and following_link is not None and following.id == following_link[0] \
                and link_hash(bytes.fromhex(recorded), following.id, following).hex() == following_link[1]:
            return self._fail(notification_id, "content", "does not match its recorded hash: its content, "
                              "or its position in the log, was changed")
        return self._fail(notification_id, "hash", "does not match its recorded hash: the recorded hash was "
                          "changed (or the event and what follows it)")

    def _matches_checkpoint(self, notification_id: int, hash_hex: str) -> bool:
        checkpoint = self.checkpoints.pop(notification_id, None)
        if checkpoint is None or checkpoint.hash == hash_hex:
            return True
        self._fail(notification_id, "checkpoint", f"the log up to here no longer matches the checkpoint taken "
                   f"at {checkpoint.at}: history before it was rewritten")
        return False

    def _check_unseen_checkpoints(self) -> None:
        if self.checkpoints:
            first = min(self.checkpoints.values(), key=lambda c: c.notification_id)
            self._fail(first.notification_id, "missing_event", f"was checkpointed at {first.at} but is no "
                       "longer in the log: events were removed")

    def _passed(self, notification_id: int, hash_hex: str) -> None:
        self.result.checked += 1
        self.result.head = (notification_id, hash_hex)
        if self.on_link:
            self.on_link(notification_id, hash_hex)
        if self.progress:
            self.progress(notification_id)

    def _fail(self, notification_id: int, problem: str, detail: str) -> WalkResult:
        self.result.mismatch = Mismatch(notification_id, problem, f"event {notification_id} {detail}")
        return self.result


# What a recorder raises on a row whose columns were rewritten with other types.
_UNDECODABLE = (ValueError, TypeError, AttributeError)


def _wrong_types(event: Notification) -> str:
    """The stored columns that are not of the types the recorder writes
    (SQLite keeps whatever an UPDATE puts there: replace() gives TEXT)."""
    expected = (("state", bytes), ("topic", str), ("originator_version", int))
    return ", ".join(f"{name} is stored as {type(getattr(event, name)).__name__}, not {kind.__name__}"
                     for name, kind in expected if not isinstance(getattr(event, name), kind))


def verify(recorder: ChainedRecorder, checkpoints: Sequence[Checkpoint] = (),
           on_link: Callable[[int, str], None] | None = None,
           progress: Callable[[int], None] | None = None) -> WalkResult:
    """Recompute the whole chain; stop at the first event whose content, order
    or hash does not match (or that contradicts a published checkpoint).
    `on_link(id, hash)` sees every verified link; `progress(id)` the position."""
    return _Walk(recorder, checkpoints, on_link, progress).run()


def take_checkpoints(recorder: ChainedRecorder, every: int, at: datetime,
                     progress: Callable[[int], None] | None = None) -> tuple[list[Checkpoint], WalkResult]:
    """Checkpoints every `every` events and at the head, from a verified walk only."""
    taken: list[Checkpoint] = []
    stamp = at.isoformat()
    counter = itertools.count(1)

    def keep(notification_id: int, hash_hex: str) -> None:
        if next(counter) % every == 0:
            taken.append(Checkpoint(notification_id, hash_hex, stamp))

    result = verify(recorder, on_link=keep, progress=progress)
    if result.mismatch is not None:
        return [], result
    if result.head and (not taken or taken[-1].notification_id != result.head[0]):
        taken.append(Checkpoint(result.head[0], result.head[1], stamp))
    return taken, result
