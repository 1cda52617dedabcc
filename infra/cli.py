"""The `emergency` command line. Each subcommand lives with the part it drives;
this module only collects them and sets up settings and logging."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

from emergency.errors import AidError
from infra import logs
from infra.settings import Settings

# Modules that add subcommands: each has `register(subparsers)`, and every
# parser it adds sets `run(args, settings) -> int` as its default.
COMMAND_MODULES = ("infra.demo_command", "infra.serve_command", "infra.token_command", "infra.kafka_command",
                   "infra.audit_command", "infra.projections_command", "infra.contributions_command")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emergency", description=__doc__)
    parser.add_argument("--database-url", help="sqlite:///path or postgresql://… (env EMERGENCY_DATABASE_URL)")
    parser.add_argument("--log-format", choices=("console", "json"))
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
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


if __name__ == "__main__":
    sys.exit(main())
