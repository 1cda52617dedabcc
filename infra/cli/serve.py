"""`emergency serve`: run the HTTP API (see `api.app`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from typing import Callable

import structlog

from api import server
from api.app import create_app
from infra.cli.stopping import stop_on_signals
from infra.settings import Settings

log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="address to listen on (env EMERGENCY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (env EMERGENCY_PORT, default 8080)")
    serve.add_argument("--projector", choices=("embedded", "external"), help=(
        "who writes the views: this process (when no other holds the projector lock) or only "
        "`emergency project` (env EMERGENCY_PROJECTOR, default embedded)"))
    serve.add_argument("--workers", type=int, default=1, help=(
        "API processes sharing the port (SO_REUSEPORT), each with its own writer thread; on PostgreSQL "
        "they write in parallel, which only the insert serialises"))
    serve.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    chosen = listening_on(settings, args.host, args.port, args.projector)
    if args.workers > 1:
        return run_workers(chosen, args.workers)
    serve(chosen)
    return 0


def run_workers(settings: Settings, workers: int) -> int:
    """`workers` processes of `emergency serve` on one port, until SIGTERM or Ctrl-C (passed on to each) or
    until one of them stops (then the others are stopped too); the first failure's exit code."""
    command = [sys.executable, "-m", "infra.cli", "--database-url", settings.database_url, "--log-format",
               settings.log_format, "serve", "--host", settings.host, "--port", str(settings.port), "--projector",
               settings.projector]
    stop = stop_on_signals()
    processes = [subprocess.Popen(command) for _ in range(workers)]
    log.info("workers_started", workers=workers, pids=[p.pid for p in processes])
    while not stop.wait(0.5) and all(p.poll() is None for p in processes):
        pass
    for process in processes:
        if process.poll() is None:
            process.terminate()
    # A worker still starting when asked to stop dies of the SIGTERM itself (-15): that is a clean stop too.
    stopped = (-signal.SIGTERM, -signal.SIGINT) if stop.is_set() else ()
    codes = [process.wait() for process in processes]
    return next((code for code in codes if code and code not in stopped), 0)


def listening_on(settings: Settings, host: str | None, port: int | None, projector: str | None = None) -> Settings:
    chosen = (("host", host), ("port", port), ("projector", projector))
    return settings.model_copy(update={k: v for k, v in chosen if v is not None})


def serve(settings: Settings, when_listening: Callable[[], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM); `when_listening` runs once the port is open."""
    log.info("serving", host=settings.host, port=settings.port)
    asyncio.run(server.serve(create_app(settings), settings, when_listening))
