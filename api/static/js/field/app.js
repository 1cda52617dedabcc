// The field app: screens (sign-in, the team's households, one household, a
// record's form, the queue), routed by the URL's hash so a reload opens the
// same screen, and everything read from the device's store, so it all works
// with no network. The service worker keeps the app itself on the device.

import { ApiError } from "../api.js";
import { $, busy, el } from "../dom.js";
import * as f from "../format.js";
import { labelOr, setupToggle, t } from "../i18n.js";
import { CLOCK_SKEW_MS, check } from "./checks.js";
import { getMeta, setMeta } from "./db.js";
import { FIXED, buildForm, defaults, formField } from "./forms.js";
import { communeLabel, errorText } from "./labels.js";
import * as records from "./records.js";
import * as session from "./session.js";
import * as sync from "./sync.js";

const SCREENS = ["signin", "home", "household", "editor", "queue"];
const PAGE = 100;
const STATUSES = ["unsent", "sending", "held", "refused", "recorded"];

const state = { session: null, incidentId: null, search: "", householdLimit: PAGE, queueLimit: PAGE, editor: null };

const go = (hash) => { location.hash = hash; };

function show(screen) {
  for (const name of SCREENS) $(name).hidden = name !== screen;
  document.body.dataset.screen = screen;
}

function incident(id = state.incidentId) {
  return state.session?.incidents.find((i) => i.incident_id === id) ?? null;
}

/** The incident to open: the one chosen before, if the team still has it, else the newest. */
async function chooseIncident() {
  const kept = await getMeta("incident");
  state.incidentId = incident(kept) ? kept : state.session?.incidents[0]?.incident_id ?? null;
}

function commune(code) {
  for (const i of state.session?.incidents || []) {
    const found = i.communes.find((c) => c.commune_code === code);
    if (found) return found;
  }
  return { commune_code: code, commune_name: null, province_name: null };
}

// ----- top bar -----------------------------------------------------------------

function showNetwork() {
  const online = navigator.onLine;
  $("net").dataset.state = online ? "online" : "offline";
  $("net-text").textContent = t(online ? "net.online" : "net.offline");
}

function showWho(signedIn) {
  $("who").hidden = $("sign-out").hidden = !signedIn;
  $("who").textContent = state.session?.name || "";
}

// ----- sign-in and sign-out ----------------------------------------------------

async function showSignIn() {
  showWho(false);
  $("queue-link").hidden = true;
  const waiting = await records.unsettled();
  $("signin-again").hidden = !waiting;
  $("signin-again").textContent = t("signin.field.again", { count: waiting });
  $("signin-error").textContent = "";
  show("signin");
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const secret = $("token").value.trim();
  try {
    state.session = await session.signIn(secret);
  } catch (error) {
    const key = !(error instanceof ApiError) ? "signin.field.offline"
      : error.status === 401 ? "signin.unknown" : error.status === 403 ? "signin.field.forbidden" : "signin.failed";
    $("signin-error").textContent = t(key, { message: error.message });
    return;
  }
  $("token").value = "";
  await chooseIncident();
  await route();
  sync.now();
}

async function signOut() {
  if (!confirm(t("signout.confirm"))) return;
  try {
    await session.signOut();
  } catch (error) {
    if (!(error instanceof session.Unsettled)) throw error;
    alert(t("signout.blocked", { count: error.count }));
    return;
  }
  state.session = null;
  state.incidentId = null;
  history.replaceState(null, "", "#/");
  await route();
}

// ----- home: the incident, sending, the households ------------------------------

function statusBadge(status, item = null) {
  const badge = el("span", { className: "badge", dataset: { status } }, t(`status.${status}`));
  if (item?.uncertain && status !== "recorded") badge.append(` · ${t("status.uncertain")}`);
  if (item?.replayed && status === "recorded") badge.append(` · ${t("status.replayed")}`);
  return badge;
}

function fillCounts(list, counts) {
  list.replaceChildren(...STATUSES.filter((s) => counts[s]).map((s) =>
    el("li", { dataset: { status: s, value: counts[s] } }, statusBadge(s), " ", el("strong", {}, f.number(counts[s])))));
}

function syncText(counts) {
  const { phase, retryAt, message } = sync.state;
  if (phase === "sending") return t("sync.sending");
  if (phase === "retry") return t("sync.retry", { time: f.clockTime(retryAt) });
  if (phase === "signin") return t("sync.signin");
  if (phase === "failed") return t("sync.failed", { message });
  const pending = counts.unsent + counts.held;
  const refused = counts.refused ? ` ${t("sync.refused", { count: counts.refused })}` : "";
  if (phase === "offline" || !navigator.onLine) {
    return (pending ? `${t("sync.offline")} ${t("sync.pending", { count: pending })}` : t("net.offline")) + refused;
  }
  return (pending ? t("sync.pending", { count: pending }) : t("sync.idle")) + refused;
}

async function showSync() {
  const counts = await records.counts();
  for (const id of ["sync-state", "queue-state"]) {
    $(id).textContent = syncText(counts);
    $(id).dataset.phase = sync.state.phase;
  }
  fillCounts($("counts"), counts);
  fillCounts($("queue-counts"), counts);
  $("sync-last").textContent = sync.state.lastAt ? t("sync.last", { time: f.dateTime(sync.state.lastAt) }) : "";
  $("queue-link").hidden = !counts.total;
  $("queue-link-count").textContent = f.number(counts.waiting);
  $("queue-link-count").dataset.value = counts.waiting;
  return counts;
}

function showIncident() {
  const incidents = state.session?.incidents || [];
  $("no-incident").hidden = incidents.length > 0;
  $("households-card").hidden = !incidents.length;
  $("incident").replaceChildren(...incidents.map((i) =>
    el("option", { value: i.incident_id }, `${i.title} · ${f.date(i.started_at)}`)));
  $("incident").value = state.incidentId || "";
  const chosen = incident();
  $("incident-note").textContent = chosen?.closed_at ? t("incident.closed", { time: f.dateTime(chosen.closed_at) })
    : chosen ? communesLine(chosen.communes) : "";
  const drift = state.session?.drift_ms ?? 0;
  $("drift").hidden = Math.abs(drift) <= CLOCK_SKEW_MS;
  $("drift").textContent = t("clock.drift", { minutes: Math.round(drift / 60_000) });
}

const COMMUNES_NAMED = 5;

/** The team's communes in the incident, a few by name: a province's team may have hundreds. */
function communesLine(communes) {
  const named = communes.slice(0, COMMUNES_NAMED).map(communeLabel).join(", ");
  return communes.length > COMMUNES_NAMED ? t("incident.communes.more", { named, more: communes.length - COMMUNES_NAMED }) : named;
}

function householdRow(item) {
  const { head_name: name, members, commune_code: code } = item.body;
  return el("li", { dataset: { household: item.record, status: item.status } },
    el("a", { href: `#/household/${item.record}` },
      el("strong", {}, name), " ",
      el("span", { className: "muted" }, `${t("household.members", { members })} · ${communeLabel(commune(code))}`), " ",
      statusBadge(item.status, item)));
}

async function showHome() {
  showIncident();
  await showSync();
  if (!state.incidentId) return show("home");
  const { found, total } = await records.households(state.incidentId, state.search, state.householdLimit);
  $("households").replaceChildren(...found.map(householdRow));
  $("households-empty").hidden = total > 0;
  $("households-count").textContent = total ? t("households.shown", { shown: found.length, total }) : "";
  $("households-more").hidden = found.length >= total;
  show("home");
}

// ----- one household -------------------------------------------------------------

/** What the server last said the household is entitled to (the result of its latest recorded write). */
function entitlementsOf(items) {
  const answered = items.filter((i) => i.status === "recorded" && i.result?.entitlements);
  const latest = answered[answered.length - 1];
  return latest ? Object.values(latest.result.entitlements).filter((e) => e.status !== "withdrawn") : null;
}

const owedOf = (e) => e.status === "rejected" ? { amount_vnd: 0, quantity: 0 }
  : e.status === "adjusted" ? { amount_vnd: e.decided_amount_vnd, quantity: e.decided_quantity }
    : { amount_vnd: e.amount_vnd, quantity: e.quantity };

/** What is still owed under `support`, as far as this device knows (its own disbursements taken off). */
function stillOwed(items, support, except = null) {
  const entitlement = (entitlementsOf(items) || []).find((e) => e.support_type === support);
  if (!entitlement) return null;
  const owed = owedOf(entitlement);
  for (const i of items) {
    if (i.command !== "record_disbursement" || i.seq === except || i.status === "refused" || i.body.support_type !== support) continue;
    if (owed.amount_vnd != null) owed.amount_vnd -= i.body.amount_vnd || 0;
    if (owed.quantity != null) owed.quantity -= i.body.quantity || 0;
  }
  return owed;
}

function summary(item) {
  const b = item.body;
  switch (item.command) {
    case "register_household":
      return `${b.head_name} · ${t("household.members", { members: b.members })} · ${communeLabel(commune(b.commune_code))}`;
    case "assess_damage":
      return `${labelOr(`house_damage.${b.house_damage || "none"}`, b.house_damage)} · ${f.dateTime(b.assessed_at)}`;
    case "record_disbursement":
      return `${labelOr(`support.${b.support_type}`, b.support_type)} · ${b.form === "cash" ? f.vnd(b.amount_vnd)
        : `${f.number(b.quantity)} ${b.unit || ""}`} · ${f.dateTime(b.delivered_at)}`;
    case "file_request":
      return `${labelOr(`request_kind.${b.kind}`, b.kind)} · ${b.village} · ${communeLabel(commune(b.commune_code))}`;
    default:
      return `${b.confirmed_by} · ${f.dateTime(b.confirmed_at)}`;
  }
}

function errorLine(error) {
  const field = formField(error.field);
  return el("p", { className: "item-error", dataset: { field } },
    el("strong", {}, labelOr(`f.${field}`, field || "—")), ": ", errorText(error),
    error.message ? el("span", { className: "server" }, t("form.server", { message: error.message })) : null);
}

/** One record in a list; `head`: its household's head, where the list is not the household's own. */
function recordRow(item, items, head = null) {
  const about = head && item.command !== "register_household" ? `${head} · ` : "";
  const row = el("li", { dataset: { seq: item.seq, status: item.status, command: item.command } },
    el("span", { className: "kind" }, t(`command.${item.command}`)), " ", about + summary(item), " ",
    statusBadge(item.status, item));
  // What the requester is told to follow the request by.
  const reference = item.result?.reference;
  if (reference) row.append(" ", el("strong", { className: "reference" }, t("request.reference", { reference })));
  if (item.error) row.append(errorLine(item.error));
  if (records.editable(item)) row.append(" ", el("a", { href: `#/edit/${item.seq}`, className: "fix" }, t("queue.fix")));
  const confirmed = items.some((i) => i.command === "confirm_receipt" && i.body.disbursement_id === item.record);
  if (item.command === "record_disbursement" && item.status !== "refused" && !confirmed) {
    row.append(" ", el("a", { className: "button ghost small-button", href: `#/new/confirm_receipt/${item.household}/${item.record}` },
      t("household.confirm")));
  }
  return row;
}

async function showHousehold(householdId) {
  const items = await records.householdRecords(householdId);
  const registration = items.find((i) => i.command === "register_household");
  if (!registration) return go("#/");
  const { head_name: name, members, commune_code: code, flags } = registration.body;
  $("household-name").textContent = t("household.heading", { name });
  $("household-meta").textContent = [t("household.members", { members }), communeLabel(commune(code)),
    ...(flags || []).map((flag) => t(`flag.${flag}`))].join(" · ");
  $("household-status").replaceChildren(statusBadge(registration.status, registration));
  $("assess").href = `#/new/assess_damage/${householdId}`;
  $("disburse").href = `#/new/record_disbursement/${householdId}`;
  $("household-request").href = `#/new/file_request/${householdId}`;
  $("household-edit").hidden = !records.editable(registration);
  $("household-edit").href = `#/edit/${registration.seq}`;
  const entitlements = entitlementsOf(items);
  $("entitlements-none").hidden = Boolean(entitlements?.length);
  $("entitlements").replaceChildren(...(entitlements || []).map((e) => {
    const owed = stillOwed(items, e.support_type);
    const amount = owed.amount_vnd != null ? f.vnd(owed.amount_vnd) : owed.quantity != null ? `${f.number(owed.quantity)} ${labelOr(`unit.${e.unit}`, e.unit || "")}` : t("owed.decision");
    return el("li", { dataset: { support: e.support_type } }, el("strong", {}, labelOr(`support.${e.support_type}`, e.support_type)),
      ` · ${amount} · ${t("household.due", { time: f.dateTime(e.due_at) })}`);
  }));
  $("household-records").replaceChildren(...items.filter((i) => i !== registration).map((i) => recordRow(i, items)));
  show("household");
}

// ----- a record's form ------------------------------------------------------------

/** What the checks need to know beyond the form: the incident, the household, what is owed, receipts. */
async function context(command, body, item, incidentId) {
  const found = { incident: incident(incidentId) };
  if (!body.household_id) return found;
  const items = await records.householdRecords(body.household_id);
  found.household = items.find((i) => i.command === "register_household")?.body;
  if (command === "record_disbursement") found.owed = stillOwed(items, body.support_type, item?.seq);
  if (command === "confirm_receipt") {
    found.confirmed = items.some((i) => i.command === "confirm_receipt" && i.body.disbursement_id === body.disbursement_id && i.seq !== item?.seq);
  }
  return found;
}

async function editorChoices(command, householdId) {
  if (command !== "record_disbursement") return {};
  const entitled = entitlementsOf(await records.householdRecords(householdId));
  return entitled?.length ? { support_type: entitled.map((e) => e.support_type) } : {};
}

/** The label of what the form should say about the record first, if anything. */
function editorNote(item) {
  if (!item) return null;
  if (item.status === "recorded") return "form.recorded";
  if (!records.editable(item)) return "form.locked";
  return item.status === "refused" ? "form.refused" : null;
}

async function openEditor(command, fixed, seq = null) {
  const item = seq ? await records.item(seq) : null;
  if (seq && !item) return go("#/queue");
  command = item?.command ?? command;
  const schema = state.session.schemas[command];
  const values = item ? item.body : { ...defaults(command, schema), ...fixed };
  const household = values.household_id ? (await records.byRecord(values.household_id)) : null;
  // A household's request is about its commune.
  if (!item && household && "commune_code" in schema.properties) values.commune_code = household.body.commune_code;
  const incidentId = item?.incident ?? household?.incident ?? state.incidentId;
  const chosen = incident(incidentId);
  const form = buildForm($("editor-fields"), command, schema, values, {
    communes: chosen?.communes || [], choices: await editorChoices(command, values.household_id) });
  const back = values.household_id ? `#/household/${values.household_id}` : "#/";
  state.editor = { command, item, form, incidentId, back, fixed: Object.fromEntries(FIXED[command].map((n) => [n, values[n]])) };
  $("editor-title").dataset.i18n = `editor.${command}`;
  $("editor-title").textContent = t(`editor.${command}`);
  const about = household?.body;
  $("editor-about").textContent = about ? `${about.head_name} · ${communeLabel(commune(about.commune_code))}` : chosen?.title || "";
  const note = editorNote(item);
  $("editor-note").hidden = !note;
  $("editor-note").dataset.i18n = note || "";
  $("editor-note").textContent = note ? t(note) : "";
  const locked = Boolean(item) && !records.editable(item);
  for (const node of $("editor-fields").querySelectorAll("input, select, textarea")) node.disabled = locked;
  $("editor-save").hidden = locked;
  $("editor-discard").hidden = !item || locked;
  $("editor-back").href = $("editor-cancel").href = back;
  showErrors(item?.error ? [item.error] : [], false);
  show("editor");
}

/** Errors beside their fields, the rest under the form; `mine`: the app's own checks found them. */
function showErrors(errors, mine) {
  const { form } = state.editor;
  Object.assign(state.editor, { errors, mine });
  const elsewhere = form.show(errors).map(errorLine);
  $("editor-error").replaceChildren(...(mine && errors.length ? [t("form.invalid"), ...elsewhere] : elsewhere));
}

/** The language changed while a form is open: relabel it, keep what was typed. */
function relabelEditor() {
  const { form, errors, mine } = state.editor;
  form.relabel();
  showErrors(errors, mine);
}

async function save(event) {
  event.preventDefault();
  const { command, item, form, fixed, back, incidentId } = state.editor;
  const body = { ...form.read(), ...fixed };
  const errors = check(command, body, state.session.schemas, await context(command, body, item, incidentId));
  showErrors(errors, true);
  if (errors.length) return;
  try {
    if (item) await records.correct(item.seq, body);
    else {
      const made = await records.make(command, body, incidentId);
      if (command === "register_household") return finish(`#/household/${made.record}`);
    }
  } catch (error) {
    if (!(error instanceof records.NotEditable)) throw error;
    $("editor-error").textContent = t("form.locked");
    return;
  }
  finish(back);
}

function finish(hash) {
  sync.soon();
  state.editor = null;
  if (location.hash === hash) route();
  else go(hash);
}

async function discard() {
  const { item, back } = state.editor;
  if (!confirm(t("form.discard.confirm"))) return;
  if (await records.discard(item.seq)) finish(item.command === "register_household" ? "#/" : back);
  else $("editor-error").textContent = t("form.discard.needed");
}

// ----- the queue --------------------------------------------------------------------

async function showQueue() {
  const counts = await showSync();
  const items = await records.queuePage(state.queueLimit);
  const byHousehold = {};
  for (const i of items) (byHousehold[i.household] ??= []).push(i);
  const names = await records.heads(Object.keys(byHousehold));
  $("queue-list").replaceChildren(...items.map((i) => recordRow(i, byHousehold[i.household], names.get(i.household))));
  $("queue-empty").hidden = items.length > 0;
  $("queue-shown").textContent = counts.total ? t("queue.shown", { shown: items.length, total: counts.total }) : "";
  $("queue-more").hidden = items.length >= counts.total;
  $("clear-recorded").hidden = !counts.recorded;
  $("clear-recorded").textContent = t("queue.clear", { count: counts.recorded });
  show("queue");
}

// ----- routing and wiring ----------------------------------------------------------

let routing = Promise.resolve();
/**
 * Show the screen the URL names. One at a time, in order: a screen read for
 * an older URL never covers a newer one. `again`: only to show changed data,
 * so never over a form being filled.
 */
function route({ again = false } = {}) {
  const next = () => (again && document.body.dataset.screen === "editor" ? null : showRoute());
  routing = routing.then(next, next);
  return routing;
}

async function showRoute() {
  showNetwork();
  if (!(await session.token())) return showSignIn();
  state.session = await session.cached();
  showWho(true);
  const [name, ...args] = location.hash.replace(/^#\/?/, "").split("/");
  if (name === "queue") return showQueue();
  if (name === "household") return showHousehold(args[0]);
  if (name === "edit") return openEditor(null, {}, Number(args[0]));
  if (name === "new" && FIXED[args[0]]) {
    const [household_id, disbursement_id] = args.slice(1);
    const fixed = { incident_id: state.incidentId, household_id, disbursement_id };
    return openEditor(args[0], Object.fromEntries(FIXED[args[0]].map((n) => [n, fixed[n]])));
  }
  return showHome();
}

let pending = null;
/** Show the current screen again after a change. */
function refresh() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    if (document.body.dataset.screen !== "signin") busy(route({ again: true }));
  }, 50);
}

async function onSyncChange() {
  if (sync.state.phase === "signin" && document.body.dataset.screen !== "signin") return busy(route());
  if (sync.state.phase === "idle" && navigator.onLine) state.session = await session.refresh() || state.session;
  refresh();
}

function wire() {
  $("signin-form").addEventListener("submit", (e) => busy(signIn(e)));
  $("sign-out").addEventListener("click", () => busy(signOut()));
  $("incident").addEventListener("change", async () => {
    state.incidentId = $("incident").value;
    state.householdLimit = PAGE;
    await setMeta("incident", state.incidentId);
    busy(route({ again: true }));
  });
  $("search").addEventListener("input", () => {
    state.search = $("search").value;
    busy(route({ again: true }));
  });
  $("households-more").addEventListener("click", () => {
    state.householdLimit += PAGE;
    busy(route({ again: true }));
  });
  $("queue-more").addEventListener("click", () => {
    state.queueLimit += PAGE;
    busy(route({ again: true }));
  });
  $("clear-recorded").addEventListener("click", () => busy(records.clearRecorded()));
  for (const id of ["sync-now", "queue-sync"]) $(id).addEventListener("click", () => sync.now());
  $("editor-form").addEventListener("submit", (e) => busy(save(e)));
  $("editor-discard").addEventListener("click", () => busy(discard()));
  addEventListener("hashchange", () => busy(route()));
  addEventListener("online", showNetwork);
  addEventListener("offline", showNetwork);
  records.events.addEventListener("change", refresh);
  sync.events.addEventListener("change", onSyncChange);
}

async function boot() {
  // The app shell on the device, for the next time there is no network.
  navigator.serviceWorker?.register("/field/sw.js", { scope: "/field/" });
  wire();
  setupToggle($("lang"), () => (document.body.dataset.screen === "editor" ? relabelEditor() : busy(route())));
  state.session = await session.cached();
  await chooseIncident();
  await route();
  await sync.start();
}

busy(boot().catch((error) => {
  $("app-error").hidden = false;
  $("app-error").textContent = String(error?.message || error);
  throw error;
}));
