"""Commands of the contributions side: campaigns, funds, contributions, allocations.

Same conventions as `emergency.commands` (unknown fields, floats for money,
naive or future times refused). Rules that need recorded state (the campaign
window, balances, earmarks) are checked by `emergency.funding.handlers`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field, StrictBool, model_validator

from emergency.commands import (
    Command,
    CommuneCode,
    Model,
    Moment,
    PastTime,
    ProvinceCode,
    Quantity,
    Text,
    Vnd,
)
from emergency.domain.campaign import COMMITTEE_LEVELS, MOBILISER_TYPES
from emergency.domain.fund import EARMARK_KINDS
from emergency.errors import FieldError

DONOR_TYPES = ("individual", "enterprise", "organisation", "overseas", "state_budget", "other", "unspecified")


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("give amounts as integers or decimal strings, not floats")
    return value


MobiliserType = Literal[MOBILISER_TYPES]  # type: ignore[valid-type]
CommitteeLevel = Literal[COMMITTEE_LEVELS]  # type: ignore[valid-type]
DonorType = Literal[DONOR_TYPES]  # type: ignore[valid-type]
EarmarkKind = Literal[EARMARK_KINDS]  # type: ignore[valid-type]
BankAccount = Annotated[str, Field(pattern=r"^[0-9A-Za-z.-]{4,34}$")]
Reference = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,64}$", description="the bank's transaction reference")]
ReceiptNumber = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,64}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
OriginalAmount = Annotated[Decimal, BeforeValidator(_no_float), Field(gt=0, max_digits=22, decimal_places=4)]
ItemName = Annotated[str, Field(pattern=r"^[^|]{1,100}$")]
UnitName = Annotated[str, Field(pattern=r"^[^|]{1,50}$")]
Purpose = Annotated[str, Field(pattern=r"^[a-z_]{1,50}$")]


def _check_committee_fields(level: str, province: str | None, commune: str | None) -> None:
    """central: no area; province: a province; commune: a province and a commune."""
    wrong_province = (province is not None) != (level != "central")
    if wrong_province or (commune is not None) != (level == "commune"):
        raise FieldError("province_code" if wrong_province else "commune_code", f"a {level} committee has " + {
            "central": "no province_code or commune_code", "province": "a province_code and no commune_code",
            "commune": "a province_code and a commune_code"}[level])


class LaunchCampaign(Command):
    name: ClassVar[str] = "launch_campaign"
    campaign_id: UUID | None = None
    title: Text
    mobiliser_type: MobiliserType
    mobiliser_name: Text
    level: CommitteeLevel = "central"
    province_code: ProvinceCode | None = None
    commune_code: CommuneCode | None = None
    incident_id: UUID | None = None
    launched_at: PastTime
    # Defaults: the longest the rules allow.
    receiving_until: Moment | None = None
    distribution_until: Moment | None = None
    # Needed to distribute longer than the rules allow: what donors were promised.
    distribution_commitment: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LaunchCampaign:
        _check_committee_fields(self.level, self.province_code, self.commune_code)
        if self.receiving_until is not None and self.receiving_until < self.launched_at:
            raise FieldError("receiving_until", "receiving_until is before launched_at")
        return self


class ExtendCampaign(Command):
    name: ClassVar[str] = "extend_campaign"
    campaign_id: UUID
    receiving_until: Moment | None = None
    distribution_until: Moment | None = None
    reason: Text
    decided_by: Text

    @model_validator(mode="after")
    def _says_what(self) -> ExtendCampaign:
        if self.receiving_until is None and self.distribution_until is None:
            raise FieldError("receiving_until", "give receiving_until, distribution_until or both")
        return self


class OpenFund(Command):
    name: ClassVar[str] = "open_fund"
    campaign_id: UUID
    level: CommitteeLevel
    province_code: ProvinceCode | None = None
    commune_code: CommuneCode | None = None
    committee_name: Text
    bank_accounts: list[BankAccount] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> OpenFund:
        _check_committee_fields(self.level, self.province_code, self.commune_code)
        if len(set(self.bank_accounts)) != len(self.bank_accounts):
            raise FieldError("bank_accounts", "bank_accounts must not repeat")
        return self


class Earmark(Model):
    """A designation: none, a province, a commune, a household or a purpose."""

    kind: EarmarkKind = "none"
    province_code: ProvinceCode | None = None
    commune_code: CommuneCode | None = None
    household_id: UUID | None = None
    purpose: Purpose | None = None

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Earmark:
        needed = {"none": set(), "province": {"province_code"}, "commune": {"province_code", "commune_code"},
                  "household": {"household_id"}, "purpose": {"purpose"}}[self.kind]
        given = {k for k in ("province_code", "commune_code", "household_id", "purpose") if getattr(self, k)}
        if given != needed:
            raise FieldError(min(given ^ needed), f"an earmark of kind {self.kind} has exactly: "
                                                  f"{', '.join(sorted(needed)) or 'nothing'}")
        return self


class InKindFields(Model):
    """How much of what: cash as amount_vnd, goods as item, unit and quantity."""

    form: Literal["cash", "in_kind"] = "cash"
    amount_vnd: Vnd | None = None
    item: ItemName | None = None
    unit: UnitName | None = None
    quantity: Quantity | None = None

    def _check_form(self) -> None:
        goods = {"item": self.item, "unit": self.unit, "quantity": self.quantity}
        cash = self.form == "cash"
        if (self.amount_vnd is None) == cash:
            raise FieldError("amount_vnd", "cash has amount_vnd and no item, unit or quantity" if cash
                             else "in kind has item, unit and quantity, and no amount_vnd")
        wrong = [name for name, value in goods.items() if (value is None) != cash]
        if wrong:
            raise FieldError(wrong[0], "cash has amount_vnd and no item, unit or quantity" if cash
                             else "in kind has item, unit and quantity, and no amount_vnd")


class RecordContribution(InKindFields, Command):
    name: ClassVar[str] = "record_contribution"
    fund_id: UUID
    donor_name: Text
    donor_type: DonorType
    anonymous: StrictBool = False
    channel: Literal["bank", "receipt"]
    account: BankAccount | None = None
    reference: Reference | None = None
    receipt_number: ReceiptNumber | None = None
    received_at: PastTime
    currency: Currency = "VND"
    original_amount: OriginalAmount | None = None
    valuation_vnd: Vnd | None = None
    earmark: Earmark = Earmark()
    description: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> RecordContribution:
        bank = self.channel == "bank"
        # Present on this channel, absent on the other.
        wrong = [name for name, value in (("account", self.account), ("reference", self.reference),
                                          ("receipt_number", self.receipt_number))
                 if (value is None) == (bank == (name != "receipt_number"))]
        if wrong:
            raise FieldError(wrong[0], "a bank contribution has account and reference, and no receipt_number"
                             if bank else "a receipt contribution has receipt_number, and no account or reference")
        self._check_form()
        if self.form == "in_kind":
            wrong = [name for name, bad in (("channel", bank), ("valuation_vnd", self.valuation_vnd is None),
                                            ("original_amount", self.original_amount is not None)) if bad]
            if wrong:
                raise FieldError(wrong[0], "goods come with a receipt and a valuation_vnd, and no original_amount")
        elif self.valuation_vnd is not None:
            raise FieldError("valuation_vnd", "valuation_vnd is for goods; cash has amount_vnd")
        elif self.currency == "VND" and self.original_amount not in (None, self.amount_vnd):
            raise FieldError("original_amount", "for VND, original_amount is amount_vnd")
        elif self.currency != "VND" and self.original_amount is None:
            raise FieldError("original_amount", f"a {self.currency} contribution needs its original_amount")
        return self

    @property
    def value_vnd(self) -> int:
        return self.amount_vnd if self.form == "cash" else self.valuation_vnd  # type: ignore[return-value]


class AllocateFunds(InKindFields, Command):
    """Move money (or goods) from one fund to another: central to province to commune."""

    name: ClassVar[str] = "allocate_funds"
    from_fund_id: UUID
    to_fund_id: UUID
    # Which money: the bucket it is drawn from (and keeps in the receiving fund).
    earmark: Earmark = Earmark()
    allocated_at: PastTime
    decided_by: Text
    note: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> AllocateFunds:
        if self.from_fund_id == self.to_fund_id:
            raise FieldError("to_fund_id", "a fund cannot allocate to itself")
        self._check_form()
        return self
