"""The pages in a browser at disaster scale: how long until a person sees figures.

    python bench/pages.py [--lines 400000] [--stores sqlite,postgres] [--runs 5]
                          [--pages public,dashboard] [--dashboard-store URL] [--live-seconds 180]

Set-up (not timed; built once and cached in bench/cache/, which git
ignores): the synthetic relief campaign of the tests
(`emergency.campaign_scenario`) with a bank statement of `--lines` transfers
into the central fund (a day of Yagi transfers into one account), 6
provinces of 10 communes of 100 households each, allocated and paid, its
projections made current. On SQLite a folder of files, on PostgreSQL a
schema; a store whose build was interrupted is built again.

Measured with `emergency serve` as a subprocess on the same machine and
Debian's Chromium through Playwright, as the browser tests drive it, each
step `--runs` times in a fresh browser context (nothing cached), p50 and max:
- public page (`/transparency`): navigation to the first figures (the totals
  drawn); a deep page of the contributions list (from a moment late in the
  day), then the page after it; a name search in that list (the page waits
  300 ms after the last keystroke, counted here); "find my transfer" by a
  reference from the statement's last hour.
- dashboard (`/dashboard`, on `--dashboard-store URL`, such as the cached
  400,000-household store of `bench/read_scale.py`, by default each campaign
  store itself, whose incident has 6,000 households): navigation to the first
  headline figures; to the drawn trend; a slider move to a moment of the
  incident's first days (3 days after its start, 6 hours later each run, so
  that no run is answered from the one before) as now known (the page's
  default), and the switch to as known then, each until the headline shows
  that point; the commune search by part of an official name; and, once,
  the requests the page makes in
  `--live-seconds` of live viewing, per kind, with how many started while one
  of their kind was still running.
Writes bench/results/pages.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from common import ROOT, Server, drop_schemas, postgres_base, print_table, schema_url, write_results
from tqdm import tqdm

from api.tokens import TokenStore  # noqa: E402
from emergency import clock  # noqa: E402
from emergency.campaign_scenario import CampaignConfig, run_campaign  # noqa: E402
from infra.cli.views import catch_up  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service  # noqa: E402
from projections.catalog import open_views  # noqa: E402
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, RequestLog  # noqa: E402

CACHE = ROOT / "bench" / "cache"
PROVINCES, COMMUNES, HOUSEHOLDS = 6, 10, 100
TARGETS_MS = {"public: first figures": 2000, "dashboard: first headline figures": 2000,
              "dashboard: trend drawn": 3000, "dashboard: slider, as known then": 1000,
              "dashboard: slider, as now known": 1000}
TREND_POINTS = 24
TIMEOUT_MS = 600_000  # a step that takes longer is reported as failed, not waited for


# ----- the cached store ------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """A store the pages are measured on, and what the benchmark needs to know of it."""

    kind: str
    location: str  # a SQLite events file, or a PostgreSQL schema of the test server
    campaign_id: str
    incident_id: str
    lines: int
    statement: str  # the imported bank statement: references and names to look up

    @property
    def url(self) -> str:
        """The events' URL; the views and tokens are beside them (Settings' defaults)."""
        return f"sqlite:///{self.location}" if self.kind == "sqlite" else schema_url(_postgres(), self.location)


def _postgres() -> str:
    base = postgres_base()
    if not base:
        raise SystemExit("PostgreSQL: set EMERGENCY_TEST_POSTGRES_URL (eval \"$(infra/services.sh)\")")
    return base


def campaign_store(kind: str, lines: int) -> Store:
    """The cached store of a `lines`-transfer campaign, built on first use, its projections brought up to date."""
    CACHE.mkdir(parents=True, exist_ok=True)
    meta = CACHE / f"pages-{kind}-{lines}.json"
    if meta.exists():
        store = Store(**json.loads(meta.read_text()))
        _project(store.url, "bringing the projections up to date")  # a projection's new version rebuilds it
        return store
    folder = CACHE / f"pages-{kind}-{lines}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    if kind == "sqlite":
        location = str(folder / "events.sqlite")
    else:
        location = f"bench_pages_{lines}"
        drop_schemas(_postgres(), [location])
    store = _build(kind, location, lines, folder / "statement.csv")
    meta.write_text(json.dumps(asdict(store), indent=1) + "\n")
    return store


def _build(kind: str, location: str, lines: int, statement: Path) -> Store:
    url = f"sqlite:///{location}" if kind == "sqlite" else schema_url(_postgres(), location)
    service = build_service(Settings(database_url=url))
    config = CampaignConfig(statement=statement, contributions=lines, provinces=PROVINCES,
                            communes_per_province=COMMUNES, households_per_commune=HOUSEHOLDS)
    try:
        with tqdm(unit=" commands", desc=f"recording a {lines:,}-line campaign on {kind} (once)") as bar:
            report = run_campaign(service, config, progress=bar.update)
    finally:
        service.app.close()
    _project(url, "projecting (once)")
    return Store(kind, location, str(report.campaign_id), str(report.incident_id), lines, str(statement))


def _project(url: str, desc: str) -> None:
    settings = Settings(database_url=url)
    service = build_service(settings)
    views = open_views(settings)
    try:
        catch_up(service, views, desc)
    finally:
        views.store.close()
        service.app.close()


def statement_lines(store: Store) -> list[dict[str, str]]:
    with open(store.statement, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ----- the browser -------------------------------------------------------------------


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def tab(browser: Any, token: str | None = None) -> Iterator[Any]:
    """A page in a fresh context (no cache, no storage), signed in with `token` if given."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    if token:
        page.add_init_script(f"sessionStorage.setItem('emergency.token', {token!r})")
    try:
        yield page
    finally:
        context.close()


def seconds(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def settled(page: Any) -> None:
    page.locator("body:not([data-loading])").wait_for()


# ----- the public page -----------------------------------------------------------------


def public_run(browser: Any, base: str, store: Store, lines: list[dict[str, str]], run: int) -> dict[str, float]:
    """One run of the public page's steps: step -> seconds."""
    late = lines[len(lines) * (90 + run) // 100]  # a moment in the day's last tenth, another each run
    transfer = lines[-1 - run * 997]
    name = " ".join(late["remitter"].lower().split()[:2])
    found: dict[str, float] = {}
    with tab(browser) as page:
        found["public: first figures"] = seconds(lambda: (
            page.goto(f"{base}/transparency#campaign={store.campaign_id}"),
            page.locator("#total-received[data-value]").wait_for()))
        page.locator("#disclosure tbody tr").first.wait_for()
        settled(page)
        moment = datetime.fromisoformat(late["date"]).astimezone(clock.VIETNAM)

        def deep() -> None:
            page.fill("#disclosure-since", moment.strftime("%Y-%m-%dT%H:%M:%S"))
            page.locator("#disclosure-since").dispatch_event("change")
            page.locator(f"#disclosure tbody tr[data-reference='{late['reference']}']").wait_for()
        found["public: deep contributions page"] = seconds(deep)
        settled(page)
        found["public: the page after it"] = seconds(lambda: (
            page.click("#disclosure-pager [data-page=next]"),
            page.locator("#disclosure-pager [data-page-number]", has_text="2").wait_for(),
            settled(page)))
        found["public: name search"] = seconds(lambda: (
            page.fill("#search", name),
            page.wait_for_function("() => !document.body.dataset.loading && document.querySelector("
                                   "'#disclosure-pager [data-page-number]').textContent.includes('1')"),
            page.locator("#disclosure tbody tr").first.wait_for()))
        found["public: find my transfer"] = seconds(lambda: (
            page.fill("#reference", transfer["reference"]),
            page.click("#trace-form button[type=submit]"),
            page.locator("#trace-result .transfer").wait_for()))
    return found


# ----- the dashboard -----------------------------------------------------------------------


def dashboard_run(browser: Any, base: str, token: str, incident: dict[str, Any], run: int) -> dict[str, float]:
    """One run of the dashboard's steps: step -> seconds."""
    found: dict[str, float] = {}
    with tab(browser, token) as page:
        started = time.perf_counter()
        page.goto(f"{base}/dashboard#incident={incident['incident_id']}")
        page.locator("#kpi-timely[data-value]").wait_for()
        found["dashboard: first headline figures"] = time.perf_counter() - started
        page.wait_for_function(f"() => Chart.getChart('trend-chart')?.data.datasets[0]?.data.length "
                               f"=== {TREND_POINTS}")
        found["dashboard: trend drawn"] = time.perf_counter() - started
        found.update(slider_moves(page, incident, run))
        found["dashboard: commune search"] = commune_search(page)
    return found


def slider_moves(page: Any, incident: dict[str, Any], run: int) -> dict[str, float]:
    """The slider moved to a past moment (as now known, the page's default), then the other axis, each until
    the headline shows that moment."""
    moment = datetime.fromisoformat(incident["started_at"]) + timedelta(days=3, hours=6 * run)
    steps = int(moment.timestamp() // (15 * 60))  # the slider's unit
    shown = f"{steps * 15 * 60 * 1000}"

    def moved() -> None:
        page.evaluate("""(value) => { const s = document.getElementById('asof-slider'); s.value = value;
                                      s.dispatchEvent(new Event('change')); }""", steps)
        page.wait_for_function(f"""() => {{ const b = document.getElementById('board');
            return b.dataset.known === 'now' && Date.parse(b.dataset.at) === {shown}; }}""")
    known_now = seconds(moved)

    def switched() -> None:
        page.select_option("#asof-known", "then")
        page.locator("#board[data-known=then]").wait_for()
    return {"dashboard: slider, as now known": known_now, "dashboard: slider, as known then": seconds(switched)}


def commune_search(page: Any) -> float:
    """The commune search, from typing part of a commune's official name to the table showing it (the page
    waits 300 ms after the last keystroke, counted here)."""
    box = page.locator("#commune-search")
    last = page.locator("#communes tbody tr").last  # of the first page, widest gap first
    part = last.locator("td").first.inner_text().split()[-1]
    # Found once every row shown has that name (the first page before the search rarely does), compared
    # folded as the server searches: without case, tone marks or the stroke of đ.
    found = f"""() => {{ const fold = (s) => s.normalize('NFD').replace(/[\\u0300-\\u036f]/g, '')
                                       .replace(/[đĐ]/g, 'd').toLowerCase();
        const names = [...document.querySelectorAll('#communes tbody tr td:first-child')];
        return names.length > 0 && names.every((n) => fold(n.textContent).includes(fold({json.dumps(part)}))); }}"""
    return seconds(lambda: (box.fill(part), page.wait_for_function(found), settled(page)))


def live_requests(browser: Any, base: str, token: str, incident: dict[str, Any], duration: float) -> list[dict]:
    """The requests the dashboard makes while live for `duration` seconds, per kind."""
    with tab(browser, token) as page:
        log = RequestLog().watch(page)
        page.goto(f"{base}/dashboard#incident={incident['incident_id']}")
        page.locator("#kpi-timely[data-value]").wait_for()
        page.wait_for_timeout(duration * 1000)
        rows = []
        for kind in ("headline", "provinces", "communes", "overdue", "trend"):
            mine = log.of(kind)
            rows.append({"kind": kind, "requests": len(mine), "unfinished": sum(r.ended is None for r in mine),
                         "aborted": sum(r.failed for r in mine), "most_in_flight": log.most_in_flight(kind),
                         "started_while_running": log.started_while_running(kind)})
        return rows


# ----- the runs ------------------------------------------------------------------------


Steps = dict[tuple[str, str], list[float]]  # (store, step) -> seconds of each run


def public_steps(browser: Any, store: Store, runs: int, steps: Steps) -> None:
    lines = statement_lines(store)
    with running(store.url, "public") as server:
        for run in tqdm(range(runs), desc=f"public page, {store.kind}"):
            for step, value in public_run(browser, server.base, store, lines, run).items():
                steps.setdefault((store.kind, step), []).append(value)


def dashboard_steps(browser: Any, url: str, label: str, incident_id: str | None, runs: int, live_seconds: float,
                    steps: Steps) -> list[dict]:
    """The dashboard's steps on the store at `url`, into `steps`; the live viewing's requests, per kind."""
    with running(url, "dashboard") as server:
        token = TokenStore.from_settings(Settings(database_url=url)).create("bench/pages.py", "coordinator")[1]
        incident = _incident(server, token, incident_id)
        for run in tqdm(range(runs), desc=f"dashboard, {label}"):
            for step, value in dashboard_run(browser, server.base, token, incident, run).items():
                steps.setdefault((label, step), []).append(value)
        print(f"live viewing for {live_seconds:.0f} s", flush=True)
        return [{"store": label, **row} for row in live_requests(browser, server.base, token, incident,
                                                                 live_seconds)]


@contextmanager
def running(url: str, tag: str) -> Iterator[Server]:
    log = CACHE / f"serve-{tag}.log"
    server = Server(url, log, read_your_writes=0)
    try:
        yield server
    finally:
        server.stop()


def _incident(server: Server, token: str, wanted: str | None) -> dict[str, Any]:
    """The incident the dashboard shows: the one wanted, or else the store's first."""
    request = urllib.request.Request(f"{server.base}/dashboard/session", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        incidents = json.loads(response.read())["incidents"]
    return next((i for i in incidents if i["incident_id"] == wanted), incidents[0])


def _described(url: str | None) -> str | None:
    """A store's URL without its credentials (the results are shared)."""
    if url is None:
        return None
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() \
        if parts.hostname else url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=400_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", default="public,dashboard")
    parser.add_argument("--dashboard-store", action="append", metavar="URL[#INCIDENT]", help=(
        "a store the dashboard is measured on (an events URL, with the incident to open after '#'; default: "
        "each campaign store); may be given for several stores"))
    parser.add_argument("--live-seconds", type=float, default=180)
    args = parser.parse_args()
    pages = set(args.pages.split(","))
    steps: Steps = {}
    live: list[dict] = []
    with chromium() as browser:
        own = "public" in pages or ("dashboard" in pages and not args.dashboard_store)
        for kind in args.stores.split(",") if own else ():
            store = campaign_store(kind, args.lines)
            if "public" in pages:
                public_steps(browser, store, args.runs, steps)
            if "dashboard" in pages and not args.dashboard_store:
                live += dashboard_steps(browser, store.url, kind, store.incident_id, args.runs, args.live_seconds,
                                        steps)
        for given in args.dashboard_store or () if "dashboard" in pages else ():
            url, _, incident = given.partition("#")
            label = f"given {'postgres' if url.startswith('postgres') else 'sqlite'}"
            live += dashboard_steps(browser, url, label, incident or None, args.runs, args.live_seconds, steps)
    rows = [{"store": label, "step": step, "runs": len(values), "p50_ms": round(statistics.median(values) * 1000),
             "max_ms": round(max(values) * 1000), "target_ms": TARGETS_MS.get(step)}
            for (label, step), values in steps.items()]
    print_table(f"Pages, p50 and max of {args.runs} runs (campaign stores of {args.lines:,} transfers)", rows,
                ["store", "step", "runs", "p50_ms", "max_ms", "target_ms"])
    print_table(f"Requests in {args.live_seconds:.0f} s of live viewing (dashboard)", live,
                ["store", "kind", "requests", "unfinished", "aborted", "most_in_flight", "started_while_running"])
    write_results("pages", {"lines": args.lines, "runs": args.runs, "pages": args.pages,
                            "dashboard_stores": [_described(u) for u in args.dashboard_store or ()],
                            "live_seconds": args.live_seconds, "households": PROVINCES * COMMUNES * HOUSEHOLDS},
                  rows + [{"live": row} for row in live], TARGETS_MS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
