"""The two forms of an event's stored state, and the transcoder that writes one and reads both.

- `tagged` (every store made before the format was recorded, and the golden
  logs): eventsourcing's JSONTranscoder, each UUID, time and decimal an
  object `{"_type_": "uuid_hex", "_data_": …}` that its transcoding turns
  back into the Python value.
- `plain` (new stores made with EMERGENCY_EVENT_FORMAT=plain): the same JSON text with every
  value in its JSON form, as `Envelope.data` shows it (a UUID as its dashed
  text, a time as its ISO 8601 text, a decimal as its digits), written by
  orjson. Projections read it as it is; the mapper types it back with the
  event's payload model (`emergency.domain.payload`), and the timestamp,
  outside the payload, here. Snapshots have no payload model, so they stay
  tagged in every store (`AidApplication.construct_snapshot_store`).

The forms tell themselves apart by their first bytes: a plain state always
starts with its timestamp as text (`{"timestamp":"`), which the tagged form
never stores as text. So whoever holds only a stored event (a projection, the
relay, an export) decodes it without asking its store; the store's recorded
format (`infra.audit_recorders`) decides only how its new events are written.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoder

TAGGED: Final = "tagged"
PLAIN: Final = "plain"
FORMATS = (TAGGED, PLAIN)
Format = Literal["tagged", "plain"]
DEFAULT_FORMAT: Final[Format] = PLAIN

_PLAIN_START = b'{"timestamp":"'
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME  # times through `_json_form`: Python's own ISO text


def is_plain(state: bytes) -> bool:
    return state.startswith(_PLAIN_START)


def _json_form(value: Any) -> str:
    """What orjson leaves to us: times as `isoformat()` gives them (the tagged
    form's text, so both forms give one envelope), decimals as their digits."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"an event cannot store a {type(value).__name__}")


def encode_plain(state: dict[str, Any]) -> bytes:
    """The plain form of an event's state (which the mapper has just copied), timestamp first."""
    if next(iter(state)) != "timestamp":
        state = {"timestamp": state["timestamp"], **state}
    return orjson.dumps(state, default=_json_form, option=_OPTIONS)


def decode_plain(state: bytes) -> dict[str, Any]:
    """A plain state as JSON values: what projections read."""
    decoded: dict[str, Any] = orjson.loads(state)
    return decoded


class EventTranscoder(Transcoder):
    """Writes events in one form, reads either."""

    def __init__(self, tagged: JSONTranscoder, writes: str):
        if writes not in FORMATS:
            raise ValueError(f"unknown event format {writes!r}: one of {', '.join(FORMATS)}")
        self.tagged = tagged
        self.writes = writes

    def encode(self, obj: Any) -> bytes:
        return encode_plain(obj) if self.writes == PLAIN else self.tagged.encode(obj)

    def decode(self, data: bytes) -> Any:
        if not is_plain(data):
            return self.tagged.decode(data)
        state = decode_plain(data)
        state["timestamp"] = datetime.fromisoformat(state["timestamp"])
        return state
