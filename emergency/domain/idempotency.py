"""The first result of a command sent with an idempotency key.

Saved in the same transaction as the command's own events, so a retry either
finds it (and gets the first answer back) or the first attempt never happened.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventPayload


class IdempotencyRecordRecorded(EventPayload):
    kind = "IdempotencyRecord.Recorded"
    scope: str
    key: str
    request_hash: str
    command: str
    result: dict[str, Any]  # the command's first result, as JSON


class IdempotencyRecord(AidAggregate):
    @staticmethod
    def id_for(scope: str, key: str) -> UUID:
        """One record per (caller scope, key): two callers may reuse a key."""
        return uuid5(NAMESPACE_URL, f"emergency:idempotency:{scope}:{key}")

    @event("Recorded")
    def __init__(self, id: UUID, scope: str, key: str, request_hash: str, command: str, result: dict[str, Any]):
        self.scope = scope
        self.key = key
        self.request_hash = request_hash
        self.command = command
        self.result = result
