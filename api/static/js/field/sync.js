// Sending the queue: `POST /sync` with the records in the order made, a small
// batch at a time (a weak connection carries one; a lost one costs little),
// each batch starting after the last one answered. Starts when the browser
// comes online, after a record is made while online, and by the button.
//
// An answered item is recorded or refused (records.settle). No answer (a 5xx,
// no network, a cut connection, a closed tab) leaves the batch in the queue,
// marked uncertain, and it is sent again later, with backoff, under the same
// keys: the server answers what it recorded the first time. One tab sends at a
// time (Web Locks), so two tabs never race over the queue.

import { getMeta, setMeta } from "./db.js";
import * as records from "./records.js";
import { forgetToken } from "./session.js";

export const BATCH = 25;
const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 5 * 60_000;
const REQUEST_TIMEOUT_MS = 60_000;
// A record made while online goes out after this pause, with whatever follows it.
const SOON_MS = 1_500;

/** phase: idle | sending | offline | retry | signin | failed */
export const state = { phase: "idle", retryAt: null, lastAt: null, message: null };
export const events = new EventTarget();

let running = null;
let again = false; // asked to send while sending: look again when done
let failures = 0;
let timer = null;

function set(phase, extra = {}) {
  Object.assign(state, { phase, retryAt: null, message: null }, extra);
  events.dispatchEvent(new Event("change"));
}

const wire = (item) => ({ command: item.command, idempotency_key: item.key, body: item.body });

function retryLater() {
  failures += 1;
  const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (failures - 1)) * (0.8 + Math.random() * 0.4);
  clearTimeout(timer);
  timer = setTimeout(now, delay);
  set(navigator.onLine ? "retry" : "offline", { retryAt: Date.now() + delay });
}

/** One batch to the server: the response's status and body, or null when no answer came. */
async function send(batch, token) {
  const abort = new AbortController();
  const stop = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch("/sync", {
      method: "POST", cache: "no-store", signal: abort.signal,
      headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ items: batch.map(wire) }),
    });
    const body = await response.json().catch(() => null);
    // A body cut short, or a failure on the way: no answer.
    if (response.status >= 500 || (response.ok && !Array.isArray(body?.results))) return null;
    return { status: response.status, body };
  } catch {
    return null;
  } finally {
    clearTimeout(stop);
  }
}

async function run() {
  const token = await getMeta("token");
  if (!token) return set("signin");
  // What a closed tab or a crash left marked as sending got no answer.
  await records.recoverSending();
  if (!navigator.onLine) return set("offline");
  for (;;) {
    const batch = await records.takeBatch(BATCH);
    if (!batch.length) {
      failures = 0;
      return set("idle");
    }
    set("sending");
    const answer = await send(batch, token);
    if (answer === null) {
      await records.giveBack(batch, true);
      return retryLater();
    }
    if (answer.status === 401) {
      await records.giveBack(batch, false);
      await forgetToken(token);
      return set("signin");
    }
    if (answer.status !== 200) {
      // The whole request was refused before any item was looked at: nothing was recorded.
      await records.giveBack(batch, false);
      return set("failed", { message: answer.body?.message || `HTTP ${answer.status}` });
    }
    await records.settle(batch, answer.body.results);
    state.lastAt = Date.now();
    await setMeta("last_sync", state.lastAt);
  }
}

/** Send what is queued, now; resolves when the queue is sent or sending must wait. */
export function now() {
  clearTimeout(timer);
  timer = null;
  if (running) {
    again = true;
    return running;
  }
  again = false;
  running = (navigator.locks ? navigator.locks.request("emergency-field-sync", run) : run()).finally(() => {
    running = null;
    if (again) now();
  });
  return running;
}

/** Send shortly: a record was just made. */
export function soon() {
  if (!navigator.onLine) return;
  clearTimeout(timer);
  timer = setTimeout(now, SOON_MS);
}

export async function start() {
  state.lastAt = await getMeta("last_sync");
  addEventListener("online", () => {
    failures = 0;
    now();
  });
  addEventListener("offline", () => {
    if (!running) set("offline");
  });
  return now();
}
