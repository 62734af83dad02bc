// CRMS: the only script. Registers the service worker (offline page); pages work without it.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", function () { navigator.serviceWorker.register("/sw.js").catch(function () {}); });
}
