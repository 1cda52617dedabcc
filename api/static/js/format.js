// Numbers, money and times as people in Vietnam read them: VND always the
// Vietnamese way (7.344.600.000 ₫), times always in Asia/Ho_Chi_Minh whatever
// the browser's own zone, other numbers in the chosen language.

import { lang, t } from "./i18n.js";

export const ZONE = "Asia/Ho_Chi_Minh";
// Vietnam keeps +07:00 all year (no daylight saving).
export const ZONE_OFFSET = "+07:00";

const VND = new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND" });
const VND_SHORT = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 2 });
// A transfer's share of a payment is often a fraction of a đồng.
const VND_CENTS = new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND", maximumFractionDigits: 2 });

function locale() {
  return lang() === "vi" ? "vi-VN" : "en-GB";
}

export function vnd(amount) {
  return amount == null ? "—" : VND.format(amount);
}

/** VND to the hundredth of a đồng; `amount` may be a decimal string. */
export function vndCents(amount) {
  return amount == null ? "—" : VND_CENTS.format(Number(amount));
}

/** Short VND for chart axes and tight cells: "7,34 tỷ ₫" / "7,34 bn ₫". */
export function vndShort(amount) {
  if (amount == null) return "—";
  const steps = lang() === "vi" ? [[1e9, "tỷ"], [1e6, "tr"], [1e3, "nghìn"]] : [[1e9, "bn"], [1e6, "m"], [1e3, "k"]];
  for (const [size, word] of steps) {
    if (Math.abs(amount) >= size) return `${VND_SHORT.format(amount / size)} ${word} ₫`;
  }
  return VND.format(amount);
}

export function number(value) {
  return value == null ? "—" : new Intl.NumberFormat(locale()).format(value);
}

export function decimal(value, digits = 1) {
  return value == null ? "—" : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

/** `pct` is 0-100. */
export function percent(pct, digits = 1) {
  if (pct == null) return "—";
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: digits }).format(pct / 100);
}

export function dateTime(value) {
  if (value == null) return "—";
  return new Intl.DateTimeFormat(locale(), {
    timeZone: ZONE, day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23",
  }).format(new Date(value));
}

export function date(value) {
  return new Intl.DateTimeFormat(locale(), { timeZone: ZONE, day: "2-digit", month: "2-digit", year: "numeric" })
    .format(new Date(value));
}

export function shortDateTime(value) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: ZONE, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(value));
}

export function clockTime(value) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(new Date(value));
}

export function hours(value) {
  if (value == null) return "—";
  const whole = Math.round(value);
  const days = Math.floor(whole / 24);
  return days ? t("duration", { days, hours: whole % 24 }) : t("duration.hours", { hours: whole });
}

/** A moment as the value of an <input type="datetime-local">, in Vietnam time. */
export function localInputValue(value) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(value)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** An <input type="datetime-local"> value read as Vietnam time: an ISO time with offset. */
export function fromLocalInput(text) {
  return `${text.length === 16 ? `${text}:00` : text}${ZONE_OFFSET}`;
}
