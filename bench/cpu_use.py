"""Where a benchmark step's CPU time went, per group of processes.

A step on a 2-core machine is bound by CPU when the machine's cores are
busy throughout it: then the step can go no faster than 2 core-seconds per
second divided by the CPU seconds one unit of work (an assessment, an
event) costs, summed over every process that works on it: the API's
workers, the projector, PostgreSQL's backends, the load generator. This
module measures those seconds from /proc, so a missed target can say which
process spends them.

Processes are grouped by their ancestor among the roots named (a server
and its workers, a rebuild and its shards), PostgreSQL's by name; whatever
else ran on the machine meanwhile is "other" (a shared machine's noise).
Children that ended during the step count through their parent's waited-for
time (cutime), as the kernel keeps it: a load generator run to its end by
the benchmark counts in the benchmark's own process, named as a root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class _Process:
    parent: int
    name: str
    ticks: int  # user + system, its own and its waited-for children's


def _processes() -> dict[int, _Process]:
    found: dict[int, _Process] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        # After the name: state ppid … utime(12th) stime cutime cstime.
        found[int(entry.name)] = _Process(int(fields[1]), name, sum(int(f) for f in fields[11:15]))
    return found


def _busy_ticks() -> tuple[int, int]:
    """(busy, total) ticks of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


class CpuUse:
    """CPU seconds per group between `start()` and `stop()`."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots  # group name -> pid of its root process

    def start(self) -> CpuUse:
        self._before, self._machine = _processes(), _busy_ticks()
        return self

    def stop(self) -> dict[str, float]:
        """Seconds per group, "busy_cores": the machine's cores busy on average."""
        after, (busy, total) = _processes(), _busy_ticks()
        seconds: dict[str, float] = {name: 0.0 for name in self.roots}
        for pid, process in after.items():
            before = self._before.get(pid)
            used = process.ticks - (before.ticks if before and before.name == process.name else 0)
            group = self._group(pid, after)
            seconds[group] = seconds.get(group, 0.0) + used / TICK
        elapsed = (total - self._machine[1]) / CORES
        return {**{k: round(v, 2) for k, v in seconds.items()},
                "busy_cores": round((busy - self._machine[0]) / elapsed, 2) if elapsed else 0.0}

    def _group(self, pid: int, processes: dict[int, _Process]) -> str:
        ancestor = pid
        while ancestor in processes:
            for name, root in self.roots.items():
                if ancestor == root:
                    return name
            ancestor = processes[ancestor].parent
        return "postgres" if processes[pid].name == "postgres" else "other"


def per_unit_ms(seconds: dict[str, float], units: int) -> dict[str, float]:
    """CPU milliseconds per unit of work, per group (the machine's busy cores left out)."""
    return {k: round(v * 1000 / max(units, 1), 3) for k, v in seconds.items() if k != "busy_cores"}


def ceiling_per_s(seconds: dict[str, float], units: int, groups: tuple[str, ...]) -> float:
    """The most units per second this machine's cores allow, at what `groups` spent on each unit."""
    spent = sum(seconds.get(g, 0.0) for g in groups)
    return round(CORES * units / spent) if spent else float("inf")
