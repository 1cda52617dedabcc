// The public transparency page: a campaign's money received, allocated and
// paid out, per province; the searchable list of contributions; and "find my
// transfer". Open routes only: no token, nothing private. Each part is read
// by a load of its own (loads.js) and drawn as soon as its answer comes; the
// lists show one page at a time (pager.js).

import { ApiError, getJson } from "./api.js";
import { allocationChart, setAllocations } from "./charts.js";
import { $, busy, el, fillRows, setFigure, sleep } from "./dom.js";
import * as f from "./format.js";
import { labelOr, setupToggle, t } from "./i18n.js";
import { Loads } from "./loads.js";
import { Pager } from "./pager.js";

const PAGE = 50;
const SEARCH_DELAY_MS = 300;

const state = {
  campaigns: [],
  campaign: null,
  totals: null,
  funds: null,
  provinces: {},
  search: "",
  disclosure: null,
  payments: null,
  transfers: null,
  typed: 0, // keystrokes in the search box: only the last one's search runs
};
const loads = new Loads();
const pagers = {};
let chart;

const provinceName = (code) => state.provinces[code] || code;
// Rows carry official names; a code the current list no longer has shows as itself.
const communeName = (row) => row.commune_name || row.commune_code;
const base = () => `/public/campaigns/${state.campaign.campaign_id}`;

function showError(error) {
  $("load-error").hidden = false;
  $("load-error").textContent = t("error.load", { message: error.message });
}

// ----- reading ---------------------------------------------------------------

const READS = {
  async totals(signal) {
    state.totals = await getJson(base(), { signal });
    renderTotals();
  },
  async funds(signal) {
    state.funds = await getJson(`${base()}/funds`, { signal });
    renderFunds();
  },
  async disclosure(signal) {
    const params = { search: state.search, limit: PAGE, ...pagers.disclosure.params() };
    state.disclosure = await getJson(`${base()}/contributions`, { params, signal });
    renderDisclosure();
  },
  async payments(signal) {
    state.payments = await getJson(`${base()}/disbursements`, { params: { limit: PAGE, ...pagers.payments.params() },
      signal });
    renderPayments();
  },
};

/** Read one part afresh (aborting its read still running), showing a failure rather than throwing it. */
function load(kind, work = READS[kind]) {
  return busy(loads.start(kind, async (signal) => {
    try {
      await work(signal);
    } catch (error) {
      if (!signal.aborted) showError(error);
    }
  }));
}

async function openCampaign(campaign) {
  state.campaign = campaign;
  state.transfers = null;
  $("campaign").value = campaign.campaign_id;
  history.replaceState(null, "", `#campaign=${campaign.campaign_id}`);
  $("campaign-view").hidden = false;
  $("trace-result").hidden = true;
  pagers.disclosure.reset(pagers.disclosure.since);
  pagers.payments.reset();
  // The totals are what a reader looks at first: the rest is asked for once they have answered.
  await load("totals");
  if (state.campaign === campaign) ["funds", "disclosure", "payments"].forEach((kind) => load(kind));
}

function findTransfer(reference) {
  return load("transfer", async (signal) => {
    try {
      state.transfers = await getJson(`${base()}/transfers`, { params: { reference }, signal });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) return; // nothing to look up
      throw error;
    }
    renderTransfers();
  });
}

// ----- drawing ---------------------------------------------------------------

function renderTotals() {
  const { campaign, ...s } = state.totals;
  $("campaign-title").textContent = campaign.title;
  $("campaign-window").textContent = t("campaign.window", {
    mobiliser: campaign.mobiliser_name, from: f.date(campaign.launched_at), until: f.date(campaign.receiving_until),
    distribution: f.date(campaign.distribution_until),
  });
  const received = s.received_cash_vnd + s.received_in_kind_vnd;
  const share = (part) => (received ? (100 * part) / received : 0);
  setFigure("total-received", f.vnd(received), received);
  $("total-received-sub").textContent = t("totals.contributions",
    { count: f.number(s.contributions), cash: f.vnd(s.received_cash_vnd) });
  $("total-in-kind").textContent = s.received_in_kind_vnd ? t("totals.in_kind", { value: f.vnd(s.received_in_kind_vnd) }) : "";
  setFigure("total-allocated", f.vnd(s.allocated_to_provinces_vnd), s.allocated_to_provinces_vnd);
  $("allocated-meter").style.width = `${share(s.allocated_to_provinces_vnd)}%`;
  $("total-allocated-sub").textContent = t("totals.share", { pct: f.percent(share(s.allocated_to_provinces_vnd)) });
  setFigure("total-disbursed", f.vnd(s.disbursed_vnd), s.disbursed_vnd);
  $("disbursed-meter").style.width = `${share(s.disbursed_vnd)}%`;
  $("total-disbursed-sub").textContent = t("totals.paid",
    { pct: f.percent(share(s.disbursed_vnd)), households: f.number(s.households) });
  chart.canvas.parentNode.style.height = `${Math.max(180, 64 * s.by_province.length + 80)}px`;
  setAllocations(chart, s.by_province, provinceName);
}

// A fund's flows, cash and goods (at valuation) together.
const FLOWS = ["from_donors", "from_funds", "allocated_out", "disbursed", "balance"];

function renderFunds() {
  fillRows($("funds").tBodies[0], state.funds.funds.map((fund) => {
    const where = fund.commune_code ? communeName(fund) : fund.province_code && provinceName(fund.province_code);
    return el("tr", { dataset: { fund: fund.fund_id } },
      el("td", {}, fund.committee_name,
        el("span", { className: "muted small block" }, [t(`level.${fund.level}`), where].filter(Boolean).join(" · "))),
      ...FLOWS.map((flow) => el("td", { className: "num", dataset: { flow, value: fund.cash[flow] + fund.in_kind[flow] } },
        f.vnd(fund.cash[flow] + fund.in_kind[flow]))));
  }));
}

function earmark(e) {
  switch (e.kind) {
    case "province": return t("earmark.province", { name: provinceName(e.province_code) });
    case "commune": return t("earmark.commune", { name: communeName(e) });
    case "household": return t("earmark.household", { name: communeName(e) });
    case "purpose": return t("earmark.purpose", { purpose: labelOr(`purpose.${e.purpose}`, e.purpose) });
    default: return t("earmark.none");
  }
}

function goods(c) {
  return `${f.number(c.quantity)} ${labelOr(`unit.${c.unit}`, `${c.unit} ${c.item}`)}`;
}

function amount(c) {
  return c.item ? `${goods(c)} (${f.vnd(c.value_vnd)})` : f.vnd(c.value_vnd);
}

function donor(c) {
  return c.anonymous ? el("span", { className: "anonymous" }, t("anonymous")) : c.donor_name;
}

function renderDisclosure() {
  const page = state.disclosure;
  const rows = page.contributions;
  $("disclosure-count").textContent = t("disclosure.count", { shown: f.number(rows.length) });
  $("disclosure-empty").hidden = rows.length > 0;
  pagers.disclosure.show(page);
  fillRows($("disclosure").tBodies[0], rows.map((c) => el("tr", { dataset: { reference: c.reference || c.receipt_number || "" } },
    el("td", { className: "nowrap" }, f.dateTime(c.received_at)),
    el("td", {}, donor(c), c.description ? el("span", { className: "muted small block" }, c.description) : null),
    el("td", { className: "mono" }, c.reference || c.receipt_number || "—"),
    el("td", {}, earmark(c.earmark)),
    el("td", {}, c.committee_name),
    el("td", { className: "num" }, amount(c)),
  )));
}

function renderPayments() {
  const rows = state.payments.disbursements;
  $("payments-count").textContent = t("payments.count", { shown: f.number(rows.length) });
  $("payments-empty").hidden = rows.length > 0;
  pagers.payments.show(state.payments);
  fillRows($("payments").tBodies[0], rows.map((d) => el("tr", { dataset: { disbursement: d.disbursement_id } },
    el("td", { className: "nowrap" }, f.date(d.delivered_at)),
    el("td", {}, provinceName(d.province_code)),
    el("td", {}, communeName(d)),
    el("td", {}, labelOr(`support.${d.support_type}`, d.support_type)),
    el("td", {}, d.committee_name),
    el("td", { className: "num" }, d.item ? goods(d) : f.vnd(d.amount_vnd)),
  )));
}

function stopItem(stop) {
  const place = stop.commune_code ? communeName(stop) : stop.province_code && provinceName(stop.province_code);
  const where = place ? ` (${place})` : "";
  const line = el("li", {}, t("trace.stop", {
    committee: stop.committee_name + where, arrived: f.vndCents(stop.arrived_vnd), held: f.vndCents(stop.still_held_vnd),
  }));
  if (stop.households) {
    const supports = Object.entries(stop.by_support_type)
      .map(([type, value]) => `${labelOr(`support.${type}`, type)} ${f.vndCents(value)}`).join(", ");
    line.append(el("div", { className: "muted small" }, t("trace.stop.paid", { households: f.number(stop.households), supports })));
  }
  if (stop.allocated.length) line.append(el("ul", { className: "trace-path" }, ...stop.allocated.map(stopItem)));
  return line;
}

function renderTransfers() {
  const box = $("trace-result");
  box.hidden = false;
  const { reference, transfers } = state.transfers;
  if (!transfers.length) {
    box.replaceChildren(el("p", { className: "error" }, t("trace.notfound", { reference })));
    return;
  }
  box.replaceChildren(...transfers.map(({ contribution: c, households, funded_vnd, path }) => el("div", { className: "transfer" },
    el("h3", {}, t("trace.found")),
    el("dl", {},
      el("dt", {}, t("trace.received")), el("dd", {}, f.dateTime(c.received_at)),
      el("dt", {}, t("trace.amount")), el("dd", { className: "transfer-amount" }, amount(c)),
      el("dt", {}, t("trace.donor")), el("dd", {}, donor(c)),
      el("dt", {}, t("trace.fund")), el("dd", {}, c.committee_name),
      el("dt", {}, t("trace.earmark")), el("dd", {}, earmark(c.earmark))),
    el("h4", {}, t("trace.path")),
    el("p", { className: "trace-summary" }, households
      ? t("trace.summary", { households: f.number(households), amount: f.vndCents(funded_vnd) }) : t("trace.path.none")),
    el("ul", { className: "trace-path" }, stopItem(path)),
  )));
}

function relabel() {
  if (!state.campaign) return;
  if (state.totals) renderTotals();
  if (state.funds) renderFunds();
  if (state.disclosure) renderDisclosure();
  if (state.payments) renderPayments();
  if (state.transfers) renderTransfers();
}

// ----- wiring ----------------------------------------------------------------

async function start() {
  setupToggle($("lang"), relabel);
  chart = allocationChart($("allocation-chart"));
  pagers.disclosure = new Pager("disclosure-pager", () => load("disclosure"));
  pagers.payments = new Pager("payments-pager", () => load("payments"));
  $("campaign").addEventListener("change", (event) => {
    openCampaign(state.campaigns.find((c) => c.campaign_id === event.target.value));
  });
  $("search").addEventListener("input", (event) => {
    const typed = ++state.typed;
    busy(sleep(SEARCH_DELAY_MS).then(() => {
      if (typed !== state.typed) return null;
      state.search = event.target.value.trim();
      pagers.disclosure.first();
      return load("disclosure");
    }));
  });
  $("disclosure-since").addEventListener("change", (event) => {
    pagers.disclosure.reset(event.target.value ? Date.parse(f.fromLocalInput(event.target.value)) : null);
    load("disclosure");
  });
  $("trace-form").addEventListener("submit", (event) => {
    event.preventDefault();
    findTransfer($("reference").value.trim());
  });
  // Province names label the chart and the lists, but nothing waits for them.
  busy(getJson("/public/provinces").then((names) => {
    state.provinces = names.provinces;
    relabel();
  }).catch(showError));
  try {
    state.campaigns = (await busy(getJson("/public/campaigns"))).campaigns;
  } catch (error) {
    showError(error);
    return;
  }
  $("no-campaign").hidden = state.campaigns.length > 0;
  if (!state.campaigns.length) return;
  $("campaign-pick").hidden = false;
  $("campaign").replaceChildren(...state.campaigns.map((c) => el("option", { value: c.campaign_id }, c.title)));
  const wanted = new URLSearchParams(location.hash.slice(1)).get("campaign");
  openCampaign(state.campaigns.find((c) => c.campaign_id === wanted) || state.campaigns[0]);
}

start();
