"""The one writer thread, committing in groups.

The event store is synchronous and a SQLite file takes one writer at a time,
so every write of the process goes through this thread. It takes everything
waiting in its queue (up to `max_batch` commands), runs it as one batch (one
transaction, each command still getting its own outcome or error) and hands
each caller its share. Under load, batches grow by themselves: the more
requests arrive while a batch commits, the bigger the next one.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable, Sequence

import structlog

from emergency.errors import AidError
from emergency.service import AidService, Outcome, Submission

log = structlog.get_logger(__name__)

Result = Outcome | AidError


class StoreUnavailable(AidError):
    status = 503
    code = "store_unavailable"


class InsufficientStorage(AidError):
    status = 507
    code = "insufficient_storage"


# SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) and the OS's ENOSPC, as they read.
_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file")


def _disk_full(error: BaseException | None) -> bool:
    """Whether the store refused for want of disk: the error or any cause says so."""
    while error is not None:
        if getattr(error, "sqlstate", None) == "53100" or any(s in str(error).lower() for s in _DISK_FULL):
            return True
        error = error.__cause__ or error.__context__
    return False


# How long a failed commit marks the write path failing (without a commit since).
FAILING_SECONDS = 60.0


@dataclass
class WriteHealth:
    """The write path as /healthz reports it."""

    last_commit_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_failure: str | None = None

    @property
    def failing(self) -> bool:
        """The last commit failed, lately. An older failure no longer counts:
        a server that a balancer took out on /healthz gets no writes, so it
        would never clear."""
        return (self.last_failure_at is not None
                and (self.last_commit_at is None or self.last_failure_at > self.last_commit_at)
                and (_now() - self.last_failure_at).total_seconds() < FAILING_SECONDS)


@dataclass
class _Job:
    submissions: Sequence[Submission]
    future: asyncio.Future[list[Result]]
    loop: asyncio.AbstractEventLoop


class Writer:
    def __init__(self, service: AidService, on_commit: Callable[[], None] = lambda: None, max_batch: int = 1000,
                 settle: Callable[[Sequence[Result]], Awaitable[object]] | None = None,
                 disk: str = "the event store's disk"):
        self.service = service
        # Named in a refusal when the store's disk is full.
        self.disk = disk
        self.health = WriteHealth()
        # Called after each group commit (wakes the projection runner).
        self.on_commit = on_commit
        # Awaited before a caller gets its results (waits for the projections: read-your-writes).
        self.settle = settle
        self.max_batch = max_batch
        # The store's driver releases the GIL around every statement, and at
        # Python's default 5 ms switch interval taking it back may mean waiting
        # out the event loop's whole slice: a group commit of a dozen statements
        # then took tens of milliseconds. 1 ms: +50% single-request throughput
        # in bench/ingest.py.
        sys.setswitchinterval(0.001)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="emergency-writer", daemon=True)
        self._thread.start()

    async def submit(self, submission: Submission) -> Result:
        return (await self.submit_many([submission]))[0]

    async def submit_many(self, submissions: Sequence[Submission]) -> list[Result]:
        """Run the submissions (in this order, in one or more group commits)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Result]] = loop.create_future()
        self._queue.put(_Job(submissions, future, loop))
        results = await future
        if self.settle is not None:
            await self.settle(results)
        return results

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = len(job.submissions)
            stop = False
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
                size += len(more.submissions)
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        submissions = [s for job in jobs for s in job.submissions]
        try:
            results: list[Result] = list(self.service.execute_batch(submissions))
        except Exception as error:  # the store failed, not the commands: nothing was saved
            log.exception("group_commit_failed", size=len(submissions))
            refusal: AidError = (InsufficientStorage(f"{self.disk} is full: nothing was recorded", field="disk")
                                 if _disk_full(error) else
                                 StoreUnavailable(f"the event store failed: {type(error).__name__}"))
            self.health.last_failure_at, self.health.last_failure = _now(), f"{refusal.code}: {error}"
            results = [refusal] * len(submissions)
        else:
            self.health.last_commit_at = _now()
            self.on_commit()
        # One line per transaction: how well commits group (bench/ingest.py counts them).
        log.debug("group_commit", commands=len(submissions), requests=len(jobs))
        start = 0
        for job in jobs:
            share = results[start:start + len(job.submissions)]
            start += len(job.submissions)
            try:
                job.loop.call_soon_threadsafe(_resolve, job.future, share)
            except RuntimeError:  # its event loop closed while it waited: nobody is left to answer
                log.warning("writer_caller_gone", size=len(share))


def _now() -> datetime:
    """Wall-clock time: the health of this process, not a recorded time."""
    return datetime.now(timezone.utc)


def _resolve(future: asyncio.Future[list[Result]], results: list[Result]) -> None:
    if not future.cancelled():
        future.set_result(results)
