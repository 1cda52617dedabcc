"""The write side's unit of work: the aggregates one batch of commands reads
and changes, saved together in one transaction; and where its caller may write.

Every command handler (the household's in `emergency.service`, the funds' in
`emergency.funding.handlers`) gets the batch and the caller's scope; it
checks everything, then changes aggregates the batch holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from emergency.application import AidApplication
from emergency.commands import Meta
from emergency.errors import Conflict, Forbidden, NotFound

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Scope:
    """Where a caller may write: None means everywhere."""

    provinces: frozenset[str] | None = None
    communes: frozenset[str] | None = None

    @property
    def unlimited(self) -> bool:
        return self.provinces is None and self.communes is None

    def allows(self, province: str, commune: str | None = None) -> bool:
        if self.provinces is not None and province not in self.provinces:
            return False
        return self.communes is None or commune in self.communes

    def check(self, province: str, commune: str | None, field: str, *, named: bool = True) -> None:
        """Refuse an area outside the scope. `named`: the caller gave the area,
        so the refusal may say it; a recorded household's area is not told to
        a caller outside it."""
        if not self.allows(province, commune):
            where = "this household" if not named else f"commune {commune}" if commune else f"province {province}"
            raise Forbidden(f"{where} is outside your scope", field=field, code="out_of_scope")

    def check_committee(self, level: str, province: str | None, commune: str | None, field: str) -> None:
        """Refuse a committee outside the scope: a central committee is written
        to only by callers without a limited scope."""
        allowed = self.unlimited if level == "central" else self.allows(province or "", commune)
        if not allowed:
            raise Forbidden(f"the {level} committee {commune or province or ''} is outside your scope",
                            field=field, code="out_of_scope")


@dataclass
class _Gathered:
    """Changes to one aggregate that commands of a batch gather, to record as one event."""

    record: Callable[[list[Any]], None]
    items: list[Any] = field(default_factory=list)
    commands: set[int] = field(default_factory=set)  # the commands that gathered them, by index


class Batch:
    """Aggregates loaded or created by the commands of one batch, and which
    of them each command changed (to hand each caller its own log positions)."""

    def __init__(self, app: AidApplication, *, retry: bool = False):
        self.app = app
        # May an id derived from its content (a bank reference) be taken as new
        # without reading the store (`exists(trust_new=True)`)? None: not known
        # yet, the first such id is read and decides (False if it is new, True if
        # recorded: a re-import turns careful at once). On a retry after a clash
        # in the store: True, every such id is read.
        self._careful: bool | None = True if retry else None
        self.aggregates: dict[UUID, Aggregate] = {}
        # read ahead for the whole batch in one query (None: nothing recorded)
        self.preloaded: dict[UUID, Aggregate | None] = {}
        # per command: (aggregate, first, last version) of the events it added
        self.touched: list[list[tuple[UUID, int, int]]] = []
        # pending-event counts when the current command first saw each aggregate
        self._counts: dict[UUID, int] = {}
        # aggregate -> key -> what commands gathered for it (see `gather`)
        self._gathered: dict[UUID, dict[Hashable, _Gathered]] = {}

    def begin_command(self) -> None:
        self._counts = {}

    def changed(self) -> list[tuple[UUID, int, int]]:
        found = []
        for a, n in self._counts.items():
            pending = self.aggregates[a].pending_events
            if len(pending) != n:
                found.append((a, pending[n].originator_version, pending[-1].originator_version))
        return found

    def preload(self, ids: Iterable[UUID]) -> None:
        """Read the aggregates the batch's commands name, in one query."""
        self.preloaded = self.app.get_many(ids)

    def get(self, cls: type[A], aggregate_id: UUID, field: str, *, gathering: bool = False) -> A:
        """The aggregate, with what earlier commands gathered for it recorded
        first, unless the caller only gathers more (`gathering`)."""
        found = self._take(aggregate_id, gathering)
        if found is None:
            raise NotFound(f"no {cls.__name__} with id {aggregate_id}", field=field)
        if not isinstance(found, cls):
            raise NotFound(f"{aggregate_id} is not a {cls.__name__}", field=field)
        return found

    def find(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate, or None if nothing is recorded under the id (asked of
        every keyed command's idempotency record: no exception for the usual answer)."""
        return self._take(aggregate_id, gathering=False)

    def _take(self, aggregate_id: UUID, gathering: bool) -> Aggregate | None:
        if aggregate_id in self._gathered and not gathering:
            self.settle(aggregate_id)
        found = self.aggregates.get(aggregate_id)
        if found is None:
            if aggregate_id in self.preloaded:
                found = self.preloaded[aggregate_id]
            else:
                try:
                    found = self.app.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    pass
            if found is None:
                return None
            self.aggregates[aggregate_id] = found
        self._counts.setdefault(aggregate_id, len(found.pending_events))
        return found

    def exists(self, aggregate_id: UUID, *, trust_new: bool = False) -> bool:
        """Created earlier in this batch, or recorded already?

        `trust_new`: the id is derived from the content (a bank reference), so a
        duplicate cannot slip past the store's unique (id, version). A batch
        reads the first such id; if it is new, the batch takes the others as new
        without a read (an import of 400,000 lines saves 400,000 reads), and a
        clash in the store makes the retry read them all.
        """
        if aggregate_id in self.aggregates:
            return True
        if trust_new and self._careful is False:
            return False
        found = bool(self.app.recorder.select_events(aggregate_id, limit=1))
        if trust_new and self._careful is None:
            self._careful = found
        return found

    def gather(self, aggregate: Aggregate, key: Hashable, item: Any, record: Callable[[list[Any]], None]) -> None:
        """Add `item` to the changes gathered under `key` for `aggregate`:
        `record(items)` makes them one event, when the batch is saved or before
        another command reads the aggregate (so it sees them). Each command that
        gathered gets that event's log position."""
        found = self._gathered.setdefault(aggregate.id, {})
        gathered = found.get(key) or found.setdefault(key, _Gathered(record))
        gathered.items.append(item)
        gathered.commands.add(len(self.touched))

    def settle(self, aggregate_id: UUID | None = None) -> None:
        """Record what was gathered (for one aggregate, or all)."""
        for found in [aggregate_id] if aggregate_id is not None else list(self._gathered):
            pending = self.aggregates[found].pending_events
            for gathered in self._gathered.pop(found).values():
                before = len(pending)
                gathered.record(gathered.items)
                span = (found, pending[before].originator_version, pending[-1].originator_version)
                for command in gathered.commands:
                    self.touched[command].append(span)

    def create(self, aggregate: Aggregate, field: str) -> None:
        if self.find(aggregate.id) is not None:
            raise Conflict(f"{aggregate.id} is already recorded", field=field, code="already_exists")
        self.add(aggregate)

    def add(self, aggregate: Aggregate) -> None:
        self.aggregates[aggregate.id] = aggregate
        self._counts[aggregate.id] = 0


# A command handler: checks the command, then changes aggregates of the batch; returns its result.
Handler = Callable[[Batch, Any, Meta, Scope], dict[str, Any]]
