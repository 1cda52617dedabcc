"""Aggregates and their events. Every state change is an event; nothing is edited."""

from emergency.domain.base import AidAggregate
from emergency.domain.campaign import Campaign
from emergency.domain.contribution import Contribution
from emergency.domain.duplicates import DuplicatePair, HouseholdIndex
from emergency.domain.fund import Fund, FundCharge
from emergency.domain.help_request import HelpRequest
from emergency.domain.household import HouseholdCase
from emergency.domain.idempotency import IdempotencyRecord
from emergency.domain.incident import Incident

__all__ = ["AidAggregate", "Campaign", "Contribution", "DuplicatePair", "Fund", "FundCharge", "HelpRequest",
           "HouseholdCase", "HouseholdIndex", "IdempotencyRecord", "Incident"]
