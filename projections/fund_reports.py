"""What the funds rows answer: money per fund, per donor type, per province,
and whether every đồng is accounted for (conservation).

Conservation: for every fund, and in total,

    received (contributions + allocations in)
        = allocated out + disbursed (charges − returns) + balance

The check does not trust one source to confirm itself: received, allocated
and disbursed come from the fund's movement rows, the balance from the fund
aggregate itself (rebuilt from the event store at the version the rows
reached); contributions are cross-checked against the contribution records,
each allocation's way out against its way in, each fund charge against
the household's own disbursement record, and the running sums the reports
read (`funds_flow`) against the movements. A bucket below zero is a violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from projections.funds import FUND_COLUMNS
from projections.rows import iso
from projections.store import Cursor

CASH = "cash"
# What the public is shown of a campaign.
CAMPAIGN_FIELDS = ("campaign_id", "title", "mobiliser_type", "mobiliser_name", "level", "province_code",
                   "incident_id", "launched_at", "receiving_until", "distribution_until")
# (fund, asset) -> [quantity, value VND]
Holdings = dict[tuple[str, str], list[int]]
# The fund aggregate's buckets at a version: bucket -> asset -> [quantity, value]
RecordedBalances = Callable[[str, int], dict[str, dict[str, list[int]]]]
MAX_LISTED = 50


def _campaign_filter(campaign_id: str | None, alias: str = "f") -> tuple[str, tuple[Any, ...]]:
    return (f" AND {alias}.campaign_id = ?", (campaign_id,)) if campaign_id else ("", ())


def _movement_flows(cur: Cursor, campaign_id: str | None) -> list[tuple[Any, ...]]:
    """(fund, asset, kind, counterpart, movements, quantity, value) summed from the movement rows (every one of
    them: for the check)."""
    where, params = _campaign_filter(campaign_id)
    return cur.execute(
        "SELECT m.fund_id, m.asset, m.kind, COALESCE(m.counterpart, ''), COUNT(*), SUM(m.quantity), "
        f"SUM(m.value_vnd) FROM funds_movement m JOIN funds_fund f ON f.fund_id = m.fund_id WHERE 1 = 1{where} "
        "GROUP BY m.fund_id, m.asset, m.kind, COALESCE(m.counterpart, '')", params).fetchall()


def _kept_flows(cur: Cursor, campaign_id: str | None) -> list[tuple[Any, ...]]:
    """The same, from the running sums the projection keeps with the movements (a few rows per fund)."""
    where, params = _campaign_filter(campaign_id)
    return cur.execute(
        "SELECT s.fund_id, s.asset, s.kind, s.counterpart, s.movements, s.quantity, s.value_vnd FROM funds_flow s "
        f"JOIN funds_fund f ON f.fund_id = s.fund_id WHERE 1 = 1{where}", params).fetchall()


def _by_kind(rows: list[tuple[Any, ...]]) -> dict[str, Holdings]:
    """kind -> (fund, asset) -> [quantity, value], whatever the counterpart."""
    found: dict[str, Holdings] = {}
    for fund_id, asset, kind, _, _, quantity, value in rows:
        held = found.setdefault(kind, {}).setdefault((fund_id, asset), [0, 0])
        held[0] += int(quantity)
        held[1] += int(value)
    return found


def _get(holdings: Holdings, key: tuple[str, str]) -> list[int]:
    return holdings.get(key, [0, 0])


def campaigns(cur: Cursor, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """The campaigns (`CAMPAIGN_FIELDS`), newest first, times in ISO form; or the one asked for, if known."""
    where, params = (" WHERE campaign_id = ?", (campaign_id,)) if campaign_id else ("", ())
    rows = cur.execute(f"SELECT {', '.join(CAMPAIGN_FIELDS)} FROM funds_campaign{where} "
                       "ORDER BY launched_at DESC, campaign_id", params).fetchall()
    found = []
    for row in rows:
        item = dict(zip(CAMPAIGN_FIELDS, row))
        for name in ("launched_at", "receiving_until", "distribution_until"):
            item[name] = iso(item[name])
        found.append(item)
    return found


def funds(cur: Cursor, campaign_id: str | None = None) -> list[dict[str, Any]]:
    where, params = _campaign_filter(campaign_id)
    rows = cur.execute(f"SELECT {', '.join('f.' + c for c in FUND_COLUMNS)} FROM funds_fund f WHERE 1 = 1{where} "
                       "ORDER BY f.campaign_id, f.level, f.province_code, f.commune_code", params).fetchall()
    order = {"central": 0, "province": 1, "commune": 2}
    return sorted((dict(zip(FUND_COLUMNS, r)) for r in rows),
                  key=lambda f: (f["campaign_id"], order[f["level"]], f["province_code"] or "", f["commune_code"] or ""))


# A fund's holdings by form: cash, and goods (every other asset).
_FORMS: tuple[tuple[str, Callable[[str], bool]], ...] = (("cash", lambda a: a == CASH), ("in_kind", lambda a: a != CASH))


def fund_report(cur: Cursor, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Per fund, in VND (goods at their valuation), cash and in kind apart:
    received (from donors, from other funds), allocated out, disbursed, balance."""
    sums = _by_kind(_kept_flows(cur, campaign_id))
    balances: Holdings = {}
    for fund_id, asset, quantity, value in cur.execute(
            "SELECT fund_id, asset, SUM(quantity), SUM(value_vnd) FROM funds_balance GROUP BY fund_id, asset"
    ).fetchall():
        balances[(fund_id, asset)] = [int(quantity), int(value)]
    assets: dict[str, set[str]] = {}
    for holdings in [*sums.values(), balances]:
        for fund_id, asset in holdings:
            assets.setdefault(fund_id, set()).add(asset)
    rows = []
    for fund in funds(cur, campaign_id):
        row = dict(fund)
        for form, wanted in _FORMS:
            keys = [(fund["fund_id"], a) for a in sorted(assets.get(fund["fund_id"], ())) if wanted(a)]

            def total(holdings: Holdings) -> int:
                return sum(_get(holdings, k)[1] for k in keys)
            row[form] = {
                "from_donors": total(sums.get("contribution", {})), "from_funds": total(sums.get("allocation_in", {})),
                "allocated_out": total(sums.get("allocation_out", {})),
                "disbursed": total(sums.get("charge", {})) - total(sums.get("return", {})),
                "balance": total(balances)}
        row["items"] = {k[1]: _get(balances, k)[0] for k in sorted(balances) if k[0] == fund["fund_id"] and k[1] != CASH}
        rows.append(row)
    return rows


def by_donor_type(cur: Cursor, campaign_id: str | None = None) -> list[dict[str, Any]]:
    where, params = _campaign_filter(campaign_id, "c")
    return [{"donor_type": t, "contributions": int(n), "cash_vnd": int(cash), "in_kind_vnd": int(goods)}
            for t, n, cash, goods in cur.execute(
                "SELECT c.donor_type, COUNT(*), SUM(CASE WHEN c.asset = 'cash' THEN c.value_vnd ELSE 0 END), "
                "SUM(CASE WHEN c.asset = 'cash' THEN 0 ELSE c.value_vnd END) FROM funds_contribution c "
                f"WHERE 1 = 1{where} GROUP BY c.donor_type ORDER BY c.donor_type", params).fetchall()]


def by_province(cur: Cursor, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Per province, the funds of its province and commune committees together:
    raised locally, received from central committees and from other provinces,
    sent to other provinces or back up, disbursed, balance (all in VND)."""
    where, params = _campaign_filter(campaign_id)
    rows: dict[str, dict[str, int]] = {}

    def add(province: str, name: str, value: Any) -> None:
        row = rows.setdefault(province, dict.fromkeys(
            ("raised_locally", "from_central", "from_other_provinces", "sent_out", "disbursed", "balance"), 0))
        row[name] += int(value or 0)
    for province, kind, other_level, other_province, value in cur.execute(
            "SELECT f.province_code, s.kind, o.level, o.province_code, SUM(s.value_vnd) FROM funds_flow s "
            "JOIN funds_fund f ON f.fund_id = s.fund_id LEFT JOIN funds_fund o ON o.fund_id = s.counterpart "
            f"WHERE f.province_code IS NOT NULL{where} GROUP BY f.province_code, s.kind, o.level, o.province_code",
            params).fetchall():
        inside = other_province == province
        if kind == "contribution":
            add(province, "raised_locally", value)
        elif kind == "allocation_in" and not inside:
            add(province, "from_central" if other_level == "central" else "from_other_provinces", value)
        elif kind == "allocation_out" and not inside:
            add(province, "sent_out", value)
        elif kind in ("charge", "return"):
            add(province, "disbursed", value if kind == "charge" else -value)
    for province, value in cur.execute(
            "SELECT f.province_code, SUM(b.value_vnd) FROM funds_balance b JOIN funds_fund f ON f.fund_id = b.fund_id "
            f"WHERE f.province_code IS NOT NULL{where} GROUP BY f.province_code", params).fetchall():
        add(province, "balance", value)
    return [{"province_code": p, **rows[p]} for p in sorted(rows)]


# ----- conservation ---------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    fund_id: str | None
    rule: str
    detail: str


@dataclass
class CheckResult:
    funds: int = 0
    # in VND, goods at their valuation
    received_from_donors: int = 0
    allocated: int = 0
    disbursed: int = 0
    balance: int = 0
    violations: list[Violation] = field(default_factory=list)
    # violations beyond MAX_LISTED are counted, not listed
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, fund_id: str | None, rule: str, detail: str) -> None:
        if len(self.violations) < MAX_LISTED:
            self.violations.append(Violation(fund_id, rule, detail))
        else:
            self.unlisted += 1


def check(cur: Cursor, recorded: RecordedBalances, campaign_id: str | None = None) -> CheckResult:
    """Conservation per fund and asset, and in total; see the module's doc."""
    result = CheckResult()
    moved = _movement_flows(cur, campaign_id)
    sums = _by_kind(moved)
    _check_funds(cur, recorded, campaign_id, sums, result)
    _check_contributions(cur, campaign_id, sums.get("contribution", {}), result)
    _check_allocations(cur, campaign_id, result)
    _check_disbursements(cur, campaign_id, result)
    _check_flows(moved, _kept_flows(cur, campaign_id), result)
    result.received_from_donors = sum(v for _, v in sums.get("contribution", {}).values())
    result.allocated = sum(v for _, v in sums.get("allocation_out", {}).values())
    result.disbursed = (sum(v for _, v in sums.get("charge", {}).values())
                        - sum(v for _, v in sums.get("return", {}).values()))
    if result.received_from_donors != result.disbursed + result.balance:
        result.add(None, "total", f"received from donors {result.received_from_donors:,} ≠ disbursed "
                                  f"{result.disbursed:,} + balance {result.balance:,}")
    return result


def _check_funds(cur: Cursor, recorded: RecordedBalances, campaign_id: str | None, sums: dict[str, Holdings],
                 result: CheckResult) -> None:
    where, params = _campaign_filter(campaign_id)
    viewed: dict[str, dict[tuple[str, str], list[int]]] = {}
    for fund_id, bucket, asset, quantity, value in cur.execute(
            "SELECT b.fund_id, b.bucket, b.asset, b.quantity, b.value_vnd FROM funds_balance b "
            f"JOIN funds_fund f ON f.fund_id = b.fund_id WHERE 1 = 1{where}", params).fetchall():
        viewed.setdefault(fund_id, {})[(bucket, asset)] = [int(quantity), int(value)]
    for fund in funds(cur, campaign_id):
        result.funds += 1
        fund_id = fund["fund_id"]
        aggregate = {(b, a): held for b, assets in recorded(fund_id, fund["version"]).items()
                     for a, held in assets.items() if held != [0, 0]}
        shown = {k: v for k, v in viewed.get(fund_id, {}).items() if v != [0, 0]}
        if aggregate != shown:
            result.add(fund_id, "balance_rows", f"the rows' buckets {shown} differ from the fund's {aggregate}")
        for (bucket, asset), (quantity, value) in aggregate.items():
            if quantity < 0 or value < 0:
                result.add(fund_id, "negative", f"bucket {bucket} {asset} holds {quantity:,} worth {value:,} VND")
        result.balance += sum(v for _, v in aggregate.values())
        assets = {a for _, a in aggregate} | {a for holdings in sums.values() for f, a in holdings if f == fund_id}
        for asset in sorted(assets):
            key = (fund_id, asset)
            flows = {k: _get(sums.get(k, {}), key) for k in ("contribution", "allocation_in", "allocation_out",
                                                             "charge", "return")}
            held = [sum(h[i] for (_, a), h in aggregate.items() if a == asset) for i in (0, 1)]
            for i, what in ((0, "quantity"), (1, "value")):
                received = flows["contribution"][i] + flows["allocation_in"][i]
                spent = flows["allocation_out"][i] + flows["charge"][i] - flows["return"][i]
                if received != spent + held[i]:
                    result.add(fund_id, "conservation", f"{asset} {what}: received {received:,} ≠ allocated out "
                                                        f"{flows['allocation_out'][i]:,} + disbursed "
                                                        f"{flows['charge'][i] - flows['return'][i]:,} + balance {held[i]:,}")


def _check_contributions(cur: Cursor, campaign_id: str | None, credited: Holdings, result: CheckResult) -> None:
    """The contributions recorded match what the funds say they received."""
    where, params = _campaign_filter(campaign_id, "c")
    recorded: Holdings = {}
    for fund_id, asset, quantity, value in cur.execute(
            "SELECT c.fund_id, c.asset, SUM(COALESCE(c.quantity, c.value_vnd)), SUM(c.value_vnd) "
            f"FROM funds_contribution c WHERE 1 = 1{where} GROUP BY c.fund_id, c.asset", params).fetchall():
        recorded[(fund_id, asset)] = [int(quantity), int(value)]
    for key in sorted(set(recorded) | set(credited)):
        if _get(recorded, key) != _get(credited, key):
            result.add(key[0], "contributions", f"{key[1]}: contributions recorded {_get(recorded, key)} ≠ "
                                                f"received by the fund {_get(credited, key)} (quantity, value)")


def _check_allocations(cur: Cursor, campaign_id: str | None, result: CheckResult) -> None:
    """Each allocation left one fund and reached the other, whole."""
    where, params = _campaign_filter(campaign_id)
    legs: dict[str, dict[str, tuple[int, int, str]]] = {}
    for ref, kind, fund_id, quantity, value in cur.execute(
            "SELECT m.ref, m.kind, m.fund_id, SUM(m.quantity), SUM(m.value_vnd) FROM funds_movement m "
            "JOIN funds_fund f ON f.fund_id = m.fund_id WHERE m.kind IN ('allocation_out', 'allocation_in')"
            f"{where} GROUP BY m.ref, m.kind, m.fund_id", params).fetchall():
        legs.setdefault(ref, {})[kind] = (int(quantity), int(value), fund_id)
    for ref, both in sorted(legs.items()):
        out, into = both.get("allocation_out"), both.get("allocation_in")
        if out is None or into is None or out[:2] != into[:2]:
            result.add((out or into or (0, 0, None))[2], "allocation", f"allocation {ref}: out {out} ≠ in {into}")


def _check_disbursements(cur: Cursor, campaign_id: str | None, result: CheckResult) -> None:
    """What each fund charged for a disbursement is what the household records as paid."""
    where, params = _campaign_filter(campaign_id)
    charged: dict[str, list[Any]] = {}
    for ref, fund_id, kind, quantity in cur.execute(
            "SELECT m.ref, m.fund_id, m.kind, SUM(m.quantity) FROM funds_movement m JOIN funds_fund f "
            f"ON f.fund_id = m.fund_id WHERE m.kind IN ('charge', 'return'){where} GROUP BY m.ref, m.fund_id, m.kind",
            params).fetchall():
        entry = charged.setdefault(ref, [fund_id, 0])
        entry[1] += int(quantity) if kind == "charge" else -int(quantity)
    paid: dict[str, list[Any]] = {}
    for ref, fund_id, form, amount, quantity, voided in cur.execute(
            "SELECT d.disbursement_id, d.fund_id, d.form, d.amount_vnd, d.quantity, d.voided FROM funds_disbursement d "
            f"JOIN funds_fund f ON f.fund_id = d.fund_id WHERE 1 = 1{where}", params).fetchall():
        paid[ref] = [fund_id, 0 if voided else int((amount if form == "cash" else quantity) or 0)]
    for ref in sorted(set(charged) | set(paid)):
        if charged.get(ref) != paid.get(ref):
            fund_id = (charged.get(ref) or paid.get(ref) or [None])[0]
            result.add(fund_id, "disbursement", f"disbursement {ref}: charged to fund {charged.get(ref)} ≠ paid to "
                                                f"the household {paid.get(ref)} (fund, net amount or quantity)")


def _check_flows(moved: list[tuple[Any, ...]], kept: list[tuple[Any, ...]], result: CheckResult) -> None:
    """The running sums the reports read are the movements' own sums."""
    def keyed(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[int]]:
        return {tuple(row[:4]): [int(v) for v in row[4:]] for row in rows}
    movements, sums = keyed(moved), keyed(kept)
    for key in sorted(set(movements) | set(sums)):
        if movements.get(key) != sums.get(key):
            fund_id, asset, kind, counterpart = key
            result.add(fund_id, "flows", f"{kind} {asset}{' with ' + counterpart if counterpart else ''}: the "
                                         f"movements count and sum to {movements.get(key)} but the reports' sums say "
                                         f"{sums.get(key)} (movements, quantity, value)")
