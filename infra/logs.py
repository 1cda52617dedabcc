"""structlog, configured once per process: JSON lines for services, console for people."""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

_configured = False


class _CurrentStderr:
    """Whatever `sys.stderr` is at the time of writing: a process that swaps
    it (a test capturing output) must not leave loggers on a closed stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(log_format: str = "console", level: str = "info") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    renderer = (structlog.processors.JSONRenderer() if log_format == "json"
                else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
