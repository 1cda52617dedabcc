"""A committee's fund in a campaign, and what each funded disbursement drew from it.

A **Fund** holds money and goods in buckets, one per earmark (none; a
province or commune; a household; a purpose) and asset (`cash`, or an in-kind
item as `item|unit`), each holding a quantity and a VND value (for cash both
are the amount). Contributions, allocations in and out, charges for household
disbursements and their returns move whole draws between buckets; no bucket
ever goes below zero, so "no spending beyond the balance" and "earmarked money
only to its designation" are checks on one aggregate's state.

A **FundCharge** remembers what one household disbursement drew, so a voided
or restated disbursement gives back exactly what it took.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventMeta, EventPayload, Payload, Sparse
from emergency.errors import Conflict

CASH = "cash"
EARMARK_KINDS = ("none", "province", "commune", "household", "purpose")


def asset_key(item: str | None, unit: str | None) -> str:
    return CASH if item is None else f"{item}|{unit}"


def amount_field(asset: str) -> str:
    """The command field a shortfall of this asset is reported on."""
    return "amount_vnd" if asset == CASH else "quantity"


def part_value(quantity: int, value: int, taken: int) -> int:
    """The value of `taken` of `quantity` units worth `value` together: in
    proportion, rounded down, the last unit carrying the remainder."""
    return value if taken >= quantity else value * taken // quantity


class Draw(Payload):
    """A quantity of one asset taken from (or put in) one bucket, and its value."""

    bucket: str
    asset: str
    quantity: int
    value_vnd: int


class Earmark(Sparse):
    """A donor's designation, stored with the fields its kind has. Its `key`
    names the bucket the money sits in."""

    kind: str = "none"
    province_code: str | None = None
    commune_code: str | None = None
    household_id: str | None = None
    purpose: str | None = None

    @property
    def key(self) -> str:
        if self.kind == "province":
            return f"province:{self.province_code}"
        if self.kind == "commune":
            return f"commune:{self.province_code}:{self.commune_code}"
        if self.kind == "household":
            return f"household:{self.province_code}:{self.commune_code}:{self.household_id}"
        if self.kind == "purpose":
            return f"purpose:{self.purpose}"
        return "none"

    @classmethod
    def from_key(cls, key: str) -> Earmark:
        kind, _, rest = key.partition(":")
        parts = rest.split(":")
        if kind == "province":
            return cls(kind=kind, province_code=parts[0])
        if kind == "commune":
            return cls(kind=kind, province_code=parts[0], commune_code=parts[1])
        if kind == "household":
            return cls(kind=kind, province_code=parts[0], commune_code=parts[1], household_id=parts[2])
        if kind == "purpose":
            return cls(kind=kind, purpose=rest)
        return cls()


class AllocationDecision(Payload):
    """Who passed money on to another fund, when, and why."""

    allocated_at: datetime
    decided_by: str
    note: str


class FundOpened(EventPayload):
    kind = "Fund.Opened"
    campaign_id: UUID
    level: str
    province_code: str | None
    commune_code: str | None
    committee_name: str
    bank_accounts: list[str]


class FundContributionReceived(EventPayload):
    kind = "Fund.ContributionReceived"
    contribution_id: UUID
    draw: Draw


class Receipt(Payload):
    """One contribution's money put in the fund."""

    contribution_id: UUID
    draw: Draw


class FundContributionsReceived(EventPayload):
    """Several contributions recorded together (a statement's batch of lines), in their order."""

    kind = "Fund.ContributionsReceived"
    received: list[Receipt]


class FundAllocatedOut(EventPayload):
    kind = "Fund.AllocatedOut"
    allocation_id: UUID
    to_fund_id: UUID
    draw: Draw
    decision: AllocationDecision


class FundAllocatedIn(EventPayload):
    kind = "Fund.AllocatedIn"
    allocation_id: UUID
    from_fund_id: UUID
    draw: Draw
    decision: AllocationDecision


class FundCharged(EventPayload):
    """A household disbursement paid from the fund (or the rest of a restated one)."""

    kind = "Fund.Charged"
    disbursement_id: UUID
    household_id: UUID
    support_type: str
    delivered_at: datetime
    draws: list[Draw]


class FundReturned(EventPayload):
    """What a voided or restated disbursement gave back."""

    kind = "Fund.Returned"
    disbursement_id: UUID
    household_id: UUID
    draws: list[Draw]
    reason: str


class FundChargeCharged(EventPayload):
    kind = "FundCharge.Charged"
    fund_id: UUID
    household_id: UUID
    disbursement_id: UUID
    support_type: str
    draws: list[Draw]


class FundChargeReturned(EventPayload):
    kind = "FundCharge.Returned"
    draws: list[Draw]
    reason: str


class FundChargeToppedUp(EventPayload):
    kind = "FundCharge.ToppedUp"
    draws: list[Draw]


class Fund(AidAggregate):
    @staticmethod
    def id_for(campaign_id: UUID, level: str, province_code: str | None, commune_code: str | None) -> UUID:
        """One fund per committee (level and area) and campaign."""
        return uuid5(NAMESPACE_URL, f"emergency:fund:{campaign_id}:{level}:{province_code or ''}:{commune_code or ''}")

    @event("Opened")
    def __init__(self, id: UUID, campaign_id: UUID, level: str, province_code: str | None,
                 commune_code: str | None, committee_name: str, bank_accounts: list[str], meta: EventMeta):
        self.campaign_id = campaign_id
        self.level = level
        self.province_code = province_code
        self.commune_code = commune_code
        self.committee_name = committee_name
        self.bank_accounts = list(bank_accounts)
        # bucket key -> asset -> [quantity, value VND]
        self.balances: dict[str, dict[str, list[int]]] = {}

    # ----- where money may go --------------------------------------------

    def reaches(self, earmark: Earmark) -> bool:
        """May money so designated be held here (on its way to the designation)?

        Central funds hold anything; a province fund, money for its province
        or a commune or household in it; a commune fund, money for its
        province, itself or its households. Purposes are not places.
        """
        if earmark.kind in ("none", "purpose") or self.level == "central":
            return True
        if earmark.province_code != self.province_code:
            return False
        return self.level == "province" or earmark.kind == "province" or earmark.commune_code == self.commune_code

    def holding(self, bucket: str, asset: str) -> tuple[int, int]:
        quantity, value = self.balances.get(bucket, {}).get(asset, (0, 0))
        return quantity, value

    def total(self, asset: str) -> int:
        return sum(assets.get(asset, (0, 0))[0] for assets in self.balances.values())

    def plan(self, buckets: list[str], asset: str, quantity: int) -> tuple[list[Draw], int]:
        """Draws covering up to `quantity` from `buckets` in order; and the shortfall."""
        draws = []
        missing = quantity
        for bucket in buckets:
            held, value = self.holding(bucket, asset)
            taken = min(held, missing)
            if taken > 0:
                draws.append(Draw(bucket=bucket, asset=asset, quantity=taken, value_vnd=part_value(held, value, taken)))
                missing -= taken
            if missing == 0:
                break
        return draws, missing

    def take(self, bucket: str, asset: str, quantity: int) -> Draw:
        """One draw of `quantity` from one bucket, refused beyond its balance."""
        draws, missing = self.plan([bucket], asset, quantity)
        if missing:
            held, _ = self.holding(bucket, asset)
            raise Conflict(f"fund {self.id} holds {held:,} of {_describe(bucket, asset)}, less than {quantity:,}",
                           field=amount_field(asset), code="insufficient_funds")
        return draws[0]

    # ----- movements ------------------------------------------------------

    def _move(self, draws: list[Draw], sign: int) -> None:
        for draw in draws:
            held = self.balances.setdefault(draw.bucket, {}).setdefault(draw.asset, [0, 0])
            held[0] += sign * draw.quantity
            held[1] += sign * draw.value_vnd

    @event("ContributionReceived")
    def receive(self, contribution_id: UUID, draw: Draw, meta: EventMeta) -> None:
        self._move([draw], +1)

    @event("ContributionsReceived")
    def receive_all(self, received: list[Receipt], meta: EventMeta) -> None:
        self._move([receipt.draw for receipt in received], +1)

    def receive_gathered(self, received: list[Receipt], meta: EventMeta) -> None:
        """Contributions gathered by one batch: one of them is the event a
        contribution has always recorded, several are one event together."""
        if len(received) == 1:
            self.receive(contribution_id=received[0].contribution_id, draw=received[0].draw, meta=meta)
        else:
            self.receive_all(received=received, meta=meta)

    @event("AllocatedOut")
    def send(self, allocation_id: UUID, to_fund_id: UUID, draw: Draw, decision: AllocationDecision,
             meta: EventMeta) -> None:
        self._move([draw], -1)

    @event("AllocatedIn")
    def accept(self, allocation_id: UUID, from_fund_id: UUID, draw: Draw, decision: AllocationDecision,
               meta: EventMeta) -> None:
        self._move([draw], +1)

    @event("Charged")
    def charge(self, disbursement_id: UUID, household_id: UUID, support_type: str, delivered_at: datetime,
               draws: list[Draw], meta: EventMeta) -> None:
        self._move(draws, -1)

    @event("Returned")
    def give_back(self, disbursement_id: UUID, household_id: UUID, draws: list[Draw], reason: str,
                  meta: EventMeta) -> None:
        self._move(draws, +1)

    def summary(self) -> dict[str, Any]:
        return {
            "fund_id": self.id, "campaign_id": self.campaign_id, "level": self.level,
            "province_code": self.province_code, "commune_code": self.commune_code,
            "committee_name": self.committee_name, "bank_accounts": self.bank_accounts,
            "balances": self.balances, "version": self.version,
        }


def _describe(bucket: str, asset: str) -> str:
    what = "cash (VND)" if asset == CASH else asset.replace("|", " in ")
    return what if bucket == "none" else f"{what} earmarked {bucket}"


class FundCharge(AidAggregate):
    @staticmethod
    def id_for(disbursement_id: UUID | str) -> UUID:
        return uuid5(NAMESPACE_URL, f"emergency:fund-charge:{disbursement_id}")

    @event("Charged")
    def __init__(self, id: UUID, fund_id: UUID, household_id: UUID, disbursement_id: UUID, support_type: str,
                 draws: list[Draw], meta: EventMeta):
        self.fund_id = fund_id
        self.household_id = household_id
        self.disbursement_id = disbursement_id
        self.support_type = support_type
        self.draws = list(draws)

    @property
    def quantity(self) -> int:
        return sum(d.quantity for d in self.draws)

    def plan_return(self, quantity: int) -> list[Draw]:
        """What giving back `quantity` returns: the last draws first, at the
        value they were taken at."""
        back = []
        for draw in reversed(self.draws):
            if quantity == 0:
                break
            taken = min(draw.quantity, quantity)
            if taken:
                back.append(draw.model_copy(update={"quantity": taken,
                                                    "value_vnd": part_value(draw.quantity, draw.value_vnd, taken)}))
                quantity -= taken
        return back

    def _changed(self, draws: list[Draw], sign: int) -> list[Draw]:
        """The charge's draws after `draws` were taken back (-1) or added (+1):
        one draw per bucket and asset, so a return names each bucket once."""
        found = {(d.bucket, d.asset): d for d in self.draws}
        for change in draws:
            held = found.get((change.bucket, change.asset))
            if held is None:
                assert sign > 0, "nothing was drawn from this bucket to give back"
                found[(change.bucket, change.asset)] = change
            else:
                found[(change.bucket, change.asset)] = held.model_copy(update={
                    "quantity": held.quantity + sign * change.quantity,
                    "value_vnd": held.value_vnd + sign * change.value_vnd})
        return [d for d in found.values() if d.quantity]

    @event("Returned")
    def returned(self, draws: list[Draw], reason: str, meta: EventMeta) -> None:
        self.draws = self._changed(draws, -1)

    @event("ToppedUp")
    def topped_up(self, draws: list[Draw], meta: EventMeta) -> None:
        self.draws = self._changed(draws, +1)
