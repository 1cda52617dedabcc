"""Keeping projections current: a set of projections in one view store, and the
embedded runner that tails the event store's notification log into them.

SQLite's recorder cannot be subscribed to, so the runner polls the log, and
in-process writers wake it (`notify()`) right after they save: a write's
response can then wait for the projections (`wait_for`) with little delay.

Exactly one runner writes a view store: the one holding its projector lock
(`ViewStore.projector_lock`). Others follow: they read the stored positions,
and take over when the lock comes free. Until the views have reached the log's
head once (`current`), a set with a gate refuses its store to readers.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol, Sequence

import structlog
from eventsourcing.persistence import Notification

from emergency.envelope import Envelope, from_notification
from emergency.errors import AidError
from projections.base import Projection
from projections.store import Cursor, ProjectorLock, ViewStore

log = structlog.get_logger(__name__)

Listener = Callable[[Sequence[Envelope]], None]


class NotificationSource(Protocol):
    """What the runner needs of an eventsourcing application recorder."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...


class CatchingUp(AidError):
    """The views have not reached the log's head since the process started."""

    status = 503
    code = "catching_up"
    retry_after = 5


class ProjectionSet:
    """Projections sharing one view store, each with its own stored position."""

    def __init__(self, store: ViewStore, projections: Sequence[Projection]):
        self._store = store
        self.projections = list(projections)
        self.positions: dict[str, int] = {}
        # Called whenever a reader takes the store (raises while it may not).
        self.gate: Callable[[], None] | None = None
        self.ensure()

    @property
    def store(self) -> ViewStore:
        if self.gate is not None:
            self.gate()
        return self._store

    def close(self) -> None:
        self._store.close()

    def refresh(self) -> bool:
        """Read back the positions another process stored; whether they moved."""
        moved, found = False, self._store.positions()  # a follower asks after every commit: one query
        for name in self.positions:
            stored = found.get(name)
            if stored is not None and stored[0] > self.positions[name]:
                self.positions[name], moved = stored[0], True
        return moved

    def ensure(self) -> None:
        """Create missing tables; rebuild from zero any projection whose version changed."""
        for projection in self.projections:
            stored = self._store.position(projection.name)
            with self._store.transaction() as cur:
                if stored is not None and stored[1] != projection.version:
                    log.warning("projection_version_changed", projection=projection.name,
                                stored=stored[1], current=projection.version)
                    projection.drop(cur)
                    self.store.forget_position(cur, projection.name)
                    stored = None
                projection.create(cur)
            self.positions[projection.name] = stored[0] if stored else 0

    @property
    def position(self) -> int:
        """The notification id every projection of the set has reached."""
        return min(self.positions.values(), default=0)

    def drop_all(self) -> None:
        with self._store.transaction() as cur:
            for projection in self.projections:
                projection.drop(cur)
                self._store.forget_position(cur, projection.name)
        self.positions = {}
        self.ensure()

    def apply(self, envelopes: Sequence[Envelope], extra: Callable[[Cursor], None] | None = None) -> None:
        """Fold envelopes (in log order) into every projection that has not seen
        them, and store each projection's new position, in one transaction."""
        if not envelopes:
            return
        head = envelopes[-1].notification_id
        assert head is not None, "log envelopes carry notification ids"
        with self._store.transaction() as cur:
            for projection in self.projections:
                seen = self.positions[projection.name]
                batch = [e for e in envelopes if e.notification_id > seen and projection.wants(e)]  # type: ignore[operator]
                if batch:
                    projection.apply(cur, batch)
                if head > seen:
                    self._store.save_position(cur, projection.name, head, projection.version)
            if extra is not None:
                extra(cur)
        for name, seen in self.positions.items():
            self.positions[name] = max(seen, head)

    def fold(self, cur: Cursor, envelopes: Sequence[Envelope]) -> None:
        """Fold envelopes into every projection that wants them, in the caller's
        transaction, leaving positions alone: for feeds that keep positions of
        their own. A Kafka consumer stores partition offsets, and must not skip
        an event because another partition already passed its notification id."""
        for projection in self.projections:
            batch = [e for e in envelopes if projection.wants(e)]
            if batch:
                projection.apply(cur, batch)


class EmbeddedRunner:
    """Tails the notification log into a projection set, in a background thread."""

    def __init__(self, source: NotificationSource, projections: ProjectionSet, batch_size: int = 5000,
                 poll_interval: float = 0.5, lock: ProjectorLock | None = None):
        self.source = source
        self.projections = projections
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lock = lock
        self.listeners: list[Listener] = []
        # Set once the views have reached the log's head.
        self.current = threading.Event()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._advanced = threading.Condition()
        self._thread: threading.Thread | None = None

    def catch_up(self, until: int | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Process the log up to `until` (default: its head); return events processed."""
        done = 0
        while until is None or self.projections.position < until:
            folded = self._fold_batch(until)
            if not folded:
                break
            done += folded
            if progress is not None:
                progress(folded)
        return done

    def _fold_batch(self, until: int | None = None) -> int:
        """Fold the log's next batch (up to `until`); return its size."""
        notifications = self.source.select_notifications(
            start=self.projections.position, limit=self.batch_size, stop=until, inclusive_of_start=False)
        if not notifications:
            return 0
        envelopes = [from_notification(n) for n in notifications]
        self.projections.apply(envelopes)
        self._announce(envelopes)
        return len(envelopes)

    def _announce(self, envelopes: Sequence[Envelope]) -> None:
        with self._advanced:
            self._advanced.notify_all()
        for listener in self.listeners:
            try:
                listener(envelopes)
            except Exception:  # a broken listener must not stop the projections
                log.exception("projection_listener_failed")

    def notify(self) -> None:
        """Tell the runner new events were saved (called by in-process writers)."""
        self._wake.set()

    def wait_for(self, notification_id: int | None, timeout: float) -> bool:
        """Block until projections include `notification_id`; False on timeout."""
        if notification_id is None:
            return True
        with self._advanced:
            return self._advanced.wait_for(lambda: self.projections.position >= notification_id, timeout)

    @property
    def projector(self) -> bool:
        """Whether this runner writes the views (else another process does)."""
        return self.lock is None or self.lock.held

    def head(self) -> int:
        return self.source.max_notification_id() or 0

    def is_current(self) -> bool:
        """Whether the views have reached the log's head since the start."""
        if not self.current.is_set() and self.projections.position >= self.head():
            self.current.set()
        return self.current.is_set()

    def check_current(self) -> None:
        """A gate for the view store's readers: refuse while catching up."""
        if not self.is_current():
            raise CatchingUp(f"the views are catching up with the log: at {self.projections.position} of "
                             f"{self.head()}; retry shortly", field="views")

    def start(self) -> None:
        """Run in the background (catching up first): the caller goes on at once."""
        self._thread = threading.Thread(target=self._run, name="projection-runner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                more = self._step()
            except Exception:
                log.exception("projection_runner_failed")
                more = False
                self._stopped.wait(self.poll_interval)
            if not more:
                self._wake.wait(self.poll_interval)

    def _step(self) -> bool:
        """Project (as the projector) or follow the projector's positions;
        whether more events are known to be waiting (the batch was full).

        After a batch that reached the head, the runner waits for a wake-up or
        its interval rather than asking again at once: under a steady stream
        of writes from other processes it would otherwise fold a few events a
        time, and each batch's fixed queries cost more than its events."""
        was_projector = self.projector
        if self.lock is not None and not self.lock.acquire():
            if self.projections.refresh():
                self._announce([])
            self.is_current()
            return False
        if not was_projector:
            log.info("projector_lock_taken")
            self.projections.refresh()  # resume where the last projector stopped
        if self._fold_batch() < self.batch_size:
            self.current.set()
            return False
        return True

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.lock is not None:
            self.lock.release()
