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
  way, from the moment it arrived (recursively).
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
    stop = _follow(cur, fund_id, bucket, asset, version, Decimal(value))
    households = stop.households()
    return {"contribution_id": contribution_id, "path": stop.as_dict(),
            "households": len({f.household_id for f in households}),
            "funded_vnd": str(sum((f.amount_vnd for f in households), Decimal(0)).quantize(CENT))}


def _fund(cur: Cursor, fund_id: str) -> tuple[Any, ...]:
    row = cur.execute("SELECT committee_name, level, province_code, commune_code FROM funds_fund WHERE fund_id = ?",
                      (fund_id,)).fetchone()
    if row is None:
        raise InvalidInput(f"fund {fund_id} is not in the funds rows", field="fund_id", code="unknown_fund")
    return row


def _follow(cur: Cursor, fund_id: str, bucket: str, asset: str, after_version: int, holding: Decimal) -> Stop:
    """Follow `holding` (VND) from the moment it entered a fund's bucket."""
    stop = Stop(fund_id, *_fund(cur, fund_id), bucket=bucket, asset=asset, arrived_vnd=holding)
    rows = cur.execute(
        "SELECT version, kind, ref, counterpart, household_id, support_type, value_vnd, balance_before "
        f"FROM funds_movement WHERE fund_id = ? AND bucket = ? AND asset = ? AND kind IN ({', '.join('?' * 3)}) "
        "AND version > ? ORDER BY version", (fund_id, bucket, asset, *OUTFLOWS, after_version)).fetchall()
    mine: dict[str, Decimal] = {}  # disbursement -> this holding's part of it
    drawn: dict[str, int] = {}  # disbursement -> what it drew from this bucket, net
    households: dict[str, tuple[str, str]] = {}
    for version, kind, ref, counterpart, household_id, support_type, value, before in rows:
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
            arrival = cur.execute("SELECT version FROM funds_movement WHERE ref = ? AND kind = 'allocation_in' "
                                  "AND fund_id = ? AND bucket = ? AND asset = ?",
                                  (ref, counterpart, bucket, asset)).fetchone()
            if arrival is not None:
                stop.allocated.append(_follow(cur, counterpart, bucket, asset, arrival[0], part))
    stop.still_held_vnd = holding
    stop.funded = [Funded(ref, *households[ref], amount) for ref, amount in mine.items() if amount > 0]
    return stop
