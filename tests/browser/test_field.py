"""The field app in Chromium, with no network and with a server that dies.

Per store (SQLite, PostgreSQL) one server of its own, which a test may kill
and start again, and one incident over three communes of province 31 (the
teams' province) and one of province 01. Each test opens the app in a fresh
browser context (a phone of its own: its own IndexedDB and service worker),
records through the app's forms, and checks through the API what the server
recorded: every household and assessment exactly once.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from api.tokens import TokenStore
from emergency.domain.help_request import request_id_for
from tests.support.browser import Page, Serve, Site, server_env, tab
from tests.support.stores import fresh_store

pytestmark = pytest.mark.browser

PROVINCE = "31"
COMMUNES = ["11311", "11455", "11914"]  # Hồng Bàng, Đồ Sơn, Cát Hải (Hải Phòng)
OTHER = {"01": ["00004"]}
PHONE = {"viewport": {"width": 412, "height": 915}, "is_mobile": True, "has_touch": True}
REVOCATION_SECONDS = 15  # the server trusts a verified token for 5 s


@dataclass
class FieldSite(Site):
    serve: Serve
    log: Path
    tokens: TokenStore
    coordinator: str
    auditor: str
    incident_id: str

    def team(self, *scope: str) -> tuple[str, str]:
        """A new field team token: (token id, secret)."""
        record, secret = self.tokens.create("Đội xã Hải An", "field", scope or (PROVINCE,))
        return record.token_id, secret

    def household(self, household_id: str) -> dict[str, Any]:
        return self.get(f"/households/{household_id}", self.coordinator)

    def event_types(self, aggregate_id: str) -> list[str]:
        return [e["type"] for e in self.get(f"/aggregates/{aggregate_id}/events?limit=1000", self.auditor)["events"]]

    def requests_logged(self) -> list[str]:
        """The paths of every request the server has logged."""
        lines = (json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{"))
        return [line["path"] for line in lines if line.get("event") == "request"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldSite]:
    folder = tmp_path_factory.mktemp("field")
    name = request.param
    with fresh_store(name, folder) as settings:
        tokens = TokenStore.from_settings(settings)
        serve = Serve(server_env(settings), folder / "server.log")
        serve.start()
        try:
            site = FieldSite(serve.url, name, serve, folder / "server.log", tokens,
                             tokens.create("Điều phối viên", "coordinator")[1], tokens.create("Kiểm toán", "auditor")[1],
                             "")
            started = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
            areas = [{"province_code": PROVINCE, "commune_codes": COMMUNES}] + [
                {"province_code": p, "commune_codes": c} for p, c in OTHER.items()]
            status, body = site.call("POST", "/incidents", site.coordinator, {
                "incident_type": "storm", "title": "Bão Yagi", "started_at": started, "areas": areas})
            assert status == 201, body
            site.incident_id = body["result"]["incident_id"]
            yield site
        finally:
            serve.stop()


class FieldApp:
    """The app in one tab, driven as a field worker would."""

    def __init__(self, tab: Page):
        self.tab = tab
        self.page = tab.page
        self.dialogs: list[str] = []  # what the app asked or told, each accepted
        self.page.on("dialog", self._dialog)
        # Requests cut when the network drops (what this app lives with) are logged by the browser.
        tab.expect_console_error("net::ERR_INTERNET_DISCONNECTED")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def told(self, text: str, seconds: float = 15) -> None:
        """Until the app has shown a dialog saying `text`."""
        deadline = time.monotonic() + seconds
        while not any(text in said for said in self.dialogs):
            assert time.monotonic() < deadline, self.dialogs
            self.page.wait_for_timeout(100)  # lets the browser's events through

    def screen(self, name: str) -> None:
        self.page.locator(f"body[data-screen={name}]:not([data-loading])").wait_for()

    def sign_in(self, token: str) -> None:
        self.page.fill("#token", token)
        self.page.click("#signin-form button[type=submit]")
        self.page.locator("body:not([data-screen=signin]):not([data-loading])").wait_for()

    def open(self) -> None:
        self.tab.open("/field")
        self.page.locator("body:not([data-loading])").wait_for()

    def shell_cached(self) -> None:
        """The service worker has installed the shell (the next visit needs no network)."""
        self.page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    def offline(self, off: bool = True) -> None:
        self.page.context.set_offline(off)

    def fill(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            field = self.page.locator(f"#f-{name}")
            if isinstance(value, bool):
                field.set_checked(value)
            elif field.evaluate("node => node.tagName") == "SELECT":
                field.select_option(str(value))
            else:
                field.fill(str(value))

    def save(self, then: str) -> None:
        self.page.click("#editor-save")
        self.screen(then)

    def add_household(self, commune: str, name: str, members: int, flags: tuple[str, ...] = (),
                      shots: bool = False) -> str:
        self.page.goto(f"{self.tab.server.url}/field/#/new/register_household")
        self.screen("editor")
        self.fill({"commune_code": commune, "head_name": name, "members": members})
        for flag in flags:
            self.page.check(f"input[name=flags][value={flag}]")
        if shots:
            self.tab.screenshot("household-form")
        self.save("household")
        return self.page.evaluate("location.hash").rpartition("/")[2]

    def assess(self, shots: bool = False, **values: Any) -> None:
        """On a household's screen: its damage assessment."""
        self.page.click("#assess")
        self.screen("editor")
        self.fill(values)
        if shots:
            self.tab.screenshot("assessment-form")
        self.save("household")

    def counts(self) -> dict[str, int]:
        found = self.page.locator("#counts li").evaluate_all(
            "nodes => nodes.map(n => [n.dataset.status, Number(n.dataset.value)])")
        return dict(found)

    def wait_counts(self, **expected: int) -> None:
        """Until the queue holds these many items in these statuses (and no others)."""
        self.page.goto(f"{self.tab.server.url}/field/#/")
        self.screen("home")
        wanted = json.dumps(expected)
        self.page.wait_for_function(f"""() => {{
            const found = Object.fromEntries([...document.querySelectorAll("#counts li")]
              .map(n => [n.dataset.status, Number(n.dataset.value)]));
            return JSON.stringify(found, Object.keys(found).sort()) === JSON.stringify({wanted}, Object.keys({wanted}).sort());
        }}""", timeout=60_000)

    def queue(self) -> None:
        self.page.goto(f"{self.tab.server.url}/field/#/queue")
        self.screen("queue")


@contextmanager
def signed_in(browser: Any, site: FieldSite, name: str, token: str | None = None) -> Iterator[FieldApp]:
    """The app on a phone of its own, signed in with `token` (a new team's by default)."""
    with tab(browser, site, name, **PHONE) as opened:
        app = FieldApp(opened)
        app.open()
        opened.screenshot("signin")
        app.sign_in(token or site.team()[1])
        yield app


def assert_recorded_once(site: FieldSite, households: list[str]) -> None:
    for household in households:
        types = site.event_types(household)
        assert (types.count("Registered"), types.count("DamageAssessed")) == (1, 1), types


def device_store(page: Any) -> dict[str, int]:
    """How many entries each of the app's IndexedDB stores holds."""
    return page.evaluate("""() => new Promise((resolve, reject) => {
        const opening = indexedDB.open("emergency-field");
        opening.onerror = () => reject(opening.error);
        opening.onsuccess = () => {
            const db = opening.result;
            const names = [...db.objectStoreNames];
            if (!names.length) return resolve({});
            const tx = db.transaction(names);
            const counts = {};
            for (const name of names) tx.objectStore(name).count().onsuccess = (e) => { counts[name] = e.target.result; };
            tx.oncomplete = () => { db.close(); resolve(counts); };
        };
    })""")


def assessment(i: int) -> dict[str, Any]:
    return {"house_damage": ["partial", "heavy", "very_heavy", "total"][i % 4], "house_class": "semi_permanent",
            "dead": i % 2, "injured": 1, "persons_short_of_food": 2, "relocation_ordered": i % 3 == 0}


def test_households_made_offline_survive_a_reload_and_are_recorded_once(browser: Any, site: FieldSite) -> None:
    with signed_in(browser, site, "field_offline") as app:
        tab = app.tab
        app.shell_cached()
        tab.screenshot("home")
        app.offline()
        households = []
        for i in range(20):
            households.append(app.add_household(COMMUNES[i % 3], f"Nguyễn Văn Hộ {i + 1}", 3 + i % 4,
                                                ("poor",) if i % 5 == 0 else (), shots=i == 0))
            app.assess(shots=i == 0, **assessment(i))
        tab.screenshot("household")
        # Corrected on the device before it is sent: the same record, sent once.
        app.page.goto(f"{site.url}/field/#/household/{households[0]}")
        app.screen("household")
        app.page.click("#household-edit")
        app.screen("editor")
        app.fill({"members": 6})
        app.save("household")

        seen = len(site.requests_logged())
        app.page.reload()
        app.screen("household")
        assert "Nguyễn Văn Hộ 1" in app.page.inner_text("#household-name")
        app.wait_counts(unsent=40)
        assert len(app.page.locator("#households li").all()) == 20
        app.queue()
        assert app.page.locator("#queue-list li[data-status=unsent]").count() == 40
        tab.screenshot("queue-offline")
        # The page, its scripts and its data came from the device alone.
        assert site.requests_logged()[seen:] == []

        app.offline(False)
        app.wait_counts(recorded=40)
        app.queue()
        tab.screenshot("queue-recorded")
        app.page.click("#clear-recorded")
        app.page.locator("#queue-empty:not([hidden])").wait_for()
        app.page.goto(f"{site.url}/field/#/")
        app.screen("home")
        assert len(app.page.locator("#households li").all()) == 20  # kept on the device until sign-out

    for i, household in enumerate(households):
        case = site.household(household)
        assert (case["head_name"], case["commune_code"]) == (f"Nguyễn Văn Hộ {i + 1}", COMMUNES[i % 3])
        assert case["members"] == (6 if i == 0 else 3 + i % 4)
        assert case["current_assessment"]["house_damage"] == assessment(i)["house_damage"]
    assert_recorded_once(site, households)


def test_a_sync_cut_off_by_a_dying_server_records_each_item_once(browser: Any, site: FieldSite) -> None:
    with signed_in(browser, site, "field_crash") as app:
        tab = app.tab
        app.offline()
        households = []
        for i in range(15):
            households.append(app.add_household(COMMUNES[i % 3], f"Trần Thị Hộ {i + 1}", 4))
            app.assess(**assessment(i))

        # The first batch reaches the server and is recorded; the server dies before it answers.
        def die_before_answering(route: Any) -> None:
            route.fetch()
            site.serve.kill()
            route.abort("connectionreset")
        app.page.route("**/sync", die_before_answering, times=1)
        tab.expect_console_error("net::ERR_CONNECTION_RESET")
        tab.expect_console_error("net::ERR_CONNECTION_REFUSED")
        try:
            app.offline(False)
            app.queue()
            app.page.locator("#queue-state[data-phase=retry]").wait_for()
            unanswered = app.page.locator("#queue-list li", has_text="chưa rõ kết quả")
            unanswered.nth(24).wait_for()  # the list is drawn after the phase is shown
            assert unanswered.count() == 25  # one batch: sent, no answer
            assert app.page.locator("#queue-list li[data-status=unsent] a.fix").count() == 5  # may be corrected
            tab.screenshot("queue-no-answer")
        finally:
            assert site.serve.process is not None
            if site.serve.process.poll() is not None:
                site.serve.start()  # the other tests of the module share this server
        app.page.click("#queue-sync")
        app.wait_counts(recorded=30)
        app.queue()
        # The batch the server had recorded is answered from its first time.
        assert app.page.locator("#queue-list li", has_text="đã ghi nhận từ trước").count() == 25
        tab.screenshot("queue-after-restart")
    assert_recorded_once(site, households)


def rescope(site: FieldSite, app: FieldApp, old_id: str, old_token: str, *scope: str) -> str:
    """While the phone is offline, its team's token is revoked and a new one made for `scope`; the phone
    comes back online (and is asked to sign in again). Returns the new token."""
    site.tokens.revoke(old_id)
    _, new_token = site.team(*scope)
    deadline = time.monotonic() + REVOCATION_SECONDS
    while site.call("GET", "/field/session", old_token)[0] != 401:
        assert time.monotonic() < deadline, "the revoked token is still accepted"
        time.sleep(0.5)
    app.tab.expect_console_error("status of 401")
    app.tab.expect_console_error("status of 403")
    app.offline(False)
    return new_token


def test_a_refused_household_is_shown_beside_its_field_and_recorded_once_corrected(
        browser: Any, site: FieldSite) -> None:
    old_id, old_token = site.team()
    with signed_in(browser, site, "field_refused", old_token) as app:
        tab = app.tab
        app.offline()
        moved = app.add_household(COMMUNES[1], "Lê Văn Chuyển", 5)
        app.assess(**assessment(3))
        stays = app.add_household(COMMUNES[0], "Phạm Thị Ở", 2)
        app.assess(**assessment(1))

        # Meanwhile the team is given the one commune it now covers, under a new token.
        new_token = rescope(site, app, old_id, old_token, COMMUNES[0])
        app.screen("signin")
        assert "4" in app.page.inner_text("#signin-again")  # nothing made on the device is lost
        tab.screenshot("signin-again")
        app.sign_in(new_token)
        app.wait_counts(recorded=2, refused=1, held=1)

        app.queue()
        refused = app.page.locator("#queue-list li[data-status=refused]")
        assert "Lê Văn Chuyển" in refused.inner_text()
        assert refused.locator(".item-error").get_attribute("data-field") == "commune_code"
        assert f"commune {COMMUNES[1]} is outside your scope" in refused.inner_text()
        assert app.page.locator("#queue-list li[data-status=held]").count() == 1
        tab.screenshot("queue-refused")

        refused.locator("a.fix").click()
        app.screen("editor")
        beside = app.page.locator(".field[data-field=commune_code] .field-error")
        assert "Ngoài phạm vi" in beside.inner_text()
        assert f"commune {COMMUNES[1]} is outside your scope" in beside.inner_text()
        tab.screenshot("refused-form")
        app.page.click("#lang")
        app.page.locator(".field[data-field=commune_code] .field-error", has_text="Outside your access token").wait_for()
        tab.screenshot("refused-form-en")
        app.page.click("#lang")
        app.fill({"commune_code": COMMUNES[0]})
        app.save("household")
        app.wait_counts(recorded=4)

    case = site.household(moved)
    assert (case["commune_code"], case["assessments"]) == (COMMUNES[0], 1)
    assert_recorded_once(site, [moved, stays])


def test_a_disbursement_and_its_receipt_recorded_offline(browser: Any, site: FieldSite) -> None:
    with signed_in(browser, site, "field_payment") as app:
        tab = app.tab
        household = app.add_household(COMMUNES[2], "Hoàng Văn Nhận", 4)
        app.assess(house_damage="total", dead=1, persons_short_of_food=4)
        # Online: the server's answer names what the household is entitled to.
        app.page.locator("#entitlements li[data-support=BURIAL]").wait_for()
        owed = site.household(household)["entitlements"]
        burial = next(e for e in owed if e["support_type"] == "BURIAL")["amount_vnd"]

        app.offline()
        app.page.click("#disburse")
        app.screen("editor")
        app.fill({"support_type": "BURIAL", "form": "cash", "amount_vnd": burial + 1, "delivered_by": "Cán bộ xã"})
        app.page.click("#editor-save")
        app.page.locator(".field[data-field=amount_vnd].invalid").wait_for()  # more than is owed, caught on the device
        app.fill({"amount_vnd": burial})
        tab.screenshot("disbursement-form")
        app.save("household")
        app.page.locator("#household-records li[data-command=record_disbursement] a", has_text="Xác nhận").click()
        app.screen("editor")
        app.fill({"confirmed_by": "Hoàng Văn Nhận", "method": "thumbprint"})
        tab.screenshot("receipt-form")
        app.save("household")
        app.page.reload()
        app.screen("household")
        app.offline(False)
        app.wait_counts(recorded=4)

    case = site.household(household)
    [paid] = case["disbursements"]
    assert (paid["support_type"], paid["amount_vnd"], paid["receipt"]["method"]) == ("BURIAL", burial, "thumbprint")


def test_sign_out_waits_for_the_queue_then_wipes_the_device(browser: Any, site: FieldSite) -> None:
    with signed_in(browser, site, "field_signout") as app:
        tab = app.tab
        app.offline()
        household = app.add_household(COMMUNES[0], "Đỗ Thị Rời", 3)
        # A household registered twice by mistake is discarded before it is sent.
        twice = app.add_household(COMMUNES[0], "Đỗ Thị Rời", 3)
        app.page.click("#household-edit")
        app.screen("editor")
        app.page.click("#editor-discard")
        app.screen("home")
        assert app.page.locator("#households li").evaluate_all("rows => rows.map(r => r.dataset.household)") == [
            household]
        app.page.goto(f"{site.url}/field/#/household/{household}")
        app.screen("household")
        app.page.click("#sign-out")
        app.told("Còn 1 hồ sơ")  # one record is not sent yet: nothing is wiped
        app.screen("household")
        app.offline(False)
        app.wait_counts(recorded=1)
        app.page.click("#sign-out")
        app.screen("signin")
        tab.screenshot("signed-out")
        assert not any(device_store(app.page).values())  # no token, no record
        app.page.reload()
        app.screen("signin")
        assert app.page.locator("#signin-again").is_hidden()
    assert site.household(household)["head_name"] == "Đỗ Thị Rời"
    assert site.call("GET", f"/households/{twice}", site.coordinator)[0] == 404


def requests_arrived(site: FieldSite, commune: str, expected: int) -> int:
    """How many requests for help the server counts in `commune`, once the count has reached `expected`
    (or the wait ran out: then what it counts)."""
    deadline = time.monotonic() + 15
    while True:
        rows = site.get("/request-counts", site.coordinator)["communes"]
        arrived = next((r["arrived"] for r in rows if r["commune_code"] == commune), 0)
        if arrived >= expected or time.monotonic() > deadline:
            return arrived
        time.sleep(0.3)


def add_request(app: FieldApp, opened_from: str, then: str, **values: Any) -> None:
    app.page.click(opened_from)
    app.screen("editor")
    app.fill(values)
    app.save(then)


def test_requests_for_help_recorded_offline_are_recorded_once_with_their_reference(
        browser: Any, site: FieldSite) -> None:
    before = requests_arrived(site, COMMUNES[2], 0)
    with signed_in(browser, site, "field_request") as app:
        tab = app.tab
        app.offline()
        app.page.click("#new-request")
        app.screen("editor")
        app.fill({"commune_code": COMMUNES[2], "village": "Thôn Đông", "phone": "0912", "kind": "disputes_payment",
                  "description": "Chưa nhận tiền hỗ trợ nhà sập"})
        app.page.click("#editor-save")
        app.page.locator(".field[data-field=phone].invalid").wait_for()  # the command's pattern, checked on the device
        app.fill({"phone": "0912 345 678"})
        tab.screenshot("request-form")
        app.save("home")
        household = app.add_household(COMMUNES[2], "Vũ Thị Hỏi", 3)
        # A household's request is about its commune, and waits for its household to be recorded.
        add_request(app, "#household-request", "household", village="Thôn Tây", phone="+84 912 000 111",
                    description="Nhà bị tốc mái, chưa ai đến đánh giá")
        app.wait_counts(unsent=3)

        # The first sending reaches the server, which records it; its answer is lost.
        def lose_answer(route: Any) -> None:
            route.fetch()
            route.abort("connectionreset")
        app.page.route("**/sync", lose_answer, times=1)
        tab.expect_console_error("net::ERR_CONNECTION_RESET")
        app.offline(False)
        app.wait_counts(recorded=3)  # sent again by itself
        app.queue()
        requests = app.page.locator("#queue-list li[data-command=file_request]")
        assert requests.count() == 2
        assert app.page.locator("#queue-list li", has_text="đã ghi nhận từ trước").count() == 3  # sent again, once
        references = [row.locator(".reference").inner_text().rpartition(" ")[2] for row in requests.all()]
        tab.screenshot("queue-requests")
        app.page.goto(f"{site.url}/field/#/household/{household}")
        app.screen("household")
        assert references[1] in app.page.inner_text("#household-records li[data-command=file_request]")

    assert requests_arrived(site, COMMUNES[2], before + 2) == before + 2
    recorded = [site.get(f"/requests/{request_id_for(r)}", site.coordinator) for r in references]
    assert [(r["commune_code"], r["village"], r["kind"], r["household_id"]) for r in recorded] == [
        (COMMUNES[2], "Thôn Đông", "disputes_payment", None), (COMMUNES[2], "Thôn Tây", "not_assessed", household)]


def test_a_refused_request_is_shown_beside_its_field_and_recorded_once_corrected(
        browser: Any, site: FieldSite) -> None:
    before = requests_arrived(site, COMMUNES[0], 0), requests_arrived(site, COMMUNES[1], 0)
    old_id, old_token = site.team()
    with signed_in(browser, site, "field_request_refused", old_token) as app:
        tab = app.tab
        app.offline()
        add_request(app, "#new-request", "home", commune_code=COMMUNES[1], village="Thôn Bắc", phone="0987654321",
                    description="Chưa được đánh giá thiệt hại")
        new_token = rescope(site, app, old_id, old_token, COMMUNES[0])
        app.screen("signin")
        app.sign_in(new_token)
        app.wait_counts(refused=1)

        app.queue()
        refused = app.page.locator("#queue-list li[data-status=refused]")
        assert refused.locator(".item-error").get_attribute("data-field") == "commune_code"
        refused.locator("a.fix").click()
        app.screen("editor")
        beside = app.page.locator(".field[data-field=commune_code] .field-error")
        assert f"commune {COMMUNES[1]} is outside your scope" in beside.inner_text()
        tab.screenshot("request-refused-form")
        app.fill({"commune_code": COMMUNES[0]})
        app.save("home")
        app.wait_counts(recorded=1)
        app.queue()
        reference = app.page.locator("#queue-list li[data-command=file_request] .reference").inner_text()

    assert requests_arrived(site, COMMUNES[0], before[0] + 1) == before[0] + 1
    assert requests_arrived(site, COMMUNES[1], before[1]) == before[1]
    assert site.get(f"/public/requests/{reference.rpartition(' ')[2]}")["status"] == "open"
