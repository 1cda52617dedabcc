"""What each kind of event stores, as typed, frozen models.

Every kind of event has one payload model next to its aggregate, named after
the event (`HouseholdCase.Decided` → `HouseholdCaseDecided`), whose fields are
the event's stored attributes in their stored order: all of them but the
library's own (originator id and version, timestamp, topic) and the caller's
`meta` (an `EventMeta`, on every event but an idempotency record). Parts
that are stored as an object of their own (a decision, a draw on a fund)
are models too, and the aggregates' `@event` methods take them, never a
command's dump: a renamed command field cannot change what is stored.

A field's type is what the store gives back: UUIDs, times and decimals are
restored by its transcoding; ids and dates that events have always kept as
text stay text. A model's dump (`model_dump()`) is exactly the stored
object, so the stored bytes of an event never depend on a command's shape.
Changing a stored form means a new `class_version` of the event with an
upcaster (see README, "Event schemas and golden logs").
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from emergency.envelope import Envelope

# kind ("HouseholdCase.Decided") -> its payload model
PAYLOADS: dict[str, type[EventPayload]] = {}
# Attributes of a stored event that are not its payload: the library's own, and the caller's.
NOT_PAYLOAD = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "meta"})


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sparse(Payload):
    """An object stored with only the fields that have a value."""

    @model_serializer(mode="wrap")
    def _given(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {name: value for name, value in dump(self).items() if value is not None}


class EventMeta(Payload):
    """Who asked, through which request (`emergency.commands.Meta` at the time)."""

    actor: str
    role: str | None
    request_id: str | None
    source: str


class EventPayload(Payload):
    """The stored data of one kind of event (`Envelope.data` is its JSON form)."""

    kind: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        PAYLOADS[cls.kind] = cls

    @classmethod
    def decode(cls, envelope: Envelope) -> Self:
        """The typed data of an envelope of this kind (upcast already, like every envelope)."""
        assert envelope.kind == cls.kind, f"a {envelope.kind} envelope is not a {cls.kind}"
        return cls.model_validate(envelope.data)


# Values stored as they are; checked by exact type first, because asking
# whether a value is a pydantic model goes through ABCMeta and cost a
# tenth of an API process's time under ingest.
_PLAIN = frozenset({str, int, bool, float, type(None), UUID, datetime, date, Decimal})


def stored_form(value: Any) -> Any:
    """An event attribute as the transcoder stores it: payload models as their objects."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [stored_form(item) for item in value]
    if isinstance(value, dict):
        return {key: stored_form(item) for key, item in value.items()}
    return value
