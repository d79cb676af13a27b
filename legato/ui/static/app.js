// legato ui: the little the pages need from a script. No inline script or handler exists
// (the Content-Security-Policy allows only this file); data from runs is set with
// textContent, and only sections rendered (and escaped) by the server are swapped in.
"use strict";

(function () {
  const POLL_MS = 1000;

  function autosubmit() {
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  async function fetchText(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.text();
  }

  function swap(id, html) {
    const target = document.getElementById(id);
    if (target === null) return;
    const fresh = new DOMParser().parseFromString(html, "text/html").body;
    target.replaceChildren(...fresh.childNodes);
  }

  // Runs page: refresh the table every two seconds while a run on it is in progress.
  function liveRuns() {
    const box = document.getElementById("runs-table");
    if (box === null) return;
    async function tick() {
      const live = box.querySelector("[data-live='1']");
      if (live === null) return;
      try { swap("runs-table", await fetchText(box.dataset.partial)); } catch (e) { /* try again */ }
      window.setTimeout(tick, 2000);
    }
    window.setTimeout(tick, 2000);
  }

  // A run's page: poll its status; when its version changes, swap in the sections again.
  function liveRun() {
    const body = document.body;
    if (body.dataset.page !== "run" || body.dataset.running !== "1") return;
    const base = "/runs/" + encodeURIComponent(body.dataset.run);
    let version = null;
    async function refresh(parts) {
      const query = window.location.search;
      for (const part of parts) {
        swap("part-" + part, await fetchText(base + "/part/" + part + query));
      }
    }
    async function tick() {
      let status;
      try {
        status = JSON.parse(await fetchText(base + "/status"));
      } catch (e) {
        window.setTimeout(tick, POLL_MS * 2);
        return;
      }
      setField("finished", status.finished.toLocaleString("en-US"));
      setField("failed", status.failed.toLocaleString("en-US"));
      setField("duration", status.duration);
      if (version !== null && status.version !== version) {
        try { await refresh(["header", "graph", "timeline", "tasks", "logs"]); } catch (e) { /* next tick */ }
      }
      version = status.version;
      if (status.running) {
        window.setTimeout(tick, POLL_MS);
      } else {
        body.dataset.running = "0";
        try { await refresh(["header", "graph", "timeline", "tasks", "logs"]); } catch (e) { /* stale until reload */ }
      }
    }
    tick();
  }

  function setField(name, text) {
    document.querySelectorAll("[data-field='" + name + "']").forEach(function (el) {
      if (el.textContent !== text) el.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    autosubmit();
    liveRuns();
    liveRun();
    document.body.dataset.readyAt = String(Math.round(performance.now()));  // ms since navigation began
    document.body.dataset.ready = "1";
  });
})();
