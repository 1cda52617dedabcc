// Keyset paging of a public list: the page shown starts at a moment (or at
// the beginning) or just after the cursor the page before ended with, and the
// cursors of the pages before it are kept for the way back. The page itself
// stays one page long, whatever the list's size.

import { $, el } from "./dom.js";
import { number } from "./format.js";
import { apply, t } from "./i18n.js";

export class Pager {
  /** Fill the <nav> `id` with the buttons; `onMove()` after each move reads the page now wanted. */
  constructor(id, onMove) {
    this.nav = $(id);
    this.reset();
    const button = (move) => {
      const node = el("button", { type: "button", className: "ghost", dataset: { page: move, i18n: `pager.${move}` } });
      node.addEventListener("click", () => {
        this[move]();
        onMove();
      });
      return node;
    };
    this.nav.replaceChildren(button("first"), button("previous"), el("span", { className: "muted",
      dataset: { pageNumber: "" } }), button("next"));
    apply(this.nav);
  }

  /** Back to the first page, from `since` (ms since epoch) or from the beginning. */
  reset(since = null) {
    this.since = since;
    this.after = null;
    this.back = [];
    this.nextAfter = null;
  }

  params() {
    return this.after ? { after: this.after } : { since: this.since == null ? null : new Date(this.since).toISOString() };
  }

  first() {
    this.reset(this.since);
  }

  previous() {
    this.after = this.back.pop() ?? null;
  }

  next() {
    this.back.push(this.after);
    this.after = this.nextAfter;
  }

  /** Show where the page stands, from its answer ({next_after}). */
  show(page) {
    this.nextAfter = page.next_after;
    const at = (name) => this.nav.querySelector(`[data-page=${name}]`);
    at("first").disabled = at("previous").disabled = !this.back.length;
    at("next").disabled = !this.nextAfter;
    this.nav.querySelector("[data-page-number]").textContent = t("pager.page", { page: number(this.back.length + 1) });
    this.nav.hidden = !this.back.length && !this.nextAfter;
  }
}
