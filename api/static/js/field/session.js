// Who the device works for: the field token, kept on the device, and the
// session the server gave for it (the team's incidents and communes, the
// commands' schemas), cached for offline use and read again when online.

import { ApiError, getJson } from "../api.js";
import { done, getMeta, transact, wipe } from "./db.js";
import { unsettled } from "./records.js";

export const token = () => getMeta("token");
export const cached = () => getMeta("session");

async function fetchSession(secret) {
  const session = await getJson("/field/session", { token: secret });
  // How far the device's clock is from the server's (the request's own time aside).
  session.drift_ms = Date.now() - Date.parse(session.server_time);
  return session;
}

/** Keep a token and its session (none: forget the token); with `onlyIfKept`, only while this token is still the one kept (a sign-out or a new sign-in may have come first). */
function keep(secret, session, { onlyIfKept }) {
  return transact(["meta"], "readwrite", async ({ meta }) => {
    const kept = (await done(meta.get("token")))?.value ?? null;
    if (onlyIfKept && kept !== secret) return;
    if (session) await done(meta.put({ key: "session", value: session }));
    await done(meta.put({ key: "token", value: session ? secret : null }));
  });
}

/** Check a token with the server; keep it and its session on the device. */
export async function signIn(secret) {
  const session = await fetchSession(secret);
  await keep(secret, session, { onlyIfKept: false });
  // Ask the browser not to evict the store under storage pressure.
  await navigator.storage?.persist?.().catch(() => false);
  return session;
}

/** The token is no longer valid: forget it, keep every record (a new token sends them). */
export const forgetToken = (secret) => keep(secret, null, { onlyIfKept: true });

/** Read the session again (new incidents or communes); the cached one when the server cannot be reached. */
export async function refresh() {
  const secret = await token();
  if (!secret) return cached();
  try {
    await keep(secret, await fetchSession(secret), { onlyIfKept: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) await forgetToken(secret);
  }
  return cached();
}

export class Unsettled extends Error {
  constructor(count) {
    super(`${count} records are not recorded yet`);
    this.count = count;
  }
}

/** Wipe the token and every record, once nothing on the device still waits for the server. */
export async function signOut() {
  const waiting = await unsettled();
  if (waiting) throw new Unsettled(waiting);
  await wipe();
}
