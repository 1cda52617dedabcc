"""Requests for help on the public page in Chromium, with no token: the form
files one and shows its reference; following it by reference shows status
and dates, and the answer once an officer gives it; the counts per province
and commune take it in; and what the sender wrote never comes back to the
browser."""

from __future__ import annotations

import pytest

from emergency.domain.help_request import request_id_for
from tests.browser.test_transparency import watch
from tests.support.browser import Page, Server

pytestmark = pytest.mark.browser

PHONE = "0904 112 233"
DESCRIPTION = "Nhà ông Vũ Văn Khải ở cuối xóm chưa có ai đến đánh giá"
VILLAGE = "Xóm Trại Cau"
COMMUNE = "11311"


def province_counts(server: Server) -> dict[str, int]:
    return {p["province_code"]: p["arrived"] for p in server.get("/public/request-counts")["provinces"]}


def test_the_public_files_a_request_and_follows_it_by_reference(page: Page, server: Server) -> None:
    _, bodies = watch(page)
    before = province_counts(server).get("31", 0)
    page.open("/transparency")
    page.page.locator("body[data-requests-ready]").wait_for()
    page.page.select_option("#request-province", "31")
    page.page.locator(f"#request-commune option[value='{COMMUNE}']").wait_for(state="attached")
    page.page.select_option("#request-commune", COMMUNE)
    page.page.fill("#request-village", VILLAGE)
    page.page.fill("#request-phone", PHONE)
    page.page.fill("#request-description", DESCRIPTION)
    page.page.click("#request-form button[type=submit]")
    page.page.locator("#request-reference").wait_for()
    reference = page.text("#request-reference")
    assert len(reference) == 10
    assert server.get(f"/public/requests/{reference}")["status"] == "open"
    assert province_counts(server)["31"] == before + 1
    page.page.locator("#request-counts tr[data-province='31']").wait_for()
    assert page.page.locator("#request-counts tr[data-province='31'] td").nth(1).inner_text() == str(before + 1)
    page.page.click("#request-counts tr[data-province='31'] button")
    page.page.locator(f"#request-counts tr[data-commune='{COMMUNE}']").wait_for()
    page.screenshot("filed")

    page.page.fill("#follow-reference", reference.lower())
    page.page.click("#follow-form button[type=submit]")
    page.page.locator("#follow-status[data-status='open']").wait_for()
    status, answer = server.call("POST", f"/requests/{request_id_for(reference)}/rejection", server.coordinator, {
        "reason": "Đã được đánh giá", "resolved_at": server.get(f"/public/requests/{reference}")["filed_at"],
        "resolved_by": "Chủ tịch UBND phường"})
    assert status == 201, answer
    page.page.click("#follow-form button[type=submit]")
    page.page.locator("#follow-status[data-status='rejected']").wait_for()
    page.screenshot("followed")

    page.page.fill("#follow-reference", "AAAAAAAAAA")
    page.expect_console_error("404")
    page.page.click("#follow-form button[type=submit]")
    page.page.locator("#follow-result .error").wait_for()
    for text in bodies:
        assert PHONE not in text and DESCRIPTION not in text and VILLAGE not in text
