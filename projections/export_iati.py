"""A campaign's money as IATI-style XML, read from the funds projection.

Each committee fund of a campaign reports as one IATI activity; every
movement of the fund (`projections.funds`: one row per bucket drawn or
filled, grouped here per event) becomes a transaction with an IATI
transaction type code:

    1  incoming funds        a contribution received (cash, or goods at their valuation),
                             or an allocation received from another committee's fund
    2  outgoing commitment   an allocation decided to another committee's fund
    3  disbursement          that allocation transferred (the domain decides and
                             transfers in one act, so 2 and 3 share date and value)
    4  expenditure           a household's support paid from the fund; a voided or
                             reduced payment gives back its draw as a negative 4
    13 incoming pledge       none: pledges are not recorded yet

Values are whole VND (a foreign contribution at its recorded VND value, the
original currency and amount in its description); dates are Hà Nội dates.
Households appear by id only, donors by name unless they asked to stay
anonymous. Element names and codes follow IATI 2.03; identifiers are this
system's own (no registered organisation references).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator
from xml.sax.saxutils import escape, quoteattr

from emergency.clock import VIETNAM
from emergency.errors import InvalidInput, NotFound
from projections.rows import iso
from projections.store import ViewStore

PAGE = 1000
# funds_movement kind -> (IATI transaction type codes, sign)
TYPES = {"contribution": ((1,), 1), "allocation_in": ((1,), 1), "allocation_out": ((2, 3), 1),
         "charge": ((4,), 1), "return": ((4,), -1)}
CAMPAIGN_COLUMNS = ("campaign_id", "title", "mobiliser_name", "launched_at", "distribution_until")
FUND_COLUMNS = ("fund_id", "level", "province_code", "commune_code", "committee_name")
MOVEMENT_COLUMNS = ("version", "kind", "ref", "counterpart", "household_id", "support_type", "value_vnd", "at",
                    "donor_name", "anonymous", "channel", "currency", "original_amount", "item", "unit",
                    "goods_quantity", "bucket", "description", "received_at")
# One transaction per fund event and ref (contributions received together
# share an event): its movement rows summed over buckets, with the
# contribution's record when it is one; paged by (version, ref).
MOVEMENTS = """SELECT m.version, m.kind, m.ref, m.counterpart, m.household_id, m.support_type, SUM(m.value_vnd),
    MIN(m.at), c.donor_name, c.anonymous, c.channel, c.currency, c.original_amount, c.item, c.unit, c.quantity,
    c.bucket, c.description, c.received_at
    FROM funds_movement m LEFT JOIN funds_contribution c ON m.kind = 'contribution' AND c.contribution_id = m.ref
    WHERE m.fund_id = ? AND (m.version > ? OR (m.version = ? AND m.ref > ?))
    GROUP BY m.version, m.kind, m.ref, m.counterpart, m.household_id, m.support_type, c.donor_name, c.anonymous,
        c.channel, c.currency, c.original_amount, c.item, c.unit, c.quantity, c.bucket, c.description, c.received_at
    ORDER BY m.version, m.ref LIMIT ?"""


def _day(us: int) -> str:
    return datetime.fromisoformat(iso(us) or "").astimezone(VIETNAM).date().isoformat()


def _narrative(tag: str, text: str, attributes: str = "") -> str:
    return f"<{tag}{attributes}><narrative>{escape(text)}</narrative></{tag}>"


def activity_id(campaign_id: str, fund_id: str) -> str:
    return f"emergency-{campaign_id}-{fund_id}"


def iati_xml(store: ViewStore, campaign_id: str | None, generated_at: datetime) -> Iterator[str]:
    """The campaign as IATI activities (one per committee fund) with their
    transactions, line by line; an unknown campaign is refused before any line."""
    if campaign_id is None:
        raise InvalidInput("the IATI export is of one campaign: name it", field="campaign_id",
                           code="missing_campaign")
    with store.read() as cur:
        campaign = cur.execute(f"SELECT {', '.join(CAMPAIGN_COLUMNS)} FROM funds_campaign WHERE campaign_id = ?",
                               (campaign_id,)).fetchone()
        funds = cur.execute(f"SELECT {', '.join(FUND_COLUMNS)} FROM funds_fund WHERE campaign_id = ? "
                            "ORDER BY level, province_code, commune_code", (campaign_id,)).fetchall()
        committees = dict(cur.execute("SELECT fund_id, committee_name FROM funds_fund").fetchall())
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}", field="campaign_id")
    return _document(store, dict(zip(CAMPAIGN_COLUMNS, campaign)), [dict(zip(FUND_COLUMNS, f)) for f in funds],
                     committees, generated_at)


def _document(store: ViewStore, campaign: dict[str, Any], funds: list[dict[str, Any]], committees: dict[str, str],
              generated_at: datetime) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<iati-activities version="2.03" generated-datetime="{generated_at.isoformat()}">\n'
    for fund in funds:
        yield from _activity(store, campaign, fund, committees, generated_at)
    yield "</iati-activities>\n"


def _activity(store: ViewStore, campaign: dict[str, Any], fund: dict[str, Any], committees: dict[str, str],
              generated_at: datetime) -> Iterator[str]:
    campaign_id, fund_id, committee = campaign["campaign_id"], fund["fund_id"], fund["committee_name"]
    area = " ".join(filter(None, (fund["level"], fund["province_code"], fund["commune_code"])))
    mobiliser = campaign["mobiliser_name"]
    for line in (
            f'<iati-activity default-currency="VND" xml:lang="vi" last-updated-datetime="{generated_at.isoformat()}">',
            f"  <iati-identifier>{activity_id(campaign_id, fund_id)}</iati-identifier>",
            "  " + _narrative("reporting-org", committee, f" ref={quoteattr(fund_id)}"),
            "  " + _narrative("title", f"{campaign['title']} — {committee}"),
            "  " + _narrative("description", f"{mobiliser} relief campaign, {area} fund"),
            "  " + _narrative("participating-org", mobiliser, ' role="1"'),
            '  <activity-status code="2"/>',
            f'  <activity-date type="2" iso-date="{_day(campaign["launched_at"])}"/>',
            f'  <activity-date type="3" iso-date="{_day(campaign["distribution_until"])}"/>',
            '  <recipient-country code="VN" percentage="100"/>'):
        yield f"  {line}\n"
    here = _Party(campaign_id, fund_id, committee)
    version, ref = 0, ""
    while True:
        with store.read() as cur:
            rows = cur.execute(MOVEMENTS, (fund_id, version, version, ref, PAGE)).fetchall()
        for raw in rows:
            movement = dict(zip(MOVEMENT_COLUMNS, raw))
            other = _Party(campaign_id, movement["counterpart"], committees.get(movement["counterpart"] or ""))
            yield from _transactions(movement, here, other)
        if len(rows) < PAGE:
            break
        version, ref = rows[-1][0], rows[-1][2]
    yield "  </iati-activity>\n"


class _Party:
    """A fund (linked to its activity) or a named outsider (donor, household)."""

    def __init__(self, campaign_id: str, fund_id: str | None, name: str | None):
        self.campaign_id, self.fund_id, self.name = campaign_id, fund_id, name

    def element(self, role: str, outsider: str = "") -> str:
        if self.fund_id is None:
            return _narrative(f"{role}-org", outsider)
        linked = f" {role}-activity-id={quoteattr(activity_id(self.campaign_id, self.fund_id))}"
        return _narrative(f"{role}-org", self.name or self.fund_id, linked)


def _transactions(m: dict[str, Any], here: _Party, other: _Party) -> Iterator[str]:
    codes, sign = TYPES[m["kind"]]
    when = m["received_at"] if m["kind"] == "contribution" else m["at"]
    if m["kind"] == "contribution":
        parties = other.element("provider", "Anonymous" if m["anonymous"] else m["donor_name"]) + here.element("receiver")
    elif m["kind"] == "allocation_in":
        parties = other.element("provider") + here.element("receiver")
    elif m["kind"] == "allocation_out":
        parties = here.element("provider") + other.element("receiver")
    else:
        parties = here.element("provider") + other.element("receiver", f"household {m['household_id']}")
    day = _day(when)
    for code in codes:
        ref = f"{m['ref']}:{code}" if len(codes) > 1 else m["ref"]
        yield (f"    <transaction ref={quoteattr(ref)}><transaction-type code=\"{code}\"/>"
               f"<transaction-date iso-date=\"{day}\"/>"
               f"<value currency=\"VND\" value-date=\"{day}\">{sign * int(m['value_vnd'])}</value>"
               f"{_narrative('description', _description(m))}{parties}</transaction>\n")


def _description(m: dict[str, Any]) -> str:
    if m["kind"] == "contribution":
        what = (f"in kind: {m['goods_quantity']:,} {m['unit']} {m['item']}" if m["item"]
                else f"{m['original_amount']} {m['currency']}" if m["original_amount"] else "cash")
        earmark = "" if m["bucket"] == "none" else f", earmarked {m['bucket']}"
        # An anonymous donor's bank text often names the sender: it stays out, as in the public list.
        note = f": {m['description']}" if m["description"] and not m["anonymous"] else ""
        return f"contribution by {m['channel']} ({what}{earmark}){note}"
    if m["kind"] in ("allocation_in", "allocation_out"):
        return f"allocation {m['ref']}"
    given_back = "; given back" if m["kind"] == "return" else ""
    return f"{m['support_type'] or 'support'} to household {m['household_id']}, disbursement {m['ref']}{given_back}"
