"""The stable public form of a recorded event.

Projections, the Kafka topic, the history API and exports all see events in
this one shape, so a projection fed from Kafka and one fed in-process run the
same code on the same input:

    {"notification_id": 42, "aggregate_id": "…", "aggregate_type": "HouseholdCase",
     "version": 3, "type": "Disbursed", "recorded_at": "2024-09-08T03:00:00+00:00",
     "data": {...}, "meta": {...}}

Values in `data` are JSON: UUIDs and times as strings, money as integer VND.
`data` is in its event class's current version: an event stored under an
older `class_version` is upcast by the class's own `upcast_vN_vN+1` methods,
as eventsourcing does when it rebuilds an aggregate, so every reader sees one
shape while the stored event stays as it was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import resolve_topic

from emergency.event_format import decode_plain, is_plain

_HEADER_FIELDS = ("originator_id", "originator_version", "originator_topic")


def plain(value: Any) -> Any:
    """Turn decoded event values into JSON-compatible ones."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values: already JSON
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Envelope:
    notification_id: int | None  # None when read from one aggregate's stream
    aggregate_id: str
    aggregate_type: str
    version: int
    type: str
    recorded_at: str
    data: dict[str, Any]
    meta: dict[str, Any]

    @property
    def kind(self) -> str:
        """`HouseholdCase.Disbursed`: what projections dispatch on."""
        return f"{self.aggregate_type}.{self.type}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id, "aggregate_id": self.aggregate_id,
            "aggregate_type": self.aggregate_type, "version": self.version, "type": self.type,
            "recorded_at": self.recorded_at, "data": self.data, "meta": self.meta,
        }

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, non-ASCII text as itself: the bytes of the
        stdlib's `json.dumps(…, ensure_ascii=False, separators=(",", ":"))`
        in half the time. An integer past 64 bits is refused, not rounded."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Envelope:
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


def _plain_hook(obj: dict[str, Any]) -> Any:
    """Read the store's tagged values ({"_type_": …, "_data_": …}) straight
    into their JSON form, without building UUID or datetime objects."""
    if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
        kind, data = obj["_type_"], obj["_data_"]
        if kind == "uuid_hex":
            return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
        if kind in ("datetime_iso", "date_iso", "decimal_str"):
            return data
        raise ValueError(f"unexpected stored value type {kind!r}")
    return obj


_decoder = json.JSONDecoder(object_hook=_plain_hook)


@dataclass(frozen=True)
class _Topic:
    """What an event's topic says, worked out once per topic."""

    aggregate_type: str
    type: str
    upcasts: tuple[Callable[[dict[str, Any]], None], ...]  # from version 1 to the current one (most have none)

    @classmethod
    def of(cls, topic: str) -> _Topic:
        # topic "emergency.domain.household:HouseholdCase.Disbursed"
        qualname = topic.partition(":")[2]
        aggregate_type, _, event_type = qualname.rpartition(".")
        event_class = resolve_topic(topic)
        return cls(aggregate_type.rpartition(".")[2] or aggregate_type, event_type,
                   tuple(getattr(event_class, f"upcast_v{v}_v{v + 1}")
                         for v in range(1, getattr(event_class, "class_version", 1))))


_TOPICS: dict[str, _Topic] = {}


def from_notification(notification: Notification) -> Envelope:
    return from_stored_event(notification, notification.id)


def from_stored_event(stored: StoredEvent, notification_id: int | None = None) -> Envelope:
    """The envelope of a stored event, decoded from its JSON state in either
    form (`emergency.event_format`): the plain one is the envelope's data already."""
    state = stored.state
    data = decode_plain(state) if is_plain(state) else _decoder.decode(state.decode("utf-8"))
    topic = _TOPICS.get(stored.topic) or _TOPICS.setdefault(stored.topic, _Topic.of(stored.topic))
    if topic.upcasts:
        for upcast in topic.upcasts[data.pop("class_version", 1) - 1:]:
            upcast(data)
    recorded_at = data.pop("timestamp")
    for name in _HEADER_FIELDS:
        data.pop(name, None)
    meta = data.pop("meta", None) or {}
    return Envelope(notification_id, str(stored.originator_id), topic.aggregate_type, stored.originator_version,
                    topic.type, recorded_at, data, meta)
