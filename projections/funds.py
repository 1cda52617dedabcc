"""Follow the money: campaigns, funds, contributions and every movement of a fund.

The rows the fund reports, the conservation check, the donor trace and the
public disclosure list are read from (`projections.fund_reports`,
`projections.trace`, `projections.disclosure`). Each row depends only on its
own aggregate's events, in that aggregate's version order, so the rows come
out the same from the in-process runner, a replay, or a Kafka feed that
interleaves aggregates; an event at or below an aggregate's stored version
is skipped (duplicate deliveries change nothing).

Tables (prefix `funds_`):
- `funds_campaign`, `funds_fund`: what they are (a fund's row keeps the
  version of its last event folded: the check compares the fund aggregate
  at that same version).
- `funds_movement`: every movement of every fund, one row per bucket drawn
  or filled, in the fund's version order: kind `contribution`,
  `allocation_in`, `allocation_out`, `charge` (a household disbursement) or
  `return` (its voiding or reduction), with the bucket's value just before;
  the contributions of one batched fund event share its version, each its
  own row (so `ref` is part of the key).
- `funds_balance`: each fund's buckets now.
- `funds_flow`: per fund, asset, movement kind and counterpart (the other
  fund of an allocation, '' for other kinds), how many movements and their
  sums, kept with the movements: the public totals and the fund and province
  reports read a campaign's few rows instead of summing its every movement.
- `funds_contribution`: each contribution as recorded (donor, channel,
  amount, earmark), with the donor's name folded for search.
- `funds_household`, `funds_disbursement`: households, and their
  disbursements paid from a fund, as the households recorded them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

from emergency.domain.campaign import CampaignExtended, CampaignLaunched
from emergency.domain.contribution import ContributionRecorded
from emergency.domain.fund import (
    Draw,
    FundAllocatedIn,
    FundAllocatedOut,
    FundCharged,
    FundContributionReceived,
    FundContributionsReceived,
    FundOpened,
    FundReturned,
)
from emergency.domain.household import (
    HouseholdCaseDetailsCorrected,
    HouseholdCaseDisbursed,
    HouseholdCaseDisbursementCorrected,
    HouseholdCaseRegistered,
)
from emergency.envelope import Envelope
from emergency.names import fold
from projections.base import Projection
from projections.rows import insert, micros, newer, select_in, to_micros, upsert
from projections.store import Cursor

CAMPAIGN_COLUMNS = ("campaign_id", "title", "mobiliser_type", "mobiliser_name", "level", "province_code",
                    "commune_code", "incident_id", "launched_at", "receiving_until", "distribution_until", "version")
FUND_COLUMNS = ("fund_id", "campaign_id", "level", "province_code", "commune_code", "committee_name", "version")
MOVEMENT_COLUMNS = ("fund_id", "version", "bucket", "asset", "kind", "ref", "counterpart", "household_id",
                    "support_type", "quantity", "value_vnd", "balance_before", "at")
CONTRIBUTION_COLUMNS = ("contribution_id", "fund_id", "campaign_id", "received_at", "donor_name", "donor_key",
                        "donor_type", "anonymous", "channel", "account", "reference", "receipt_number", "currency",
                        "original_amount", "value_vnd", "item", "unit", "quantity", "bucket", "asset", "description")
HOUSEHOLD_COLUMNS = ("household_id", "incident_id", "province_code", "commune_code", "head_name", "head_key",
                     "version")
DISBURSEMENT_COLUMNS = ("disbursement_id", "household_id", "fund_id", "support_type", "form", "item", "unit",
                        "amount_vnd", "quantity", "delivered_at", "voided")
FLOW_COLUMNS = ("fund_id", "asset", "kind", "counterpart", "movements", "quantity", "value_vnd")
TABLES = ("funds_campaign", "funds_fund", "funds_movement", "funds_balance", "funds_flow", "funds_contribution",
          "funds_household", "funds_disbursement")
DDL = (
    """CREATE TABLE IF NOT EXISTS funds_campaign (campaign_id TEXT PRIMARY KEY, title TEXT NOT NULL,
        mobiliser_type TEXT NOT NULL, mobiliser_name TEXT NOT NULL, level TEXT NOT NULL, province_code TEXT,
        commune_code TEXT, incident_id TEXT, launched_at BIGINT NOT NULL, receiving_until BIGINT NOT NULL,
        distribution_until BIGINT NOT NULL, version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS funds_fund (fund_id TEXT PRIMARY KEY, campaign_id TEXT NOT NULL,
        level TEXT NOT NULL, province_code TEXT, commune_code TEXT, committee_name TEXT NOT NULL,
        version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS funds_movement (fund_id TEXT NOT NULL, version INTEGER NOT NULL,
        bucket TEXT NOT NULL, asset TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, counterpart TEXT,
        household_id TEXT, support_type TEXT, quantity BIGINT NOT NULL, value_vnd BIGINT NOT NULL,
        balance_before BIGINT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (fund_id, version, ref, bucket, asset))""",
    "CREATE INDEX IF NOT EXISTS funds_movement_ref ON funds_movement (ref)",
    "CREATE INDEX IF NOT EXISTS funds_movement_bucket ON funds_movement (fund_id, bucket, asset, kind, version)",
    """CREATE TABLE IF NOT EXISTS funds_balance (fund_id TEXT NOT NULL, bucket TEXT NOT NULL, asset TEXT NOT NULL,
        quantity BIGINT NOT NULL, value_vnd BIGINT NOT NULL, PRIMARY KEY (fund_id, bucket, asset))""",
    """CREATE TABLE IF NOT EXISTS funds_flow (fund_id TEXT NOT NULL, asset TEXT NOT NULL, kind TEXT NOT NULL,
        counterpart TEXT NOT NULL, movements BIGINT NOT NULL, quantity BIGINT NOT NULL, value_vnd BIGINT NOT NULL,
        PRIMARY KEY (fund_id, asset, kind, counterpart))""",
    """CREATE TABLE IF NOT EXISTS funds_contribution (contribution_id TEXT PRIMARY KEY, fund_id TEXT NOT NULL,
        campaign_id TEXT NOT NULL, received_at BIGINT NOT NULL, donor_name TEXT NOT NULL, donor_key TEXT NOT NULL,
        donor_type TEXT NOT NULL, anonymous INTEGER NOT NULL, channel TEXT NOT NULL, account TEXT,
        reference TEXT, receipt_number TEXT, currency TEXT NOT NULL, original_amount TEXT,
        value_vnd BIGINT NOT NULL, item TEXT, unit TEXT, quantity BIGINT, bucket TEXT NOT NULL,
        asset TEXT NOT NULL, description TEXT NOT NULL)""",
    # The public list pages by (time, id) and each way of searching it has an index: a reference or receipt
    # number is looked up; an amount is walked in that order; a name is matched walking the list in that order,
    # from the index alone (it holds the folded name).
    "CREATE INDEX IF NOT EXISTS funds_contribution_reference ON funds_contribution (reference, campaign_id)",
    "CREATE INDEX IF NOT EXISTS funds_contribution_receipt ON funds_contribution (receipt_number, campaign_id)",
    "CREATE INDEX IF NOT EXISTS funds_contribution_time ON funds_contribution (campaign_id, received_at, "
    "contribution_id, anonymous, donor_key)",
    "CREATE INDEX IF NOT EXISTS funds_contribution_amount ON funds_contribution (campaign_id, value_vnd, "
    "received_at, contribution_id)",
    "CREATE INDEX IF NOT EXISTS funds_contribution_fund ON funds_contribution (fund_id, received_at)",
    """CREATE TABLE IF NOT EXISTS funds_household (household_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL,
        province_code TEXT NOT NULL, commune_code TEXT NOT NULL, head_name TEXT NOT NULL, head_key TEXT NOT NULL,
        version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS funds_disbursement (disbursement_id TEXT PRIMARY KEY, household_id TEXT NOT NULL,
        fund_id TEXT NOT NULL, support_type TEXT NOT NULL, form TEXT NOT NULL, item TEXT, unit TEXT,
        amount_vnd BIGINT, quantity BIGINT, delivered_at BIGINT NOT NULL, voided INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS funds_disbursement_fund ON funds_disbursement (fund_id)",
    "CREATE INDEX IF NOT EXISTS funds_disbursement_household ON funds_disbursement (household_id)",
    "CREATE INDEX IF NOT EXISTS funds_disbursement_time ON funds_disbursement (delivered_at, disbursement_id)",
    "CREATE INDEX IF NOT EXISTS funds_disbursement_amount ON funds_disbursement (amount_vnd, delivered_at, "
    "disbursement_id)",
)


@dataclass
class _TouchedRows:
    """The rows one batch of events touches, read once, written once."""

    cur: Cursor
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    funds: dict[str, dict[str, Any]] = field(default_factory=dict)
    balances: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    flows: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)
    households: dict[str, dict[str, Any]] = field(default_factory=dict)
    disbursements: dict[str, dict[str, Any]] = field(default_factory=dict)
    movements: list[tuple[Any, ...]] = field(default_factory=list)
    contributions: list[tuple[Any, ...]] = field(default_factory=list)

    def load(self, events: Sequence[Envelope]) -> None:
        ids = {kind: sorted({e.aggregate_id for e in events if e.aggregate_type == kind})
               for kind in ("Campaign", "Fund", "HouseholdCase")}
        cur = self.cur
        for row in select_in(cur, "funds_campaign", CAMPAIGN_COLUMNS, "campaign_id", ids["Campaign"]):
            self.campaigns[row["campaign_id"]] = row
        for row in select_in(cur, "funds_fund", FUND_COLUMNS, "fund_id", ids["Fund"]):
            self.funds[row["fund_id"]] = row
        for row in select_in(cur, "funds_balance", ("fund_id", "bucket", "asset", "quantity", "value_vnd"), "fund_id",
                             ids["Fund"]):
            self.balances[(row["fund_id"], row["bucket"], row["asset"])] = [row["quantity"], row["value_vnd"]]
        for row in select_in(cur, "funds_flow", FLOW_COLUMNS, "fund_id", ids["Fund"]):
            self.flows[(row["fund_id"], row["asset"], row["kind"], row["counterpart"])] = [
                row[c] for c in FLOW_COLUMNS[4:]]
        for row in select_in(cur, "funds_household", HOUSEHOLD_COLUMNS, "household_id", ids["HouseholdCase"]):
            self.households[row["household_id"]] = row
        for row in select_in(cur, "funds_disbursement", DISBURSEMENT_COLUMNS, "household_id", ids["HouseholdCase"]):
            self.disbursements[row["disbursement_id"]] = row

    def save(self) -> None:
        cur = self.cur
        cur.insert_many(upsert("funds_campaign", CAMPAIGN_COLUMNS, ("campaign_id",)),
                        [tuple(c[k] for k in CAMPAIGN_COLUMNS) for _, c in sorted(self.campaigns.items())])
        cur.insert_many(upsert("funds_fund", FUND_COLUMNS, ("fund_id",)),
                        [tuple(f[k] for k in FUND_COLUMNS) for _, f in sorted(self.funds.items())])
        cur.insert_many(upsert("funds_balance", ("fund_id", "bucket", "asset", "quantity", "value_vnd"),
                               ("fund_id", "bucket", "asset")),
                        [(*key, *held) for key, held in sorted(self.balances.items())])
        cur.insert_many(upsert("funds_flow", FLOW_COLUMNS, FLOW_COLUMNS[:4]),
                        [(*key, *sums) for key, sums in sorted(self.flows.items())])
        cur.insert_many(upsert("funds_household", HOUSEHOLD_COLUMNS, ("household_id",)),
                        [tuple(h[k] for k in HOUSEHOLD_COLUMNS) for _, h in sorted(self.households.items())])
        cur.insert_many(upsert("funds_disbursement", DISBURSEMENT_COLUMNS, ("disbursement_id",)),
                        [tuple(d[k] for k in DISBURSEMENT_COLUMNS) for _, d in sorted(self.disbursements.items())])
        # The two tables that grow by a row per contribution: `executemany`
        # parses its statement once (psycopg re-parses a long multi-row
        # INSERT each time, which costs more than sending the rows).
        cur.executemany(insert("funds_movement", MOVEMENT_COLUMNS) + " ON CONFLICT DO NOTHING", self.movements)
        cur.executemany(insert("funds_contribution", CONTRIBUTION_COLUMNS) + " ON CONFLICT DO NOTHING",
                        self.contributions)


class FundsProjection(Projection):
    name = "funds"
    version = 3  # 2: funds_flow; 3: a movement's key names its ref (contributions received together)
    kinds = frozenset({
        "Campaign.Launched", "Campaign.Extended", "Fund.Opened", "Fund.ContributionReceived", "Fund.ContributionsReceived",
        "Fund.AllocatedOut",
        "Fund.AllocatedIn", "Fund.Charged", "Fund.Returned", "Contribution.Recorded", "HouseholdCase.Registered",
        "HouseholdCase.DetailsCorrected", "HouseholdCase.Disbursed", "HouseholdCase.DisbursementCorrected",
    })

    ddl = DDL
    tables = TABLES

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        batch = _TouchedRows(cur)
        batch.load(events)
        for e in events:
            _FOLDS[e.aggregate_type](batch, e)
        batch.save()


# ----- campaigns ----------------------------------------------------------------


def _fold_campaign(batch: _TouchedRows, e: Envelope) -> None:
    if e.type == "Launched":
        if e.aggregate_id not in batch.campaigns:
            launched = CampaignLaunched.decode(e)
            batch.campaigns[e.aggregate_id] = {
                "campaign_id": e.aggregate_id, **{k: getattr(launched, k) for k in CAMPAIGN_COLUMNS[1:7]},
                "incident_id": str(launched.incident_id) if launched.incident_id else None,
                "launched_at": to_micros(launched.launched_at), "receiving_until": to_micros(launched.receiving_until),
                "distribution_until": to_micros(launched.distribution_until), "version": e.version}
        return
    campaign = newer(batch.campaigns, e)
    if campaign is not None:
        extended = CampaignExtended.decode(e)
        campaign.update(receiving_until=to_micros(extended.receiving_until),
                        distribution_until=to_micros(extended.distribution_until))


# ----- funds --------------------------------------------------------------------


def _fold_fund(batch: _TouchedRows, e: Envelope) -> None:
    if e.type == "Opened":
        if e.aggregate_id not in batch.funds:
            opened = FundOpened.decode(e)
            batch.funds[e.aggregate_id] = {"fund_id": e.aggregate_id, "campaign_id": str(opened.campaign_id),
                                           **{k: getattr(opened, k) for k in FUND_COLUMNS[2:6]}, "version": e.version}
        return
    if newer(batch.funds, e) is None:
        return
    for moved in _MOVEMENTS[e.type](e):
        for draw in moved.draws:
            held = batch.balances.setdefault((e.aggregate_id, draw.bucket, draw.asset), [0, 0])
            batch.movements.append((e.aggregate_id, e.version, draw.bucket, draw.asset, moved.kind, moved.ref,
                                    moved.counterpart, moved.household_id, moved.support_type, draw.quantity,
                                    draw.value_vnd, held[1], moved.at))
            held[0] += moved.sign * draw.quantity
            held[1] += moved.sign * draw.value_vnd
            sums = batch.flows.setdefault((e.aggregate_id, draw.asset, moved.kind, moved.counterpart or ""),
                                          [0, 0, 0])
            for i, add in enumerate((1, draw.quantity, draw.value_vnd)):
                sums[i] += add


class Movement(NamedTuple):
    """What a fund event moved, and the row facts that go with it."""

    kind: str
    sign: int  # +1 into the fund, -1 out of it
    ref: str  # the contribution, allocation or disbursement
    counterpart: str | None  # the other fund of an allocation
    at: int  # occurred time, micros
    draws: list[Draw]
    household_id: str | None = None
    support_type: str | None = None


def _received(e: Envelope) -> list[Movement]:
    received = FundContributionReceived.decode(e)
    return [Movement("contribution", 1, str(received.contribution_id), None, micros(e.recorded_at), [received.draw])]


def _received_together(e: Envelope) -> list[Movement]:
    at = micros(e.recorded_at)
    return [Movement("contribution", 1, str(receipt.contribution_id), None, at, [receipt.draw])
            for receipt in FundContributionsReceived.decode(e).received]


def _allocated_out(e: Envelope) -> list[Movement]:
    sent = FundAllocatedOut.decode(e)
    return [Movement("allocation_out", -1, str(sent.allocation_id), str(sent.to_fund_id),
                     to_micros(sent.decision.allocated_at), [sent.draw])]


def _allocated_in(e: Envelope) -> list[Movement]:
    accepted = FundAllocatedIn.decode(e)
    return [Movement("allocation_in", 1, str(accepted.allocation_id), str(accepted.from_fund_id),
                     to_micros(accepted.decision.allocated_at), [accepted.draw])]


def _charged(e: Envelope) -> list[Movement]:
    charged = FundCharged.decode(e)
    return [Movement("charge", -1, str(charged.disbursement_id), None, to_micros(charged.delivered_at),
                     charged.draws, str(charged.household_id), charged.support_type)]


def _returned(e: Envelope) -> list[Movement]:
    returned = FundReturned.decode(e)
    return [Movement("return", 1, str(returned.disbursement_id), None, micros(e.recorded_at), returned.draws,
                     str(returned.household_id))]


# A fund event's movements, in their order.
_MOVEMENTS: dict[str, Callable[[Envelope], list[Movement]]] = {
    "ContributionReceived": _received, "ContributionsReceived": _received_together, "AllocatedOut": _allocated_out,
    "AllocatedIn": _allocated_in, "Charged": _charged, "Returned": _returned,
}


# ----- contributions ------------------------------------------------------------


def _fold_contribution(batch: _TouchedRows, e: Envelope) -> None:
    recorded = ContributionRecorded.decode(e)
    donor, channel, goods = recorded.donor, recorded.channel, recorded.in_kind
    original = recorded.original_amount
    batch.contributions.append((
        e.aggregate_id, str(recorded.fund_id), str(recorded.campaign_id), to_micros(recorded.received_at), donor.name,
        fold(donor.name), donor.type, int(donor.anonymous), channel.channel, channel.account, channel.reference,
        channel.receipt_number, recorded.currency, str(original) if original is not None else None,
        recorded.value_vnd, goods.item if goods else None, goods.unit if goods else None,
        goods.quantity if goods else None, recorded.bucket, recorded.asset, recorded.description))


# ----- households and their disbursements from funds ---------------------------


def _fold_household(batch: _TouchedRows, e: Envelope) -> None:
    if e.type == "Registered":
        if e.aggregate_id not in batch.households:
            registered = HouseholdCaseRegistered.decode(e)
            batch.households[e.aggregate_id] = {
                "household_id": e.aggregate_id, "incident_id": str(registered.incident_id),
                "province_code": registered.province_code, "commune_code": registered.commune_code,
                "head_name": registered.head_name, "head_key": fold(registered.head_name), "version": e.version}
        return
    household = newer(batch.households, e)
    if household is None:
        return
    if e.type == "DetailsCorrected":
        head_name = HouseholdCaseDetailsCorrected.decode(e).changes.head_name
        if head_name is not None:
            household.update(head_name=head_name, head_key=fold(head_name))
    elif e.type == "Disbursed":
        paid = HouseholdCaseDisbursed.decode(e).disbursement
        if paid.fund_id is not None:
            batch.disbursements[paid.disbursement_id] = {
                "disbursement_id": paid.disbursement_id, "household_id": e.aggregate_id, "fund_id": str(paid.fund_id),
                "support_type": paid.support_type, "form": paid.form, "item": paid.item, "unit": paid.unit,
                "amount_vnd": paid.amount_vnd, "quantity": paid.quantity, "delivered_at": to_micros(paid.delivered_at),
                "voided": 0}
    elif e.type == "DisbursementCorrected":
        _correct_fund_disbursement(batch, HouseholdCaseDisbursementCorrected.decode(e))


def _correct_fund_disbursement(batch: _TouchedRows, corrected: HouseholdCaseDisbursementCorrected) -> None:
    correction = corrected.correction
    paid = batch.disbursements.get(correction.disbursement_id)
    if paid is None:
        return  # not paid from a fund
    if correction.void:
        paid["voided"] = 1
    for name, value in (("amount_vnd", correction.amount_vnd), ("quantity", correction.quantity)):
        if value is not None:
            paid[name] = value


_FOLDS = {"Campaign": _fold_campaign, "Fund": _fold_fund, "Contribution": _fold_contribution,
          "HouseholdCase": _fold_household}
