// The field app's service worker: it keeps the app shell in a cache, so the
// app opens with no network once it has been opened. The server writes the
// shell's files and a version made of their contents into SHELL (api/field.py):
// a changed file makes a new version, which installs a new cache and drops
// the old. The API is never cached: records live in IndexedDB, not here.

const SHELL = "__SHELL__";
const CACHE = `field-shell-${SHELL.version}`;
const FILES = new Set(SHELL.files);

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // Past the HTTP cache: the shell is this version's, whole.
    await cache.addAll(SHELL.files.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("field-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !FILES.has(url.pathname)) return;
  event.respondWith((async () => {
    const cached = await caches.match(url.pathname, { cacheName: CACHE });
    return cached || fetch(event.request);
  })());
});
