"""The `emergency` command line, and the composition root of the system: the
one place that imports every layer (the API, the Kafka path, the projections,
the stores and the domain) and wires them together. Each module here is one
command group; this one only collects them and sets up settings and logging."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from emergency.errors import AidError
from infra import logs
from infra.cli import audit, demo, kafka_admin, money, projector, serve, token_admin, views
from infra.settings import Settings

# Each group has `register(subparsers)`, and every parser it adds sets
# `run(args, settings) -> int` as its default.
COMMAND_GROUPS = (demo, serve, projector, token_admin, kafka_admin, audit, views, money)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emergency", description=__doc__)
    parser.add_argument("--database-url", help="sqlite:///path or postgresql://… (env EMERGENCY_DATABASE_URL)")
    parser.add_argument("--log-format", choices=("console", "json"))
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env(database_url=args.database_url, log_format=args.log_format)
    logs.configure(settings.log_format, settings.log_level)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    try:
        return run(args, settings)
    except AidError as error:
        print(f"refused: {error.code}: {error.message}" + (f" (field {error.field})" if error.field else ""),
              file=sys.stderr)
        return 2
