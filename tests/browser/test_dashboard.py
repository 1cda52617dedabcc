"""The coordinator dashboard in Chromium: sign-in by role, figures equal to the
API's, a number that changes live when a disbursement is posted, the as-of
control showing the API's point-in-time answer, and live refreshes that never
pile requests up."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from vietnam_provinces import Ward

from tests.browser.chromium import RequestLog
from tests.support.browser import Page, Server

pytestmark = pytest.mark.browser

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
TOKEN_KEY = "emergency.token"


def vnd(amount: int) -> str:
    """VND the Vietnamese way: dots between thousands, the đồng sign after."""
    return f"{amount:,}".replace(",", ".") + "\u00a0₫"


def incident_id(server: Server) -> str:
    return server.get("/dashboard/session", server.coordinator)["incidents"][0]["incident_id"]


def coverage(server: Server, incident: str, **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in params.items())
    return server.get(f"/incidents/{incident}/coverage?{query}", server.coordinator)["rows"][0]


def signed_in(page: Page, token: str) -> None:
    page.page.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {token!r})")
    page.open("/dashboard")
    page.page.locator("#kpi-timely[data-value]").wait_for()


def test_sign_in_needs_a_coordinator_token_and_shows_the_api_figures(page: Page, server: Server) -> None:
    page.expect_console_error("status of 403")
    page.open("/dashboard")
    page.page.locator("#signin").wait_for()  # once the page has read the province names
    assert not page.page.locator("#board").is_visible()
    page.screenshot("signin")

    page.page.fill("#token", server.field)
    page.page.click("#signin-form button[type=submit]")
    page.page.locator("#signin-error").filter(has_text="điều phối viên").wait_for()
    assert not page.page.locator("#board").is_visible()

    page.page.fill("#token", server.coordinator)
    page.page.click("#signin-form button[type=submit]")
    page.page.locator("#live[data-state=open]").wait_for()
    page.page.locator("#kpi-timely[data-value]").wait_for()
    # Time alone turns cases overdue: compare with the API at the very moment the page read.
    read_at = page.page.locator("#board").get_attribute("data-at")
    now = coverage(server, incident_id(server), as_of=read_at, known="now")
    assert page.figure("kpi-entitled") == str(now["entitled_vnd"])
    assert page.text("#kpi-entitled") == vnd(now["entitled_vnd"])
    assert float(page.figure("kpi-timely")) == now["timely_pct"]
    assert page.text("#kpi-timely") == f"{now['timely_pct']:.1f}".replace(".", ",").removesuffix(",0") + "%"
    # The overdue list names what each household is owed, deadlines in Vietnam time.
    first = server.get(f"/incidents/{incident_id(server)}/overdue?limit=1", server.coordinator)["cases"][0]
    row = page.page.locator("#overdue tbody tr").first
    assert first["head_name"] in row.inner_text()
    due = datetime.fromisoformat(first["due_at"]).astimezone(VIETNAM)
    assert due.strftime("%H:%M %d/%m/%Y") in row.inner_text()
    # Communes by their official names, in the overdue list and the table by commune.
    assert Ward.from_code(int(first["commune_code"])).name in row.inner_text()
    official = {ward.name for ward in Ward.iter_all()}
    communes = page.page.locator("#communes tbody td:first-child").all_inner_texts()
    assert communes and set(communes) <= official, communes
    page.page.locator("#trend-chart").scroll_into_view_if_needed()
    page.screenshot("vi")

    page.page.click("#lang")
    page.page.locator("h1", has_text="Coordinator dashboard").wait_for()
    assert page.text("#kpi-entitled") == vnd(now["entitled_vnd"])  # VND stays Vietnamese in English
    assert due.strftime("%d/%m/%Y, %H:%M") in page.page.locator("#overdue tbody tr").first.inner_text()
    page.screenshot("en")
    page.page.reload()
    page.page.locator("h1", has_text="Coordinator dashboard").wait_for()  # the choice is kept


def test_a_posted_disbursement_changes_the_dashboard_live(page: Page, server: Server) -> None:
    incident = incident_id(server)
    signed_in(page, server.coordinator)
    page.page.locator("#live[data-state=open]").wait_for()
    before = int(page.figure("kpi-disbursed"))
    page.page.evaluate("window.stillTheSamePage = true")
    page.screenshot("before")

    # A case the page lists (its first page is the API's, oldest deadline first), paid in full.
    cases = server.get(f"/incidents/{incident}/overdue?limit=25", server.coordinator)["cases"]
    case = next(c for c in cases if c["owed_vnd"])
    row = page.page.locator(f"#overdue tbody tr[data-household='{case['household_id']}']"
                            f"[data-support='{case['support_type']}']")
    assert row.count() == 1
    status, body = server.call("POST", f"/households/{case['household_id']}/disbursements", server.coordinator, {
        "support_type": case["support_type"], "form": "cash", "amount_vnd": case["owed_vnd"],
        "channel": "cash_in_hand", "funding_source": "state_budget", "delivered_by": "Cán bộ xã",
        "delivered_at": (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()})
    assert status == 201, body

    after = before + case["owed_vnd"]
    page.page.locator(f"#kpi-disbursed[data-value='{after}']").wait_for()
    assert page.text("#kpi-disbursed") == vnd(after)
    assert page.page.evaluate("window.stillTheSamePage") is True  # no reload
    row.wait_for(state="detached")  # the breakdowns follow: the paid case leaves the overdue list
    page.screenshot("after")


def test_the_as_of_control_shows_the_api_answer_for_that_moment(page: Page, server: Server) -> None:
    incident = incident_id(server)
    signed_in(page, server.coordinator)
    started = datetime.fromisoformat(server.get(f"/incidents/{incident}", server.coordinator)["started_at"])
    moment = (started + timedelta(days=3, hours=12)).astimezone(VIETNAM).replace(second=0, microsecond=0)

    # The page reads a past moment as now known for it (the late submissions for it count too) by default.
    page.page.fill("#asof-input", moment.strftime("%Y-%m-%dT%H:%M"))
    page.page.locator("#live[data-state=paused]").wait_for()
    known_now = coverage(server, incident, as_of=moment.isoformat(), known="now")
    page.page.locator(f"#kpi-entitled[data-value='{known_now['entitled_vnd']}']").wait_for()
    assert page.figure("kpi-disbursed") == str(known_now["disbursed_vnd"])
    assert page.figure("kpi-overdue") == str(known_now["overdue"])
    assert float(page.figure("kpi-timely") or "nan") == known_now["timely_pct"]
    assert moment.strftime("%H:%M %d/%m/%Y") in page.text("#asof-banner")
    overdue = server.get(f"/incidents/{incident}/overdue?limit=1&known=now&as_of="
                         f"{moment.isoformat().replace('+', '%2B')}", server.coordinator)
    assert re.search(rf"\b{overdue['total']:,} ".replace(",", "."), page.text("#overdue-count"))
    page.screenshot("past")

    # As known then: what had been recorded by that moment.
    page.page.select_option("#asof-known", "then")
    then = coverage(server, incident, as_of=moment.isoformat(), known="then")
    page.page.locator(f"#kpi-disbursed[data-value='{then['disbursed_vnd']}']").wait_for()
    assert page.figure("kpi-entitled") == str(then["entitled_vnd"])

    page.page.click("#asof-live")
    page.page.locator("#live[data-state=open]").wait_for()
    now = coverage(server, incident)
    page.page.locator(f"#kpi-entitled[data-value='{now['entitled_vnd']}']").wait_for()
    assert not page.page.locator("#asof-banner").is_visible()


TREND_POINTS = 24
REFRESH_SECONDS = 0.1
LIVE_PERIODS = 3
# A slow link (bytes/s), as in the field: the trend's answer (24 points) takes several refresh periods to arrive.
SLOW_LINK = 50_000


def test_live_refreshes_never_pile_up_requests(page: Page, server: Server) -> None:
    page.page.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {server.coordinator!r})")
    page.open("/dashboard")  # once on a fast link: the page's own files are then in the browser's cache
    page.page.locator("#live[data-state=open]").wait_for()
    log = RequestLog().watch(page.page)
    link = page.page.context.new_cdp_session(page.page)
    link.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": SLOW_LINK, "uploadThroughput": -1})
    page.open(f"/dashboard?refresh={REFRESH_SECONDS}")
    page.page.locator("#live[data-state=open]").wait_for()
    page.page.wait_for_function(f"""() => Chart.getChart('trend-chart')?.data.datasets[0]?.data.length
                                    === {TREND_POINTS}""")
    drawn = len(log.requests)
    page.page.wait_for_timeout(LIVE_PERIODS * REFRESH_SECONDS * 1000)

    trend = log.of("trend")
    assert len(trend) == 1, "one request draws the trend, and the refresh never loads it again once drawn"
    assert len(log.requests) > drawn, "the page kept refreshing after the trend was drawn"
    # The test means something: the refresh ran, several times, while the trend was still loading.
    assert sum(1 for r in log.of("headline") if trend[0].started < r.started < (trend[0].ended or 0)) >= 2
    assert "points=24" in trend[0].url and "known=now" in trend[0].url
    # No part is read again while its read before is still running, and nothing was abandoned.
    for kind in ("headline", "provinces", "communes", "overdue", "duplicate communes"):
        assert log.of(kind) and log.started_while_running(kind) == 0, kind
    assert not [r.url for r in log.requests if r.failed]
    link.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    # Refreshing every tenth of a second, the page is rarely without a load in
    # flight (never, on a loaded machine): shown at the default period instead.
    page.open("/dashboard")
    page.screenshot("live")


def test_communes_page_search_and_sort_within_a_bounded_page(page: Page, server: Server) -> None:
    incident = incident_id(server)
    signed_in(page, server.coordinator)
    table = page.page.locator("#communes tbody tr")
    table.first.wait_for()
    widest = server.get(f"/incidents/{incident}/coverage?group_by=commune&sort=gap&limit=25&known=now",
                        server.coordinator)
    assert [r.get_attribute("data-commune") for r in table.all()] == [r["commune_code"] for r in widest["rows"]]
    assert table.count() <= 25 < widest["total"] or table.count() == widest["total"]
    # Found by part of its official name, without the case.
    wanted = widest["rows"][-1]
    part = wanted["commune_name"].split()[-1].lower()
    page.page.fill("#commune-search", part)
    page.page.locator(f"#communes tbody tr[data-commune='{wanted['commune_code']}']").wait_for()
    found = server.get(f"/incidents/{incident}/coverage?group_by=commune&sort=gap&limit=25&search={quote(part)}",
                       server.coordinator)
    page.page.wait_for_function(f"() => document.querySelectorAll('#communes tbody tr').length === "
                                f"{len(found['rows'])}")
    # By name, and the next page follows the API's.
    page.page.fill("#commune-search", "")
    page.page.select_option("#commune-sort", "name")
    by_name = server.get(f"/incidents/{incident}/coverage?group_by=commune&sort=name&limit=25&offset=25",
                         server.coordinator)
    page.page.wait_for_function("() => !document.querySelector('#communes-next').disabled")
    page.page.click("#communes-next")
    page.page.locator(f"#communes tbody tr[data-commune='{by_name['rows'][0]['commune_code']}']").first.wait_for()
    assert page.page.evaluate("() => document.body.scrollHeight") < 20_000
    page.screenshot("communes")


NAMESAKE = "Vũ Thị Thanh Xuân"


def test_possible_duplicates_are_listed_per_commune_and_resolved_as_one_household(page: Page, server: Server) -> None:
    incident = incident_id(server)
    areas = server.get(f"/incidents/{incident}", server.coordinator)["areas"]
    # The first commune by code outside the province the field tests work in: the first the panel lists.
    commune = min(c for province, communes in areas.items() if province != "31" for c in communes)

    # Two teams register one household, a member apart, the name spelled without diacritics the second time.
    households = []
    for name, members in ((NAMESAKE, 4), ("VU THI THANH XUAN", 5)):
        status, body = server.call("POST", "/households", server.coordinator, {
            "incident_id": incident, "commune_code": commune, "head_name": name, "members": members})
        assert status == 201, body
        households.append(body["result"]["household_id"])
    listed = server.get(f"/incidents/{incident}/duplicates?commune={commune}", server.coordinator)["pairs"]
    [pair] = [p for p in listed if set(p["household_ids"]) == set(households)]
    count = server.get(f"/incidents/{incident}/duplicates/communes?limit=1", server.coordinator)["communes"][0]
    assert count["commune_code"] == commune

    # The pair is listed under its commune, with the count the API gives.
    signed_in(page, server.coordinator)
    picker = page.page.locator(f"#dup-communes button[data-commune='{commune}']")
    picker.wait_for()
    assert page.text(f"#dup-communes tr[data-commune='{commune}'] td.num") == str(count["unresolved"])
    picker.click()
    row = page.page.locator(f"#dup-pairs tr[data-pair='{pair['pair_id']}']")
    row.wait_for()
    shown = row.inner_text()
    assert NAMESAKE in shown and "VU THI THANH XUAN" in shown
    assert all(household in shown for household in households)
    assert "Cùng tên chủ hộ" in shown
    assert Ward.from_code(int(commune)).name in page.text("#dup-commune")
    assert page.page.locator("#dup-pairs tbody tr").count() <= 10
    page.screenshot("listed")

    # Resolved as one household: the first registered keeps both records.
    row.locator("button[data-outcome=same]").click()
    page.page.locator("#dup-dialog[open]").wait_for()
    page.page.select_option("#dup-survivor", households[0])
    page.page.fill("#dup-reason", "cùng một hộ, hai đoàn cùng ghi")
    page.screenshot("resolving")
    with page.page.expect_request(lambda r: r.url.endswith(f"/duplicates/{pair['pair_id']}/resolution")) as sent:
        page.page.click("#dup-confirm")
    request = sent.value
    assert request.headers.get("idempotency-key")
    assert {k: v for k, v in request.post_data_json.items() if k in ("outcome", "survivor_id")} == {
        "outcome": "same", "survivor_id": households[0]}
    row.wait_for(state="detached")
    assert not page.page.locator("#dup-dialog[open]").count()
    assert pair["pair_id"] not in {p["pair_id"] for p in server.get(
        f"/incidents/{incident}/duplicates?commune={commune}", server.coordinator)["pairs"]}
    status, refused = server.call("POST", f"/households/{households[1]}/assessments", server.coordinator, {
        "assessed_at": datetime.now(timezone.utc).isoformat(), "dead": 0, "injured": 0, "seriously_injured": 0,
        "house_damage": "total", "persons_short_of_food": 5, "food_months": 1})
    assert (status, refused["error"]) == (409, "merged_household"), refused
    left = count["unresolved"] - 1
    if left:
        page.page.locator(f"#dup-communes tr[data-commune='{commune}'] td.num", has_text=str(left)).wait_for()
    else:
        page.page.locator(f"#dup-communes tr[data-commune='{commune}']").wait_for(state="detached")
    page.screenshot("resolved")
