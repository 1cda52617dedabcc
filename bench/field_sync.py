"""The field app at a season's size, in Chromium against a local `emergency serve`.

    python bench/field_sync.py [--stores sqlite,postgres] [--queued 5000] [--synced 1000]

For each store: a fresh store, `emergency serve` on it (JSON logs,
read-your-writes on, as deployed), one incident, a field team's token. Then
two phones (browser contexts of their own, each its own IndexedDB):

- held: signs in, goes offline and queues `--queued` records (households and
  their assessments, half each), made through the app's own records module,
  the one its forms call. Measured: making them, opening the app again
  offline with them (reload to the home screen shown, then the queue screen),
  what IndexedDB holds (`navigator.storage.estimate`) and the page's
  JavaScript heap; then going online, the whole queue sent.
- synced: queues `--synced` records offline the same way, then goes online:
  from the `online` event to the last one shown recorded, with records/s and
  the batches (`POST /sync`) the server logged.

The server is checked to hold every household and assessment exactly once.
Needs Chromium and Playwright (the test extras); EMERGENCY_CHROMIUM names the
browser (default /usr/bin/chromium). Writes bench/results/field_sync.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from common import Server, fresh_store, print_table, timed, write_results
from playwright.sync_api import sync_playwright

from api.tokens import TokenStore  # noqa: E402
from infra.settings import Settings  # noqa: E402

CHROMIUM = os.environ.get("EMERGENCY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PHONE = {"viewport": {"width": 412, "height": 915}, "is_mobile": True, "has_touch": True,
         "timezone_id": "Asia/Ho_Chi_Minh", "locale": "vi-VN"}
PROVINCE, COMMUNES = "31", ["11311", "11455", "11914", "11948"]  # Hải Phòng: Hồng Bàng, Đồ Sơn, Cát Hải, Bạch Long Vĩ
WAIT_MS = 30 * 60_000
COLUMNS = ["store", "phone", "records", "make_s", "reopen_home_s", "reopen_queue_s", "stored_mib", "heap_mib",
           "sync_s", "records_per_s", "batch", "batches"]

# What a worker's forms would make, in bulk: one household and its assessment per step.
MAKE = """async ({ count, incident, communes }) => {
  const records = await import("/static/js/field/records.js");
  const started = performance.now();
  for (let i = 0; i < count / 2; i++) {
    const household = await records.make("register_household", {
      incident_id: incident, commune_code: communes[i % communes.length], head_name: `Hộ thử ${i + 1}`,
      members: 1 + (i % 6), flags: i % 7 ? [] : ["poor"] }, incident);
    await records.make("assess_damage", {
      household_id: household.record, assessed_at: new Date().toISOString(), house_damage: "heavy",
      injured: i % 2, persons_short_of_food: 1 }, incident);
  }
  return (performance.now() - started) / 1000;
}"""
RECORDED = """count => Number(document.querySelector("#counts li[data-status=recorded]")?.dataset.value || 0) === count
  && !document.querySelector("#counts li[data-status=unsent], #counts li[data-status=sending]")"""


def call(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def open_incident(base: str, coordinator: str) -> str:
    started = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    return call(base, "POST", "/incidents", coordinator, {
        "incident_type": "storm", "title": "Bão thử", "started_at": started,
        "areas": [{"province_code": PROVINCE, "commune_codes": COMMUNES}]})["result"]["incident_id"]


def recorded_once(base: str, auditor: str, incident: str) -> tuple[int, int]:
    """(households, assessments) recorded, each checked to be recorded once."""
    seen: dict[str, list[str]] = {}
    after = 0
    while page := call(base, "GET", f"/events?after={after}&limit=1000", auditor)["events"]:
        for e in page:
            if e["aggregate_type"] == "HouseholdCase" and e["type"] in ("Registered", "DamageAssessed"):
                seen.setdefault(e["aggregate_id"], []).append(e["type"])
        after = page[-1]["notification_id"]
    assert all(sorted(types) in (["DamageAssessed", "Registered"], ["Registered"]) for types in seen.values()), \
        "a household or an assessment was recorded twice"
    return len(seen), sum("DamageAssessed" in types for types in seen.values())


class Phone:
    """One device: a browser context with the app signed in."""

    def __init__(self, browser: Any, base: str, token: str):
        self.context = browser.new_context(**PHONE)
        self.context.set_default_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.page.goto(base + "/field/")
        self.page.fill("#token", token)
        self.page.click("#signin-form button[type=submit]")
        self.screen("home")
        self.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        self.batch = self.page.evaluate('import("/static/js/field/sync.js").then(sync => sync.BATCH)')

    def screen(self, name: str) -> None:
        self.page.locator(f"body[data-screen={name}]:not([data-loading])").wait_for()

    def queue(self, count: int, incident: str) -> float:
        self.context.set_offline(True)
        return self.page.evaluate(MAKE, {"count": count, "incident": incident, "communes": COMMUNES})

    def sync(self, count: int) -> float:
        """Online again: seconds until every queued record shows recorded."""
        self.page.goto(self.page.url.split("#")[0] + "#/")
        self.screen("home")
        started = time.perf_counter()
        self.context.set_offline(False)
        self.page.wait_for_function(RECORDED, arg=count, polling=100)
        return timed(started)


def held(browser: Any, base: str, token: str, incident: str, count: int) -> dict[str, Any]:
    phone = Phone(browser, base, token)
    made = phone.queue(count, incident)
    started = time.perf_counter()
    phone.page.reload()
    phone.screen("home")
    home = timed(started)
    started = time.perf_counter()
    phone.page.click("#open-queue")
    phone.screen("queue")
    queue = timed(started)
    stored = phone.page.evaluate("navigator.storage.estimate().then(e => e.usage)")
    heap = phone.page.evaluate("performance.memory.usedJSHeapSize")
    seconds = phone.sync(count)
    phone.context.close()
    return {"phone": "held", "batch": phone.batch, "records": count, "make_s": round(made, 2), "reopen_home_s": round(home, 2),
            "reopen_queue_s": round(queue, 2), "stored_mib": round(stored / 2**20, 1),
            "heap_mib": round(heap / 2**20, 1), "sync_s": round(seconds, 1), "records_per_s": round(count / seconds)}


def synced(browser: Any, base: str, token: str, incident: str, count: int) -> dict[str, Any]:
    phone = Phone(browser, base, token)
    made = phone.queue(count, incident)
    seconds = phone.sync(count)
    phone.context.close()
    return {"phone": "synced", "batch": phone.batch, "records": count, "make_s": round(made, 2), "sync_s": round(seconds, 1),
            "records_per_s": round(count / seconds)}


def sync_requests(log: Path) -> int:
    with log.open() as handle:
        return sum('"path": "/sync"' in line and '"event": "request"' in line for line in handle)


def measure(kind: str, args: argparse.Namespace, browser: Any, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    with fresh_store(kind, "field") as url:
        log = workdir / f"serve-{kind}.log"
        server = Server(url, log)
        try:
            tokens = TokenStore.from_settings(Settings(database_url=url))
            coordinator = tokens.create("bench coordinator", "coordinator")[1]
            auditor = tokens.create("bench auditor", "auditor")[1]
            team = tokens.create("bench team", "field", (PROVINCE,))[1]
            incident = open_incident(server.base, coordinator)
            for run, count in ((held, args.queued), (synced, args.synced)):
                before = sync_requests(log)
                row = run(browser, server.base, team, incident, count)
                rows.append({"store": kind, **row, "batches": sync_requests(log) - before})
                print(f"{kind} {row['phone']}: {row}", flush=True)
            households, assessments = recorded_once(server.base, auditor, incident)
            assert (households, assessments) == ((args.queued + args.synced) // 2,) * 2, (households, assessments)
        finally:
            server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--queued", type=int, default=5000, help="records held on one phone (even)")
    parser.add_argument("--synced", type=int, default=1000, help="records of the timed sync (even)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for kind in args.stores.split(","):
                results += measure(kind, args, browser, Path(workdir))
        finally:
            browser.close()
    print_table("The field app: records held on a phone, and synced", results, COLUMNS)
    write_results("field_sync", {"queued": args.queued, "synced": args.synced}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
