"""The public disclosure (sao kê) of a campaign, as Decree 93 Art. 14 asks:
every contribution received and every disbursement made from its funds,
searchable, respecting donors who asked not to be named.

Search: digits find an amount (exact VND) or a reference; other text finds a
reference, or a name without regard to case or diacritics ("nguyen van an"
finds "Nguyễn Văn An"). An anonymous donor's name and transfer text are
never shown, and a name search never finds them; their reference and amount
do, so donors can still find their own transfer.
"""

from __future__ import annotations

from typing import Any

from emergency.names import fold
from projections.cases import iso
from projections.store import Cursor

ANONYMOUS = "(ẩn danh)"
# Digits beyond this are no amount (VND are at most 10^15): a reference or a name.
AMOUNT_DIGITS = 16
CONTRIBUTION_FIELDS = ("contribution_id", "received_at", "donor_name", "donor_type", "anonymous", "channel",
                       "reference", "receipt_number", "currency", "original_amount", "value_vnd", "item", "unit",
                       "quantity", "bucket", "description", "committee_name")
DISBURSEMENT_FIELDS = ("disbursement_id", "delivered_at", "head_name", "province_code", "commune_code",
                       "support_type", "form", "amount_vnd", "item", "unit", "quantity", "committee_name")


def _search(query: str, name_column: str, amount_column: str, reference_columns: tuple[str, ...],
            hidden: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (after `AND`) for a search text, and its parameters."""
    text = query.strip()
    if not text:
        return "1 = 1", []
    clauses = [f"{c} = ?" for c in reference_columns]
    params: list[Any] = [text] * len(reference_columns)
    if text.isascii() and text.isdigit() and len(text) <= AMOUNT_DIGITS:
        clauses.append(f"{amount_column} = ?")
        params.append(int(text))
    else:
        name = f"{name_column} LIKE ?" + (f" AND {hidden} = 0" if hidden else "")
        clauses.append(f"({name})")
        params.append(f"%{fold(text)}%")
    return "(" + " OR ".join(clauses) + ")", params


def contributions(cur: Cursor, campaign_id: str, query: str = "", limit: int = 100,
                  offset: int = 0) -> list[dict[str, Any]]:
    where, params = _search(query, "c.donor_key", "c.value_vnd", ("c.reference", "c.receipt_number"), "c.anonymous")
    rows = cur.execute(
        f"SELECT {', '.join('c.' + f for f in CONTRIBUTION_FIELDS[:-1])}, f.committee_name FROM funds_contribution c "
        f"JOIN funds_fund f ON f.fund_id = c.fund_id WHERE c.campaign_id = ? AND {where} "
        "ORDER BY c.received_at, c.contribution_id LIMIT ? OFFSET ?", [campaign_id, *params, limit, offset]).fetchall()
    found = []
    for row in rows:
        item = dict(zip(CONTRIBUTION_FIELDS, row))
        item["received_at"] = iso(item["received_at"])
        item["anonymous"] = bool(item["anonymous"])
        if item["anonymous"]:
            item.update(donor_name=ANONYMOUS, description="")
        found.append(item)
    return found


def disbursements(cur: Cursor, campaign_id: str, query: str = "", limit: int = 100,
                  offset: int = 0) -> list[dict[str, Any]]:
    """Disbursements paid from the campaign's funds (voided ones left out)."""
    where, params = _search(query, "h.head_key", "d.amount_vnd", ("d.disbursement_id",), None)
    rows = cur.execute(
        "SELECT d.disbursement_id, d.delivered_at, h.head_name, h.province_code, h.commune_code, d.support_type, "
        "d.form, d.amount_vnd, d.item, d.unit, d.quantity, f.committee_name FROM funds_disbursement d "
        "JOIN funds_household h ON h.household_id = d.household_id JOIN funds_fund f ON f.fund_id = d.fund_id "
        f"WHERE f.campaign_id = ? AND d.voided = 0 AND {where} ORDER BY d.delivered_at, d.disbursement_id "
        "LIMIT ? OFFSET ?", [campaign_id, *params, limit, offset]).fetchall()
    return [dict(zip(DISBURSEMENT_FIELDS, row), delivered_at=iso(row[1])) for row in rows]


def totals(cur: Cursor, campaign_id: str) -> dict[str, int]:
    """Received in cash and in kind (VND), and disbursed to households."""
    received = cur.execute(
        "SELECT COUNT(*), SUM(CASE WHEN asset = 'cash' THEN value_vnd ELSE 0 END), "
        "SUM(CASE WHEN asset = 'cash' THEN 0 ELSE value_vnd END) FROM funds_contribution WHERE campaign_id = ?",
        (campaign_id,)).fetchone()
    paid = cur.execute(
        "SELECT COUNT(*), COUNT(DISTINCT d.household_id), SUM(COALESCE(d.amount_vnd, 0)) FROM funds_disbursement d "
        "JOIN funds_fund f ON f.fund_id = d.fund_id WHERE f.campaign_id = ? AND d.voided = 0",
        (campaign_id,)).fetchone()
    return {"contributions": int(received[0]), "received_cash_vnd": int(received[1] or 0),
            "received_in_kind_vnd": int(received[2] or 0), "disbursements": int(paid[0]),
            "households": int(paid[1]), "disbursed_cash_vnd": int(paid[2] or 0)}
