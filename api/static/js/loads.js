// Loads of a page, one of each kind at a time, so requests never pile up on
// a slow server. Starting a load aborts the one of its kind still running: its
// requests are cancelled (AbortController), its answer is never drawn. A
// refresh leaves a running load alone, and when asked to, runs it once more
// after it ends: a burst of changes costs one more load, not one per change.

export class Loads {
  #running = new Map(); // kind -> {controller, done, again}

  /** Run `work(signal)` as the load of `kind`, aborting the one running. Resolves when it ends (aborted too). */
  start(kind, work) {
    this.#running.get(kind)?.controller.abort();
    const entry = { controller: new AbortController(), again: null };
    this.#running.set(kind, entry);
    entry.done = (async () => {
      try {
        await work(entry.controller.signal);
      } catch (error) {
        if (!entry.controller.signal.aborted) throw error;
      } finally {
        if (this.#running.get(kind) === entry) {
          this.#running.delete(kind);
          if (entry.again) this.start(kind, entry.again);
        }
      }
    })();
    return entry.done;
  }

  /** Start `work` unless a load of `kind` is running; with `again`, then run it once more after that one ends. */
  refresh(kind, work, { again = false } = {}) {
    const entry = this.#running.get(kind);
    if (!entry) return this.start(kind, work);
    if (again) entry.again = work;
    return entry.done;
  }

  running(kind) {
    return this.#running.has(kind);
  }

  abortAll() {
    for (const entry of this.#running.values()) entry.controller.abort();
    this.#running.clear();
  }
}

/** `work(item)` for every item, at most `width` at a time; the answers in the items' order. */
export async function pooled(items, width, work) {
  const answers = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      answers[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return answers;
}
