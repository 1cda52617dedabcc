"""A relief campaign: who mobilises, for which incident, and its windows.

Decree 93/2021 limits how long a campaign may receive money and how long
after that it may distribute it; the limits are data (`policy/funding.toml`)
and a campaign records the rule version it was launched under. A window is
only ever moved by a later event (`Extended`), with its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from emergency.domain.base import AidAggregate
from emergency.domain.payload import EventMeta, EventPayload
from emergency.errors import Conflict

MOBILISER_TYPES = ("fatherland_front", "red_cross", "charity_fund", "enterprise", "individual")
COMMITTEE_LEVELS = ("central", "province", "commune")


class CampaignLaunched(EventPayload):
    kind = "Campaign.Launched"
    title: str
    mobiliser_type: str
    mobiliser_name: str
    level: str
    province_code: str | None
    commune_code: str | None
    incident_id: UUID | None
    launched_at: datetime
    receiving_until: datetime
    distribution_until: datetime
    distribution_commitment: str | None  # what donors were promised, to distribute longer than the rules allow
    rule_version: str


class CampaignExtended(EventPayload):
    kind = "Campaign.Extended"
    receiving_until: datetime
    distribution_until: datetime
    reason: str
    decided_by: str


class Campaign(AidAggregate):
    @event("Launched")
    def __init__(self, id: UUID, title: str, mobiliser_type: str, mobiliser_name: str, level: str,
                 province_code: str | None, commune_code: str | None, incident_id: UUID | None,
                 launched_at: datetime, receiving_until: datetime, distribution_until: datetime,
                 distribution_commitment: str | None, rule_version: str, meta: EventMeta):
        self.title = title
        self.mobiliser_type = mobiliser_type
        self.mobiliser_name = mobiliser_name
        self.level = level
        self.province_code = province_code
        self.commune_code = commune_code
        self.incident_id = incident_id
        self.launched_at = launched_at
        self.receiving_until = receiving_until
        self.distribution_until = distribution_until
        self.distribution_commitment = distribution_commitment
        self.rule_version = rule_version

    def check_receiving(self, at: datetime, field: str = "received_at") -> None:
        if not self.launched_at <= at <= self.receiving_until:
            raise Conflict(f"{at.isoformat()} is outside the receiving window of campaign {self.id} "
                           f"({self.launched_at.isoformat()} to {self.receiving_until.isoformat()})",
                           field=field, code="outside_campaign_window")

    def extend(self, receiving_until: datetime | None, distribution_until: datetime | None, reason: str,
               decided_by: str, meta: EventMeta) -> None:
        receiving = receiving_until or self.receiving_until
        # Receiving longer, without a word on distribution: it keeps its time after receiving.
        distribution = distribution_until or self.distribution_until + (receiving - self.receiving_until)
        if receiving < self.receiving_until or distribution < self.distribution_until:
            raise Conflict("an extension cannot shorten a window", field="receiving_until"
                           if receiving < self.receiving_until else "distribution_until", code="not_an_extension")
        if distribution < receiving:
            raise Conflict("distribution cannot end before receiving ends", field="distribution_until",
                           code="distribution_before_receiving")
        self._extended(receiving, distribution, reason, decided_by, meta)

    @event("Extended")
    def _extended(self, receiving_until: datetime, distribution_until: datetime, reason: str, decided_by: str,
                  meta: EventMeta) -> None:
        self.receiving_until = receiving_until
        self.distribution_until = distribution_until

    def summary(self) -> dict[str, Any]:
        return {
            "campaign_id": self.id, "title": self.title, "mobiliser_type": self.mobiliser_type,
            "mobiliser_name": self.mobiliser_name, "level": self.level, "province_code": self.province_code,
            "commune_code": self.commune_code, "incident_id": self.incident_id, "launched_at": self.launched_at,
            "receiving_until": self.receiving_until, "distribution_until": self.distribution_until,
            "distribution_commitment": self.distribution_commitment, "rule_version": self.rule_version,
            "version": self.version,
        }
