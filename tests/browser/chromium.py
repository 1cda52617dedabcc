"""Debian's Chromium as the browser tests and the page benchmark drive it, and
a log of the API requests a page makes, by kind, as the browser reports them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHROMIUM = os.environ.get("EMERGENCY_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser downloads are never used: Debian's Chromium, headless, with nothing phoning home.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_INCIDENT_PART = re.compile(r"^/incidents/[^/]+/([\w/]+)$")


def dashboard_kind(url: str) -> str | None:
    """Which part of the dashboard a request reads: headline, trend, provinces, communes, overdue, duplicates,
    duplicate communes; None for what is not one (pages, scripts, the live stream)."""
    parts = urlsplit(url)
    found = _INCIDENT_PART.match(parts.path)
    if not found:
        return None
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if found[1] in ("overdue", "duplicates"):
        return found[1]
    if found[1] == "duplicates/communes":
        return "duplicate communes"
    if found[1] == "coverage/series":
        return "trend"
    if found[1] != "coverage":
        return None
    return {"incident": "headline", "province": "provinces", "commune": "communes"}.get(
        query.get("group_by", "incident"))


@dataclass
class Request:
    kind: str
    url: str
    started: int  # the log's event count when it started and when it ended: their order is the browser's
    ended: int | None = None
    failed: bool = False


@dataclass
class RequestLog:
    """Every request of a page of the kinds `kind_of` names, in the order the browser made and ended them."""

    kind_of: Any = dashboard_kind
    requests: list[Request] = field(default_factory=list)
    _open: dict[Any, Request] = field(default_factory=dict)
    _events: int = 0

    def watch(self, page: Any) -> RequestLog:
        page.on("request", self._started)
        page.on("requestfinished", lambda request: self._ended(request, failed=False))
        page.on("requestfailed", lambda request: self._ended(request, failed=True))
        return self

    def _started(self, request: Any) -> None:
        kind = self.kind_of(request.url)
        if kind is not None:
            self._events += 1
            self._open[request] = entry = Request(kind, request.url, self._events)
            self.requests.append(entry)

    def _ended(self, request: Any, failed: bool) -> None:
        entry = self._open.pop(request, None)
        if entry is not None:
            self._events += 1
            entry.ended, entry.failed = self._events, failed

    def of(self, kind: str) -> list[Request]:
        return [r for r in self.requests if r.kind == kind]

    def most_in_flight(self, kind: str) -> int:
        """The most requests of `kind` that were running at once."""
        running = most = 0
        for _, step in sorted([(r.started, 1) for r in self.of(kind)]
                              + [(r.ended, -1) for r in self.of(kind) if r.ended is not None]):
            running += step
            most = max(most, running)
        return most

    def started_while_running(self, kind: str, alone: int = 1) -> int:
        """How many requests of `kind` started while `alone` or more of their kind were still running."""
        mine = self.of(kind)
        return sum(1 for r in mine if sum(1 for o in mine if o.started < r.started and (
            o.ended is None or o.ended > r.started)) >= alone)
