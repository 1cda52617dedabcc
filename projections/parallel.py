"""A rebuild in several processes: `emergency rebuild --jobs N`.

The projections that depend on the log's total order (`log_ordered`: the
coverage's "then" axis and clock) or whose rows gather several aggregates'
events (`split_by_aggregate` off: the duplicates' counts per commune) fold
the whole log in one process. The others depend only on each aggregate's own
events in version order, so their fold is split by aggregate id across the
remaining processes: each reads the log and folds the events of its share of
the aggregates.

Each process writes a view store of its own beside the target (a SQLite
file: SQLite has one writer per file; on PostgreSQL a schema), that nothing
else touches. Then the target takes every shard's rows and every
projection's position (the log's head the rebuild started from) in one
transaction: a rebuild stopped half way leaves no position that claims rows
the store lacks, and the positions end where a single-process rebuild's do.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse
from uuid import UUID

from emergency.application import AidApplication
from emergency.envelope import from_notification
from infra.settings import sqlite_path
from infra.stores import existing_store_env
from projections.base import Projection
from projections.catalog import PROJECTIONS
from projections.runner import ProjectionSet
from projections.store import open_view_store

# Seconds between checks that every shard's process is still alive.
POLL = 1.0


def tune_gc() -> None:
    """A rebuild allocates millions of short-lived objects and keeps few:
    collecting rarely saves a fifth of its time."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@dataclass(frozen=True)
class Shard:
    """Projections folded by one process, over aggregates whose id modulo `parts` is `part`."""

    names: tuple[str, ...]
    part: int = 0
    parts: int = 1

    def takes(self, originator_id: UUID | str) -> bool:
        if self.parts == 1:
            return True
        key = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        return key.int % self.parts == self.part

    @property
    def label(self) -> str:
        share = f" {self.part + 1}/{self.parts}" if self.parts > 1 else ""
        return f"{'+'.join(self.names)}{share}"


def plan(projections: Sequence[Projection], jobs: int) -> list[Shard]:
    """The shards of `jobs` processes: the projections that cannot be split in
    one, the others split by aggregate id over the rest (at least one)."""
    whole = [p for p in projections if p.log_ordered or not p.split_by_aggregate]
    ordered = tuple(p.name for p in whole)
    per_aggregate = tuple(p.name for p in projections if p not in whole)
    shards = [Shard(ordered)] if ordered else []
    if per_aggregate:
        parts = max(jobs - len(shards), 1)
        shards += [Shard(per_aggregate, part, parts) for part in range(parts)]
    return shards


@dataclass(frozen=True)
class Job:
    """What a shard's process needs: picklable, for a fresh interpreter."""

    index: int
    shard: Shard
    events_url: str
    views_url: str
    until: int
    batch_size: int


@dataclass(frozen=True)
class Folded:
    """What a shard's process reports: events read, and its peak resident memory."""

    index: int
    events: int
    peak_rss_mib: float


Progress = Callable[[int, int], None]  # (shard index, events read)


def rebuild(views: ProjectionSet, views_url: str, events_url: str, shards: Sequence[Shard], until: int,
            batch_size: int, progress: Progress) -> list[Folded]:
    """Fold the log up to `until` into `views` (dropped beforehand) with one
    process per shard, then take their rows and positions in one transaction."""
    jobs = [Job(i, shard, events_url, shard_url(views_url, i), until, batch_size) for i, shard in enumerate(shards)]
    try:
        folded = _run(jobs, progress)
        tables = {p.name: p.tables for p in views.projections}
        with views.store.merging([job.views_url for job in jobs]) as (cur, sources):
            for job, source in zip(jobs, sources):
                for name in job.shard.names:
                    for table in tables[name]:
                        cur.execute(f"INSERT INTO {table} SELECT * FROM {source}.{table}")
            for projection in views.projections:
                views.store.save_position(cur, projection.name, until, projection.version)
        views.positions = {p.name: until for p in views.projections}
        return folded
    finally:
        for job in jobs:
            views.store.discard(job.views_url)


def _run(jobs: Sequence[Job], progress: Progress) -> list[Folded]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    messages = context.Queue()
    processes = [context.Process(target=fold_shard, args=(job, messages), name=f"rebuild-{job.shard.label}")
                 for job in jobs]
    for process in processes:
        process.start()
    folded: dict[int, Folded] = {}
    try:
        while len(folded) < len(jobs):
            try:
                message = messages.get(timeout=POLL)
            except queue.Empty:
                dead = [p for p, job in zip(processes, jobs) if job.index not in folded and not p.is_alive()]
                if dead:
                    raise RuntimeError(f"rebuild process {dead[0].name} stopped with code {dead[0].exitcode}")
                continue
            if isinstance(message, Folded):
                folded[message.index] = message
            else:
                progress(*message)
    finally:
        for process in processes:
            if process.is_alive() and len(folded) < len(jobs):
                process.terminate()
            process.join()
    return [folded[job.index] for job in jobs]


def fold_shard(job: Job, messages: Any) -> None:
    """A shard's process: its projections, fresh, over its share of the log."""
    tune_gc()
    source = AidApplication(env=existing_store_env(job.events_url))
    views = ProjectionSet(open_view_store(job.views_url), [p() for p in PROJECTIONS if p.name in job.shard.names])
    try:
        views.drop_all()
        store, start, read = views.store, 0, 0
        while start < job.until:
            notifications = source.recorder.select_notifications(start=start, limit=job.batch_size, stop=job.until,
                                                                 inclusive_of_start=False)
            if not notifications:
                break
            start, read = notifications[-1].id, read + len(notifications)
            envelopes = [from_notification(n) for n in notifications if job.shard.takes(n.originator_id)]
            with store.transaction() as cur:
                views.fold(cur, envelopes)
            messages.put((job.index, len(notifications)))
    finally:
        views.close()
        source.close()
    messages.put(Folded(job.index, read, peak_rss_mib()))


def peak_rss_mib() -> float:
    """This process's high-water mark of resident memory (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def shard_url(views_url: str, index: int) -> str:
    """Where shard `index` writes: a SQLite file beside the target, or a schema beside it."""
    if views_url.startswith("sqlite:///"):
        path = sqlite_path(views_url)
        return f"sqlite:///{path.with_name(f'{path.stem}-rebuild{index}{path.suffix}')}"
    parsed = urlparse(views_url)
    query = parse_qs(parsed.query)
    query["schema"] = [f"{query.get('schema', ['public'])[0]}_rebuild{index}"]
    return urlunparse(parsed._replace(query=urlencode(query, doseq=True)))

