"""`emergency serve`: run the HTTP API (see `api.app`)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Callable

import structlog

from api import server
from api.app import create_app
from infra.settings import Settings

log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="address to listen on (env EMERGENCY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (env EMERGENCY_PORT, default 8080)")
    serve.add_argument("--projector", choices=("embedded", "external"), help=(
        "who writes the views: this process (when no other holds the projector lock) or only "
        "`emergency project` (env EMERGENCY_PROJECTOR, default embedded)"))
    serve.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    serve(listening_on(settings, args.host, args.port, args.projector))
    return 0


def listening_on(settings: Settings, host: str | None, port: int | None, projector: str | None = None) -> Settings:
    chosen = (("host", host), ("port", port), ("projector", projector))
    return settings.model_copy(update={k: v for k, v in chosen if v is not None})


def serve(settings: Settings, when_listening: Callable[[], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM); `when_listening` runs once the port is open."""
    log.info("serving", host=settings.host, port=settings.port)
    asyncio.run(server.serve(create_app(settings), settings, when_listening))
