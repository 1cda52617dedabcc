"""Sums over time that any moment reads in a few rows.

The coverage projection keeps each change of a count as a delta at the
moment it takes effect (`cov_deltas`), and the same deltas summed into
aligned time buckets of a week, a day, an hour and five minutes
(`cov_buckets`). The sum of every delta up to a moment X is then: the whole
weeks before X's week, the whole days of that week before X's day, the whole
hours of that day before X's hour, the whole five minutes of that hour
before X's, and the single deltas of the last five minutes. Each part has at
most a handful of rows per group, whatever the number of households or of
events.

Buckets are kept per level of grouping, so that a coverage request reads the
rows of its own grouping only:

- level 0: the incident, per support type;
- level 1: a province, per support type;
- level 2: a commune, all support types together (households apart);
- the deltas themselves carry province, commune and support type, for the
  last minutes and for scopes of a few communes.
"""

from __future__ import annotations

from typing import NamedTuple

MINUTE = 60_000_000  # µs
FIVE_MINUTES, HOUR, DAY = 5 * MINUTE, 60 * MINUTE, 1440 * MINUTE
WEEK = 7 * DAY
SIZES = (WEEK, DAY, HOUR, FIVE_MINUTES)
# Level 2 holds a row per commune: five-minute buckets would cost more to
# write than they save a request, which reads at most an hour of deltas.
LEVEL_SIZES = {0: SIZES, 1: SIZES, 2: SIZES[:3]}
ALL_TYPES = ""  # level 2's support type for the case counts of every type


class Range(NamedTuple):
    """Buckets of one size whose start lies in [low, high) (low None: from the first)."""

    size: int
    low: int | None
    high: int


def bucket_start(moment: int, size: int) -> int:
    return moment - moment % size


def prefix(level: int, at: int) -> tuple[list[Range], int]:
    """The bucket ranges covering everything before the last bucket of
    `at`, and where the single deltas to add start (up to `at` inclusive)."""
    ranges: list[Range] = []
    low: int | None = None
    for size in LEVEL_SIZES[level]:
        high = bucket_start(at, size)
        ranges.append(Range(size, low, high))
        low = high
    assert low is not None
    return ranges, low
