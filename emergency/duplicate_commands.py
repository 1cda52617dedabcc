"""Commands of a coordinator over possible duplicate households."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import model_validator

from emergency.commands import Command, PastTime, Text
from emergency.domain.duplicates import OUTCOMES
from emergency.errors import FieldError

Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]


class ResolveDuplicate(Command):
    """Different households, or the same one: then `survivor_id` (one of the
    pair) keeps both histories and the other is merged into it."""

    name: ClassVar[str] = "resolve_duplicate"
    pair_id: UUID
    outcome: Outcome
    survivor_id: UUID | None = None
    reason: Text
    resolved_by: Text
    resolved_at: PastTime

    @model_validator(mode="after")
    def _survivor_when_same(self) -> ResolveDuplicate:
        if (self.outcome == "same") != (self.survivor_id is not None):
            raise FieldError("survivor_id", "the same household names its survivor_id; different ones do not")
        return self


class ReopenDuplicate(Command):
    """Undo a resolution: a merge is undone, and the pair is open again."""

    name: ClassVar[str] = "reopen_duplicate"
    pair_id: UUID
    reason: Text
    reopened_by: Text
    reopened_at: PastTime
