"""A donor's own view: where did my transfer go?

"My contribution (by reference) went to fund X, then province Y, and funded
these disbursements." Money in a fund is pooled, so a transfer is followed by
**proportional attribution**:

- A contribution enters one bucket of one fund (its earmark and asset).
- Each later outflow from that bucket (an allocation to another fund, or a
  household disbursement) takes the same fraction of every đồng in the
  bucket: the contribution's part is  holding × outflow ÷ bucket balance
  just before the outflow, and its holding shrinks by that part. Money that
  arrives later dilutes the bucket, so it bears its share of later outflows
  only.
- An allocation's part is followed into the receiving fund's bucket the same
  way, from the moment it arrived (recursively: the stops one allocation
  further down are followed together, in a query or two for all of them).
- A voided or reduced disbursement gives each contributor back its share of
  the amount returned, to the bucket it came from.

Shares are computed in decimal arithmetic (40 significant digits) and shown
to the hundredth of a đồng: a single transfer's share of one household's
support is often well below one đồng. The parts of all contributions to one
disbursement add up to the disbursement, within that rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

from emergency.errors import InvalidInput, NotFound
from projections.rows import placeholders
from projections.store import Cursor

_MATH = Context(prec=40)
CENT = Decimal("0.01")
OUTFLOWS = ("allocation_out", "charge", "return")


@dataclass
class Funded:
    disbursement_id: str
    household_id: str
    support_type: str
    amount_vnd: Decimal


@dataclass
class Stop:
    """The part of a contribution that reached one fund's bucket, and what became of it."""

    fund_id: str
    committee_name: str
    level: str
    province_code: str | None
    commune_code: str | None
    bucket: str
    asset: str
    arrived_vnd: Decimal
    still_held_vnd: Decimal = Decimal(0)
    allocated: list[Stop] = field(default_factory=list)
    funded: list[Funded] = field(default_factory=list)

    def households(self) -> list[Funded]:
        """Every disbursement this part funded, here and downstream."""
        return self.funded + [f for stop in self.allocated for f in stop.households()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fund_id": self.fund_id, "committee_name": self.committee_name, "level": self.level,
            "province_code": self.province_code, "commune_code": self.commune_code, "bucket": self.bucket,
            "asset": self.asset, "arrived_vnd": str(self.arrived_vnd.quantize(CENT)),
            "still_held_vnd": str(self.still_held_vnd.quantize(CENT)),
            "allocated": [s.as_dict() for s in self.allocated],
            "funded": [{"disbursement_id": f.disbursement_id, "household_id": f.household_id,
                        "support_type": f.support_type, "amount_vnd": str(f.amount_vnd.quantize(CENT))}
                       for f in self.funded],
        }


def find_contributions(cur: Cursor, reference: str, account: str | None = None) -> list[str]:
    """Contribution ids by bank reference (or receipt number), optionally on one account."""
    query = ("SELECT contribution_id FROM funds_contribution WHERE (reference = ? OR receipt_number = ?)"
             + (" AND account = ?" if account else "") + " ORDER BY received_at")
    params = (reference, reference) + ((account,) if account else ())
    return [r[0] for r in cur.execute(query, params).fetchall()]


def trace(cur: Cursor, contribution_id: str) -> dict[str, Any]:
    """The contribution as recorded and the path of its money."""
    credit = cur.execute("SELECT fund_id, bucket, asset, version, value_vnd FROM funds_movement "
                         "WHERE ref = ? AND kind = 'contribution'", (contribution_id,)).fetchone()
    if credit is None:
        raise NotFound(f"no contribution {contribution_id} has reached a fund", field="reference")
    fund_id, bucket, asset, version, value = credit
    stop = _Follower(cur, bucket, asset).follow(fund_id, version, Decimal(value))
    households = stop.households()
    return {"contribution_id": contribution_id, "path": stop.as_dict(),
            "households": len({f.household_id for f in households}),
            "funded_vnd": str(sum((f.amount_vnd for f in households), Decimal(0)).quantize(CENT))}


class _Follower:
    """Follows a holding down through the funds, one allocation further at each step. Money keeps its bucket and
    asset on the way; the stops of a step are read together, so a transfer that reaches every commune of a
    campaign costs a few queries, not a few per commune."""

    def __init__(self, cur: Cursor, bucket: str, asset: str):
        self.cur = cur
        self.bucket = bucket
        self.asset = asset
        self.funds: dict[str, tuple[Any, ...]] = {}

    def follow(self, fund_id: str, after_version: int, holding: Decimal) -> Stop:
        """Follow `holding` (VND) from the moment (version) it entered the fund's bucket."""
        root = self._stop(fund_id, holding)
        step = [(root, after_version)]
        while step:
            step = self._next(step)
        return root

    def _stop(self, fund_id: str, holding: Decimal) -> Stop:
        if fund_id not in self.funds:
            # Money stays in its campaign: read all of its funds at once.
            self.funds.update((row[0], row[1:]) for row in self.cur.execute(
                "SELECT fund_id, committee_name, level, province_code, commune_code FROM funds_fund WHERE "
                "campaign_id = (SELECT campaign_id FROM funds_fund WHERE fund_id = ?)", (fund_id,)).fetchall())
        if fund_id not in self.funds:
            raise InvalidInput(f"fund {fund_id} is not in the funds rows", field="fund_id", code="unknown_fund")
        committee_name, level, province_code, commune_code = self.funds[fund_id]
        return Stop(fund_id, committee_name, level, province_code, commune_code, bucket=self.bucket, asset=self.asset,
                    arrived_vnd=holding)

    def _next(self, step: list[tuple[Stop, int]]) -> list[tuple[Stop, int]]:
        """Attribute each stop's outflows; the stops its allocations reached, with the versions they arrived at."""
        outflows = self._outflows(step)
        passed_on = [(stop, ref, counterpart, part) for stop, after in step
                     for ref, counterpart, part in self._attribute(stop, outflows.get(stop.fund_id, []), after)]
        arrived = self._arrivals(sorted({ref for _, ref, _, _ in passed_on}))
        found = []
        for stop, ref, counterpart, part in passed_on:
            if (ref, counterpart) in arrived:
                child = self._stop(counterpart, part)
                stop.allocated.append(child)
                found.append((child, arrived[(ref, counterpart)]))
        return found

    def _outflows(self, step: list[tuple[Stop, int]]) -> dict[str, list[tuple[Any, ...]]]:
        """fund -> its bucket's outflows after the earliest arrival of the step there, in version order."""
        after: dict[str, int] = {}
        for stop, version in step:
            after[stop.fund_id] = min(version, after.get(stop.fund_id, version))
        where = " OR ".join("(fund_id = ? AND version > ?)" for _ in after)
        rows = self.cur.execute(
            "SELECT fund_id, version, kind, ref, counterpart, household_id, support_type, value_vnd, balance_before "
            f"FROM funds_movement WHERE bucket = ? AND asset = ? AND kind IN ({placeholders(len(OUTFLOWS))}) "
            f"AND ({where}) ORDER BY fund_id, version",
            (self.bucket, self.asset, *OUTFLOWS, *(v for item in after.items() for v in item))).fetchall()
        found: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            found.setdefault(row[0], []).append(row[1:])
        return found

    def _arrivals(self, refs: list[str]) -> dict[tuple[str, str], int]:
        """(allocation, receiving fund) -> the version at which it arrived there."""
        if not refs:
            return {}
        rows = self.cur.execute(
            f"SELECT ref, fund_id, version FROM funds_movement WHERE ref IN ({placeholders(len(refs))}) "
            "AND kind = 'allocation_in' AND bucket = ? AND asset = ?", (*refs, self.bucket, self.asset)).fetchall()
        return {(ref, fund_id): version for ref, fund_id, version in rows}

    @staticmethod
    def _attribute(stop: Stop, rows: list[tuple[Any, ...]], after_version: int) -> list[tuple[str, str, Decimal]]:
        """Share the stop's holding out over its bucket's outflows after it arrived: what it funded is kept on
        the stop; its parts of allocations are returned, (allocation, receiving fund, part), in their order."""
        holding = stop.arrived_vnd
        mine: dict[str, Decimal] = {}  # disbursement -> this holding's part of it
        drawn: dict[str, int] = {}  # disbursement -> what it drew from this bucket, net
        households: dict[str, tuple[str, str]] = {}
        passed_on = []
        for version, kind, ref, counterpart, household_id, support_type, value, before in rows:
            if version <= after_version:
                continue
            if kind == "return":
                if drawn.get(ref):
                    back = _MATH.divide(_MATH.multiply(mine[ref], Decimal(value)), Decimal(drawn[ref]))
                    mine[ref] -= back
                    drawn[ref] -= value
                    holding += back
                continue
            if holding == 0 or not before:
                continue
            part = _MATH.divide(_MATH.multiply(holding, Decimal(value)), Decimal(before))
            holding -= part
            if kind == "charge":
                mine[ref] = mine.get(ref, Decimal(0)) + part
                drawn[ref] = drawn.get(ref, 0) + value
                households[ref] = (household_id, support_type)
            else:
                passed_on.append((ref, counterpart, part))
        stop.still_held_vnd = holding
        stop.funded = [Funded(ref, *households[ref], amount) for ref, amount in mine.items() if amount > 0]
        return passed_on
