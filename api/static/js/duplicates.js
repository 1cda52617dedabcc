// The dashboard's possible duplicate households: the communes that have
// unresolved pairs (how many each), and the pairs of the commune picked, each
// resolved by the coordinator as two households or one (a merge). Both lists
// are keyset paged, one page shown at a time whatever their length; their
// reads are loads of the dashboard (loads.js) like its other parts.

import { ApiError, getJson, postJson, uuid4 } from "./api.js";
import { $, el, fillRows } from "./dom.js";
import * as f from "./format.js";
import { addLabels, labelOr, t } from "./i18n.js";
import { Pager } from "./pager.js";

const COMMUNE_PAGE = 25;
const PAIR_PAGE = 10;

addLabels({
  vi: {
    "duplicates.heading": "Hộ có thể trùng lặp",
    "duplicates.now": "chưa xử lý, hiện tại",
    "duplicates.communes.empty": "Không xã nào còn cặp hộ nghi trùng.",
    "duplicates.pick": "Chọn một xã để xem các cặp.",
    "duplicates.none": "Xã này không còn cặp nào chưa xử lý.",
    "duplicates.different": "Hai hộ khác nhau",
    "duplicates.same": "Cùng một hộ (gộp)",
    "duplicates.resolve.different": "Xác nhận: hai hộ khác nhau",
    "duplicates.resolve.same": "Xác nhận: cùng một hộ, gộp hồ sơ",
    "duplicates.survivor": "Giữ lại hồ sơ",
    "duplicates.reason": "Lý do",
    "duplicates.by": "Người quyết định",
    "duplicates.cancel": "Huỷ",
    "duplicates.confirm": "Xác nhận",
    "duplicates.failed": "Chưa ghi được: {message}",
    "duplicates.reason.name": "Cùng tên chủ hộ (bỏ dấu), nhân khẩu chênh không quá 1",
    "duplicates.reason.citizen_id": "Cùng số định danh cá nhân",
    "col.pairs": "Cặp chưa xử lý",
    "col.household.other": "Chủ hộ (hồ sơ kia)",
    "col.reasons": "Lý do nghi trùng",
    "col.found_at": "Phát hiện lúc",
  },
  en: {
    "duplicates.heading": "Possible duplicate households",
    "duplicates.now": "unresolved, now",
    "duplicates.communes.empty": "No commune has possible duplicates left.",
    "duplicates.pick": "Pick a commune to see its pairs.",
    "duplicates.none": "This commune has no unresolved pair left.",
    "duplicates.different": "Different households",
    "duplicates.same": "Same household (merge)",
    "duplicates.resolve.different": "Confirm: two different households",
    "duplicates.resolve.same": "Confirm: one household, records merged",
    "duplicates.survivor": "Record to keep",
    "duplicates.reason": "Reason",
    "duplicates.by": "Decided by",
    "duplicates.cancel": "Cancel",
    "duplicates.confirm": "Confirm",
    "duplicates.failed": "Not recorded: {message}",
    "duplicates.reason.name": "Same head's name (diacritics aside), members within one",
    "duplicates.reason.citizen_id": "Same citizen id number",
    "col.pairs": "Unresolved pairs",
    "col.household.other": "Head of household (other record)",
    "col.reasons": "Why they matched",
    "col.found_at": "Found at",
  },
});

const communeName = (row) => row.commune_name || row.commune_code;
const provinceName = (row) => row.province_name || row.province_code;

export class DuplicatesPanel {
  /**
   * `context()`: {token, incidentId, province, name} of the board now; `load(kind)`: start the board's load of
   * `kind` ("duplicateCommunes" or "duplicates"), aborting the one of that kind still running.
   */
  constructor(context, load) {
    this.context = context;
    this.load = load;
    this.communePager = new Pager("dup-communes-pager", () => load("duplicateCommunes"));
    this.pairPager = new Pager("dup-pairs-pager", () => load("duplicates"));
    this.reset();
    $("dup-communes").tBodies[0].addEventListener("click", (event) => {
      const button = event.target.closest("button[data-commune]");
      if (button) this.pick(button.dataset.commune);
    });
    $("dup-pairs").tBodies[0].addEventListener("click", (event) => {
      const button = event.target.closest("button[data-outcome]");
      if (button) this.ask(button.closest("tr").dataset.pair, button.dataset.outcome);
    });
    $("dup-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.resolve();
    });
    $("dup-cancel").addEventListener("click", () => $("dup-dialog").close());
  }

  /** Nothing picked, first pages: for another incident, or another province's communes. */
  reset() {
    this.commune = null; // the row of the commune picked
    this.communes = null;
    this.pairs = null;
    this.asking = null; // the pair being resolved: {pair, outcome, fields, body, key}
    this.communePager.reset();
    this.pairPager.reset();
  }

  async readCommunes(signal) {
    const { token, incidentId, province } = this.context();
    this.communes = await getJson(`/incidents/${incidentId}/duplicates/communes`, {
      token, signal, params: { province, limit: COMMUNE_PAGE, ...this.communePager.params() } });
    const first = this.communes.communes[0];
    if (!this.commune && first) this.pick(first.commune_code);
    else this.renderCommunes();
  }

  async readPairs(signal) {
    if (this.commune) {
      const { token, incidentId } = this.context();
      this.pairs = await getJson(`/incidents/${incidentId}/duplicates`, {
        token, signal, params: { commune: this.commune.commune_code, limit: PAIR_PAGE, ...this.pairPager.params() } });
    }
    this.renderPairs();
  }

  pick(code) {
    this.commune = this.communes.communes.find((c) => c.commune_code === code) ?? this.commune;
    this.pairs = null;
    this.pairPager.reset();
    this.renderCommunes();
    this.load("duplicates");
  }

  relabel() {
    this.renderCommunes();
    this.renderPairs();
  }

  renderCommunes() {
    const page = this.communes;
    if (!page) return;
    this.communePager.show(page);
    $("dup-communes-empty").hidden = page.communes.length > 0;
    fillRows($("dup-communes").tBodies[0], page.communes.map((c) => el("tr", {
      dataset: { commune: c.commune_code }, className: c.commune_code === this.commune?.commune_code ? "picked" : "" },
    el("td", { title: c.commune_code },
      el("button", { type: "button", className: "link", dataset: { commune: c.commune_code } }, communeName(c)),
      el("span", { className: "muted small block" }, provinceName(c))),
    el("td", { className: "num" }, f.number(c.unresolved)))));
  }

  renderPairs() {
    const c = this.commune;
    $("dup-commune").textContent = c ? `${communeName(c)} · ${provinceName(c)}` : "";
    const pairs = this.pairs?.pairs ?? [];
    $("dup-pairs-empty").hidden = pairs.length > 0;
    $("dup-pairs-empty").textContent = t(c ? "duplicates.none" : "duplicates.pick");
    if (this.pairs) this.pairPager.show(this.pairs);
    else $("dup-pairs-pager").hidden = true;
    fillRows($("dup-pairs").tBodies[0], pairs.map((p) => el("tr", { dataset: { pair: p.pair_id } },
      ...p.households.map(household),
      el("td", {}, ...p.reasons.map((r) => el("span", { className: "block" }, labelOr(`duplicates.reason.${r}`, r)))),
      el("td", { className: "nowrap" }, f.dateTime(p.found_at)),
      el("td", { className: "actions" }, ...["different", "same"].map((outcome) => el("button", {
        type: "button", className: "ghost", dataset: { outcome } }, t(`duplicates.${outcome}`)))),
    )));
  }

  /** Open the dialog that resolves pair `pairId` as `outcome`. */
  ask(pairId, outcome) {
    const pair = this.pairs.pairs.find((p) => p.pair_id === pairId);
    this.asking = { pair, outcome, fields: null };
    $("dup-dialog-title").textContent = t(`duplicates.resolve.${outcome}`);
    $("dup-dialog-pair").textContent = pair.households.map((h) => h.head_name ?? h.household_id).join(" · ");
    $("dup-survivor-field").hidden = outcome !== "same";
    $("dup-survivor").required = outcome === "same";
    $("dup-survivor").replaceChildren(...pair.households.map((h) => el("option", { value: h.household_id },
      `${h.head_name ?? "—"} · ${h.household_id.slice(0, 8)}`)));
    $("dup-reason").value = "";
    $("dup-by").value = this.context().name;
    $("dup-error").textContent = "";
    $("dup-dialog").showModal();
    $("dup-reason").focus();
  }

  async resolve() {
    const asking = this.asking;
    const fields = { outcome: asking.outcome, reason: $("dup-reason").value.trim(), resolved_by: $("dup-by").value.trim() };
    if (asking.outcome === "same") fields.survivor_id = $("dup-survivor").value;
    // Sent again unchanged (its answer lost), it keeps its key and time: the server records it once.
    const text = JSON.stringify(fields);
    if (asking.fields !== text) {
      Object.assign(asking, { fields: text, key: uuid4(), body: { ...fields, resolved_at: new Date().toISOString() } });
    }
    $("dup-confirm").disabled = true;
    try {
      await postJson(`/duplicates/${asking.pair.pair_id}/resolution`, asking.body,
        { token: this.context().token, key: asking.key });
      $("dup-dialog").close();
    } catch (error) {
      $("dup-error").textContent = t("duplicates.failed", { message: error.message });
      if (!(error instanceof ApiError)) return; // no answer: nothing known to have changed
    } finally {
      $("dup-confirm").disabled = false;
    }
    this.load("duplicates");
    this.load("duplicateCommunes");
  }
}

function household(h) {
  return el("td", { dataset: { household: h.household_id } },
    el("strong", {}, h.head_name ?? "—"),
    el("span", { className: "muted small block" }, `${f.number(h.members)} ${t("col.members").toLowerCase()}`),
    el("span", { className: "mono small block" }, h.household_id));
}
