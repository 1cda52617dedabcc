"""The public transparency page in Chromium, with no token: the campaign's
totals and per-province allocations as the API states them, the searchable
list of contributions keeping anonymous donors anonymous and paging as the
API does, and "find my transfer" by bank reference; nothing private reaches
the browser."""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any

import pytest
from vietnam_provinces import Ward

from emergency.names import fold
from tests.browser.test_dashboard import VIETNAM, vnd
from tests.support.browser import Page, Server

pytestmark = pytest.mark.browser


def statement_lines(server: Server) -> list[dict[str, str]]:
    with server.campaign.statement.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def watch(page: Page) -> tuple[list[dict[str, str]], list[str]]:
    """Every request's headers, and every API answer's text, as the page makes them."""
    headers: list[dict[str, str]] = []
    bodies: list[str] = []
    page.page.on("request", lambda request: headers.append(request.headers))
    page.page.on("response", lambda response: response.url.split("?")[0].split("/public/")[0] == page.server.url
                 and "/public/" in response.url and bodies.append(response.text()))
    return headers, bodies


def search(page: Page, text: str) -> Any:
    page.page.fill("#search", text)
    page.page.locator("body:not([data-loading])").wait_for()
    return page.page.locator("#disclosure tbody tr")


def test_totals_allocations_and_the_disclosure_list(page: Page, server: Server) -> None:
    headers, bodies = watch(page)
    campaign = server.campaign.campaign_id
    totals = server.get(f"/public/campaigns/{campaign}")
    received = totals["received_cash_vnd"] + totals["received_in_kind_vnd"]

    page.open("/transparency")
    page.page.locator(f"#total-received[data-value='{received}']").wait_for()
    assert page.page.locator("#campaign").input_value() == campaign
    assert page.text("#total-received") == vnd(received)
    assert page.figure("total-allocated") == str(totals["allocated_to_provinces_vnd"])
    assert page.text("#total-disbursed") == vnd(totals["disbursed_vnd"])
    # The chart draws each province's allocations and payments from the API's figures.
    drawn = page.page.evaluate("""() => {
        const chart = Chart.getChart('allocation-chart');
        return {labels: chart.data.labels, data: chart.data.datasets.map(d => d.data)};
    }""")
    names = server.get("/public/provinces")["provinces"]
    assert drawn["labels"] == [names[p["province_code"]] for p in totals["by_province"]]
    assert drawn["data"] == [[p["from_central"] + p["from_other_provinces"] for p in totals["by_province"]],
                             [p["raised_locally"] for p in totals["by_province"]],
                             [p["disbursed"] for p in totals["by_province"]]]
    # Each committee's fund, as the API states it, cash and goods together.
    funds = server.get(f"/public/campaigns/{campaign}/funds")["funds"]
    # The funds are asked for once the totals have answered: wait for their last row.
    page.page.locator(f"#funds tbody tr[data-fund] >> nth={len(funds) - 1}").wait_for()
    shown = page.page.evaluate("""() => [...document.querySelectorAll('#funds tbody tr')].map(row =>
        [row.dataset.fund, ...[...row.querySelectorAll('td[data-flow]')].map(cell => Number(cell.dataset.value))])""")
    flows = ("from_donors", "from_funds", "allocated_out", "disbursed", "balance")
    assert shown == [[fund["fund_id"], *(fund["cash"][k] + fund["in_kind"][k] for k in flows)] for fund in funds]
    assert len(funds) > 1 and funds[0]["level"] == "central"
    first_row = page.page.locator("#funds tbody tr").first
    assert vnd(funds[0]["cash"]["balance"] + funds[0]["in_kind"]["balance"]) in first_row.inner_text()
    # Payments to households, as the API lists them, by place and never by name.
    payments = server.get(f"/public/campaigns/{campaign}/disbursements")["disbursements"]
    page.page.locator(f"#payments tbody tr >> nth={len(payments) - 1}").wait_for()
    assert page.page.evaluate("""() => [...document.querySelectorAll('#payments tbody tr')]
        .map(row => row.dataset.disbursement)""") == [d["disbursement_id"] for d in payments]
    cash = next(d for d in payments if d["amount_vnd"])
    row = page.page.locator(f"#payments tr[data-disbursement='{cash['disbursement_id']}']")
    assert vnd(cash["amount_vnd"]) in row.inner_text()
    assert cash["commune_name"] == Ward.from_code(int(cash["commune_code"])).name  # the official name, shown
    assert cash["commune_name"] in row.inner_text()
    page.screenshot("totals")

    # A name search ignores case and diacritics; an anonymous donor is found by reference only.
    lines = statement_lines(server)
    named = next(line for line in lines if line["anonymous"] == "false" and not line["earmark"])
    hidden = next(line for line in lines if line["anonymous"] == "true")
    rows = search(page, named["remitter"].lower())
    assert rows.count() >= 1 and page.page.locator(f"#disclosure tr[data-reference='{named['reference']}']").count()
    donors = rows.locator("td:nth-child(2)").all_inner_texts()
    assert all(fold(named["remitter"]) in fold(donor) for donor in donors), donors
    rows = search(page, hidden["reference"])
    assert rows.count() == 1
    assert "Ẩn danh" in rows.first.inner_text() and hidden["remitter"] not in rows.first.inner_text()
    assert vnd(int(hidden["amount"])) in rows.first.inner_text()
    search(page, hidden["remitter"].lower())
    assert page.page.locator(f"#disclosure tr[data-reference='{hidden['reference']}']").count() == 0
    page.screenshot("search")

    assert not any("authorization" in h for h in headers)  # the page needs no token
    for body in bodies:
        assert not any(household in body for household in server.campaign.households)


def test_find_my_transfer_by_bank_reference(page: Page, server: Server) -> None:
    headers, bodies = watch(page)
    line = next(line for line in statement_lines(server) if line["anonymous"] == "false")
    found = server.get(f"/public/campaigns/{server.campaign.campaign_id}/transfers?reference={line['reference']}")
    transfer = found["transfers"][0]

    page.open("/transparency")
    page.page.locator("#total-received[data-value]").wait_for()
    page.page.fill("#reference", line["reference"])
    page.page.click("#trace-form button[type=submit]")
    result = page.page.locator("#trace-result .transfer")
    result.wait_for()
    assert result.locator(".transfer-amount").inner_text() == vnd(int(line["amount"]))
    assert line["remitter"] in result.inner_text()
    households = transfer["households"]
    assert households > 0, "the synthetic campaign pays households from the central fund's money"
    assert f"Khoản của bạn đã đến {households} hộ" in result.locator(".trace-summary").inner_text()
    # Each committee the money passed through is listed, down to the communes that paid households.
    stops, stack = [], [transfer["path"]]
    while stack:
        stop = stack.pop()
        stops.append(stop["committee_name"])
        stack.extend(stop["allocated"])
    assert result.locator(".trace-path li").count() == len(stops)
    page.screenshot("found")

    page.page.click("#lang")
    page.page.locator(".trace-summary", has_text=f"Your transfer reached {households} households").wait_for()
    assert result.locator(".transfer-amount").inner_text() == vnd(int(line["amount"]))
    page.screenshot("found-en")

    page.page.fill("#reference", "FT-NO-SUCH-REF")
    page.page.click("#trace-form button[type=submit]")
    page.page.locator("#trace-result", has_text="FT-NO-SUCH-REF").wait_for()
    assert not any("authorization" in h for h in headers)
    for body in bodies:
        assert not any(household in body for household in server.campaign.households)


def listed(page: Page) -> list[str]:
    page.page.locator("body:not([data-loading])").wait_for()
    return page.page.evaluate("() => [...document.querySelectorAll('#disclosure tbody tr')].map(r => r.dataset.reference)")


def references(body: dict[str, Any]) -> list[str]:
    return [c["reference"] or c["receipt_number"] for c in body["contributions"]]


def test_the_contributions_list_pages_as_the_api_does(page: Page, server: Server) -> None:
    path = f"/public/campaigns/{server.campaign.campaign_id}/contributions?limit=50"
    first = server.get(path)
    second = server.get(f"{path}&after={first['next_after']}")
    page.open("/transparency")
    page.page.locator("#disclosure tbody tr").first.wait_for()
    assert listed(page) == references(first)
    assert page.page.locator("#disclosure-pager [data-page=previous]").is_disabled()

    page.page.click("#disclosure-pager [data-page=next]")
    page.page.locator("#disclosure-pager [data-page-number]", has_text="Trang 2").wait_for()
    assert listed(page) == references(second)
    page.page.click("#disclosure-pager [data-page=previous]")
    page.page.locator("#disclosure-pager [data-page-number]", has_text="Trang 1").wait_for()
    assert listed(page) == references(first)

    # A moment, in Vietnam time, starts the list at the first transfer received then or later.
    line = statement_lines(server)[len(statement_lines(server)) // 2]
    moment = datetime.fromisoformat(line["date"]).astimezone(VIETNAM)
    page.page.fill("#disclosure-since", moment.strftime("%Y-%m-%dT%H:%M:%S"))
    page.page.locator("#disclosure-since").dispatch_event("change")
    page.page.locator(f"#disclosure tbody tr[data-reference='{line['reference']}']").wait_for()
    since = server.get(f"{path}&since={moment.isoformat().replace('+', '%2B')}")
    assert listed(page) == references(since) and line["reference"] in references(since)
    page.screenshot("since")
