// Small DOM helpers shared by the pages. Text always goes in as text nodes,
// never as HTML, so names from the records cannot inject markup.

export const $ = (id) => document.getElementById(id);

/** el("td", {className: "num", dataset: {value: 3}}, "text", childNode, …) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  Object.assign(node.dataset, dataset || {});
  for (const child of children) {
    if (child != null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replace a table body's rows. */
export function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

/** A horizontal meter: `pct` (0-100) filled. */
export function meter(pct, className = "minibar") {
  const fill = el("span", { className: "meter-fill" });
  fill.style.width = `${Math.max(0, Math.min(100, pct ?? 0))}%`;
  return el("span", { className }, fill);
}

let pending = 0;

/** Await `work` with the page marked as reading (body[data-loading]) until all such work is done. */
export async function busy(work) {
  pending += 1;
  document.body.dataset.loading = "true";
  try {
    return await work;
  } finally {
    pending -= 1;
    if (!pending) delete document.body.dataset.loading;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Set a figure's text and keep its raw value for whoever reads the page. */
export function setFigure(id, text, value) {
  const node = $(id);
  node.textContent = text;
  node.dataset.value = value == null ? "" : String(value);
}
