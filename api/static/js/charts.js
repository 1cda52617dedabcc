// The pages' charts, drawn by Chart.js (api/static/vendor, loaded as a
// classic script before the modules, so it is the global `Chart`).

import { percent, shortDateTime, vnd, vndShort, number } from "./format.js";
import { t } from "./i18n.js";

const Chart = window.Chart;

export const COLORS = {
  onTime: "#1b8a5a",
  late: "#e59a1c",
  overdue: "#d23f3f",
  within: "#b8c4cf",
  ink: "#1d2b3a",
  grid: "#e3e8ee",
  target: "#c8102e",
  gap: "rgba(210, 63, 63, 0.10)",
  allocated: "#2563a6",
  local: "#8fb3dc",
  disbursed: "#1b8a5a",
};

Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.color = "#4a5868";
Chart.defaults.borderColor = COLORS.grid;
// No motion for readers who asked for none (and steady screenshots).
Chart.defaults.animation = matchMedia("(prefers-reduced-motion: reduce)").matches ? false : { duration: 250 };

const percentAxis = (extra = {}) => ({
  min: 0, max: 100, ticks: { callback: (v) => percent(v, 0) }, ...extra,
});

/** Timely % over time: the whole incident, and the 100% target. */
export function trendChart(canvas) {
  return new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      scales: {
        x: { type: "linear", ticks: { maxTicksLimit: 7, callback: (v) => shortDateTime(v) }, grid: { display: false } },
        y: percentAxis({ ticks: { stepSize: 25, callback: (v) => percent(v, 0) } }),
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12, usePointStyle: true } },
        tooltip: {
          callbacks: {
            title: (items) => shortDateTime(items[0].parsed.x),
            label: (item) => `${item.dataset.label}: ${percent(item.parsed.y)}`,
          },
        },
      },
    },
  });
}

/** The incident's line, `points`: [{x: ms, y: pct|null}]. */
export function setTrend(chart, label, points) {
  const ends = points.length ? [points[0].x, points[points.length - 1].x] : [0, 1];
  chart.data.datasets = [
    // The shaded band between the incident's line and the top of the axis (100%) is the gap to the target.
    { label, data: points, borderColor: COLORS.ink, backgroundColor: COLORS.gap, borderWidth: 3,
      pointRadius: 0, tension: 0.25, spanGaps: true, fill: "end", clip: 6 },
    { label: t("chart.target"), data: ends.map((x) => ({ x, y: 100 })), borderColor: COLORS.target,
      backgroundColor: COLORS.target, borderDash: [6, 4], borderWidth: 2, pointRadius: 0, clip: 6 },
  ];
  chart.options.scales.x.min = ends[0];
  chart.options.scales.x.max = ends[1];
  chart.update();
}

/** Horizontal bars, one row per province, the datasets stacked (those of one `stack` on one bar). */
function provinceBars(canvas, { x, label, ...options }) {
  return new Chart(canvas, {
    type: "bar",
    data: { labels: [], datasets: [] },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
      scales: { x: { stacked: true, ...x }, y: { stacked: true, grid: { display: false } } },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label } },
      },
      ...options,
    },
  });
}

/** Each province's due-or-done entitlements split into on time / late / overdue (they add up to 100%). */
export function provinceChart(canvas, onPick) {
  const chart = provinceBars(canvas, {
    x: percentAxis(),
    label: (item) => `${item.dataset.label}: ${percent(item.parsed.x)} (${number(item.dataset.counts[item.dataIndex])})`,
    onClick: (_, elements) => {
      if (elements.length) onPick(chart.data.codes[elements[0].index]);
    },
    onHover: (event, elements) => {
      event.native.target.style.cursor = elements.length ? "pointer" : "default";
    },
  });
  return chart;
}

export function setProvinces(chart, rows, nameOf) {
  const due = rows.map((r) => r.disbursed_on_time + r.late + r.overdue);
  const share = (key) => rows.map((r, i) => (due[i] ? (100 * r[key]) / due[i] : 0));
  chart.data.codes = rows.map((r) => r.province_code);
  chart.data.labels = rows.map((r) => `${nameOf(r.province_code)}  ${percent(r.timely_pct, 0)}`);
  chart.data.datasets = [
    { label: t("status.on_time"), data: share("disbursed_on_time"), counts: rows.map((r) => r.disbursed_on_time),
      backgroundColor: COLORS.onTime },
    { label: t("status.late"), data: share("late"), counts: rows.map((r) => r.late), backgroundColor: COLORS.late },
    { label: t("status.overdue"), data: share("overdue"), counts: rows.map((r) => r.overdue),
      backgroundColor: COLORS.overdue },
  ];
  chart.update();
}

/** Per province: what reached it (allocated from above, raised there) and what it paid to households, in VND. */
export function allocationChart(canvas) {
  return provinceBars(canvas, {
    x: { ticks: { callback: (v) => vndShort(v) } },
    label: (item) => `${item.dataset.label}: ${vnd(item.parsed.x)}`,
  });
}

export function setAllocations(chart, rows, nameOf) {
  chart.data.labels = rows.map((r) => nameOf(r.province_code));
  chart.data.datasets = [
    { label: t("alloc.allocated"), data: rows.map((r) => r.from_central + r.from_other_provinces),
      backgroundColor: COLORS.allocated, stack: "in" },
    { label: t("alloc.local"), data: rows.map((r) => r.raised_locally), backgroundColor: COLORS.local, stack: "in" },
    { label: t("alloc.disbursed"), data: rows.map((r) => r.disbursed), backgroundColor: COLORS.disbursed, stack: "out" },
  ];
  chart.update();
}
