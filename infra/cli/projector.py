"""`emergency project`: the projector in a process of its own.

It writes the views of the catalog's projections for a store, as `emergency
serve` does when it embeds one, so that API processes started with
`--projector external` spend their interpreter on HTTP and the writer. It
holds the view store's projector lock: a second one waits, following the
first's positions, and takes over if it stops."""

from __future__ import annotations

import argparse

import structlog
from tqdm import tqdm

from infra.cli.stopping import stop_on_signals
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import open_views
from projections.runner import EmbeddedRunner

log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = subparsers.add_parser("project", help="keep the views current, for API processes that do not")
    project.add_argument("--poll-seconds", type=float, default=0.05,
                         help="how often to look for new events (no writer in this process wakes it)")
    project.add_argument("--batch-size", type=int, default=5000, help="events per transaction")
    project.set_defaults(run=run_project)


def run_project(args: argparse.Namespace, settings: Settings) -> int:
    service = build_service(settings)
    views = open_views(settings)
    runner = EmbeddedRunner(service.app.recorder, views, batch_size=args.batch_size,
                            poll_interval=args.poll_seconds, lock=views.store.projector_lock())
    stop = stop_on_signals()
    with tqdm(unit=" events", desc="projecting", disable=None) as bar:
        runner.listeners.append(lambda envelopes: bar.update(len(envelopes)))
        runner.start()
        log.info("projector_started", position=views.position, projections=[p.name for p in views.projections])
        while not stop.wait(1.0):
            pass
    runner.stop()
    views.close()
    service.app.close()
    log.info("projector_stopped", position=views.position)
    return 0
