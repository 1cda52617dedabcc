"""One contribution received by a fund: who gave what, how, and for what.

Its id is derived from where it came from: a bank transfer from the account it
was paid into and the bank's transaction reference, a receipt from the fund
and the receipt number. So the same transfer or receipt can only ever be
recorded once: a second recording is found before saving, and two racing
writers collide on the store's unique (id, version).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.fund import Earmark
from emergency.domain.payload import EventMeta, EventPayload, Payload


class Donor(Payload):
    name: str
    type: str
    anonymous: bool


class Channel(Payload):
    """A bank transfer (account and the bank's reference) or a receipt (its number)."""

    channel: str
    account: str | None
    reference: str | None
    receipt_number: str | None


class InKind(Payload):
    """Goods given: how much of which item, in which unit."""

    item: str
    unit: str
    quantity: int


class ContributionRecorded(EventPayload):
    kind = "Contribution.Recorded"
    fund_id: UUID
    campaign_id: UUID
    donor: Donor
    channel: Channel
    received_at: datetime
    currency: str
    original_amount: Decimal | None  # in `currency`, when it is not VND
    value_vnd: int
    in_kind: InKind | None
    earmark: Earmark
    bucket: str  # the fund's bucket it went to (the earmark's key)
    asset: str
    description: str


class Contribution(AidAggregate):
    @staticmethod
    def bank_id(account: str, reference: str) -> UUID:
        """A bank's transaction reference is unique on the account it credits."""
        return uuid5(NAMESPACE_URL, f"emergency:contribution:bank:{account}:{reference}")

    @staticmethod
    def receipt_id(fund_id: UUID, receipt_number: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"emergency:contribution:receipt:{fund_id}:{receipt_number}")

    @event("Recorded")
    def __init__(self, id: UUID, fund_id: UUID, campaign_id: UUID, donor: Donor, channel: Channel,
                 received_at: datetime, currency: str, original_amount: Decimal | None, value_vnd: int,
                 in_kind: InKind | None, earmark: Earmark, bucket: str, asset: str, description: str,
                 meta: EventMeta):
        self.fund_id = fund_id
        self.campaign_id = campaign_id
        self.donor = donor
        self.channel = channel
        self.received_at = received_at
        self.currency = currency
        self.original_amount = original_amount
        self.value_vnd = value_vnd
        self.in_kind = in_kind
        self.earmark = earmark
        self.bucket = bucket
        self.asset = asset
        self.description = description
