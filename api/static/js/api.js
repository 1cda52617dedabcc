// Calls to the API from the pages: JSON with an optional bearer token, and
// Server-Sent Events read through fetch, so the token travels in the
// Authorization header (EventSource cannot send headers, and a token in a
// URL ends up in logs and histories).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

function headers(token, extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** A random (version 4) UUID: a record's id or an Idempotency-Key. crypto.randomUUID would need a secure context. */
export function uuid4() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function getJson(path, { token = null, params = {}, signal } = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null && v !== ""));
  const url = query.size ? `${path}?${query}` : path;
  const response = await fetch(url, { headers: headers(token, { Accept: "application/json" }), signal });
  const body = await response.json().catch(() => null);
  signal?.throwIfAborted(); // an answer that came for an aborted load is never drawn
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** POST a JSON body under an Idempotency-Key: sent again with the same key and body, it is recorded once. */
export async function postJson(path, payload, { token = null, key }) {
  const response = await fetch(path, {
    method: "POST", body: JSON.stringify(payload),
    headers: headers(token, { Accept: "application/json", "Content-Type": "application/json", "Idempotency-Key": key }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Split a text/event-stream body into messages: {id, event, data}. */
async function* frames(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { id: null, event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;  // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") message.data.push(text);
        else if (field === "id") message.id = text;
        else if (field === "event") message.event = text;
      }
      if (message.data.length) yield { ...message, data: JSON.parse(message.data.join("\n")) };
    }
  }
}

/**
 * Follow an SSE route: `onMessage({id, event, data})` for each message,
 * `onState("open" | "retrying" | "denied")`. A dropped stream is resumed with
 * Last-Event-ID, so no change is missed or repeated. Returns a stop function.
 */
export function follow(path, { token, onMessage, onState }) {
  const abort = new AbortController();
  let lastId = null;
  const run = async () => {
    let delay = 1000;
    while (!abort.signal.aborted) {
      try {
        const extra = { Accept: "text/event-stream" };
        if (lastId) extra["Last-Event-ID"] = lastId;
        const response = await fetch(path, { headers: headers(token, extra), signal: abort.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          onState("denied");
          return;
        }
        if (!response.ok) throw new ApiError(response.status, null);
        onState("open");
        delay = 1000;
        for await (const message of frames(response.body)) {
          if (message.id) lastId = message.id;
          onMessage(message);
        }
      } catch (error) {
        if (abort.signal.aborted) return;
      }
      onState("retrying");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  };
  run();
  return () => abort.abort();
}
