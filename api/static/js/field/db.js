// The device's store: IndexedDB, which survives a closed tab, a browser
// restart and a phone reboot. Two object stores:
// - `meta`: the token, the cached session, the chosen incident, the last sync;
// - `items`: every record made on the device, in the order made (`seq`),
//   with what `POST /sync` carries and what the server answered.
// Promises wrap the requests; one transaction per call, so a change is
// written whole or not at all.

const NAME = "emergency-field";
const VERSION = 1;

let opened = null;

function upgrade(db) {
  db.createObjectStore("meta", { keyPath: "key" });
  const items = db.createObjectStore("items", { keyPath: "seq", autoIncrement: true });
  items.createIndex("status_seq", ["status", "seq"]);
  items.createIndex("queue_seq", ["queue", "seq"]);
  items.createIndex("queue_status", ["queue", "status"]);
  items.createIndex("record", "record", { unique: true });
  items.createIndex("parent", "parent");
  items.createIndex("household", ["household", "seq"]);
  items.createIndex("incident_command", ["incident", "command", "seq"]);
}

export function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function open() {
  if (opened) return opened;
  const opening = new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, VERSION);
    request.onupgradeneeded = () => upgrade(request.result);
    request.onsuccess = () => {
      const db = request.result;
      // Another tab wipes the store on sign-out: let it.
      db.onversionchange = () => {
        db.close();
        if (opened === opening) opened = null;
      };
      resolve(db);
    };
    request.onerror = () => reject(request.error);
  });
  opened = opening;
  return opening;
}

/** Run `work(stores)` in one transaction over `names`; resolves with its result once committed. */
export async function transact(names, mode, work) {
  const db = await open();
  const tx = db.transaction(names, mode);
  const stores = Object.fromEntries(names.map((name) => [name, tx.objectStore(name)]));
  const committed = new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
  let result;
  try {
    result = await work(stores);
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // already finished: nothing of it to undo
    }
    throw error;
  }
  await committed;
  return result;
}

/** Walk a cursor: `visit(value, cursor)` returns false to stop. */
export function walk(source, range, direction, visit) {
  return new Promise((resolve, reject) => {
    const request = source.openCursor(range, direction);
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor || visit(cursor.value, cursor) === false) resolve();
      else cursor.continue();
    };
  });
}

export async function getMeta(key) {
  const found = await transact(["meta"], "readonly", ({ meta }) => done(meta.get(key)));
  return found?.value ?? null;
}

export function setMeta(key, value) {
  return transact(["meta"], "readwrite", ({ meta }) => done(meta.put({ key, value })));
}

/** Delete everything on the device. */
export async function wipe() {
  if (opened) (await opened).close();
  opened = null;
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = resolve;
    // Blocked: another connection (another tab, or a read still under way) closes on `versionchange`, then it goes on.
    request.onerror = () => reject(request.error);
  });
}
