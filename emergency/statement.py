"""Bank statements: the CSV format, reading it line by line, and importing it.

The format (the README shows an example):

- UTF-8 (a byte-order mark is allowed), comma-separated, double quotes around
  fields that hold commas, quotes or line breaks; a header row names the
  columns, in any order: `date,reference,amount,remitter,description`, and
  optionally `donor_type`, `anonymous`, `earmark`. Other columns are refused.
- `date`: ISO 8601 date *and time*, e.g. `2024-09-13T10:15:02+07:00`; without
  an offset the time is Asia/Ho_Chi_Minh. A date alone is refused: the
  campaign window is checked to the second.
- `reference`: the bank's transaction reference (unique on the account),
  1-64 printable ASCII characters, no spaces.
- `amount`: whole VND, digits only: no sign, separators or decimals.
- `remitter`: who sent it (not empty); `description`: the transfer's text.
- `donor_type`: one of `emergency.funding.commands.DONOR_TYPES` (default
  `unspecified`); `anonymous`: true/false/yes/no/1/0 (default false);
  `earmark`: empty, `province:PP`, `commune:PP:CCCCC`, `household:<uuid>` or
  `purpose:<code>` (codes in `emergency/policy/funding.toml`).

Reading streams the file (400,000 lines are never held at once). A line that
breaks the format, or that the rules refuse (outside the campaign window,
earmark that cannot be honoured, …), is reported with its line number and
skipped; a line already recorded (same account and reference) is reported as
such. Each line is one command: recorded whole or not at all.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Iterator, TextIO
from uuid import UUID

import structlog
from pydantic import ValidationError

from emergency.clock import VIETNAM
from emergency.commands import Meta
from emergency.errors import AidError, InvalidInput
from emergency.funding.commands import RecordContribution
from emergency.service import AidService, Submission

log = structlog.get_logger(__name__)

REQUIRED = ("date", "reference", "amount", "remitter", "description")
OPTIONAL = ("donor_type", "anonymous", "earmark")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIGITS = re.compile(r"^\d+$")
_BOOLEANS = {"": False, "false": False, "no": False, "0": False, "true": True, "yes": True, "1": True}
# Where a command field comes from in the file, to name the column in errors.
_COLUMN_OF = {"received_at": "date", "amount_vnd": "amount", "donor_name": "remitter"}


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None
    code: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.code}" + (f" ({self.field})" if self.field else "") + f": {self.message}"


@dataclass(frozen=True)
class StatementLine:
    line: int
    values: dict[str, str]


def _column(field_path: str | None) -> str | None:
    if field_path is None:
        return None
    head, _, rest = field_path.partition(".")
    return _COLUMN_OF.get(head, head) + (f".{rest}" if rest else "")


def read_statement(handle: TextIO) -> Iterator[StatementLine | LineError]:
    """The statement's data lines, or the error of each malformed one.

    Open the file with `newline=""` and `errors="surrogateescape"`, so a
    line that is not UTF-8 is reported rather than ending the import.
    """
    reader = csv.reader(handle, strict=True)
    header = _header(next(reader, None))
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield LineError(previous_end + 1, None, "malformed_csv", str(error))
            previous_end = reader.line_num
            continue
        line, previous_end = previous_end + 1, reader.line_num
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            yield LineError(line, None, "wrong_field_count", f"{len(row)} fields, the header has {len(header)}")
        elif not all(_is_text(value) for value in row):
            yield LineError(line, None, "not_utf8", "the line is not valid UTF-8")
        else:
            yield StatementLine(line, dict(zip(header, row)))


def _header(row: list[str] | None) -> list[str]:
    if not row:
        raise InvalidInput("the statement is empty: it needs a header row", field="header", code="missing_header")
    header = [name.strip().lower() for name in row]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        raise InvalidInput(f"the header must name {', '.join(REQUIRED)} (optionally {', '.join(OPTIONAL)}) once "
                           f"each; missing: {missing or 'none'}, unknown: {unknown or 'none'}", field="header",
                           code="bad_header")
    return header


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _received_at(text: str) -> datetime:
    if _DATE_ONLY.match(text):
        raise ValueError("a date without a time: give date and time, e.g. 2024-09-13T10:15:02+07:00")
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VIETNAM)


def _earmark(text: str) -> dict[str, str]:
    if not text:
        return {"kind": "none"}
    kind, _, rest = text.partition(":")
    parts = rest.split(":")
    shapes = {"province": ["province_code"], "commune": ["province_code", "commune_code"],
              "household": ["household_id"], "purpose": ["purpose"]}
    if kind not in shapes or len(parts) != len(shapes[kind]) or not all(parts):
        raise ValueError("an earmark is province:PP, commune:PP:CCCCC, household:<uuid> or purpose:<code>")
    return {"kind": kind, **dict(zip(shapes[kind], parts))}


class _Malformed(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


def _parse(values: dict[str, str], name: str, parse: Callable[[str], object]) -> object:
    try:
        return parse(values.get(name, "").strip())
    except ValueError as error:
        raise _Malformed(name, str(error)) from None


def _amount(text: str) -> int:
    if not _DIGITS.match(text):
        raise ValueError(f"{text!r} is not a whole number of VND (digits only)")
    return int(text)


def _boolean(text: str) -> bool:
    if text.lower() not in _BOOLEANS:
        raise ValueError(f"{text!r} is not true/false")
    return _BOOLEANS[text.lower()]


def _required(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def to_command(line: StatementLine, fund_id: UUID, account: str) -> RecordContribution | LineError:
    """The contribution a statement line records, or why it cannot."""
    values = line.values
    try:
        fields = dict(
            received_at=_parse(values, "date", _received_at), reference=_parse(values, "reference", _required),
            amount_vnd=_parse(values, "amount", _amount), donor_name=_parse(values, "remitter", _required),
            anonymous=_parse(values, "anonymous", _boolean), earmark=_parse(values, "earmark", _earmark))
    except _Malformed as error:
        return LineError(line.line, error.column, "malformed", str(error))
    try:
        return RecordContribution(
            fund_id=fund_id, channel="bank", account=account, donor_type=values.get("donor_type") or "unspecified",
            description=values["description"].strip(), **fields)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"]) or None
        return LineError(line.line, _column(path), "malformed", first["msg"])


@dataclass
class ImportReport:
    recorded: int = 0
    already_recorded: list[int] = field(default_factory=list)
    rejected: list[LineError] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.recorded + len(self.already_recorded) + len(self.rejected)


def import_statement(service: AidService, lines: Iterable[StatementLine | LineError], fund_id: UUID, account: str,
                     *, batch_size: int = 1000, meta: Meta = Meta(source="import"),
                     progress: Callable[[int], None] | None = None) -> ImportReport:
    """Record each line as a contribution to `fund_id`, `batch_size` lines per
    transaction. Re-importing a statement records nothing new."""
    report = ImportReport()
    batch: list[tuple[int, RecordContribution]] = []

    def flush() -> None:
        outcomes = service.execute_batch([Submission(command, meta) for _, command in batch])
        for (number, _), outcome in zip(batch, outcomes):
            if not isinstance(outcome, AidError):
                report.recorded += 1
            elif outcome.code == "already_recorded":
                report.already_recorded.append(number)
            else:
                report.rejected.append(LineError(number, _column(outcome.field), outcome.code, outcome.message))
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for item in lines:
        command = to_command(item, fund_id, account) if isinstance(item, StatementLine) else item
        if isinstance(command, LineError):
            report.rejected.append(command)
            if progress is not None:
                progress(1)
            continue
        batch.append((item.line, command))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    report.rejected.sort(key=lambda e: e.line)
    log.info("statement_imported", fund_id=str(fund_id), account=account, recorded=report.recorded,
             already_recorded=len(report.already_recorded), rejected=len(report.rejected))
    return report
