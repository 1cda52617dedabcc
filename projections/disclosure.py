"""The public disclosure (sao kê) of a campaign, as Decree 93 Art. 14 asks:
every contribution received and every disbursement made from its funds,
searchable, respecting donors who asked not to be named.

Search: digits find an amount (exact VND) or a reference; other text finds a
reference, or a name without regard to case or diacritics ("nguyen van an"
finds "Nguyễn Văn An"). An anonymous donor's name and transfer text are
never shown, and a name search never finds them; their reference and amount
do, so donors can still find their own transfer.

Paging is by keyset: a list is in the order of its rows' keys (time, id), and
a page starts just after a key, so a page deep in a day of 400,000 transfers
costs what the first one does. Each way a search can match (reference,
receipt number, amount, name) walks an index in key order from that key;
their first rows are merged.
"""

from __future__ import annotations

from typing import Any, Sequence

from emergency.names import fold
from projections.rows import iso
from projections.store import Cursor

ANONYMOUS = "(ẩn danh)"
# Digits beyond this are no amount (VND are at most 10^15): a reference or a name.
AMOUNT_DIGITS = 16
CONTRIBUTION_FIELDS = ("contribution_id", "received_at", "donor_name", "donor_type", "anonymous", "channel",
                       "reference", "receipt_number", "currency", "original_amount", "value_vnd", "item", "unit",
                       "quantity", "bucket", "description", "committee_name")
DISBURSEMENT_FIELDS = ("disbursement_id", "delivered_at", "head_name", "province_code", "commune_code",
                       "support_type", "form", "amount_vnd", "item", "unit", "quantity", "committee_name")
_CONTRIBUTIONS = (f"SELECT {', '.join('c.' + f for f in CONTRIBUTION_FIELDS[:-1])}, f.committee_name "
                  "FROM funds_contribution c JOIN funds_fund f ON f.fund_id = c.fund_id")
_DISBURSEMENTS = ("SELECT d.disbursement_id, d.delivered_at, h.head_name, h.province_code, h.commune_code, "
                  "d.support_type, d.form, d.amount_vnd, d.item, d.unit, d.quantity, f.committee_name "
                  "FROM funds_disbursement d JOIN funds_household h ON h.household_id = d.household_id "
                  "JOIN funds_fund f ON f.fund_id = d.fund_id")
# A row's place in its list: (time in epoch microseconds, id).
Key = tuple[int, str]
# One way of matching a search: a WHERE clause, its parameters, and whether it
# picks out a few rows (a reference) rather than a share of the list.
Match = tuple[str, list[Any], bool]


def _matches(query: str, name_column: str, amount_column: str, reference_columns: tuple[str, ...],
             hidden: str | None) -> list[Match]:
    text = query.strip()
    if not text:
        return [("1 = 1", [], False)]
    found: list[Match] = [(f"{c} = ?", [text], True) for c in reference_columns]
    if text.isascii() and text.isdigit():  # `str.isdigit()` alone takes `²`
        if len(text) <= AMOUNT_DIGITS:
            found.append((f"{amount_column} = ?", [int(text)], False))
    else:
        pattern = "%" + fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found.append((f"{name_column} LIKE ? ESCAPE '\\'" + (f" AND {hidden} = 0" if hidden else ""), [pattern],
                      False))
    return found


def _first(cur: Cursor, select: str, scope: tuple[str, list[Any]], matches: Sequence[Match], order: tuple[str, str],
           limit: int, after: Key | None) -> list[tuple[Any, ...]]:
    """The first `limit` rows after `after` in key order that meet `scope` and any of `matches`.

    The rows' first two columns are their id and time; `order` names those
    columns in the query. A match of a few rows is read whole, then sorted and
    cut here: asked for in key order or from a key, the planner would rather
    walk the key's index than look the reference up."""
    seek, seek_params = ("", []) if after is None else (f" AND ({order[0]}, {order[1]}) > (?, ?)", list(after))
    found: dict[str, tuple[Any, ...]] = {}
    for clause, params, few in matches:
        if few:
            rows = cur.execute(f"{select} WHERE {scope[0]} AND {clause}", [*scope[1], *params]).fetchall()
            rows = [row for row in rows if after is None or (row[1], row[0]) > after]
        else:
            rows = cur.execute(f"{select} WHERE {scope[0]} AND {clause}{seek} ORDER BY {order[0]}, {order[1]} "
                               "LIMIT ?", [*scope[1], *params, *seek_params, limit]).fetchall()
        found.update((row[0], row) for row in rows)
    return sorted(found.values(), key=lambda row: (row[1], row[0]))[:limit]


def contributions(cur: Cursor, campaign_id: str, query: str = "", limit: int = 100,
                  after: Key | None = None) -> list[dict[str, Any]]:
    """Contributions matching `query`, in the order received, from just after `after`; each row's `key` is its place."""
    matches = _matches(query, "c.donor_key", "c.value_vnd", ("c.reference", "c.receipt_number"), "c.anonymous")
    return _contribution_rows(_first(cur, _CONTRIBUTIONS, ("c.campaign_id = ?", [campaign_id]), matches,
                                     ("c.received_at", "c.contribution_id"), limit, after))


def transfers(cur: Cursor, campaign_id: str, reference: str, limit: int = 100) -> list[dict[str, Any]]:
    """The campaign's contributions with this bank reference or receipt number (a reference is unique on its
    account, so usually one)."""
    matches = [(f"c.{column} = ?", [reference], True) for column in ("reference", "receipt_number")]
    return _contribution_rows(_first(cur, _CONTRIBUTIONS, ("c.campaign_id = ?", [campaign_id]), matches,
                                     ("c.received_at", "c.contribution_id"), limit, None))


def _contribution_rows(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    found = []
    for row in rows:
        item = dict(zip(CONTRIBUTION_FIELDS, row), key=(row[1], row[0]))
        item["received_at"] = iso(item["received_at"])
        item["anonymous"] = bool(item["anonymous"])
        if item["anonymous"]:
            item.update(donor_name=ANONYMOUS, description="")
        found.append(item)
    return found


def disbursements(cur: Cursor, campaign_id: str, query: str = "", limit: int = 100,
                  after: Key | None = None) -> list[dict[str, Any]]:
    """Disbursements paid from the campaign's funds (voided ones left out), in the order delivered, from just
    after `after`; each row's `key` is its place."""
    matches = _matches(query, "h.head_key", "d.amount_vnd", ("d.disbursement_id",), None)
    rows = _first(cur, _DISBURSEMENTS, ("f.campaign_id = ? AND d.voided = 0", [campaign_id]), matches,
                  ("d.delivered_at", "d.disbursement_id"), limit, after)
    return [dict(zip(DISBURSEMENT_FIELDS, row), delivered_at=iso(row[1]), key=(row[1], row[0])) for row in rows]


def totals(cur: Cursor, campaign_id: str) -> dict[str, int]:
    """Received in cash and in kind (VND), and disbursed to households."""
    received = cur.execute(
        "SELECT SUM(s.movements), SUM(CASE WHEN s.asset = 'cash' THEN s.value_vnd ELSE 0 END), "
        "SUM(CASE WHEN s.asset = 'cash' THEN 0 ELSE s.value_vnd END) FROM funds_flow s "
        "JOIN funds_fund f ON f.fund_id = s.fund_id WHERE f.campaign_id = ? AND s.kind = 'contribution'",
        (campaign_id,)).fetchone()
    paid = cur.execute(
        "SELECT COUNT(*), COUNT(DISTINCT d.household_id), SUM(COALESCE(d.amount_vnd, 0)) FROM funds_disbursement d "
        "JOIN funds_fund f ON f.fund_id = d.fund_id WHERE f.campaign_id = ? AND d.voided = 0",
        (campaign_id,)).fetchone()
    assert received is not None and paid is not None  # sums without GROUP BY: always one row
    return {"contributions": int(received[0] or 0), "received_cash_vnd": int(received[1] or 0),
            "received_in_kind_vnd": int(received[2] or 0), "disbursements": int(paid[0]),
            "households": int(paid[1]), "disbursed_cash_vnd": int(paid[2] or 0)}
