// The coordinator dashboard: timely coverage of one incident against the
// 100% target, now (live, pushed over SSE) or at a past moment (as-of).

import { ApiError, follow, getJson } from "./api.js";
import { provinceChart, setProvinces, setTrend, trendChart } from "./charts.js";
import { $, busy, el, fillRows, meter, setFigure } from "./dom.js";
import { DuplicatesPanel } from "./duplicates.js";
import * as f from "./format.js";
import { labelOr, setupToggle, t } from "./i18n.js";
import { Loads } from "./loads.js";
import { Pager } from "./pager.js";

const TOKEN_KEY = "emergency.token";
const TREND_POINTS = 24;
const OVERDUE_PAGE = 25;
const COMMUNE_PAGE = 25;
// Searching as one types: wait for a pause before asking.
const SEARCH_PAUSE_MS = 300;
// After a pushed change, wait this long for more before re-reading the breakdowns.
const SETTLE_MS = 600;
// Cases turn overdue by the clock alone, with no event: re-read this often
// (`?refresh=<seconds>` sets another period, for trying the page out).
const CLOCK_REFRESH_MS = refreshPeriod(new URLSearchParams(location.search).get("refresh"));
const SLIDER_STEP_MS = 15 * 60_000;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  session: null,
  incident: null,
  provinces: {},
  asOf: null, // ms since epoch; null: live
  known: "now", // README, "Dashboard": why "as now known" leads
  province: null, // filter for communes, the overdue list and the possible duplicates
  headline: null,
  byProvince: [],
  communes: { rows: [], total: 0, offset: 0 }, // one page of them
  communeSearch: "",
  communeSort: "gap",
  overdue: null,
  trend: null, // [{at, coverage}] for the moment shown
  stopLive: null,
  shown: 0, // counts the moments asked for: a load waiting for another starts only if still wanted
  failed: new Set(), // kinds whose last load failed
  settleTimer: null,
};

const charts = {};
const loads = new Loads();
let overduePager = null;
let duplicates = null;

function refreshPeriod(seconds) {
  const asked = Number(seconds) * 1000;
  return Number.isFinite(asked) && asked >= 5 ? Math.min(asked, 3_600_000) : 60_000;
}

// ----- sign-in ---------------------------------------------------------------

function showSignIn(message = "") {
  $("signin").hidden = false;
  $("board").hidden = true;
  $("incident-pick").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  $("signin-error").textContent = message;
  $("token").focus();
}

async function signIn(token) {
  try {
    state.session = await getJson("/dashboard/session", { token });
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    const key = error.status === 401 ? "signin.unknown" : error.status === 403 ? "signin.forbidden" : "signin.failed";
    showSignIn(t(key, { message: error.message }));
    return;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("who").hidden = false;
  $("who").textContent = state.session.name;
  $("sign-out").hidden = false;
  const incidents = state.session.incidents;
  $("no-incident").hidden = incidents.length > 0;
  if (!incidents.length) return;
  $("incident-pick").hidden = false;
  $("incident").replaceChildren(...incidents.map((i) => el("option", { value: i.incident_id }, `${i.title} · ${f.dateTime(i.started_at)}`)));
  const wanted = new URLSearchParams(location.hash.slice(1)).get("incident");
  openIncident(incidents.find((i) => i.incident_id === wanted) || incidents[0]);
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  stopLive();
  loads.abortAll();
  state.token = state.session = state.incident = null;
  showSignIn();
}

// ----- incident, live and as-of ----------------------------------------------

function openIncident(incident) {
  state.incident = incident;
  state.province = null;
  duplicates.reset();
  $("incident").value = incident.incident_id;
  history.replaceState(null, "", `#incident=${incident.incident_id}`);
  $("board").hidden = false;
  goLive();
}

function sliderBounds() {
  const slider = $("asof-slider");
  const start = Date.parse(state.incident.started_at);
  slider.min = Math.floor(start / SLIDER_STEP_MS);
  slider.max = Math.ceil(Date.now() / SLIDER_STEP_MS);
  $("asof-input").min = f.localInputValue(start);
  $("asof-input").max = f.localInputValue(Date.now());
}

function showMoment() {
  const moment = state.asOf ?? Date.now();
  $("asof-slider").value = Math.round(moment / SLIDER_STEP_MS);
  $("asof-input").value = f.localInputValue(moment);
  $("asof-known").value = state.known;
  $("asof-live").disabled = state.asOf == null;
  document.body.classList.toggle("in-past", state.asOf != null);
  const banner = $("asof-banner");
  banner.hidden = state.asOf == null;
  if (state.asOf != null) {
    banner.textContent = t("asof.banner", { time: f.dateTime(state.asOf), known: t(`asof.known.${state.known}`) });
  }
}

function goLive() {
  state.asOf = null;
  sliderBounds();
  showMoment();
  show();
  startLive();
}

function goBack(moment) {
  if (!Number.isFinite(moment)) return;
  state.asOf = Math.min(moment, Date.now());
  stopLive();
  setLive("paused");
  showMoment();
  show();
}

function setLive(mode) {
  const badge = $("live");
  badge.dataset.state = mode;
  const label = { open: "live.on", connecting: "live.connecting", retrying: "live.retrying", paused: "live.paused" }[mode];
  $("live-text").textContent = label ? t(label) : "";
}

function startLive() {
  stopLive();
  setLive("connecting");
  const path = `/live/coverage?incident=${encodeURIComponent(state.incident.incident_id)}`;
  state.stopLive = follow(path, {
    token: state.token,
    onState: (mode) => (mode === "denied" ? signOut() : setLive(mode)),
    onMessage: (message) => {
      if (state.asOf != null) return;
      if (message.event === "coverage" && message.data.coverage) {
        state.headline = message.data.coverage;
        renderHeadline();
        markUpdated(message.data.at);
      }
      settleThenRefresh();
    },
  });
}

function stopLive() {
  if (state.stopLive) state.stopLive();
  state.stopLive = null;
  clearTimeout(state.settleTimer);
}

// Changes come in runs: the breakdowns are read once the run has settled, and
// once more after a read still running (it may have missed the last change).
function settleThenRefresh() {
  clearTimeout(state.settleTimer);
  state.settleTimer = setTimeout(() => refresh(BREAKDOWNS, { again: true }), SETTLE_MS);
}

function markUpdated(at) {
  $("live").title = t("live.updated", { time: f.clockTime(at) });
}

// ----- reading ---------------------------------------------------------------
// Each part of the board is a load of its own kind (loads.js): it draws its
// part as soon as its answer comes, whatever the others are doing.

// Possible duplicates are read as they are now, whatever the moment shown.
const BREAKDOWNS = ["provinces", "communes", "overdue", "duplicateCommunes", "duplicates"];
const READS = {
  async headline(signal) {
    const whole = await coverage("incident", { signal });
    state.headline = whole.rows[0] || null;
    // The moment the figures are evaluated at, and on which axis (live: now).
    Object.assign($("board").dataset, { at: whole.at, known: state.asOf == null ? "now" : state.known });
    renderHeadline();
    if (state.asOf == null) {
      markUpdated(whole.at);
      if (state.trend) updateTrendEnd({ at: whole.at, coverage: state.headline });
    }
  },
  async provinces(signal) {
    state.byProvince = (await coverage("province", { signal })).rows;
    renderProvinces();
  },
  async communes(signal) {
    state.communes = await coverage("commune", { signal, page: {
      sort: state.communeSort, search: state.communeSearch || null, province: state.province, limit: COMMUNE_PAGE,
      offset: state.communes.offset } });
    renderCommunes();
  },
  async overdue(signal) {
    state.overdue = await overdueList(signal);
    renderOverdue();
  },
  async trend(signal) {
    state.trend = await trendPoints(signal);
    renderTrend();
  },
  duplicateCommunes: (signal) => duplicates.readCommunes(signal),
  duplicates: (signal) => duplicates.readPairs(signal),
};

/** The moment shown, as query parameters (none: now). */
function moment() {
  return state.asOf == null ? {} : { as_of: new Date(state.asOf).toISOString(), known: state.known };
}

function coverage(groupBy, { signal, page = {} } = {}) {
  const params = { group_by: groupBy, ...moment(), ...page };
  return getJson(`/incidents/${state.incident.incident_id}/coverage`, { token: state.token, params, signal });
}

function overdueList(signal) {
  const params = { limit: OVERDUE_PAGE, province: state.province, ...moment(), ...overduePager.params() };
  return getJson(`/incidents/${state.incident.incident_id}/overdue`, { token: state.token, params, signal });
}

/**
 * The trend: the incident's coverage as now known at TREND_POINTS moments, evenly spaced from its start to the
 * moment shown, as [{at, coverage}] (coverage null while nothing was assessed): one request.
 */
async function trendPoints(signal) {
  const params = { points: TREND_POINTS, known: "now", to: new Date(state.asOf ?? Date.now()).toISOString() };
  const series = await getJson(`/incidents/${state.incident.incident_id}/coverage/series`,
    { token: state.token, params, signal });
  return series.points;
}

/** A load's work, with its failure shown (and a refused token signing out) rather than thrown. */
function guarded(kind) {
  return async (signal) => {
    try {
      await READS[kind](signal);
      state.failed.delete(kind);
      if (!state.failed.size) $("load-error").hidden = true;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) return signOut();
      state.failed.add(kind);
      $("load-error").hidden = false;
      $("load-error").textContent = t("error.load", { message: error.message });
    }
  };
}

function load(kind) {
  return busy(loads.start(kind, guarded(kind)));
}

/** The board for the moment chosen, afresh: what was still loading for the moment before is aborted. */
function show() {
  state.trend = null; // the one drawn is of another moment: the live headline leaves it alone
  state.failed.delete("trend");
  overduePager.first();
  ["headline", ...BREAKDOWNS, "trend"].forEach(load);
}

/** Read again what is not loading already (time alone turns cases overdue); `again`: and after what is. */
function refresh(kinds, { again = false } = {}) {
  for (const kind of kinds) busy(loads.refresh(kind, guarded(kind), { again }));
  // The trend is drawn once per moment shown (its end then follows the headline), again only if that failed.
  if (state.failed.has("trend")) busy(loads.refresh("trend", guarded("trend")));
}

function updateTrendEnd(last) {
  state.trend[state.trend.length - 1] = last;
  renderTrend();
}

// ----- drawing ---------------------------------------------------------------

const provinceName = (code) => state.provinces[code] || code;
// A code the current list no longer has (a record from before July 2025) shows as itself.
const communeName = (row) => row.commune_name || row.commune_code;

function renderHeadline() {
  const c = state.headline || {}; // nothing assessed yet: every figure shows "—"
  setFigure("kpi-timely", f.percent(c.timely_pct), c.timely_pct);
  $("kpi-timely-meter").style.width = `${c.timely_pct ?? 0}%`;
  $("kpi-timely-target").textContent = c.timely_pct == null ? t("kpi.timely.none")
    : t("kpi.timely.target", { gap: f.decimal(c.gap_to_target_pct) });
  $("kpi-timely-counts").textContent = t("kpi.timely.counts",
    { on_time: f.number(c.disbursed_on_time), late: f.number(c.late), overdue: f.number(c.overdue) });
  setFigure("kpi-overdue", f.number(c.overdue), c.overdue);
  $("kpi-overdue-sub").textContent = t("kpi.overdue.sub",
    { households: f.number(c.households_overdue), persons: f.number(c.persons_overdue) });
  setFigure("kpi-disbursed", f.vnd(c.disbursed_vnd), c.disbursed_vnd);
  setFigure("kpi-entitled", f.vnd(c.entitled_vnd), c.entitled_vnd);
  const paid = c.entitled_vnd ? (100 * c.disbursed_vnd) / c.entitled_vnd : null;
  $("kpi-money-meter").style.width = `${paid ?? 0}%`;
  $("kpi-money-sub").textContent = t("kpi.money.sub", { pct: f.percent(paid) });
  setFigure("kpi-rice", f.number(c.rice_delivered_kg), c.rice_delivered_kg);
  $("kpi-rice-sub").textContent = t("kpi.rice.sub", { entitled: f.number(c.rice_entitled_kg) });
  setFigure("kpi-speed", f.hours(c.median_hours_to_delivery), c.median_hours_to_delivery);
  $("kpi-speed-sub").textContent = t("kpi.speed.sub", { p90: f.hours(c.p90_hours_to_delivery) });
  $("need-line").textContent = t("kpi.need", {
    households: f.number(c.households_in_need), persons: f.number(c.persons_in_need), within: f.number(c.within_deadline),
  });
}

function renderProvinces() {
  charts.provinces.canvas.parentNode.style.height = `${Math.max(160, 48 * state.byProvince.length + 70)}px`;
  setProvinces(charts.provinces, state.byProvince, provinceName);
}

function renderTrend() {
  if (!state.trend) return;
  setTrend(charts.trend, t("chart.all"),
    state.trend.map((p) => ({ x: Date.parse(p.at), y: p.coverage?.timely_pct ?? null })));
}

function renderCommunes() {
  const page = state.communes;
  $("commune-filter").textContent = state.province ? provinceName(state.province) : t("communes.all");
  $("clear-province").hidden = !state.province;
  $("communes-empty").hidden = page.rows.length > 0;
  $("communes-count").textContent = page.total ? t("communes.shown", {
    from: f.number(page.offset + 1), to: f.number(page.offset + page.rows.length), total: f.number(page.total) }) : "";
  $("communes-previous").disabled = page.offset === 0;
  $("communes-next").disabled = page.offset + page.rows.length >= page.total;
  fillRows($("communes").tBodies[0], page.rows.map((r) => el("tr", { dataset: { commune: r.commune_code } },
    el("td", { title: r.commune_code }, communeName(r)),
    el("td", {}, r.province_name || provinceName(r.province_code)),
    el("td", { className: "num" }, f.number(r.households_in_need)),
    el("td", { className: `bar-col ${rateClass(r.timely_pct)}` },
      meter(r.timely_pct), el("span", { className: "rate" }, f.percent(r.timely_pct))),
    el("td", { className: `num ${r.overdue ? "bad" : ""}` }, f.number(r.overdue)),
    el("td", { className: "num" }, f.vnd(r.entitled_vnd)),
    el("td", { className: "num" }, f.vnd(r.disbursed_vnd)),
  )));
}

function rateClass(pct) {
  if (pct == null) return "rate-none";
  return pct >= 90 ? "rate-good" : pct >= 70 ? "rate-fair" : "rate-poor";
}

function owed(c) {
  if (c.owed_vnd != null) return f.vnd(c.owed_vnd);
  if (c.owed_quantity != null) {
    const unit = labelOr(`unit.${c.unit}`, c.unit || "");
    return `${f.number(c.owed_quantity)} ${unit}`;
  }
  return t("owed.decision");
}

function renderOverdue() {
  const list = state.overdue;
  $("overdue-at").textContent = t("overdue.at", { time: f.dateTime(list.as_of) });
  $("overdue-count").textContent = t("overdue.total", { total: f.number(list.total) });
  $("overdue-empty").hidden = list.total > 0;
  overduePager.show(list);
  fillRows($("overdue").tBodies[0], list.cases.map((c) => el("tr", { dataset: { household: c.household_id, support: c.support_type } },
    el("td", {}, el("strong", {}, c.head_name), el("span", { className: "muted small block" },
      `${f.number(c.members)} ${t("col.members").toLowerCase()}`)),
    el("td", { title: c.commune_code }, communeName(c),
      el("span", { className: "muted small block" }, c.province_name || provinceName(c.province_code))),
    el("td", {}, labelOr(`support.${c.support_type}`, c.support_type)),
    el("td", { className: "num" }, owed(c)),
    el("td", { className: "num bad" }, f.hours(c.overdue_hours)),
    el("td", { className: "nowrap" }, f.dateTime(c.due_at)),
  )));
}

function relabel() {
  if (!state.incident) return;
  setLive($("live").dataset.state);
  showMoment();
  if (state.headline) renderHeadline();
  renderProvinces();
  renderCommunes();
  if (state.overdue) renderOverdue();
  renderTrend();
  duplicates.relabel();
}

// ----- wiring ----------------------------------------------------------------

function pickProvince(code) {
  state.province = state.province === code ? null : code;
  turnCommunes(0);
  overduePager.first();
  load("overdue");
  duplicates.reset();
  load("duplicateCommunes");
  load("duplicates");
}

/** Read the communes' page starting at row `offset` (0: the first, for a new search, sort or province). */
function turnCommunes(offset) {
  state.communes = { ...state.communes, offset: Math.max(offset, 0) };
  load("communes");
}

function wireCommunes() {
  let pause = null;
  $("commune-search").addEventListener("input", (event) => {
    clearTimeout(pause);
    pause = setTimeout(() => {
      state.communeSearch = event.target.value.trim();
      turnCommunes(0);
    }, SEARCH_PAUSE_MS);
  });
  $("commune-sort").addEventListener("change", (event) => {
    state.communeSort = event.target.value;
    turnCommunes(0);
  });
  $("communes-previous").addEventListener("click", () => turnCommunes(state.communes.offset - COMMUNE_PAGE));
  $("communes-next").addEventListener("click", () => turnCommunes(state.communes.offset + COMMUNE_PAGE));
}

async function start() {
  setupToggle($("lang"), relabel);
  charts.trend = trendChart($("trend-chart"));
  charts.provinces = provinceChart($("province-chart"), pickProvince);
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("incident").addEventListener("change", (event) => {
    openIncident(state.session.incidents.find((i) => i.incident_id === event.target.value));
  });
  $("asof-slider").addEventListener("input", (event) => {
    $("asof-input").value = f.localInputValue(Number(event.target.value) * SLIDER_STEP_MS);
  });
  $("asof-slider").addEventListener("change", (event) => goBack(Number(event.target.value) * SLIDER_STEP_MS));
  $("asof-input").addEventListener("change", (event) => {
    if (event.target.value) goBack(Date.parse(f.fromLocalInput(event.target.value)));
  });
  $("asof-known").addEventListener("change", (event) => {
    state.known = event.target.value;
    if (state.asOf != null) goBack(state.asOf);
  });
  $("asof-live").addEventListener("click", goLive);
  $("clear-province").addEventListener("click", () => pickProvince(state.province));
  wireCommunes();
  overduePager = new Pager("overdue-pager", () => load("overdue"));
  duplicates = new DuplicatesPanel(() => ({ token: state.token, incidentId: state.incident.incident_id,
    province: state.province, name: state.session.name }), load);
  setInterval(() => {
    if (state.incident && state.asOf == null) {
      sliderBounds();
      refresh(["headline", ...BREAKDOWNS]);
    }
  }, CLOCK_REFRESH_MS);
  state.provinces = (await getJson("/public/provinces")).provinces;
  if (state.token) signIn(state.token);
  else showSignIn();
}

start();
