/* Framework0 runs list: the runs embedded in the page, filters that refetch /api/v1/runs, and a live
 * refresh when a run starts or finishes (WebSocket subscription to every run, and polling every 5 s
 * for runners that write only the store and send the server no events). The subscription brings
 * every event of every run, log lines too: a frame that cannot be a run's start or end is dropped
 * before it is parsed.
 * Run values reach the page through textContent and attribute values only, never as markup.
 * The helpers and the live connection come from f0.js, loaded before this file.
 */
(function () {
  "use strict";

  const { byId, el, badge, dateTime, duration, setLiveState } = window.F0; // f0.js
  const POLL_MS = 5000;

  const state = { runs: [], fetchTimer: 0, poll: 0, ticker: 0, request: 0 };

  // the live connection: only a run's start or end is of interest, and most frames are other
  // runs' log lines and steps, so the others are dropped before they are parsed
  const link = window.F0.live({
    accept: (text) => text.indexOf("run_started") >= 0 || text.indexOf("run_finished") >= 0,
    onEvent: (event) => { if (event.type === "run_started" || event.type === "run_finished") scheduleRefetch(300); },
    onOpen: () => scheduleRefetch(0), // whatever started or ended before the subscription
    onChange: () => { updatePolling(); showLiveState(); },
  });

  function runDuration(run) {
    if (run.duration_s !== null && run.duration_s !== undefined) return run.duration_s;
    if (run.finished_at) return run.finished_at - run.started_at;
    return run.status === "running" ? Date.now() / 1000 - run.started_at : null;
  }

  function runUrl(run) { return "/runs/" + encodeURIComponent(run.run_id); }

  function render() {
    const body = byId("f0-runs-body");
    const fragment = document.createDocumentFragment();
    for (const run of state.runs) {
      const tr = el("tr");
      tr.dataset.runId = run.run_id;
      tr.dataset.status = run.status;
      const status = el("td");
      status.append(badge(run.status));
      const name = el("td");
      const link = el("a", "f0-run-name", run.test_id || run.recipe_path || run.run_id);
      link.href = runUrl(run);
      name.append(link);
      if (run.test_id && run.recipe_path) name.append(el("span", "f0-run-path", run.recipe_path));
      if (run.error_type || run.error_message) {
        const error = el("span", "f0-run-error", (run.error_type ? run.error_type + ": " : "") + (run.error_message || ""));
        error.title = error.textContent;
        name.append(error);
      }
      const id = el("td", "f0-col-runid");
      const idLink = el("a", "f0-mono", run.run_id);
      idLink.href = runUrl(run);
      idLink.tabIndex = -1; // the name link is the one keyboard stop per row
      id.append(idLink);
      const durationCell = el("td", "f0-num", duration(runDuration(run)));
      if (run.status === "running") durationCell.dataset.running = String(run.started_at);
      tr.append(status, name, id, el("td", "f0-nowrap", dateTime(run.started_at)), durationCell, el("td", "f0-col-node f0-muted", run.node || "—"));
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
    byId("f0-runs-empty").hidden = state.runs.length > 0;
    const count = state.runs.length;
    byId("f0-runs-count").textContent = count === 1 ? "1 run" : count + " runs";
    const anyRunning = state.runs.some((run) => run.status === "running");
    if (anyRunning && !state.ticker) state.ticker = setInterval(tick, 1000);
    if (!anyRunning && state.ticker) { clearInterval(state.ticker); state.ticker = 0; }
    updatePolling();
  }

  function tick() {
    for (const cell of document.querySelectorAll("td[data-running]")) {
      cell.textContent = duration(Date.now() / 1000 - Number(cell.dataset.running));
    }
  }

  function filters() {
    return {
      recipe: byId("f0-filter-recipe").value.trim(),
      status: byId("f0-filter-status").value,
      limit: byId("f0-filter-limit").value,
    };
  }

  function query(values) {
    const params = new URLSearchParams();
    if (values.recipe) params.set("recipe", values.recipe);
    if (values.status) params.set("status", values.status);
    if (values.limit && values.limit !== "500") params.set("limit", values.limit);
    return params.toString();
  }

  async function refetch() {
    const values = filters();
    const request = ++state.request;
    const params = new URLSearchParams({ limit: values.limit || "500" });
    if (values.recipe) params.set("recipe", values.recipe);
    if (values.status) params.set("status", values.status);
    try {
      const response = await fetch("/api/v1/runs?" + params.toString(), {
        credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
      });
      if (response.status === 401 || response.status === 403) { link.signOut(); return; }
      if (!response.ok) return;
      const data = await response.json();
      if (request !== state.request) return; // a newer filter won
      state.runs = Array.isArray(data.runs) ? data.runs : [];
      render();
    } catch (error) {
      // offline or the server restarts: the next event or poll tries again
    }
  }

  function scheduleRefetch(delay) {
    clearTimeout(state.fetchTimer);
    state.fetchTimer = setTimeout(refetch, delay);
  }

  function applyFilters() {
    const text = query(filters());
    try { history.replaceState(null, "", location.pathname + (text ? "?" + text : "")); } catch (error) { /* ignore */ }
    scheduleRefetch(0);
  }

  function showLiveState() {
    if (link.gone) setLiveState("gone", "Signed out: reload to sign in");
    else if (link.open) setLiveState("live", "● Live");
    else setLiveState("polling", "↻ Updating every 5 s");
  }

  function updatePolling() {
    const want = !link.gone; // runs that write only the store send no events: poll them too
    if (want && !state.poll) state.poll = setInterval(refetch, POLL_MS);
    if (!want && state.poll) { clearInterval(state.poll); state.poll = 0; }
  }

  function boot() {
    const data = byId("f0-runs");
    if (!data) return;
    try {
      const parsed = JSON.parse(data.textContent);
      state.runs = Array.isArray(parsed) ? parsed : parsed.runs || [];
    } catch (error) {
      state.runs = [];
    }
    const params = new URLSearchParams(location.search);
    byId("f0-filter-recipe").value = params.get("recipe") || "";
    if (params.get("status")) byId("f0-filter-status").value = params.get("status");
    if (params.get("limit")) byId("f0-filter-limit").value = params.get("limit");
    render();
    if (params.get("recipe") || params.get("status") || params.get("limit")) refetch();

    byId("f0-runs-filters").addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
    let typing = 0;
    byId("f0-filter-recipe").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 300); });
    byId("f0-filter-status").addEventListener("change", applyFilters);
    byId("f0-filter-limit").addEventListener("change", applyFilters);
    byId("f0-runs-body").addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      const tr = event.target.closest("tr");
      if (!tr || String(window.getSelection ? window.getSelection() : "").length) return;
      location.href = "/runs/" + encodeURIComponent(tr.dataset.runId);
    });
    document.body.dataset.rendered = String(Math.round(performance.now()));
    showLiveState();
    link.start("*");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
