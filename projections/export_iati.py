"""A campaign's money as IATI transactions, and its IATI-style XML export.

Each committee fund of a campaign reports as one IATI activity; its money
movements become transactions with IATI transaction type codes:

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

Tables (prefix `iati_`): campaigns, funds, and transactions keyed by the
event that produced them, so a duplicate delivery changes nothing. Each row
depends only on its own aggregate's earlier events (names of other funds are
looked up when exporting), so a Kafka feed that interleaves aggregates
writes the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

from emergency.clock import VIETNAM
from emergency.envelope import Envelope
from emergency.errors import InvalidInput, NotFound
from projections.base import Projection
from projections.cases import iso, micros
from projections.store import Cursor, ViewStore

INCOMING, COMMITMENT, DISBURSEMENT, EXPENDITURE = 1, 2, 3, 4
CAMPAIGN_COLUMNS = ("campaign_id", "title", "mobiliser_type", "mobiliser_name", "launched_at", "distribution_until")
FUND_COLUMNS = ("fund_id", "campaign_id", "level", "province_code", "commune_code", "committee_name")
TRANSACTION_COLUMNS = ("ref", "campaign_id", "fund_id", "type", "date", "value_vnd", "provider", "provider_fund_id",
                       "receiver", "receiver_fund_id", "description")
DDL = (
    """CREATE TABLE IF NOT EXISTS iati_campaigns (campaign_id TEXT PRIMARY KEY, title TEXT NOT NULL,
        mobiliser_type TEXT NOT NULL, mobiliser_name TEXT NOT NULL, launched_at BIGINT NOT NULL,
        distribution_until BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS iati_funds (fund_id TEXT PRIMARY KEY, campaign_id TEXT NOT NULL,
        level TEXT NOT NULL, province_code TEXT, commune_code TEXT, committee_name TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS iati_transactions (ref TEXT PRIMARY KEY, campaign_id TEXT NOT NULL,
        fund_id TEXT NOT NULL, type INTEGER NOT NULL, date BIGINT NOT NULL, value_vnd BIGINT NOT NULL,
        provider TEXT NOT NULL, provider_fund_id TEXT, receiver TEXT NOT NULL, receiver_fund_id TEXT,
        description TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS iati_transactions_fund ON iati_transactions (campaign_id, fund_id, date)",
)


class IatiProjection(Projection):
    name = "iati"
    version = 1
    kinds = frozenset({"Campaign.Launched", "Campaign.Extended", "Fund.Opened", "Contribution.Recorded",
                       "Fund.AllocatedOut", "Fund.AllocatedIn", "Fund.Charged", "Fund.Returned"})

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)

    def drop(self, cur: Cursor) -> None:
        for table in ("iati_transactions", "iati_funds", "iati_campaigns"):
            cur.execute(f"DROP TABLE IF EXISTS {table}")

    def apply(self, cur: Cursor, events: Sequence[Envelope]) -> None:
        campaign_of = _funds(cur, sorted({e.aggregate_id for e in events if e.aggregate_type == "Fund"}))
        transactions = []
        for e in events:
            # Rows a later event of the same aggregate may change are written at once.
            if e.kind == "Campaign.Launched":
                cur.execute(f"INSERT INTO iati_campaigns ({', '.join(CAMPAIGN_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING", (e.aggregate_id, *(e.data[c] for c in CAMPAIGN_COLUMNS[1:4]),
                                                       micros(e.data["launched_at"]),
                                                       micros(e.data["distribution_until"])))
            elif e.kind == "Campaign.Extended":
                cur.execute("UPDATE iati_campaigns SET distribution_until = ? WHERE campaign_id = ?",
                            (micros(e.data["distribution_until"]), e.aggregate_id))
            elif e.kind == "Fund.Opened":
                campaign_of[e.aggregate_id] = e.data["campaign_id"]
                cur.execute("INSERT INTO iati_funds (fund_id, campaign_id, level, province_code, commune_code, "
                            "committee_name) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            (e.aggregate_id, *(e.data[c] for c in FUND_COLUMNS[1:])))
            else:
                transactions += _transactions(e, campaign_of)
        cur.executemany(f"INSERT INTO iati_transactions ({', '.join(TRANSACTION_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(TRANSACTION_COLUMNS))}) ON CONFLICT DO NOTHING", transactions)


def _funds(cur: Cursor, fund_ids: list[str]) -> dict[str, str]:
    """fund id -> campaign id, for the funds whose events a batch holds."""
    found: dict[str, str] = {}
    for start in range(0, len(fund_ids), 500):
        chunk = fund_ids[start:start + 500]
        rows = cur.execute(f"SELECT fund_id, campaign_id FROM iati_funds WHERE fund_id IN "
                           f"({', '.join('?' * len(chunk))})", chunk).fetchall()
        found.update({r[0]: r[1] for r in rows})
    return found


def _transactions(e: Envelope, campaign_of: dict[str, str]) -> list[tuple[Any, ...]]:
    """The rows of one money event: (ref, campaign, reporting fund, type, date, value,
    provider, provider fund, receiver, receiver fund, description). A fund party
    is named by its id; its committee's name is looked up when exporting."""
    d, ref = e.data, f"{e.aggregate_id}:{e.version}"
    if e.kind == "Contribution.Recorded":
        donor = "Anonymous" if d["donor"]["anonymous"] else d["donor"]["name"]
        return [(ref, d["campaign_id"], d["fund_id"], INCOMING, micros(d["received_at"]), d["value_vnd"], donor, None,
                 "", d["fund_id"], _contribution_text(d))]
    campaign_id, here = campaign_of[e.aggregate_id], ("", e.aggregate_id)
    if e.kind in ("Fund.AllocatedOut", "Fund.AllocatedIn"):
        other = ("", d["to_fund_id"] if e.kind == "Fund.AllocatedOut" else d["from_fund_id"])
        when, value = micros(d["decision"]["allocated_at"]), d["draw"]["value_vnd"]
        text = f"allocation {d['allocation_id']}: {_draw_text([d['draw']])}; decided by {d['decision']['decided_by']}"
        if e.kind == "Fund.AllocatedIn":
            return [(ref, campaign_id, e.aggregate_id, INCOMING, when, value, *other, *here, text)]
        return [(f"{ref}:{kind}", campaign_id, e.aggregate_id, kind, when, value, *here, *other, text)
                for kind in (COMMITMENT, DISBURSEMENT)]
    sign, when = (1, micros(d["delivered_at"])) if e.kind == "Fund.Charged" else (-1, micros(e.recorded_at))
    text = (f"{d.get('support_type', 'support')} to household {d['household_id']}, disbursement "
            f"{d['disbursement_id']}: {_draw_text(d['draws'])}" + ("" if sign > 0 else f"; given back: {d['reason']}"))
    value = sign * sum(x["value_vnd"] for x in d["draws"])
    return [(ref, campaign_id, e.aggregate_id, EXPENDITURE, when, value, *here, f"household {d['household_id']}",
             None, text)]


def _draw_text(draws: list[dict[str, Any]]) -> str:
    parts = [f"{x['quantity']:,} VND" if x["asset"] == "cash" else f"{x['quantity']:,} {x['asset'].replace('|', ' ')}"
             for x in draws]
    buckets = sorted({x["bucket"] for x in draws} - {"none"})
    return ", ".join(parts) + (f" (earmarked {', '.join(buckets)})" if buckets else "")


def _contribution_text(d: dict[str, Any]) -> str:
    what = (f"in kind: {d['in_kind']['quantity']:,} {d['in_kind']['unit']} {d['in_kind']['item']}" if d["in_kind"]
            else f"{d['original_amount']} {d['currency']}" if d["original_amount"] else "cash")
    earmark = "" if d["bucket"] == "none" else f", earmarked {d['bucket']}"
    return f"contribution {d['channel']['channel']} ({what}{earmark})" + (f": {d['description']}" if d["description"]
                                                                          else "")


# ----- the export ---------------------------------------------------------------


def _day(us: int) -> str:
    return datetime.fromisoformat(iso(us) or "").astimezone(VIETNAM).date().isoformat()


def _narrative(tag: str, text: str, attributes: str = "") -> str:
    return f"<{tag}{attributes}><narrative>{escape(text)}</narrative></{tag}>"


def _party(tag: str, name: str, fund_id: str | None, campaign_id: str, committees: dict[str, str]) -> str:
    if fund_id is None:
        return _narrative(tag, name)
    activity = f" {tag.split('-')[0]}-activity-id={quoteattr(activity_id(campaign_id, fund_id))}"
    return _narrative(tag, committees.get(fund_id, fund_id), activity)


def activity_id(campaign_id: str, fund_id: str) -> str:
    return f"emergency-{campaign_id}-{fund_id}"


def iati_xml(store: ViewStore, campaign_id: str, generated_at: datetime) -> Iterator[str]:
    """The campaign as IATI activities (one per committee fund) with their transactions, line by line."""
    with store.read() as cur:
        campaign = cur.execute(f"SELECT {', '.join(CAMPAIGN_COLUMNS)} FROM iati_campaigns WHERE campaign_id = ?",
                               (campaign_id,)).fetchone()
        funds = cur.execute(f"SELECT {', '.join(FUND_COLUMNS)} FROM iati_funds WHERE campaign_id = ? "
                            "ORDER BY level, province_code, commune_code", (campaign_id,)).fetchall()
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}", field="campaign_id")
    with store.read() as cur:
        committees = dict(cur.execute("SELECT fund_id, committee_name FROM iati_funds").fetchall())
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
    yield from _transaction_elements(store, campaign_id, fund_id, committees)
    yield "  </iati-activity>\n"


def _transaction_elements(store: ViewStore, campaign_id: str, fund_id: str,
                          committees: dict[str, str]) -> Iterator[str]:
    after: tuple[int, str] = (-2**62, "")
    while True:
        with store.read() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(TRANSACTION_COLUMNS)} FROM iati_transactions WHERE campaign_id = ? "
                "AND fund_id = ? AND (date > ? OR (date = ? AND ref > ?)) ORDER BY date, ref LIMIT 1000",
                (campaign_id, fund_id, after[0], after[0], after[1])).fetchall()
        if not rows:
            return
        for raw in rows:
            t = dict(zip(TRANSACTION_COLUMNS, raw))
            day = _day(t["date"])
            yield (f"    <transaction ref={quoteattr(t['ref'])}><transaction-type code=\"{t['type']}\"/>"
                   f"<transaction-date iso-date=\"{day}\"/>"
                   f"<value currency=\"VND\" value-date=\"{day}\">{t['value_vnd']}</value>"
                   f"{_narrative('description', t['description'])}"
                   f"{_party('provider-org', t['provider'], t['provider_fund_id'], campaign_id, committees)}"
                   f"{_party('receiver-org', t['receiver'], t['receiver_fund_id'], campaign_id, committees)}"
                   "</transaction>\n")
        after = (rows[-1][4], rows[-1][0])


def campaign_export(store: ViewStore, campaign_id: str | None, generated_at: datetime) -> Iterator[str]:
    if campaign_id is None:
        raise InvalidInput("the IATI export is of one campaign: name it", field="campaign_id",
                           code="missing_campaign")
    return iati_xml(store, campaign_id, generated_at)
