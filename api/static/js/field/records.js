// Records made on the device and their life in the queue.
//
// A record is one write for `POST /sync`. Its id (household_id,
// assessment_id, disbursement_id; a request for help's own on the device,
// the server gives it a reference) and its idempotency key are made when it
// is made, never when it is sent, so a record resent after a lost answer is
// recorded once. Its status:
//   unsent   -> sending -> recorded (201, or 200: recorded before)
//                       -> refused  (4xx: kept, with the server's field and message)
//                       -> unsent   (no answer: 5xx or no network; `uncertain` from then on)
//   held: waits for the record it needs (its household, a receipt's disbursement)
//         when that one was refused: sent once it is recorded.
// Only a record the server has surely not recorded (never sent, or refused)
// may be corrected: it keeps its id and key. A recorded record leaves the
// queue once the worker has seen it, and stays on the device until sign-out.

import { uuid4 } from "../api.js";
import { done, transact, walk } from "./db.js";

const KINDS = {
  register_household: { id: "household_id" },
  assess_damage: { id: "assessment_id", needs: "household_id" },
  record_disbursement: { id: "disbursement_id", needs: "household_id" },
  confirm_receipt: { needs: "disbursement_id", record: (body) => `receipt:${body.disbursement_id}` },
  // Its household, if it names one the device made, goes first.
  file_request: { needs: "household_id", record: () => `request:${uuid4()}` },
};
// A 409 for one of these says the server holds this record under its id: a
// record sent before, whose answer was lost, then sent again under another
// token (idempotency keys belong to a token).
const ALREADY_RECORDED = new Set(["already_exists", "duplicate_assessment", "duplicate_disbursement", "already_confirmed"]);
const WAITING = ["unsent", "sending", "refused", "held"];

export const events = new EventTarget();
const tabs = "BroadcastChannel" in self ? new BroadcastChannel("emergency-field") : null;
if (tabs) tabs.onmessage = () => events.dispatchEvent(new Event("change"));

function changed() {
  events.dispatchEvent(new Event("change"));
  tabs?.postMessage("change");
}

export class NotEditable extends Error {}

/** May this record still be changed? Only if the server has surely not recorded it. */
export function editable(item) {
  return !item.uncertain && ["unsent", "refused", "held"].includes(item.status);
}

/** Keep a new record for sending; resolves with it (its `seq` is its place in the queue). */
export async function make(command, body, incidentId) {
  const kind = KINDS[command];
  const full = kind.id ? { ...body, [kind.id]: uuid4() } : body;
  const item = {
    command, key: `field-${uuid4()}`, body: full,
    record: kind.id ? full[kind.id] : kind.record(full),
    parent: kind.needs ? full[kind.needs] : undefined,
    household: full.household_id, incident: incidentId,
    made_at: new Date().toISOString(), status: "unsent", uncertain: 0, error: null, result: null, queue: 1,
  };
  item.seq = await transact(["items"], "readwrite", ({ items }) => done(items.add(item)));
  changed();
  return item;
}

/** Correct a record not yet recorded: same id, same key, new body. */
export async function correct(seq, body) {
  const item = await transact(["items"], "readwrite", async ({ items }) => {
    const found = await done(items.get(seq));
    if (!found || !editable(found)) throw new NotEditable();
    const kind = KINDS[found.command];
    for (const name of [kind.id, kind.needs]) if (name) body[name] = found.body[name];
    Object.assign(found, { body, status: "unsent", error: null, changed_at: new Date().toISOString() });
    await done(items.put(found));
    return found;
  });
  changed();
  return item;
}

/** Drop a record the worker gives up on; not one that others on the device need. */
export async function discard(seq) {
  const dropped = await transact(["items"], "readwrite", async ({ items }) => {
    const found = await done(items.get(seq));
    if (!found || !editable(found)) throw new NotEditable();
    if (await done(items.index("parent").count(found.record))) return false;
    await done(items.delete(seq));
    return true;
  });
  if (dropped) changed();
  return dropped;
}

export function item(seq) {
  return transact(["items"], "readonly", ({ items }) => done(items.get(seq)));
}

export function byRecord(id) {
  return transact(["items"], "readonly", ({ items }) => done(items.index("record").get(id)));
}

// ----- what the screens show ---------------------------------------------------

const QUEUE_STATUSES = ["unsent", "sending", "recorded", "refused", "held"];

/** How many items the queue holds in each status. */
export function counts() {
  return transact(["items"], "readonly", async ({ items }) => {
    const index = items.index("queue_status");
    const found = {};
    for (const status of QUEUE_STATUSES) found[status] = await done(index.count(IDBKeyRange.only([1, status])));
    found.total = QUEUE_STATUSES.reduce((sum, s) => sum + found[s], 0);
    found.waiting = WAITING.reduce((sum, s) => sum + found[s], 0);
    return found;
  });
}

/** The first `limit` items of the queue, in the order made. */
export function queuePage(limit) {
  return transact(["items"], "readonly", async ({ items }) => {
    const found = [];
    await walk(items.index("queue_seq"), IDBKeyRange.bound([1, 0], [1, Infinity]), "next", (value) => {
      found.push(value);
      return found.length < limit;
    });
    return found;
  });
}

/** The worker has seen what was recorded: it leaves the queue (and stays on the device). */
export async function clearRecorded() {
  const cleared = await transact(["items"], "readwrite", async ({ items }) => {
    let count = 0;
    await walk(items.index("queue_status"), IDBKeyRange.only([1, "recorded"]), "next", (value, cursor) => {
      cursor.update({ ...value, queue: 0 });
      count += 1;
    });
    return count;
  });
  changed();
  return cleared;
}

const fold = (text) => text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase();

/** An incident's households on the device, newest first: up to `limit`, whose head's name contains `search`. */
export function households(incidentId, search, limit) {
  const wanted = fold(search || "");
  return transact(["items"], "readonly", async ({ items }) => {
    const index = items.index("incident_command");
    const range = IDBKeyRange.bound([incidentId, "register_household", 0], [incidentId, "register_household", Infinity]);
    const found = [];
    // Without a search the index counts them, and only the page shown is read.
    let total = wanted ? 0 : await done(index.count(range));
    await walk(index, range, "prev", (value) => {
      if (!wanted) {
        found.push(value);
        return found.length < limit;
      }
      if (fold(value.body.head_name).includes(wanted)) {
        total += 1;
        if (found.length < limit) found.push(value);
      }
      return true;
    });
    return { found, total };
  });
}

/** A household's records on the device, in the order made (its registration first). */
export function householdRecords(householdId) {
  return transact(["items"], "readonly", async ({ items }) => {
    const found = [];
    await walk(items.index("household"), IDBKeyRange.bound([householdId, 0], [householdId, Infinity]), "next",
      (value) => { found.push(value); });
    return found;
  });
}

/** The head of each of these households, by household id (what the queue names a record by). */
export function heads(householdIds) {
  return transact(["items"], "readonly", async ({ items }) => {
    const found = new Map();
    for (const id of householdIds) found.set(id, (await done(items.index("record").get(id)))?.body.head_name);
    return found;
  });
}

/** Whether anything on the device is not yet recorded by the server. */
export async function unsettled() {
  return (await counts()).waiting;
}

// ----- sending -----------------------------------------------------------------

/**
 * The next items to send, in the order made, marked `sending`. An item whose
 * household was refused (or waits itself) is held instead of sent.
 */
export async function takeBatch(limit) {
  const batch = await transact(["items"], "readwrite", async ({ items }) => {
    const taken = [];
    let after = 0;
    for (;;) {
      const candidates = [];
      const range = IDBKeyRange.bound(["unsent", after], ["unsent", Infinity], true);
      await walk(items.index("status_seq"), range, "next", (value) => {
        candidates.push(value);
        return candidates.length < limit;
      });
      for (const value of candidates) {
        const parent = value.parent && await done(items.index("record").get(value.parent));
        const next = parent && ["refused", "held"].includes(parent.status) ? "held" : "sending";
        await done(items.put({ ...value, status: next }));
        if (next === "sending") taken.push({ ...value, status: next });
        if (taken.length >= limit) return taken;
      }
      if (candidates.length < limit) return taken;
      after = candidates[candidates.length - 1].seq;
    }
  });
  if (batch.length) changed();
  return batch;
}

/** Items sent without an answer go back to the queue, marked uncertain (they may be recorded). */
export async function giveBack(batch, uncertain) {
  await transact(["items"], "readwrite", async ({ items }) => {
    for (const sent of batch) {
      const found = await done(items.get(sent.seq));
      if (found?.status === "sending") await done(items.put({ ...found, status: "unsent", uncertain: uncertain ? 1 : found.uncertain }));
    }
  });
  changed();
}

/** After a crash or a closed tab: what was being sent has no answer. */
export async function recoverSending() {
  const stuck = await transact(["items"], "readonly", async ({ items }) => {
    const found = [];
    await walk(items.index("status_seq"), IDBKeyRange.bound(["sending", 0], ["sending", Infinity]), "next",
      (value) => { found.push(value); });
    return found;
  });
  if (stuck.length) await giveBack(stuck, true);
}

function outcome(sent, answer, parent) {
  if (answer.status === 201 || answer.status === 200) {
    return { status: "recorded", uncertain: 0, error: null, result: answer.outcome.result, replayed: answer.status === 200 };
  }
  const { error: code, field, message } = answer.error;
  const error = { status: answer.status, code, field, message };
  if (answer.status === 409 && sent.uncertain && ALREADY_RECORDED.has(code)) {
    return { status: "recorded", uncertain: 0, error: null, result: null, replayed: true };
  }
  // Its household went in the same batch and was refused: wait for it.
  if (answer.status === 404 && parent && parent.status !== "recorded") return { status: "held", error: null };
  return { status: "refused", uncertain: 0, error };
}

/** Keep what the server answered for each item; release the items that waited for one now recorded. */
export async function settle(batch, answers) {
  await transact(["items"], "readwrite", async ({ items }) => {
    for (const [i, sent] of batch.entries()) {
      const found = await done(items.get(sent.seq));
      const parent = found.parent && await done(items.index("record").get(found.parent));
      const next = { ...found, ...outcome(found, answers[i], parent), answered_at: new Date().toISOString() };
      await done(items.put(next));
      if (next.status !== "recorded") continue;
      const waiting = await done(items.index("parent").getAll(next.record));
      for (const child of waiting.filter((c) => c.status === "held")) await done(items.put({ ...child, status: "unsent" }));
    }
  });
  changed();
}
