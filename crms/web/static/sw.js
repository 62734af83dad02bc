// CRMS service worker: caches only the stylesheet, the script and the offline page (never a record);
// a page request that fails because the network is down gets the offline page. The server names the cache
// by a digest of these files (crms.web.app.service_worker_source), so a release that changes one of them
// changes this script: the browser installs it, which fetches the shell afresh (past the HTTP cache) and
// drops the old cache.
const CACHE = "crms-shell";
const SHELL = ["/offline", "/static/app.css", "/static/app.js", "/static/icon.svg"];
self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: "reload" })))));
  self.skipWaiting();
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k)))));
  self.clients.claim();
});
self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.pathname.startsWith("/static/")) {
    // the pages ask for /static/app.css?v=<digest>: the cached copy is of that same digest
    e.respondWith(caches.match(req, { ignoreSearch: true, cacheName: CACHE }).then((hit) => hit || fetch(req)));
  } else if (req.mode === "navigate") {
    e.respondWith(fetch(req).catch(() => caches.match("/offline")));
  }
});
