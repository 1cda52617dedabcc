"""`emergency serve`: run the HTTP API (see `api.app`)."""

from __future__ import annotations

import argparse
import asyncio

import structlog

from api.app import create_app
from api.server import serve
from infra.settings import Settings

log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="address to listen on (env EMERGENCY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (env EMERGENCY_PORT, default 8080)")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.model_copy(update={k: v for k, v in (("host", args.host), ("port", args.port))
                                           if v is not None})
    log.info("serving", host=settings.host, port=settings.port)
    asyncio.run(serve(create_app(settings), settings))
    return 0
