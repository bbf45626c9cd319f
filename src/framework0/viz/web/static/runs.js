/* Framework0 runs list: the runs embedded in the page, filters that refetch /api/v1/runs, and a live
 * refresh when a run starts or finishes (WebSocket subscription to every run, and polling every 5 s
 * for runners that write only the store and send the server no events). The subscription brings
 * every event of every run, log lines too: a frame that cannot be a run's start or end is dropped
 * before it is parsed.
 * Run values reach the page through textContent and attribute values only, never as markup.
 */
(function () {
  "use strict";

  const ICONS = Object.assign(Object.create(null), {
    pending: "○", running: "▶", succeeded: "✓", failed: "✗", skipped: "⤼",
    cached: "♻", cancelled: "⊘", restored: "↺",
  });
  const POLL_MS = 5000;
  const PING_MS = 60000;   // the server closes a socket idle for 300 s
  const STABLE_MS = 10000; // a socket open this long resets the reconnect backoff

  const state = {
    runs: [], socket: null, open: false, openedAt: 0, pinger: 0, retry: 0, refused: false,
    fetchTimer: 0, poll: 0, ticker: 0, request: 0, gone: false,
  };

  function byId(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pad(value) { return String(value).padStart(2, "0"); }

  function dateTime(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const d = new Date(seconds * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    if (seconds < 0) seconds = 0;
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 10) return seconds.toFixed(2) + " s";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + pad(Math.floor(seconds % 60)) + " s";
    return Math.floor(seconds / 3600) + " h " + pad(Math.floor((seconds % 3600) / 60)) + " min";
  }

  function runDuration(run) {
    if (run.duration_s !== null && run.duration_s !== undefined) return run.duration_s;
    if (run.finished_at) return run.finished_at - run.started_at;
    return run.status === "running" ? Date.now() / 1000 - run.started_at : null;
  }

  function badge(status) {
    const node = el("span", "f0-status");
    node.dataset.status = status || "other";
    const mark = el("span", "f0-status-icon", (typeof status === "string" && ICONS[status]) || "•");
    mark.setAttribute("aria-hidden", "true");
    node.append(mark, el("span", "f0-status-word", status || "unknown"));
    return node;
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
      if (response.status === 401 || response.status === 403) { state.gone = true; updatePolling(); showLiveState(); return; }
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

  function setLiveState(name, text) {
    const node = byId("f0-live");
    if (!node) return;
    node.dataset.state = name;
    node.textContent = text;
  }

  function showLiveState() {
    if (state.gone) setLiveState("gone", "Signed out: reload to sign in");
    else if (state.open) setLiveState("live", "● Live");
    else setLiveState("polling", "↻ Updating every 5 s");
  }

  function updatePolling() {
    const want = !state.gone; // runs that write only the store send no events: poll them too
    if (want && !state.poll) state.poll = setInterval(refetch, POLL_MS);
    if (!want && state.poll) { clearInterval(state.poll); state.poll = 0; }
  }

  function connect() {
    if (state.gone || state.refused || !("WebSocket" in window)) { updatePolling(); showLiveState(); return; }
    let socket;
    try {
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws");
    } catch (error) {
      reconnectLater();
      return;
    }
    state.socket = socket;
    socket.addEventListener("open", () => {
      state.open = true;
      state.openedAt = Date.now();
      socket.send(JSON.stringify({ op: "subscribe", run: "*" }));
      // the server closes a socket that says nothing for 5 minutes
      state.pinger = setInterval(() => { if (socket.readyState === 1) socket.send('{"op":"ping"}'); }, PING_MS);
      updatePolling();
      showLiveState();
      scheduleRefetch(0); // whatever started or ended before the subscription
    });
    socket.addEventListener("message", (message) => {
      const text = message.data;
      // most frames are other runs' log lines and steps: only a run's start or end is of interest
      if (typeof text !== "string" || (text.indexOf("run_started") < 0 && text.indexOf("run_finished") < 0)) return;
      let data;
      try { data = JSON.parse(text); } catch (error) { return; }
      if (!data || data.type !== "event" || !data.event) return;
      const type = data.event.type;
      if (type === "run_started" || type === "run_finished") scheduleRefetch(300);
    });
    socket.addEventListener("close", (event) => {
      const wasOpen = state.open;
      state.open = false;
      state.socket = null;
      clearInterval(state.pinger);
      state.pinger = 0;
      // the backoff starts over only after a socket that lasted: one the server closes at once waits longer each time
      if (wasOpen && Date.now() - state.openedAt >= STABLE_MS) state.retry = 0;
      if (event.code === 4401) state.gone = true;          // the session ended
      else if (event.code === 4403) state.refused = true;  // this origin may not open sockets: polling only
      updatePolling();
      showLiveState();
      reconnectLater();
    });
  }

  function reconnectLater() {
    if (state.gone || state.refused) return;
    const delay = Math.min(30000, 1000 * Math.pow(2, state.retry));
    state.retry += 1;
    setTimeout(connect, delay);
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
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
