"""Public data under `/public/...`: what any caller, donors included, may see.

Only totals: an incident's areas and its timely coverage against the 100%
target, never a household's name or single record (Decree 93/2021 Art. 14
asks for public disclosure of totals and distribution).

A campaign's money is public to everyone, with no token (the transparency
page): its totals received, allocated and paid out, per province and per
committee's fund, the searchable lists of contributions (sao kê) and of
payments to households (by commune and support, searchable by amount only),
paged by keyset (`after` the cursor a page ends with, or `since` a moment),
and "find my transfer" by bank reference. They read the funds projection's own queries
(`projections.disclosure`, `projections.fund_reports`, `projections.trace`);
what leaves here keeps anonymous donors anonymous and names no household: a
transfer's trace says how many households it reached and for which support,
never which.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, TypeVar

from aiohttp import web
from pydantic import AwareDatetime, Field

from api import keys
from api.area_names import CommuneNamed, ProvinceNamed
from api.auth import EVERYONE
from api.models import Body, IncidentView, PublicIncident
from api.routing import Call, Route, add_routes, respond
from emergency import clock
from emergency.domain.fund import Earmark
from emergency.errors import InvalidInput, NotFound
from emergency.service import as_uuid
from projections import disclosure, fund_reports, trace
from projections.asof import Instant
from projections.rows import to_micros
from projections.store import Cursor, ViewStore

T = TypeVar("T")
# A page's cursor: its last row's key (time, id), in URL-safe base64 so that nobody builds one by hand.
CURSOR = r"^[A-Za-z0-9_-]{1,200}$"
_LARGEST = 2 ** 63  # keys' times are 64-bit integers in the store


async def public_incident(call: Call) -> web.Response:
    found = await asyncio.to_thread(call.service.incident, call.request.match_info["incident_id"])
    incident = IncidentView.model_validate(found)
    now = clock.now()
    read_models = call.request.app[keys.READ_MODELS]
    _, whole = await read_models.coverage(incident.incident_id, Instant(now), "incident")
    _, by_province = await read_models.coverage(incident.incident_id, Instant(now), "province")
    return respond(PublicIncident(
        incident_id=incident.incident_id, incident_type=incident.incident_type, title=incident.title,
        started_at=incident.started_at, closed_at=incident.closed_at, provinces=sorted(incident.areas),
        communes=sum(len(communes) for communes in incident.areas.values()), as_of=now,
        coverage=whole[0] if whole else None, by_province=by_province))


class Campaign(ProvinceNamed, Body):
    campaign_id: str
    title: str
    mobiliser_type: str
    mobiliser_name: str
    level: str
    province_code: str | None
    incident_id: str | None
    launched_at: datetime
    receiving_until: datetime
    distribution_until: datetime


class CampaignList(Body):
    campaigns: list[Campaign] = Field(description="newest first")


class ProvinceMoney(ProvinceNamed, Body):
    """One province's committees together (province and communes), in VND, goods at their valuation."""

    province_code: str
    raised_locally: int
    from_central: int
    from_other_provinces: int
    sent_out: int
    disbursed: int
    balance: int


class CampaignTotals(Body):
    campaign: Campaign
    contributions: int
    received_cash_vnd: int
    received_in_kind_vnd: int = Field(description="goods at their valuation")
    allocated_to_provinces_vnd: int = Field(description="allocated to provinces by central committees and by "
                                                        "other provinces")
    disbursed_vnd: int = Field(description="paid to households, in cash and in kind (at valuation), net of "
                                           "voided payments")
    households: int = Field(description="households paid from the campaign's funds")
    by_province: list[ProvinceMoney]


class FundFlows(Body):
    from_donors: int
    from_funds: int = Field(description="allocated in by other committees")
    allocated_out: int
    disbursed: int = Field(description="paid to households, net of voided payments")
    balance: int


class FundMoney(CommuneNamed, Body):
    fund_id: str
    level: str
    province_code: str | None
    commune_code: str | None
    committee_name: str
    cash: FundFlows = Field(description="in VND")
    in_kind: FundFlows = Field(description="goods at their valuation, in VND")
    items: dict[str, int] = Field(description="goods held, by `item|unit`: quantity")


class FundList(Body):
    campaign_id: str
    funds: list[FundMoney] = Field(description="central first, then provinces and communes")


class PublicEarmark(CommuneNamed, Body):
    kind: str = Field(description="none, province, commune, household or purpose")
    province_code: str | None = None
    commune_code: str | None = None
    purpose: str | None = None

    @classmethod
    def of(cls, bucket: str) -> PublicEarmark:
        """The donor's designation; a household is named by its area only."""
        earmark = Earmark.from_key(bucket)
        return cls(kind=earmark.kind, province_code=earmark.province_code, commune_code=earmark.commune_code,
                   purpose=earmark.purpose)


class PublicContribution(Body):
    contribution_id: str
    received_at: datetime
    donor_name: str = Field(description=f"{disclosure.ANONYMOUS!r} for a donor who asked not to be named")
    donor_type: str
    anonymous: bool
    channel: str
    reference: str | None
    receipt_number: str | None
    currency: str
    original_amount: str | None
    value_vnd: int
    item: str | None
    unit: str | None
    quantity: int | None
    earmark: PublicEarmark
    description: str
    committee_name: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> PublicContribution:
        return cls.from_row(row, earmark=PublicEarmark.of(row["bucket"]))


class PageQuery(Body):
    limit: int = Field(50, ge=1, le=200)
    after: str | None = Field(None, max_length=200, pattern=CURSOR, description=(
        "the `next_after` of the page before: this page starts just after that page's last row"))
    since: AwareDatetime | None = Field(None, description="start at this moment: the first rows at or after it "
                                                          "(not with `after`)")


class Page(Body):
    """One page of a campaign's public list, in the order of time, then id."""

    campaign_id: str
    search: str
    after: str | None
    since: datetime | None
    more: bool = Field(description="whether more match after this page")
    next_after: str | None = Field(description="the cursor of the next page (pass it as `after`); null on the last "
                                               "page")


def _cursor(key: disclosure.Key) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def _key(query: PageQuery) -> disclosure.Key | None:
    """Where the asked page starts: after a cursor's row, at a moment, or at the beginning."""
    if query.after is not None and query.since is not None:
        raise InvalidInput("give either after or since", field="since", code="after_and_since")
    if query.since is not None:
        return to_micros(query.since), ""  # every id sorts after ""
    if query.after is None:
        return None
    try:
        text = base64.urlsafe_b64decode(query.after + "=" * (-len(query.after) % 4)).decode()
        at, colon, row_id = text.partition(":")
        if colon and row_id and -_LARGEST < int(at) < _LARGEST:
            return int(at), row_id
    except (ValueError, binascii.Error):  # a UnicodeDecodeError is a ValueError
        pass
    raise InvalidInput("not a cursor of this list: pass a page's next_after as it came", field="after",
                       code="invalid_cursor")


class DisclosureQuery(PageQuery):
    search: str = Field("", max_length=100, description="a reference, an amount in VND, or a donor's name "
                                                        "(without regard to case or diacritics)")


class DisclosurePage(Page):
    contributions: list[PublicContribution] = Field(description="in the order received")


class PublicDisbursement(CommuneNamed, Body):
    """A payment to a household from the campaign's funds, by its place, never its name."""

    disbursement_id: str
    delivered_at: datetime
    province_code: str
    commune_code: str
    support_type: str
    form: str
    amount_vnd: int | None
    item: str | None
    unit: str | None
    quantity: int | None
    committee_name: str = Field(description="the committee whose fund paid it")


class PaymentQuery(PageQuery):
    # Amounts only: a name search would tell who received aid, even with the names hidden.
    search: str = Field("", max_length=16, pattern=r"^[0-9]*$", description="an amount in VND")


class PaymentPage(Page):
    disbursements: list[PublicDisbursement] = Field(description="in the order delivered; voided ones left out")


class TransferQuery(Body):
    reference: str = Field(min_length=1, max_length=100, description="the bank transaction reference or the "
                                                                     "receipt number")


class PublicStop(CommuneNamed, Body):
    """The part of a transfer that reached one committee's fund, and what became of it there."""

    committee_name: str
    level: str
    province_code: str | None
    commune_code: str | None
    earmark: PublicEarmark
    asset: str
    arrived_vnd: Decimal
    still_held_vnd: Decimal
    households: int = Field(description="households whose payments this part funded here")
    funded_vnd: Decimal
    by_support_type: dict[str, Decimal]
    allocated: list[PublicStop] = Field(description="parts passed on to other committees")

    @classmethod
    def of(cls, stop: dict[str, Any]) -> PublicStop:
        by_support: dict[str, Decimal] = {}
        for funded in stop["funded"]:
            by_support[funded["support_type"]] = by_support.get(funded["support_type"], Decimal(0)) + Decimal(
                funded["amount_vnd"])
        return cls(committee_name=stop["committee_name"], level=stop["level"], province_code=stop["province_code"],
                   commune_code=stop["commune_code"], earmark=PublicEarmark.of(stop["bucket"]), asset=stop["asset"],
                   arrived_vnd=Decimal(stop["arrived_vnd"]), still_held_vnd=Decimal(stop["still_held_vnd"]),
                   households=len({f["household_id"] for f in stop["funded"]}),
                   funded_vnd=sum(by_support.values(), Decimal(0)), by_support_type=by_support,
                   allocated=[cls.of(s) for s in stop["allocated"]])


class Transfer(Body):
    contribution: PublicContribution
    households: int = Field(description="households its money reached, at every level")
    funded_vnd: Decimal = Field(description="its share of their payments (proportional attribution)")
    path: PublicStop


class TransferList(Body):
    reference: str
    transfers: list[Transfer] = Field(description="usually one; a reference reused by two banks gives two")


def _campaign(cur: Cursor, campaign_id: str | None = None) -> list[Campaign]:
    """The campaigns the funds projection knows, newest first; or the one asked for."""
    found = [Campaign.model_validate(row) for row in fund_reports.campaigns(cur, campaign_id)]
    if campaign_id and not found:
        raise NotFound(f"no campaign with id {campaign_id}", field="campaign_id")
    return found


async def _read(call: Call, query: Callable[[Cursor], T]) -> T:
    """One read of the view store on a worker thread, at once (public figures may trail the log by a moment)."""
    def run(store: ViewStore) -> T:
        with store.read() as cur:
            return query(cur)

    return await call.request.app[keys.READ_MODELS].read(run, fresh=0)


def _campaign_id(call: Call) -> str:
    return str(as_uuid(call.request.match_info["campaign_id"], "campaign_id"))


async def campaigns(call: Call) -> web.Response:
    return respond(CampaignList(campaigns=await _read(call, _campaign)))


async def campaign_totals(call: Call) -> web.Response:
    campaign_id = _campaign_id(call)

    def read(cur: Cursor) -> CampaignTotals:
        campaign = _campaign(cur, campaign_id)[0]
        received = disclosure.totals(cur, campaign_id)
        provinces = fund_reports.by_province(cur, campaign_id)
        funds = fund_reports.fund_report(cur, campaign_id)
        return CampaignTotals(
            campaign=campaign, contributions=received["contributions"],
            received_cash_vnd=received["received_cash_vnd"], received_in_kind_vnd=received["received_in_kind_vnd"],
            allocated_to_provinces_vnd=sum(p["from_central"] + p["from_other_provinces"] for p in provinces),
            disbursed_vnd=sum(f["cash"]["disbursed"] + f["in_kind"]["disbursed"] for f in funds),
            households=received["households"], by_province=[ProvinceMoney.model_validate(p) for p in provinces])

    return respond(await _read(call, read))


async def campaign_funds(call: Call) -> web.Response:
    campaign_id = _campaign_id(call)

    def read(cur: Cursor) -> list[dict[str, Any]]:
        _campaign(cur, campaign_id)
        return fund_reports.fund_report(cur, campaign_id)

    rows = await _read(call, read)
    return respond(FundList(campaign_id=campaign_id, funds=[FundMoney.from_row(r) for r in rows]))


Lister = Callable[[Cursor, str, str, int, disclosure.Key | None], list[dict[str, Any]]]


async def _page(call: Call, lister: Lister) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A page of one of a campaign's public lists: the page's own fields, and its rows."""
    campaign_id, query = _campaign_id(call), call.query()
    start = _key(query)

    def read(cur: Cursor) -> list[dict[str, Any]]:
        _campaign(cur, campaign_id)
        # One row more than asked tells whether another page follows.
        return lister(cur, campaign_id, query.search, query.limit + 1, start)

    rows = await _read(call, read)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    page = dict(campaign_id=campaign_id, search=query.search, after=query.after, since=query.since, more=more,
                next_after=_cursor(rows[-1]["key"]) if more else None)
    return page, rows


async def campaign_contributions(call: Call) -> web.Response:
    page, rows = await _page(call, disclosure.contributions)
    return respond(DisclosurePage(**page, contributions=[PublicContribution.of(r) for r in rows]))


async def campaign_disbursements(call: Call) -> web.Response:
    page, rows = await _page(call, disclosure.disbursements)
    return respond(PaymentPage(**page, disbursements=[PublicDisbursement.from_row(r) for r in rows]))


async def campaign_transfers(call: Call) -> web.Response:
    campaign_id, reference = _campaign_id(call), call.query().reference.strip()

    def read(cur: Cursor) -> list[Transfer]:
        _campaign(cur, campaign_id)
        transfers = []
        for row in disclosure.transfers(cur, campaign_id, reference):
            followed = trace.trace(cur, row["contribution_id"])
            transfers.append(Transfer(contribution=PublicContribution.of(row), households=followed["households"],
                                      funded_vnd=Decimal(followed["funded_vnd"]),
                                      path=PublicStop.of(followed["path"])))
        return transfers

    return respond(TransferList(reference=reference, transfers=await _read(call, read)))


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/public/incidents/{incident_id}", "An incident's areas and timely coverage, in totals",
              public_incident, PublicIncident, EVERYONE, tag="public"),
        Route("GET", "/public/campaigns", "Relief campaigns (no token needed)", campaigns, CampaignList,
              tag="public"),
        Route("GET", "/public/campaigns/{campaign_id}", "A campaign's money: received, allocated to provinces, "
              "paid to households, per province", campaign_totals, CampaignTotals, tag="public"),
        Route("GET", "/public/campaigns/{campaign_id}/funds", "Each committee's fund of a campaign: received, "
              "allocated on, paid to households, balance", campaign_funds, FundList, tag="public"),
        Route("GET", "/public/campaigns/{campaign_id}/contributions", "The public list of contributions (sao kê), "
              "searchable; anonymous donors unnamed", campaign_contributions, DisclosurePage,
              query=DisclosureQuery, tag="public"),
        Route("GET", "/public/campaigns/{campaign_id}/disbursements", "The public list of payments to households "
              "from the campaign's funds, by commune and support (no household named); searchable by amount",
              campaign_disbursements, PaymentPage, query=PaymentQuery, tag="public"),
        Route("GET", "/public/campaigns/{campaign_id}/transfers", "Find my transfer: a contribution by its bank "
              "reference, and where its money went (no household named)", campaign_transfers, TransferList,
              query=TransferQuery, tag="public"),
    ])
