"""What a projection is: tables, and a fold of event envelopes into them.

A projection is a pure function of the event stream: given the same envelopes
in the same order it writes the same rows, whether they come from the
in-process runner, a replay up to a past point, or a Kafka consumer. It never
reads the clock; time-dependent answers (overdue now) take `now` at query time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Sequence

from emergency.envelope import Envelope
from projections.store import Cursor


class Projection(ABC):
    # Unique name: the key of its stored position, and the prefix of its tables.
    name: ClassVar[str]
    # Bump when the rows' layout or meaning changes: the runner then drops and
    # rebuilds the projection from the log instead of mixing old and new rows.
    version: ClassVar[int] = 1
    # Event kinds (`HouseholdCase.Disbursed`) it reads; empty means all.
    kinds: ClassVar[frozenset[str]] = frozenset()
    # Whether it depends on the log's total order, not only each aggregate's:
    # then only the embedded runner, which reads the log in order, may feed it.
    log_ordered: ClassVar[bool] = False
    # Whether each of its rows is fed by one aggregate's events only: then a
    # rebuild may split its fold by aggregate id (`projections.parallel`).
    split_by_aggregate: ClassVar[bool] = True

    # Its CREATE … IF NOT EXISTS statements, and the tables a rebuild drops.
    ddl: ClassVar[tuple[str, ...]] = ()
    tables: ClassVar[tuple[str, ...]] = ()

    def create(self, cur: Cursor) -> None:
        """Create its tables if missing (idempotent)."""
        for statement in self.ddl:
            cur.execute(statement)

    def drop(self, cur: Cursor) -> None:
        """Drop its tables."""
        for table in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {table}")

    @abstractmethod
    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        """Fold a batch of events (in log order) into its rows."""

    def wants(self, envelope: Envelope) -> bool:
        return not self.kinds or envelope.kind in self.kinds
