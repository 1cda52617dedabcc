// Requests for help on the public page: a form to file one (commune,
// village, a contact phone, a short description) that answers with the
// reference to follow it by; following a request by its reference (status
// and dates only); and per province, then per commune, how many requests
// arrived, were answered in time, and are overdue. Open routes only: what a
// sender wrote is never read back.

import { ApiError, getJson } from "./api.js";
import { $, el, fillRows } from "./dom.js";
import * as f from "./format.js";
import { addLabels, apply, t } from "./i18n.js";

addLabels({
  vi: {
    "request.heading": "Gửi yêu cầu trợ giúp",
    "request.help": "Hộ gia đình chưa được đánh giá thiệt hại, hoặc chưa đồng ý với mức hỗ trợ, khoản chi? Gửi yêu cầu tới UBND xã. Số điện thoại và nội dung chỉ cán bộ xã xem được, không bao giờ công khai.",
    "request.province": "Tỉnh, thành phố",
    "request.commune": "Xã, phường",
    "request.village": "Thôn, xóm, tổ dân phố",
    "request.phone": "Số điện thoại liên hệ",
    "request.description": "Mô tả ngắn",
    "request.submit": "Gửi yêu cầu",
    "request.filed": "Đã nhận yêu cầu",
    "request.reference": "Mã yêu cầu (hãy ghi lại)",
    "request.due": "Hạn trả lời",
    "request.limited": "Bạn đã gửi quá nhiều yêu cầu. Hãy thử lại sau {seconds} giây.",
    "request.failed": "Không gửi được: {message}",
    "follow.heading": "Theo dõi yêu cầu",
    "follow.help": "Nhập mã yêu cầu (10 ký tự) để xem trạng thái và các mốc thời gian.",
    "follow.reference": "Mã yêu cầu",
    "follow.submit": "Xem",
    "follow.none": "Không tìm thấy yêu cầu với mã này.",
    "follow.invalid": "Mã yêu cầu gồm 10 ký tự (chữ A-Z, số 2-7).",
    "follow.status": "Trạng thái",
    "follow.filed_at": "Ngày gửi",
    "follow.ended_at": "Ngày trả lời",
    "status.open": "Đang chờ xử lý",
    "status.assessed": "Đã đánh giá",
    "status.rejected": "Đã trả lời: không chấp nhận",
    "status.merged": "Đã gộp vào một yêu cầu khác",
    "counts.heading": "Yêu cầu trợ giúp theo địa bàn",
    "counts.note": "Chỉ có số lượng: không tên, không số điện thoại, không nội dung. Bấm vào một tỉnh để xem từng xã.",
    "counts.area": "Địa bàn",
    "counts.arrived": "Đã nhận",
    "counts.in_time": "Trả lời đúng hạn",
    "counts.overdue": "Quá hạn",
    "counts.empty": "Chưa có yêu cầu nào.",
  },
  en: {
    "request.heading": "Request help",
    "request.help": "A household not yet assessed, or disputing its entitlement or a payment? Send a request to the commune People's Committee. The phone and text are seen only by the commune's officers, never published.",
    "request.province": "Province",
    "request.commune": "Commune",
    "request.village": "Village",
    "request.phone": "Contact phone",
    "request.description": "Short description",
    "request.submit": "Send request",
    "request.filed": "Request received",
    "request.reference": "Reference (write it down)",
    "request.due": "To be answered by",
    "request.limited": "Too many requests from your connection. Try again in {seconds} s.",
    "request.failed": "Could not send: {message}",
    "follow.heading": "Follow a request",
    "follow.help": "Enter the request's reference (10 characters) to see its status and dates.",
    "follow.reference": "Reference",
    "follow.submit": "Show",
    "follow.none": "No request has this reference.",
    "follow.invalid": "A reference is 10 characters (letters A-Z, digits 2-7).",
    "follow.status": "Status",
    "follow.filed_at": "Sent",
    "follow.ended_at": "Answered",
    "status.open": "Waiting to be handled",
    "status.assessed": "Assessed",
    "status.rejected": "Answered: not accepted",
    "status.merged": "Merged into another request",
    "counts.heading": "Requests for help by area",
    "counts.note": "Counts only: no names, phones or texts. Choose a province to see its communes.",
    "counts.area": "Area",
    "counts.arrived": "Arrived",
    "counts.in_time": "Answered in time",
    "counts.overdue": "Overdue",
    "counts.empty": "No requests yet.",
  },
});

const REFERENCE = /^[A-Za-z2-7]{10}$/;
let provinces = {};
let counts = null;
const opened = {}; // province code -> its communes' counts, once asked for
let idempotencyKey = crypto.randomUUID();

function details(pairs) {
  return el("dl", {}, ...pairs.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]));
}

// ----- the form ------------------------------------------------------------------

async function fillCommunes() {
  const province = $("request-province").value;
  const { communes } = await getJson("/public/communes", { params: { province } });
  $("request-commune").replaceChildren(
    ...Object.entries(communes).map(([code, name]) => el("option", { value: code }, name)));
}

async function fileRequest(event) {
  event.preventDefault();
  const shown = $("request-filed");
  const body = {
    commune_code: $("request-commune").value, village: $("request-village").value.trim(),
    phone: $("request-phone").value.trim(), description: $("request-description").value.trim(),
  };
  const response = await fetch("/public/requests", {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": idempotencyKey },
  });
  const answer = await response.json().catch(() => null);
  shown.hidden = false;
  if (response.status === 429) {
    shown.replaceChildren(el("p", { className: "error" },
      t("request.limited", { seconds: response.headers.get("Retry-After") || "60" })));
    return;
  }
  if (!response.ok) {
    shown.replaceChildren(el("p", { className: "error" }, t("request.failed", { message: answer?.message || response.status })));
    return;
  }
  idempotencyKey = crypto.randomUUID();  // the next request is a new one
  $("request-form").reset();
  await fillCommunes();
  shown.replaceChildren(el("h3", {}, t("request.filed")), details([
    [t("request.reference"), el("strong", { id: "request-reference" }, answer.reference)],
    [t("request.due"), f.dateTime(answer.due_at)],
  ]));
  loadCounts();
}

// ----- following a request ---------------------------------------------------------

async function follow(event) {
  event.preventDefault();
  const reference = $("follow-reference").value.trim().toUpperCase();
  const shown = $("follow-result");
  shown.hidden = false;
  if (!REFERENCE.test(reference)) {
    shown.replaceChildren(el("p", { className: "error" }, t("follow.invalid")));
    return;
  }
  try {
    const found = await getJson(`/public/requests/${reference}`);
    shown.replaceChildren(details([
      [t("follow.reference"), found.reference],
      [t("follow.status"), el("span", { id: "follow-status", dataset: { status: found.status } }, t(`status.${found.status}`))],
      [t("follow.filed_at"), f.dateTime(found.filed_at)],
      [t("request.due"), f.dateTime(found.due_at)],
      [t("follow.ended_at"), found.ended_at ? f.dateTime(found.ended_at) : "—"],
    ]));
  } catch (error) {
    const text = error instanceof ApiError && error.status === 404 ? t("follow.none") : error.message;
    shown.replaceChildren(el("p", { className: "error" }, text));
  }
}

// ----- counts per province, then commune -------------------------------------------------

function countRow(name, row, props = {}) {
  return el("tr", props, el("td", {}, name), el("td", { className: "num" }, f.number(row.arrived)),
    el("td", { className: "num" }, f.number(row.answered_in_time)), el("td", { className: "num" }, f.number(row.overdue)));
}

function renderCounts() {
  const rows = [];
  for (const province of counts.provinces) {
    const name = el("button", { type: "button", className: "link" }, province.province_name || provinces[province.province_code] || province.province_code);
    name.addEventListener("click", () => openProvince(province.province_code));
    rows.push(countRow(name, province, { dataset: { province: province.province_code } }));
    for (const commune of opened[province.province_code] || []) {
      rows.push(countRow(`— ${commune.commune_name || commune.commune_code}`, commune, { dataset: { commune: commune.commune_code } }));
    }
  }
  fillRows($("request-counts").tBodies[0], rows);
  $("request-counts-empty").hidden = rows.length > 0;
}

async function openProvince(code) {
  if (opened[code]) delete opened[code];
  else opened[code] = (await getJson("/public/request-counts", { params: { province: code } })).communes;
  renderCounts();
}

async function loadCounts() {
  counts = await getJson("/public/request-counts");
  for (const code of Object.keys(opened)) {
    opened[code] = (await getJson("/public/request-counts", { params: { province: code } })).communes;
  }
  renderCounts();
}

async function start() {
  // The page labelled itself before these labels were added.
  for (const id of ["requests", "request-counts-section"]) apply($(id));
  provinces = (await getJson("/public/provinces")).provinces;
  $("request-province").replaceChildren(
    ...Object.entries(provinces).map(([code, name]) => el("option", { value: code }, name)));
  $("request-province").addEventListener("change", fillCommunes);
  $("request-form").addEventListener("submit", fileRequest);
  $("follow-form").addEventListener("submit", follow);
  $("lang").addEventListener("click", () => counts && renderCounts());
  await Promise.all([fillCommunes(), loadCounts()]);
  document.body.dataset.requestsReady = "true";
}

start();
