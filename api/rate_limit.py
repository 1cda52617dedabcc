"""Per-client token buckets for routes anyone may call without a token.

Each client address has a bucket of `burst` tokens that refills at `per_hour`;
a request takes one, and with none left it is refused (429, `Retry-After`)
before its body is read. Buckets live in the API process's memory: bounded
(the least recently seen address is forgotten first), lost on restart, and
each of `serve --workers N` processes keeps its own, so N processes allow up
to N times the rate.

Behind a reverse proxy every request comes from the proxy's address: with
`trust_forwarded_for` the last address of `X-Forwarded-For` (the one the
proxy appended) is the client. Without it the header is ignored, so a
client cannot name itself a new address at each request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Callable

from aiohttp import web

from emergency.errors import AidError


class RateLimited(AidError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TokenBuckets:
    def __init__(self, burst: int, per_hour: float, max_clients: int = 100_000,
                 monotonic: Callable[[], float] = time.monotonic):
        self.burst = burst
        self.per_second = per_hour / 3600
        self.max_clients = max_clients
        self._monotonic = monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """One token from `client`'s bucket, or RateLimited saying when the next one comes."""
        now = self._monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            allowed = tokens >= 1
            self._buckets[client] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        if not allowed:
            wait = math.ceil((1 - tokens) / self.per_second) if self.per_second else 3600
            raise RateLimited(f"too many requests from your address; try again in {wait} s", wait)


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rpartition(",")[2].strip()
        if last:
            return last[:64]
    return request.remote or "unknown"
