"""Response bodies (and the batch request), as pydantic models: the OpenAPI
document is generated from these and from the commands in `emergency.commands`.

Request bodies of single writes are the commands themselves; nothing here
restates a command's fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from api.area_names import CommuneNamed
from emergency import commands
from emergency.envelope import Envelope
from emergency.errors import AidError
from emergency.service import Outcome

MAX_BATCH = 1000
# The largest log position or version a query may name (a signed 64-bit integer, as the stores keep them).
MAX_POSITION = 2**63 - 1
_moment = TypeAdapter(commands.Moment)
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
# Where a page of the overdue list ends: deadline (epoch µs), household, support type.
OVERDUE_CURSOR = r"^[0-9]{1,18}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Z_]{1,40}$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_row(cls, row: dict[str, Any], **more: Any) -> Self:
        """The model from a query's row, taking only its own fields (rows carry more)."""
        return cls.model_validate({**{k: v for k, v in row.items() if k in cls.model_fields}, **more})


class ErrorBody(Body):
    """Every refusal: a machine-readable code, the field it is about, and why."""

    error: str = Field(examples=["extra_forbidden", "out_of_scope", "idempotency_key_reused"])
    field: str | None = Field(None, description="dotted path into the body, or a header or parameter name")
    message: str

    @classmethod
    def of(cls, error: AidError) -> ErrorBody:
        return cls(error=error.code, field=error.field, message=error.message)


class WriteResult(Body):
    command: str
    result: dict[str, Any]
    replayed: bool = Field(description="true when an Idempotency-Key retry got the first result back")
    last_notification_id: int | None = Field(
        description="log position of the last event this write recorded (null on a replay)")

    @classmethod
    def of(cls, outcome: Outcome) -> WriteResult:
        return cls(command=outcome.command, result=outcome.result, replayed=outcome.replayed,
                   last_notification_id=outcome.last_notification_id)


class BatchAssessment(Body):
    idempotency_key: IdempotencyKey | None = Field(
        None, description="made on the device when the assessment was recorded; a resent item is not recorded twice")
    assessment: commands.AssessDamage


class AssessmentBatch(Body):
    items: list[BatchAssessment] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItemResult(Body):
    status: int = Field(description="what the item would have got alone: 201, 200 (replayed) or 4xx")
    outcome: WriteResult | None = None
    error: ErrorBody | None = None


class BatchResult(Body):
    results: list[BatchItemResult]
    recorded: int
    replayed: int
    refused: int


class HistoryQuery(Body):
    after: int = Field(0, ge=0, le=MAX_POSITION, description="a notification id: the page starts after it")
    limit: int = Field(100, ge=1, le=1000)


class AggregateHistoryQuery(Body):
    after_version: int = Field(0, ge=0, le=MAX_POSITION, description="the page starts after this version")
    limit: int = Field(100, ge=1, le=1000)


KnownAxis = Annotated[Literal["then", "now"], Field(description=(
    "'then': as known at that moment (what had been recorded by then); "
    "'now': as now known for that moment (every fact known now that occurred by then)"))]


class AsOfQuery(Body):
    """A past point to read at, on one of the two time axes (`projections.asof`)."""

    # ASCII digits only (`str.isdigit()` takes `²`), at most 18 of them (below 2^63), or an ISO time.
    as_of: str | None = Field(None, max_length=40, pattern=r"^([0-9]{1,18}|[0-9]{4}-[0-9]{2}-[0-9]{2}T.+)$",
                              description=("a past point: an ISO time with offset (2024-09-12T17:00:00+07:00) or a "
                                           "notification id (the moment by which it and everything before it was "
                                           "recorded); default: now"))
    known: KnownAxis = "then"


    @field_validator("as_of")
    @classmethod
    def _time_with_offset(cls, value: str | None) -> str | None:
        """A time must be one a record may name; it is passed on as given."""
        if value is not None and not value.isdigit():
            try:
                _moment.validate_python(value)
            except ValidationError as error:
                raise ValueError(error.errors(include_url=False)[0]["msg"]) from None
        return value


class OverdueQuery(AsOfQuery):
    province: commands.ProvinceCode | None = None
    commune: commands.CommuneCode | None = None
    support_type: commands.SupportType | None = None
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=100_000, description="rows to skip (after `after`, if given)")
    after: str | None = Field(None, pattern=OVERDUE_CURSOR, description=(
        "the `next_after` of the page before: the next page starts after it (cheaper than a deep offset)"))


class EventView(Body):
    notification_id: int | None = Field(description="log position; null in one aggregate's history")
    aggregate_id: str
    aggregate_type: str
    version: int
    type: str
    recorded_at: datetime
    data: dict[str, Any]
    meta: dict[str, Any] = Field(description="actor, role, request_id and source of the request that recorded it")

    @classmethod
    def of(cls, envelope: Envelope) -> EventView:
        return cls(**envelope.to_dict())


class EventPage(Body):
    events: list[EventView]
    next_after: int = Field(description="pass as `after` for the next page (a notification id)")


class AggregateEventPage(Body):
    aggregate_id: str
    events: list[EventView]
    next_after_version: int = Field(description="pass as `after_version` for the next page")


class HouseholdView(CommuneNamed, Body):
    household_id: str
    incident_id: str
    province_code: str
    commune_code: str
    head_name: str
    members: int
    flags: list[str]
    current_assessment: dict[str, Any] | None
    assessments: int
    entitlements: list[dict[str, Any]]
    disbursements: list[dict[str, Any]]
    version: int


class IncidentView(Body):
    incident_id: str
    incident_type: str
    title: str
    started_at: datetime
    areas: dict[str, list[str]] = Field(description="province code -> commune codes")
    closed_at: datetime | None
    close_reason: str | None
    version: int


class ProjectionRow(BaseModel):
    """A row read from a projection: fields the API does not publish yet are left out."""

    model_config = ConfigDict(extra="ignore")


class OverdueCase(CommuneNamed, ProjectionRow):
    household_id: str
    head_name: str
    incident_id: str
    province_code: str
    commune_code: str
    support_type: str
    members: int
    need_at: datetime = Field(description="when the need was first assessed: the deadline runs from here")
    due_at: datetime
    overdue_hours: float
    amount_vnd: int | None = Field(description="owed in all (null: in kind, or still to be decided)")
    quantity: int | None
    unit: str | None
    delivered_vnd: int
    delivered_quantity: int
    owed_vnd: int | None = Field(description="still to deliver")
    owed_quantity: int | None


class OverdueRequest(CommuneNamed, ProjectionRow):
    """A request for help past its deadline and not answered: a household not yet assessed."""

    request_id: str
    reference: str
    incident_id: str | None
    province_code: str
    commune_code: str
    village: str
    kind: str
    source: str
    household_id: str | None
    filed_at: datetime
    due_at: datetime
    gap: str = Field("not_yet_assessed", description="why it is in the gap")


class OverdueList(Body):
    incident_id: str
    as_of: datetime
    total: int = Field(description="overdue cases matching the filters, in all")
    offset: int
    cases: list[OverdueCase] = Field(description="oldest deadline first")
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")
    requests_total: int = Field(0, description="the incident's requests for help overdue within the areas "
                                               "filtered (none when a support type is), in all")
    requests: list[OverdueRequest] = Field(
        default_factory=list, description="the first of them, oldest deadline first, on the first page only "
                                          "(`limit` at most; a commune's go on at "
                                          "/communes/{commune_code}/requests/overdue)")


class CoverageView(ProjectionRow):
    """Timely coverage of one incident or area (see projections.coverage)."""

    incident_id: str
    province_code: str | None = None
    province_name: str | None = None
    commune_code: str | None = None
    commune_name: str | None = None
    support_type: str | None = None
    households_in_need: int
    persons_in_need: int
    households_overdue: int
    persons_overdue: int
    entitlements: int
    decided: int
    rejected: int
    disbursed: int
    disbursed_on_time: int
    late: int
    overdue: int
    within_deadline: int
    timely_pct: float | None
    gap_to_target_pct: float | None
    median_hours_to_delivery: float | None
    p90_hours_to_delivery: float | None
    entitled_vnd: int
    disbursed_vnd: int
    rice_entitled_kg: int
    rice_delivered_kg: int
    # Requests for help of the incident and area (the stage before entitlement;
    # README, "Requests for help"): none by support type.
    requests_on_time: int = Field(0, description="requests answered (assessed or rejected) by their deadline")
    requests_late: int = Field(0, description="requests answered after their deadline")
    requests_overdue: int = Field(0, description="requests past their deadline, not yet assessed")
    requests_pending: int = Field(0, description="requests not answered, deadline still ahead")


class PublicIncident(Body):
    """What anyone may see of an incident: no names, no single household."""

    incident_id: str
    incident_type: str
    title: str
    started_at: datetime
    closed_at: datetime | None
    provinces: list[str]
    communes: int
    as_of: datetime
    coverage: CoverageView | None = Field(description="the whole incident; null before any entitlement")
    by_province: list[CoverageView]


class ProjectionHealth(Body):
    position: int = Field(description="the notification id the views have reached")
    head: int | None = Field(description="the log's last notification id (null: the store did not answer)")
    lag: int | None = Field(description="events the views still have to fold in")
    current: bool = Field(description="false while the views catch up after a start: reads needing them answer "
                                      "503 catching_up")
    projector: bool = Field(description="whether this process writes the views (one per view store); the others "
                                        "read them")


class WriteStatus(Body):
    failing: bool = Field(description="the last commit failed and none has succeeded since")
    last_commit_at: datetime | None
    last_failure_at: datetime | None
    last_failure: str | None = Field(description="the error code and the store's message")


class Health(Body):
    status: Literal["ok", "catching_up", "failing", "unavailable"] = Field(description=(
        "ok (200); catching_up: the views are not current yet; failing: writes fail; unavailable: the store does "
        "not answer (503 for all three)"))
    store: Literal["sqlite", "postgresql"]
    last_notification_id: int | None = None
    message: str | None = None
    projections: ProjectionHealth
    writes: WriteStatus
