"""Commands: the validated inputs of every change, shared by the API, CLI and tests.

Each is a pydantic model that refuses unknown fields, floats for money or
counts, naive or future times. Rules that need recorded state (is the commune
in the incident, is the amount within what is owed) are checked by the service.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    model_validator,
)

from emergency import clock
from emergency.domain.household import DECISIONS, FLAGS, HOUSE_CLASSES, HOUSE_DAMAGE, LEVELS
from emergency.domain.incident import INCIDENT_TYPES
from emergency.domain.payload import EventMeta
from emergency.errors import FieldError
from emergency.policy import SUPPORT_TYPES

# Field devices' clocks drift: accept a few minutes ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


ISO_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _iso_text(value: Any) -> Any:
    """Times are ISO 8601 text: a number (epoch seconds?) is refused, even as a string."""
    if isinstance(value, datetime) or (isinstance(value, str) and ISO_TIME.match(value)):
        return value
    raise ValueError("a time is ISO 8601 text with an offset, e.g. 2024-09-12T17:00:00+07:00")


def _plausible(value: datetime) -> datetime:
    if value < clock.earliest():
        raise ValueError(f"is before {clock.earliest().isoformat()}, the earliest time a record may name")
    return value


def _not_future(value: datetime) -> datetime:
    if value > clock.now() + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return value


# Any time a command or query names: ISO 8601 with an offset, not before the earliest plausible one.
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_plausible)]
PastTime = Annotated[Moment, AfterValidator(_not_future)]
Count = Annotated[StrictInt, Field(ge=0, le=10_000)]
Vnd = Annotated[StrictInt, Field(gt=0, le=10**15, description="whole Vietnamese đồng")]
Quantity = Annotated[StrictInt, Field(gt=0, le=10**9)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
ProvinceCode = Annotated[str, Field(pattern=r"^\d{2}$")]
CommuneCode = Annotated[str, Field(pattern=r"^\d{5}$")]


def _citizen_id(value: SecretStr) -> SecretStr:
    if not re.fullmatch(r"[0-9]{12}", value.get_secret_value()):
        raise ValueError("a citizen id number (số định danh cá nhân) is 12 digits")
    return value


CitizenId = Annotated[SecretStr, AfterValidator(_citizen_id)]

IncidentType = Literal[INCIDENT_TYPES]  # type: ignore[valid-type]
Flag = Literal[FLAGS]  # type: ignore[valid-type]
HouseDamage = Literal[HOUSE_DAMAGE]  # type: ignore[valid-type]
HouseClass = Literal[HOUSE_CLASSES]  # type: ignore[valid-type]
SupportType = Literal[SUPPORT_TYPES]  # type: ignore[valid-type]
Decision = Literal[DECISIONS]  # type: ignore[valid-type]
Level = Literal[LEVELS]  # type: ignore[valid-type]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Command(Model):
    """A change request. `name` is the command's public name."""

    name: ClassVar[str]


class Area(Model):
    province_code: ProvinceCode
    commune_codes: list[CommuneCode] = Field(min_length=1, max_length=5000)


class OpenIncident(Command):
    name: ClassVar[str] = "open_incident"
    incident_id: UUID | None = None
    incident_type: IncidentType
    title: Text
    started_at: PastTime
    areas: list[Area] = Field(min_length=1, max_length=64)


class ExtendIncidentAreas(Command):
    name: ClassVar[str] = "extend_incident_areas"
    incident_id: UUID
    areas: list[Area] = Field(min_length=1, max_length=64)


class CloseIncident(Command):
    name: ClassVar[str] = "close_incident"
    incident_id: UUID
    closed_at: PastTime
    reason: Text


class RegisterHousehold(Command):
    name: ClassVar[str] = "register_household"
    household_id: UUID | None = None
    incident_id: UUID
    commune_code: CommuneCode
    head_name: Text
    members: Annotated[StrictInt, Field(ge=1, le=100)]
    flags: list[Flag] = Field(default_factory=list, max_length=len(FLAGS))
    # The head's citizen id number, when given: only its keyed hash is kept
    # (README, Duplicate households). A secret left out of dumps, so neither
    # an event, a log nor the idempotency record's request hash holds it.
    citizen_id: CitizenId | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_flags(self) -> RegisterHousehold:
        if len(set(self.flags)) != len(self.flags):
            raise FieldError("flags", "flags must not repeat")
        return self


class CorrectHousehold(Command):
    name: ClassVar[str] = "correct_household"
    household_id: UUID
    head_name: Text | None = None
    members: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    flags: list[Flag] | None = None
    reason: Text


class AssessDamage(Command):
    name: ClassVar[str] = "assess_damage"
    household_id: UUID
    assessment_id: UUID | None = None
    assessed_at: PastTime
    dead: Count = 0
    missing: Count = 0
    injured: Count = 0
    # of the injured, those seriously injured (người bị thương nặng): INJURED pays each of them
    seriously_injured: Count = 0
    house_damage: HouseDamage = "none"
    house_class: HouseClass | None = None
    persons_short_of_food: Count = 0
    food_months: Annotated[StrictInt, Field(ge=1, le=3)] = 1
    orphaned_children: Count = 0
    relocation_ordered: StrictBool = False
    livelihood_lost: StrictBool = False
    evacuated: StrictBool = False
    supersedes: UUID | None = None
    notes: Annotated[str, Field(max_length=2000)] = ""


class RecordDecision(Command):
    name: ClassVar[str] = "record_decision"
    household_id: UUID
    support_type: SupportType
    decision: Decision
    revision: Annotated[StrictInt, Field(ge=1, le=10**6)] | None = None
    amount_vnd: Annotated[StrictInt, Field(ge=0, le=10**15)] | None = None
    quantity: Annotated[StrictInt, Field(ge=0, le=10**9)] | None = None
    reason: Text | None = None
    decided_by: Text
    level: Level = "commune"
    decided_at: PastTime

    @model_validator(mode="after")
    def _reason_when_not_approving(self) -> RecordDecision:
        if self.decision != "approve" and not self.reason:
            raise FieldError("reason", f"a decision to {self.decision} needs a reason")
        if self.decision != "adjust" and (self.amount_vnd is not None or self.quantity is not None):
            raise FieldError("amount_vnd" if self.amount_vnd is not None else "quantity",
                             "only an adjustment carries amount_vnd or quantity")
        return self


class RecordDisbursement(Command):
    name: ClassVar[str] = "record_disbursement"
    household_id: UUID
    disbursement_id: UUID | None = None
    support_type: SupportType
    form: Literal["cash", "in_kind"]
    amount_vnd: Vnd | None = None
    quantity: Quantity | None = None
    unit: Annotated[str, Field(max_length=50)] | None = None
    # In kind from a fund (fund_id): the item drawn from the fund's stock.
    item: Annotated[str, Field(pattern=r"^[^|]{1,100}$")] | None = None
    valuation_vnd: Vnd | None = None
    channel: Literal["cash_in_hand", "bank_transfer", "postal", "in_kind_delivery"]
    funding_source: Literal["state_budget", "fatherland_front", "red_cross", "charity_fund", "enterprise",
                            "individual", "other"]
    fund_id: UUID | None = None
    delivered_at: PastTime
    delivered_by: Text
    # A coordinator's reason to pay one of an unresolved possible-duplicate
    # pair: recorded on the pair (left out of dumps, so the request hashes of
    # keys given before it existed stay as they were).
    duplicate_override: Text | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _form_matches(self) -> RecordDisbursement:
        if self.form == "cash" and (self.amount_vnd is None or self.quantity is not None):
            raise FieldError("amount_vnd" if self.amount_vnd is None else "quantity",
                             "a cash disbursement has amount_vnd and no quantity")
        if self.form == "in_kind" and self.quantity is None:
            raise FieldError("quantity", "an in-kind disbursement has a quantity")
        return self


class ConfirmReceipt(Command):
    name: ClassVar[str] = "confirm_receipt"
    household_id: UUID
    disbursement_id: UUID
    confirmed_at: PastTime
    confirmed_by: Text
    method: Literal["signature", "thumbprint", "bank_statement", "photo", "other"] = "signature"


class CorrectDisbursement(Command):
    name: ClassVar[str] = "correct_disbursement"
    household_id: UUID
    disbursement_id: UUID
    void: StrictBool = False
    amount_vnd: Vnd | None = None
    quantity: Quantity | None = None
    reason: Text

    @model_validator(mode="after")
    def _says_what_changes(self) -> CorrectDisbursement:
        if self.void == (self.amount_vnd is not None or self.quantity is not None):
            raise FieldError("amount_vnd" if self.void else "void",
                             "either void it, or restate amount_vnd or quantity")
        return self


class Meta(Model):
    """Who asked, through which request: stored on every event for auditors."""

    actor: str = "system"
    role: str | None = None
    request_id: str | None = None
    source: Literal["api", "cli", "import", "demo", "test", "bench"] = "api"

    def recorded(self) -> EventMeta:
        """As every event stores it."""
        return EventMeta(actor=self.actor, role=self.role, request_id=self.request_id, source=self.source)

