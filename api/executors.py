"""Where request work runs, so that no kind of reader starves another.

- Ordinary reads run on the event loop's default executor
  (`asyncio.to_thread`), sized for many short store calls at once.
- Work whose cost grows with the data (an export reads a whole incident or
  campaign) runs on `Heavy`: one at a time, on its own thread. A request
  arriving while one runs waits a little, then is told to come back
  (503 `busy` with Retry-After) rather than queueing without bound.
- `/healthz` has a thread of its own: it answers however busy the readers are.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, TypeVar

from emergency.errors import AidError

T = TypeVar("T")
READ_THREADS = 32
# How long a heavy request waits for the one running before it is refused.
HEAVY_WAIT = 2.0
RETRY_AFTER = 10


class Busy(AidError):
    status = 503
    code = "busy"
    retry_after = RETRY_AFTER


class Heavy:
    """One piece of heavy work at a time, on one thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heavy")
        self._turn = asyncio.Semaphore(1)

    @asynccontextmanager
    async def turn(self, what: str) -> AsyncIterator[None]:
        """Hold the heavy thread while the block runs; refused if it stays taken."""
        try:
            await asyncio.wait_for(self._turn.acquire(), HEAVY_WAIT)
        except asyncio.TimeoutError:
            raise Busy(f"another {what} is being produced; try again in {RETRY_AFTER} s",
                       field=None) from None
        try:
            yield
        finally:
            self._turn.release()

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` on the heavy thread (within a turn), keeping the request's log context."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._pool, context.run, work)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def reads_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="read")
