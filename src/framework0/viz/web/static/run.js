/* Framework0 run page and report: draws a run's view model and, on the dashboard, keeps it live.
 *
 * The view model (viz/run_view.py) is read from <script type="application/json" id="f0-view">.
 * Sections (header, summary, graph, timeline, step table, detail panel, context) each have a
 * render function that brings its DOM up to date with `state.view`; they reuse their elements
 * (keyed by step, item and attempt) so that a live update changes text and attributes in place.
 * Changes are batched: `invalidate(section)` marks a section and one animation frame redraws
 * every marked section.
 *
 * Live (body[data-live="1"]): a WebSocket subscription to the run; each event is applied to the
 * model in place (a step's status, an attempt, log lines, context changes), and the whole view
 * is refetched at most every 2 s while the run is running, and once after it finished. The view
 * is also polled every 2 s while the run is running and nothing else fetched it: a runner that
 * writes only the store (f0 run without --context-server) sends the server no events. Every
 * fetch sends the view's `revision` as `unless`: the server answers 204 when nothing changed.
 * The view holds only a step's newest log lines; the dashboard fetches up to 5,000 on request.
 *
 * Step names and context keys are run data: they may be "constructor" or "__proto__". They are
 * looked up in Maps or prototype-free objects, never in plain object literals.
 *
 * Run values reach the page through textContent and attribute values only, never as markup.
 * The helpers and the live connection come from f0.js, loaded (or inlined) before this file.
 */
(function () {
  "use strict";

  const { byId, el, icon, badge, pad, clock, dateTime, duration, setLiveState } = window.F0; // f0.js
  const STATUS_ORDER = ["failed", "running", "cancelled", "killed", "succeeded", "cached", "restored", "skipped", "pending"];
  const STREAMS = ["stdout", "stderr", "log", "framework"];
  const REFETCH_MS = 2000;
  const LIVE_LOG_LIMIT = 5000;     // newest lines kept per step as live lines arrive (model and panel)
  const LOG_FETCH_LIMIT = 5000;    // what "Show up to 5,000 lines" asks the server for
  const EXPANDED_KEEP = 4;         // steps whose fetched lines are kept (a finished run: no refetch)
  const HISTORY_ROWS = 300;
  const PREVIEW_CHARS = 80;
  const VALUE_CHARS = 20000;

  const body = document.body;
  const isLive = body.dataset.live === "1";
  const motion = window.matchMedia ? !window.matchMedia("(prefers-reduced-motion: reduce)").matches : true;

  const state = {
    view: null,
    steps: new Map(),      // name -> step
    attempts: new Map(),   // step name -> attempts (ordered by start)
    logs: new Map(),       // step name ("" for the run's own lines) -> {lines, dropped}, from view.logs
    expanded: new Map(),   // step name -> {lines, dropped}: the lines fetched with "Show up to 5,000 lines"
    logFetch: new Map(),   // step name -> "loading" | an error message
    selected: null,
    filter: "",
    statusFilter: "",
    sort: { key: "position", dir: 1 },
    streams: new Set(STREAMS),
    clockOffset: 0,
    dirty: new Set(),
    frame: 0,
    diffA: null,
    diffB: null,
    historyFilter: "",
    historyAll: false,
  };

  // ------------------------------------------------------------------ small helpers

  function hasOwn(object, key) {
    return object !== null && object !== undefined && Object.prototype.hasOwnProperty.call(object, key);
  }

  function dict(source) {
    // a prototype-free copy of a JSON object: any key, "__proto__" or "constructor" too, is plain data
    const copy = Object.create(null);
    if (source && typeof source === "object" && !Array.isArray(source)) {
      for (const key of Object.keys(source)) copy[key] = source[key];
    }
    return copy;
  }

  function setBadge(node, status) {
    if (node.dataset.status === status) return;
    node.dataset.status = status || "other";
    node.firstChild.textContent = icon(status);
    node.lastChild.textContent = status || "unknown";
  }

  function offset(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    return "+" + duration(seconds);
  }

  function cpu(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    return seconds.toFixed(seconds < 10 ? 2 : 1) + " s";
  }

  function bytes(count) {
    if (!count) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = count;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    const shown = unit === 0 ? String(value) : value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : String(Math.round(value));
    return shown + " " + units[unit];
  }

  function json(value, pretty) {
    if (value === undefined) return "";
    try {
      return JSON.stringify(value, null, pretty ? 2 : undefined);
    } catch (error) {
      return String(value);
    }
  }

  function clip(text, limit) {
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
  }

  function codeBlock(value, className) {
    let text = typeof value === "string" && className === "f0-text" ? value : json(value, true);
    const pre = el("pre", "f0-code" + (className ? " " + className : ""));
    if (text.length > VALUE_CHARS) {
      pre.append(document.createTextNode(text.slice(0, VALUE_CHARS)));
      pre.append(el("span", "f0-muted", "\n… " + (text.length - VALUE_CHARS).toLocaleString() + " more characters"));
    } else {
      pre.textContent = text;
    }
    return pre;
  }

  function facts(list, pairs) {
    const fragment = document.createDocumentFragment();
    for (const [label, value, className] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      const wrap = el("div", "f0-fact");
      wrap.append(el("dt", "", label));
      const dd = el("dd", className || "");
      if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
      wrap.append(dd);
      fragment.append(wrap);
    }
    list.replaceChildren(fragment);
  }

  function now() {
    if (!isLive && state.view && state.view.generated_at) return state.view.generated_at;
    return Date.now() / 1000 + state.clockOffset;
  }

  function running() { return state.view.run.status === "running"; }

  function stepEnd(step) {
    if (step.finished_at !== null && step.finished_at !== undefined) return step.finished_at;
    return step.status === "running" && running() ? now() : null;
  }

  function stepDuration(step) {
    if (step.duration_s !== null && step.duration_s !== undefined) return step.duration_s;
    const end = stepEnd(step);
    return step.started_at !== null && step.started_at !== undefined && end !== null ? end - step.started_at : null;
  }

  function attemptEnd(attempt) {
    // a running attempt of a killed run has no end: it ends where it was last seen
    if (attempt.finished_at !== null && attempt.finished_at !== undefined) return attempt.finished_at;
    if (attempt.status === "running" && running()) return now();
    return attempt.started_at + (attempt.wall_s || 0);
  }

  function attemptWall(attempt) {
    return attempt.wall_s ?? attemptEnd(attempt) - attempt.started_at;
  }

  function runDuration() {
    const run = state.view.run;
    if (run.duration_s !== null && run.duration_s !== undefined) return run.duration_s;
    if (run.finished_at) return run.finished_at - run.started_at;
    return running() ? now() - run.started_at : null;
  }

  // ------------------------------------------------------------------ model

  function normalize(view) {
    // what the code below relies on, whatever the server left out; objects keyed by run data lose their prototype
    if (!Array.isArray(view.steps)) view.steps = [];
    if (!Array.isArray(view.attempts)) view.attempts = [];
    const context = view.context && typeof view.context === "object" ? view.context : {};
    if (!Array.isArray(context.history)) context.history = [];
    context.values = dict(context.values);
    context.base = dict(context.base);
    context.version = context.version || 0;
    context.history_dropped = context.history_dropped || 0;
    view.context = context;
    return view;
  }

  function index(view) {
    state.steps = new Map();
    for (const step of view.steps) state.steps.set(step.name, step);
    state.attempts = new Map();
    for (const attempt of view.attempts) addAttempt(attempt);
    state.logs = new Map();
    const logs = view.logs && typeof view.logs === "object" ? view.logs : {};
    for (const key of Object.keys(logs)) {
      const entry = logs[key];
      if (!entry || !Array.isArray(entry.lines)) continue;
      state.logs.set(key, { lines: entry.lines, dropped: Number(entry.dropped) || 0 });
    }
  }

  const NO_LOGS = Object.freeze({ lines: Object.freeze([]), dropped: 0 });

  function shownLogs(key) {
    // what the log panel of a step ("" for the run's own lines) shows
    return state.expanded.get(key) || state.logs.get(key) || NO_LOGS;
  }

  function panelKey() { return state.selected === null ? "" : state.selected; }

  function addAttempt(attempt) {
    let list = state.attempts.get(attempt.step);
    if (!list) { list = []; state.attempts.set(attempt.step, list); }
    list.push(attempt);
  }

  function findAttempt(step, item, number) {
    const list = state.attempts.get(step) || [];
    for (let i = list.length - 1; i >= 0; i -= 1) {
      const attempt = list[i];
      if (attempt.attempt === number && (attempt.item ?? null) === (item ?? null)) return attempt;
    }
    return null;
  }

  // ------------------------------------------------------------------ rendering schedule

  const RENDERERS = [];

  function invalidate() {
    for (const name of arguments) state.dirty.add(name);
    if (!state.frame) state.frame = requestAnimationFrame(flush);
  }

  function flush() {
    state.frame = 0;
    const dirty = state.dirty;
    state.dirty = new Set();
    for (const [name, render] of RENDERERS) if (dirty.has(name)) render();
  }

  // ------------------------------------------------------------------ header and summary

  const head = { durationNode: null, badge: null };

  function renderHead() {
    const run = state.view.run;
    const title = run.test_id || run.recipe_path || "run";
    byId("f0-title").textContent = title;
    byId("f0-run-sub").textContent = run.test_id && run.recipe_path ? run.recipe_path : "";
    if (!head.badge) {
      head.badge = badge(run.status, "f0-status-lg");
      byId("f0-run-status").replaceChildren(head.badge);
    } else {
      setBadge(head.badge, run.status);
    }
    document.title = icon(run.status) + " " + title + " · run " + run.run_id + (isLive ? " · Framework0" : " · report");

    head.durationNode = el("span", "", duration(runDuration()));
    const runId = el("code", "f0-mono", run.run_id);
    facts(byId("f0-run-facts"), [
      ["Run", runId],
      ["Started", dateTime(run.started_at)],
      ["Finished", run.finished_at ? dateTime(run.finished_at) : running() ? "running…" : "—"],
      ["Duration", head.durationNode],
      ["Steps", String(state.view.steps.length)],
      ["Node", run.node],
      ["Sessions", run.sessions > 1 ? run.sessions + " (resumed)" : null],
    ]);

    const errorHost = byId("f0-run-error");
    errorHost.replaceChildren();
    if (run.error) {
      const box = el("div", "f0-callout f0-callout-error");
      box.setAttribute("role", "note");
      const mark = el("span", "f0-callout-icon", "✗");
      mark.setAttribute("aria-hidden", "true");
      box.append(mark, el("strong", "", run.error.type + ": "), document.createTextNode(run.error.message || ""));
      errorHost.append(box);
    }

    const paramsHost = byId("f0-run-params");
    const params = run.params || {};
    const keys = Object.keys(params);
    paramsHost.replaceChildren();
    if (keys.length) {
      const details = el("details", "f0-params");
      details.append(el("summary", "", "Parameters (" + keys.length + ")"));
      const list = el("dl", "f0-kv");
      for (const key of keys.sort()) {
        const row = el("div", "f0-kv-row");
        row.append(el("dt", "f0-mono", key), el("dd", "f0-mono", clip(json(params[key]), 400)));
        list.append(row);
      }
      details.append(list);
      paramsHost.append(details);
    }
    if (!isLive) {
      const note = byId("f0-report-note");
      if (note) note.textContent = "Report generated " + dateTime(state.view.generated_at);
    }
  }

  function tick() {
    if (head.durationNode) head.durationNode.textContent = duration(runDuration());
    timelineTick();
    tableTick();
  }

  const summary = { signature: "" };

  function renderSummary() {
    const host = byId("f0-summary");
    const counts = new Map();
    for (const step of state.view.steps) counts.set(step.status, (counts.get(step.status) || 0) + 1);
    const statuses = Array.from(counts.keys()).sort((a, b) => rank(a) - rank(b));
    const signature = statuses.map((status) => status + counts.get(status)).join(",");
    if (signature === summary.signature) return; // keeps a focused chip focused during a live run
    summary.signature = signature;
    const total = state.view.steps.length;
    const bar = el("div", "f0-progress");
    bar.setAttribute("aria-hidden", "true");
    const chips = el("div", "f0-chips");
    chips.setAttribute("role", "group");
    chips.setAttribute("aria-label", "Filter steps by status");
    for (const status of statuses) {
      const segment = el("span", "f0-progress-part");
      segment.dataset.status = status;
      segment.style.flexGrow = String(counts.get(status));
      bar.append(segment);
      const chip = el("button", "f0-chip");
      chip.type = "button";
      chip.dataset.status = status;
      chip.setAttribute("aria-pressed", state.statusFilter === status ? "true" : "false");
      const mark = el("span", "f0-status-icon", icon(status));
      mark.setAttribute("aria-hidden", "true");
      chip.append(mark, el("span", "f0-chip-count", counts.get(status)), document.createTextNode(" " + status));
      chips.append(chip);
    }
    const label = el("span", "f0-muted f0-summary-total", total + (total === 1 ? " step" : " steps"));
    host.replaceChildren(bar, label, chips);
  }

  function rank(status) {
    const position = STATUS_ORDER.indexOf(status);
    return position < 0 ? STATUS_ORDER.length : position;
  }

  // ------------------------------------------------------------------ graph

  const graph = { svg: null, zoom: null, nodes: new Map(), edges: [], names: "", pointer: null, width: 1, height: 1 };

  function sanitizeSvg(root) {
    // the SVG comes from the server, escaped; this is a second line of defence
    for (const node of Array.from(root.querySelectorAll("script, foreignObject, iframe, object, embed"))) node.remove();
    for (const node of [root, ...root.querySelectorAll("*")]) {
      for (const attribute of Array.from(node.attributes)) {
        const name = attribute.name.toLowerCase();
        if (name.startsWith("on") || name === "style") node.removeAttribute(attribute.name);
        else if ((name === "href" || name === "xlink:href") && !attribute.value.startsWith("#")) node.removeAttribute(attribute.name);
      }
    }
  }

  function renderGraphInit() {
    const host = byId("f0-graph");
    if (graph.zoom) { graph.zoom.destroy(); graph.zoom = null; }
    graph.nodes = new Map();
    graph.edges = [];
    graph.names = state.view.steps.map((step) => step.name).join("\u0000");
    const text = state.view.graph_svg;
    if (!text) {
      host.style.height = "auto";
      host.replaceChildren(el("p", "f0-empty", "No graph for this run."));
      return;
    }
    const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = parsed.documentElement;
    if (!root || root.localName !== "svg" || parsed.getElementsByTagName("parsererror").length) {
      host.style.height = "auto";
      host.replaceChildren(el("p", "f0-empty", "The graph could not be read."));
      return;
    }
    sanitizeSvg(root);
    const box = (root.getAttribute("viewBox") || "").split(/[\s,]+/).map(Number);
    graph.width = box[2] || 1;
    graph.height = box[3] || 1;
    sizeGraphBox(); // before the SVG is in the document: measuring the box is cheap then
    const svg = document.importNode(root, true);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    // svg-pan-zoom adds style="overflow: hidden" unless the element has an overflow style: set it
    // through the CSSOM, which the Content-Security-Policy allows (a style attribute it refuses)
    svg.style.overflow = "hidden";
    svg.setAttribute("focusable", "false");
    host.replaceChildren(svg);
    graph.svg = svg;
    for (const node of svg.querySelectorAll(".f0-node")) graph.nodes.set(node.getAttribute("data-step"), node);
    graph.edges = Array.from(svg.querySelectorAll(".f0-edge"));
    for (const step of state.view.steps) paintNode(step);
    if (typeof window.svgPanZoom === "function") {
      graph.zoom = window.svgPanZoom(svg, {
        zoomEnabled: true,
        panEnabled: true,
        controlIconsEnabled: false,
        mouseWheelZoomEnabled: false,
        dblClickZoomEnabled: false,
        preventMouseEventsDefault: true,
        fit: true,
        center: true,
        minZoom: 0.05,
        maxZoom: 40,
        zoomScaleSensitivity: 0.25,
      });
      fitGraph();
    }
    highlightSelection();
  }

  function sizeGraphBox() {
    // a short graph gets a short box; a big one the whole box
    const host = byId("f0-graph");
    const tallest = window.innerWidth <= 720 ? 300 : 420;
    const scale = Math.min(host.clientWidth / graph.width, 1.2);
    const wanted = scale < 0.3 ? tallest : graph.height * scale + 32;
    host.style.height = Math.round(Math.min(tallest, Math.max(160, wanted))) + "px";
  }

  function fitGraph() {
    if (!graph.zoom || !byId("f0-graph").clientWidth) return;
    sizeGraphBox();
    graph.zoom.resize();
    graph.zoom.fit();
    graph.zoom.center();
    const sizes = graph.zoom.getSizes();
    if (sizes.realZoom > 1.2) {
      graph.zoom.zoom(graph.zoom.getZoom() * 1.2 / sizes.realZoom);
    } else if (sizes.realZoom < 0.3) {
      // too small to read: start readable at the graph's left end (its first steps), vertically centred
      graph.zoom.zoom(graph.zoom.getZoom() * 0.6 / sizes.realZoom);
      const now = graph.zoom.getSizes();
      graph.zoom.pan({ x: 12, y: now.height / 2 - (graph.height / 2) * now.realZoom });
    }
  }

  function renderGraph() {
    const names = state.view.steps.map((step) => step.name).join("\u0000");
    if (names !== graph.names) { renderGraphInit(); return; }
    for (const step of state.view.steps) paintNode(step);
  }

  function paintNode(step) {
    const node = graph.nodes.get(step.name);
    if (!node || node.getAttribute("data-status") === step.status) return;
    node.setAttribute("data-status", step.status);
    const mark = node.querySelector(".f0-node-icon");
    if (mark) mark.textContent = icon(step.status);
    const word = node.querySelector(".f0-node-status");
    if (word) word.textContent = step.status;
    const title = node.querySelector("title");
    if (title) title.textContent = title.textContent.replace(/\s*\([^()]*\)$/, "") + " (" + step.status + ")";
  }

  function revealNode(name) {
    const node = graph.nodes.get(name);
    if (!node || !graph.zoom || !graph.zoom.getSizes().width) return; // no graph, or not displayed
    const match = /translate\(\s*([-\d.e]+)[\s,]+([-\d.e]+)\s*\)/.exec(node.getAttribute("transform") || "");
    // from the attributes, not getBBox(): no forced layout of the whole page
    const rect = node.querySelector(".f0-node-box");
    const x = (match ? parseFloat(match[1]) : 0) + (parseFloat(rect && rect.getAttribute("width")) || 0) / 2;
    const y = (match ? parseFloat(match[2]) : 0) + (parseFloat(rect && rect.getAttribute("height")) || 0) / 2;
    let sizes = graph.zoom.getSizes();
    const pan = graph.zoom.getPan();
    const sx = x * sizes.realZoom + pan.x;
    const sy = y * sizes.realZoom + pan.y;
    const visible = sx > 40 && sx < sizes.width - 40 && sy > 20 && sy < sizes.height - 20;
    if (visible && sizes.realZoom >= 0.5) return;
    if (sizes.realZoom < 0.8) {
      graph.zoom.zoom(graph.zoom.getZoom() * 0.8 / sizes.realZoom);
      sizes = graph.zoom.getSizes();
    }
    graph.zoom.pan({ x: sizes.width / 2 - x * sizes.realZoom, y: sizes.height / 2 - y * sizes.realZoom });
  }

  function setupGraphControls() {
    const host = byId("f0-graph");
    byId("f0-zoom-in").addEventListener("click", () => graph.zoom && graph.zoom.zoomBy(1.3));
    byId("f0-zoom-out").addEventListener("click", () => graph.zoom && graph.zoom.zoomBy(1 / 1.3));
    byId("f0-zoom-fit").addEventListener("click", fitGraph);
    host.addEventListener("wheel", (event) => {
      if (!graph.zoom || !(event.ctrlKey || event.metaKey)) return;
      event.preventDefault();
      const rect = graph.svg.getBoundingClientRect();
      const factor = Math.exp(-event.deltaY * 0.002);
      graph.zoom.zoomAtPointBy(factor, { x: event.clientX - rect.left, y: event.clientY - rect.top });
    }, { passive: false });
    host.addEventListener("pointerdown", (event) => { graph.pointer = [event.clientX, event.clientY]; });
    host.addEventListener("click", (event) => {
      const start = graph.pointer;
      graph.pointer = null;
      if (start && Math.hypot(event.clientX - start[0], event.clientY - start[1]) > 5) return; // a drag
      const node = event.target.closest && event.target.closest(".f0-node");
      if (node) select(node.getAttribute("data-step"), { origin: "graph" });
    });
    host.addEventListener("keydown", (event) => {
      const node = event.target.closest && event.target.closest(".f0-node");
      if (node && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        select(node.getAttribute("data-step"), { origin: "graph" });
      }
    });
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(fitGraph, 200);
    });
  }

  // ------------------------------------------------------------------ timeline

  const tl = {
    inner: null, scale: null, grid: null, body: null, corner: null,
    rows: new Map(),  // row key -> {row, label, track, bars: Map, span, note}
    order: [],
    t0: 0, span: 1, tickKey: "", zoom: 1,
    runningBars: new Set(),
  };

  function timelineRange() {
    const view = state.view;
    let start = view.run.started_at;
    let end = view.run.finished_at;
    for (const attempt of view.attempts) {
      if (attempt.started_at < start) start = attempt.started_at;
      const stop = attemptEnd(attempt);
      if (end === null || end === undefined || stop > end) end = stop;
    }
    if (running()) end = Math.max(end ?? start, now());
    if (end === null || end === undefined || end - start < 0.001) end = start + 1;
    return [start, end];
  }

  function setupTimeline() {
    const host = byId("f0-timeline");
    tl.inner = el("div", "f0-tl-inner");
    const axis = el("div", "f0-tl-axis");
    tl.corner = el("div", "f0-tl-corner");
    tl.scale = el("div", "f0-tl-scale");
    tl.scale.setAttribute("aria-hidden", "true");
    axis.append(tl.corner, tl.scale);
    tl.body = el("div", "f0-tl-body");
    tl.body.setAttribute("role", "list");
    tl.body.setAttribute("aria-label", "Attempts over time, one row per step");
    tl.grid = el("div", "f0-tl-grid");
    tl.grid.setAttribute("aria-hidden", "true");
    tl.body.append(tl.grid);
    tl.inner.append(axis, tl.body);
    host.append(tl.inner);

    const zoomTimeline = (factor) => {
      const next = Math.min(64, Math.max(1, tl.zoom * factor));
      if (next === tl.zoom) return;
      const track = host.clientWidth;
      const centre = (host.scrollLeft + track / 2) / tl.inner.offsetWidth;
      tl.zoom = next;
      tl.inner.style.width = next === 1 ? "" : next * 100 + "%";
      host.scrollLeft = centre * tl.inner.offsetWidth - track / 2;
      byId("f0-tl-zoom-out").disabled = next === 1;
      tl.tickKey = "";
      setSpan(tl.span);
    };
    byId("f0-tl-zoom-in").addEventListener("click", () => zoomTimeline(2));
    byId("f0-tl-zoom-out").addEventListener("click", () => zoomTimeline(0.5));
    byId("f0-tl-zoom-out").disabled = true;

    const tip = byId("f0-tip");
    const show = (bar) => {
      if (!bar || !bar.f0Attempt) return;
      fillTip(tip, bar.f0Attempt);
      tip.hidden = false;
      const rect = bar.getBoundingClientRect();
      const tipRect = tip.getBoundingClientRect();
      let left = Math.min(Math.max(8, rect.left), window.innerWidth - tipRect.width - 8);
      let top = rect.bottom + 6;
      if (top + tipRect.height > window.innerHeight - 8) top = rect.top - tipRect.height - 6;
      tip.style.left = Math.max(8, left) + "px";
      tip.style.top = Math.max(8, top) + "px";
    };
    const hide = () => { tip.hidden = true; };
    host.addEventListener("mouseover", (event) => show(event.target.closest(".f0-bar")));
    host.addEventListener("mouseout", (event) => { if (event.target.closest(".f0-bar")) hide(); });
    host.addEventListener("focusin", (event) => show(event.target.closest(".f0-bar")));
    host.addEventListener("focusout", hide);
    host.addEventListener("scroll", hide, { passive: true });
    host.addEventListener("click", (event) => {
      const row = event.target.closest(".f0-tl-row");
      if (row) select(row.dataset.step, { origin: "timeline" });
    });
    host.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      const row = event.target.closest(".f0-tl-row");
      if (row && (event.target.classList.contains("f0-bar") || event.target.classList.contains("f0-tl-label"))) {
        event.preventDefault();
        select(row.dataset.step, { origin: "timeline" });
      }
    });
  }

  function fillTip(tip, attempt) {
    const lines = [];
    lines.push([attempt.step + (attempt.item !== null && attempt.item !== undefined ? " · item " + attempt.item : ""), "f0-tip-title"]);
    lines.push(["attempt " + attempt.attempt + " · " + icon(attempt.status) + " " + attempt.status, ""]);
    lines.push(["start " + offset(attempt.started_at - tl.t0) + " · " + clock(attempt.started_at, true), ""]);
    lines.push(["duration " + duration(attemptWall(attempt)), ""]);
    lines.push(["CPU " + cpu(attempt.cpu_s) + " · peak memory " + bytes(attempt.peak_rss_bytes), ""]);
    if (attempt.error) lines.push([attempt.error.type + ": " + clip(attempt.error.message || "", 300), "f0-tip-error"]);
    if (attempt.retry_in_s !== null && attempt.retry_in_s !== undefined) lines.push(["retried after " + duration(attempt.retry_in_s), ""]);
    tip.replaceChildren(...lines.map(([text, className]) => el("div", className, text)));
  }

  function attemptLabel(attempt) {
    const parts = [attempt.step];
    if (attempt.item !== null && attempt.item !== undefined) parts.push("item " + attempt.item);
    parts.push("attempt " + attempt.attempt, attempt.status);
    parts.push(duration(attemptWall(attempt)));
    if (attempt.error) parts.push(attempt.error.type + ": " + clip(attempt.error.message || "", 200));
    return parts.join(", ");
  }

  function timelineRows() {
    // [key, step, item|null, attempts[]] in display order: a step, then its foreach items
    const rows = [];
    for (const step of state.view.steps) {
      const list = state.attempts.get(step.name) || [];
      const own = [];
      const items = new Map();
      for (const attempt of list) {
        if (attempt.item === null || attempt.item === undefined) { own.push(attempt); continue; }
        if (!items.has(attempt.item)) items.set(attempt.item, []);
        items.get(attempt.item).push(attempt);
      }
      rows.push([step.name + "\u0001", step, null, own, items.size]);
      for (const item of Array.from(items.keys()).sort((a, b) => a - b)) {
        rows.push([step.name + "\u0001" + item, step, item, items.get(item), 0]);
      }
    }
    return rows;
  }

  function makeRow(key, step, item) {
    const row = el("div", "f0-tl-row" + (item === null ? "" : " f0-tl-item"));
    row.dataset.step = step.name;
    row.setAttribute("role", "listitem");
    const label = el("div", "f0-tl-label");
    if (item === null) {
      label.tabIndex = 0;
      const mark = el("span", "f0-status-icon", icon(step.status));
      mark.setAttribute("aria-hidden", "true");
      label.append(mark, el("span", "f0-tl-name", step.name));
      label.title = step.name;
    } else {
      label.append(el("span", "f0-tl-name", "item " + item));
    }
    const track = el("div", "f0-tl-track");
    row.append(label, track);
    return { key, row, label, track, bars: new Map(), span: null, note: null, status: null };
  }

  function renderTimeline() {
    const [start, end] = timelineRange();
    const moved = Math.abs(start - tl.t0) > 1e-6;
    tl.t0 = start;
    setSpan(end - start);
    const rows = timelineRows();
    const keys = rows.map((row) => row[0]);
    const reorder = keys.length !== tl.order.length || keys.some((key, i) => key !== tl.order[i]);
    const fragment = reorder ? document.createDocumentFragment() : null;
    const seen = new Set();
    for (const [key, step, item, attempts, itemCount] of rows) {
      let entry = tl.rows.get(key);
      if (!entry) { entry = makeRow(key, step, item); tl.rows.set(key, entry); }
      seen.add(key);
      syncRow(entry, step, item, attempts, itemCount, moved);
      if (fragment) fragment.append(entry.row);
    }
    if (reorder) {
      tl.inner.classList.toggle("f0-tl-many", keys.length > 150);
      for (const [key, entry] of tl.rows) if (!seen.has(key)) { entry.row.remove(); tl.rows.delete(key); }
      tl.body.append(fragment);
      tl.order = keys;
    }
    markTimelineSelection();
  }

  function syncRow(entry, step, item, attempts, itemCount, moved) {
    if (item === null && entry.status !== step.status) {
      entry.status = step.status;
      entry.row.dataset.status = step.status;
      entry.label.firstChild.textContent = icon(step.status);
    }
    // a foreach step's row shows the step's whole extent behind its items
    if (item === null && itemCount > 0 && step.started_at) {
      if (!entry.span) {
        entry.span = el("div", "f0-tl-span");
        entry.span.setAttribute("aria-hidden", "true");
        entry.track.prepend(entry.span);
      }
      const stop = stepEnd(step) ?? step.started_at;
      entry.span.dataset.status = step.status;
      entry.span.style.setProperty("--s", (step.started_at - tl.t0).toFixed(3));
      entry.span.style.setProperty("--d", Math.max(0, stop - step.started_at).toFixed(3));
      entry.span.textContent = itemCount + " items";
      if (step.status === "running") tl.runningBars.add(entry.span); else tl.runningBars.delete(entry.span);
      entry.span.f0Step = step;
    }
    const idle = item === null && attempts.length === 0 && itemCount === 0;
    const noteText = idle && step.status !== "pending" && step.status !== "running"
      ? icon(step.status) + " " + step.status + (step.reason ? " · " + step.reason : "")
      : "";
    if (noteText && !entry.note) { entry.note = el("span", "f0-tl-note"); entry.track.append(entry.note); }
    if (entry.note) entry.note.textContent = noteText;

    const seen = new Set();
    for (const attempt of attempts) {
      const key = attempt.attempt;
      seen.add(key);
      let bar = entry.bars.get(key);
      if (!bar) {
        bar = { node: el("div", "f0-bar"), wait: null, sig: "" };
        bar.node.tabIndex = 0;
        entry.bars.set(key, bar);
        entry.track.append(bar.node);
      }
      syncBar(bar, entry, attempt, moved);
    }
    for (const [key, bar] of entry.bars) {
      if (seen.has(key)) continue;
      bar.node.remove();
      if (bar.wait) bar.wait.remove();
      tl.runningBars.delete(bar.node);
      entry.bars.delete(key);
    }
  }

  function syncBar(bar, entry, attempt, moved) {
    const sig = [attempt.status, attempt.started_at, attempt.finished_at, attempt.retry_in_s, attempt.wall_s, attempt.error ? 1 : 0].join("|");
    bar.node.f0Attempt = attempt;
    if (sig === bar.sig && !moved) return;
    bar.sig = sig;
    const node = bar.node;
    node.dataset.status = attempt.status;
    node.classList.toggle("f0-retry", attempt.attempt > 1);
    const live = attempt.status === "running" && running() && (attempt.finished_at === null || attempt.finished_at === undefined);
    const stop = attemptEnd(attempt);
    node.style.setProperty("--s", (attempt.started_at - tl.t0).toFixed(3));
    node.style.setProperty("--d", Math.max(0, stop - attempt.started_at).toFixed(3));
    const showNumber = attempt.attempt > 1 || attempt.status !== "succeeded";
    node.textContent = icon(attempt.status) + (showNumber ? " #" + attempt.attempt : "");
    node.setAttribute("aria-label", attemptLabel(attempt));
    if (live) tl.runningBars.add(node); else tl.runningBars.delete(node);
    const waits = attempt.retry_in_s !== null && attempt.retry_in_s !== undefined && attempt.finished_at;
    if (waits && !bar.wait) {
      bar.wait = el("div", "f0-wait");
      bar.wait.setAttribute("aria-hidden", "true");
      entry.track.insertBefore(bar.wait, node);
    }
    if (bar.wait) {
      bar.wait.hidden = !waits;
      if (waits) {
        bar.wait.style.setProperty("--s", (attempt.finished_at - tl.t0).toFixed(3));
        bar.wait.style.setProperty("--d", attempt.retry_in_s.toFixed(3));
      }
    }
  }

  function setSpan(span) {
    tl.span = span;
    tl.inner.style.setProperty("--span", span.toFixed(3));
    const step = tickStep(span / tl.zoom);
    const key = step + "|" + Math.floor(span / step);
    tl.corner.textContent = "start " + clock(tl.t0);
    if (key === tl.tickKey) return;
    tl.tickKey = key;
    const ticks = document.createDocumentFragment();
    const lines = document.createDocumentFragment();
    for (let at = 0; at <= span + 1e-9; at += step) {
      const tick = el("span", "f0-tick", at === 0 ? "0" : offsetLabel(at, step));
      tick.style.setProperty("--s", at.toFixed(3));
      ticks.append(tick);
      const line = el("i", "f0-gridline");
      line.style.setProperty("--s", at.toFixed(3));
      lines.append(line);
    }
    tl.scale.replaceChildren(ticks);
    tl.grid.replaceChildren(lines);
  }

  function tickStep(span) {
    const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
    for (const step of steps) if (span / step <= 8) return step;
    return 86400 * Math.ceil(span / 86400 / 8);
  }

  function offsetLabel(seconds, step) {
    if (step < 1) return seconds.toFixed(step < 0.1 ? 2 : 1) + " s";
    if (step < 60) return Math.round(seconds) + " s";
    if (step < 3600) return Math.floor(seconds / 60) + " min";
    return (seconds / 3600).toFixed(seconds % 3600 ? 1 : 0) + " h";
  }

  function timelineTick() {
    if (!running() || !tl.inner) return;
    const [start, end] = timelineRange();
    if (Math.abs(start - tl.t0) > 1e-6) { invalidate("timeline"); return; }
    setSpan(end - start);
    const t = now();
    for (const node of tl.runningBars) {
      const attempt = node.f0Attempt;
      const step = node.f0Step;
      const begin = attempt ? attempt.started_at : step.started_at;
      node.style.setProperty("--d", Math.max(0, t - begin).toFixed(3));
    }
  }

  function markTimelineSelection() {
    for (const entry of tl.rows.values()) {
      const selected = entry.row.dataset.step === state.selected;
      if (entry.row.classList.contains("is-selected") !== selected) entry.row.classList.toggle("is-selected", selected);
    }
  }

  // ------------------------------------------------------------------ step table

  const table = { rows: new Map(), order: "" };

  const SORTERS = {
    position: (step) => step.position,
    status: (step) => rank(step.status),
    attempts: (step) => step.attempts || 0,
    started: (step) => step.started_at ?? Infinity,
    duration: (step) => stepDuration(step) ?? -1,
    cpu: (step) => step.cpu_s || 0,
    memory: (step) => step.peak_rss_bytes || 0,
  };

  function makeStepRow(step) {
    const tr = el("tr");
    tr.dataset.step = step.name;
    const status = badge(step.status);
    const name = el("button", "f0-step-link", step.name);
    name.type = "button";
    const caption = el("span", "f0-caption", step.scriptlet || "");
    const cells = {
      status: el("td", "f0-col-status"),
      name: el("td", "f0-col-name"),
      attempts: el("td", "f0-num"),
      started: el("td", "f0-num f0-col-started"),
      duration: el("td", "f0-num"),
      cpu: el("td", "f0-num"),
      memory: el("td", "f0-num"),
      output: el("td", "f0-col-output f0-mono"),
    };
    cells.status.append(status);
    cells.name.append(name, caption);
    tr.append(cells.status, cells.name, cells.attempts, cells.started, cells.duration, cells.cpu, cells.memory, cells.output);
    return { tr, status, name, cells, sig: "", search: "" };
  }

  function syncStepRow(row, step) {
    const sig = [step.status, step.attempts, step.started_at, step.finished_at, step.duration_s, step.cpu_s, step.peak_rss_bytes, step.items, step.output === undefined ? "" : json(step.output)].join("|");
    if (sig === row.sig) return;
    row.sig = sig;
    setBadge(row.status, step.status);
    row.tr.dataset.status = step.status;
    const retries = (step.attempts || 0) > 1 && !step.items ? " ↻" : "";
    row.cells.attempts.textContent = step.items ? (step.attempts || 0) + " · " + step.items + " items" : (step.attempts || 0) + retries;
    if (retries) row.cells.attempts.title = (step.attempts - 1) + " retr" + (step.attempts > 2 ? "ies" : "y");
    row.cells.started.textContent = step.started_at ? offset(step.started_at - state.view.run.started_at) : "—";
    row.cells.duration.textContent = duration(stepDuration(step));
    row.cells.cpu.textContent = step.attempts ? cpu(step.cpu_s) : "—";
    row.cells.memory.textContent = bytes(step.peak_rss_bytes);
    const preview = step.output === null || step.output === undefined ? "" : clip(json(step.output), PREVIEW_CHARS);
    row.cells.output.textContent = preview;
    row.search = (step.name + " " + (step.scriptlet || "") + " " + step.status).toLowerCase();
  }

  function renderTable() {
    const tbody = byId("f0-steps-body");
    const steps = state.view.steps;
    const seen = new Set();
    let added = false;
    for (const step of steps) {
      let row = table.rows.get(step.name);
      if (!row) { row = makeStepRow(step); table.rows.set(step.name, row); added = true; }
      seen.add(step.name);
      syncStepRow(row, step);
    }
    for (const [name, row] of table.rows) if (!seen.has(name)) { row.tr.remove(); table.rows.delete(name); added = true; }
    const sorter = hasOwn(SORTERS, state.sort.key) ? SORTERS[state.sort.key] : SORTERS.position;
    const sorted = steps.slice().sort((a, b) => {
      const x = sorter(a);
      const y = sorter(b);
      return (x < y ? -1 : x > y ? 1 : a.position - b.position) * state.sort.dir;
    });
    const order = state.sort.key + state.sort.dir + sorted.map((step) => step.name).join("\u0000");
    if (added || order !== table.order) {
      const fragment = document.createDocumentFragment();
      for (const step of sorted) fragment.append(table.rows.get(step.name).tr);
      tbody.append(fragment);
      table.order = order;
    }
    applyTableFilter();
    markTableSelection();
    for (const button of document.querySelectorAll(".f0-sort")) {
      const th = button.parentElement;
      const active = button.dataset.sort === state.sort.key;
      th.setAttribute("aria-sort", active ? (state.sort.dir > 0 ? "ascending" : "descending") : "none");
    }
  }

  function applyTableFilter() {
    const needle = state.filter.trim().toLowerCase();
    let shown = 0;
    for (const step of state.view.steps) {
      const row = table.rows.get(step.name);
      const visible = (!needle || row.search.includes(needle)) && (!state.statusFilter || step.status === state.statusFilter);
      if (row.tr.hidden === visible) row.tr.hidden = !visible;
      if (visible) shown += 1;
    }
    const total = state.view.steps.length;
    byId("f0-step-count").textContent = shown === total ? total + " steps" : shown + " of " + total + " steps";
    byId("f0-steps-empty").hidden = shown > 0 || total === 0;
  }

  function markTableSelection() {
    for (const [name, row] of table.rows) {
      const selected = name === state.selected;
      row.tr.classList.toggle("is-selected", selected);
      if (selected) row.name.setAttribute("aria-current", "true"); else row.name.removeAttribute("aria-current");
    }
  }

  function tableTick() {
    if (!running()) return;
    for (const step of state.view.steps) {
      if (step.status !== "running") continue;
      const row = table.rows.get(step.name);
      if (row) row.cells.duration.textContent = duration(stepDuration(step));
    }
  }

  function setupTable() {
    const tbody = byId("f0-steps-body");
    tbody.addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (tr && !(window.getSelection && String(window.getSelection()).length > 0 && event.target.tagName !== "BUTTON")) {
        select(tr.dataset.step, { origin: "table" });
      }
    });
    const filter = byId("f0-step-filter");
    filter.addEventListener("input", () => { state.filter = filter.value; applyTableFilter(); });
    for (const button of document.querySelectorAll(".f0-sort")) {
      button.addEventListener("click", () => {
        const key = button.dataset.sort;
        state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : key === "position" || key === "started" ? 1 : -1 };
        renderTable();
      });
    }
    byId("f0-summary").addEventListener("click", (event) => {
      const chip = event.target.closest(".f0-chip");
      if (!chip) return;
      state.statusFilter = state.statusFilter === chip.dataset.status ? "" : chip.dataset.status;
      for (const other of document.querySelectorAll(".f0-chip")) {
        other.setAttribute("aria-pressed", other.dataset.status === state.statusFilter ? "true" : "false");
      }
      applyTableFilter();
    });
  }

  // ------------------------------------------------------------------ selection

  function select(name, options) {
    const origin = (options && options.origin) || "";
    if (name && !state.steps.has(name)) name = null;
    if (name === state.selected && origin !== "hash") {
      if (origin === "graph" || origin === "timeline" || origin === "table") scrollDetailIntoView();
      return;
    }
    state.selected = name;
    highlightSelection();
    markTableSelection();
    markTimelineSelection();
    renderDetail(true);
    if (origin !== "hash" && origin !== "boot") {
      const url = location.pathname + location.search + (name ? "#step=" + encodeURIComponent(name) : "");
      try { history.replaceState(null, "", url); } catch (error) { /* file:// in some browsers */ }
    }
    if (name && origin !== "graph") revealNode(name);
    if (origin === "graph" || origin === "timeline" || origin === "table") scrollDetailIntoView();
  }

  function scrollDetailIntoView() {
    const detail = byId("f0-detail");
    const rect = detail.getBoundingClientRect();
    if (rect.top >= 0 && rect.top < window.innerHeight * 0.6) return;
    detail.scrollIntoView({ block: "start", behavior: motion ? "smooth" : "auto" });
  }

  function highlightSelection() {
    for (const [name, node] of graph.nodes) node.classList.toggle("is-selected", name === state.selected);
    for (const edge of graph.edges) {
      const related = state.selected !== null && (edge.getAttribute("data-from") === state.selected || edge.getAttribute("data-to") === state.selected);
      edge.classList.toggle("f0-active", related);
    }
  }

  function stepFromHash() {
    const match = /^#step=(.+)$/.exec(location.hash);
    if (!match) return null;
    try { return decodeURIComponent(match[1]); } catch (error) { return null; }
  }

  // ------------------------------------------------------------------ detail panel

  const detail = {
    log: null, logEmpty: null, logKey: null, counts: new Map(), dropped: null,
    stepSig: "", logSig: "", queue: [], tracebackOpen: false, focusLog: null,
  };

  function stepSignature(step) {
    return JSON.stringify([step, step ? state.attempts.get(step.name) || [] : null]);
  }

  function logSignature(key) {
    // changes whenever the log panel would draw differently
    const logs = shownLogs(key);
    const last = logs.lines.length ? logs.lines[logs.lines.length - 1] : null;
    return [
      key, logs.lines.length, logs.dropped, last ? last.at + "|" + last.text : "", state.expanded.has(key),
      state.logFetch.get(key) || "", Array.from(state.streams).join(","), link.gone,
    ].join("\u0000");
  }

  function renderDetail(force) {
    const host = byId("f0-detail");
    const name = state.selected;
    const step = name === null ? null : state.steps.get(name) || null;
    const key = panelKey();
    // a live update redraws the panel only when what it shows changed (a reader's place is kept)
    const stepSig = stepSignature(step);
    const logSig = logSignature(key);
    if (force !== true && stepSig === detail.stepSig && logSig === detail.logSig) return;
    detail.stepSig = stepSig;
    detail.logSig = logSig;
    detail.queue = []; // drawn from the model below
    const keepScroll = detail.log && detail.logKey === key ? logScrollState(detail.log) : null;
    detail.log = null;
    detail.logKey = null;
    const fragment = document.createDocumentFragment();
    if (!step) {
      const header = el("div", "f0-detail-head");
      header.append(el("h2", "", "Run log"));
      fragment.append(header);
      fragment.append(el("p", "f0-muted", "Select a step in the graph, the timeline or the table to see its output, attempts and logs."));
      const logs = shownLogs("");
      if (logs.lines.length || logs.dropped) fragment.append(logSection("", logs));
      host.replaceChildren(fragment);
      restoreLogScroll(keepScroll);
      return;
    }
    const header = el("div", "f0-detail-head");
    const title = el("h2", "f0-detail-title");
    title.append(el("span", "f0-visually-hidden", "Step "), el("span", "", step.name));
    const close = el("button", "f0-button f0-button-quiet f0-icon-button", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close the step details");
    close.addEventListener("click", () => select(null, { origin: "close" }));
    header.append(title, badge(step.status, "f0-status-lg"), close);
    fragment.append(header);

    const relations = el("p", "f0-detail-rel");
    if (step.scriptlet) relations.append(el("span", "f0-caption", step.scriptlet));
    appendStepLinks(relations, "after", step.upstream || []);
    appendStepLinks(relations, "before", downstreamOf(step.name));
    fragment.append(relations);

    const list = el("dl", "f0-facts f0-facts-compact");
    facts(list, [
      ["Started", step.started_at ? clock(step.started_at, true) + " (" + offset(step.started_at - state.view.run.started_at) + ")" : "—"],
      ["Duration", duration(stepDuration(step))],
      ["Attempts", String(step.attempts || 0)],
      ["Items", step.items === null || step.items === undefined ? null : String(step.items)],
      ["CPU", step.attempts ? cpu(step.cpu_s) : null],
      ["Peak memory", step.peak_rss_bytes ? bytes(step.peak_rss_bytes) : null],
      ["Reason", step.reason],
    ]);
    fragment.append(list);

    if (step.error) {
      const box = el("div", "f0-callout f0-callout-error");
      const mark = el("span", "f0-callout-icon", "✗");
      mark.setAttribute("aria-hidden", "true");
      box.append(mark, el("strong", "", step.error.type + ": "), document.createTextNode(step.error.message || ""));
      if (step.error.traceback) {
        const more = el("details", "f0-traceback");
        more.open = detail.tracebackOpen;
        more.addEventListener("toggle", () => { detail.tracebackOpen = more.open; });
        more.append(el("summary", "", "Traceback"), codeBlock(step.error.traceback, "f0-text"));
        box.append(more);
      }
      fragment.append(box);
    }

    const output = el("div", "f0-detail-block");
    output.append(el("h3", "", "Output"));
    if (step.output === null || step.output === undefined) output.append(el("p", "f0-muted", "No output."));
    else output.append(codeBlock(step.output));
    fragment.append(output);

    fragment.append(attemptsSection(step));
    fragment.append(logSection(step.name, shownLogs(step.name)));
    host.replaceChildren(fragment);
    restoreLogScroll(keepScroll);
  }

  function downstreamOf(name) {
    return state.view.steps.filter((step) => (step.upstream || []).includes(name)).map((step) => step.name);
  }

  function appendStepLinks(host, label, names) {
    if (!names.length) return;
    const group = el("span", "f0-rel-group");
    group.append(el("span", "f0-muted", label + " "));
    names.slice(0, 12).forEach((name, i) => {
      if (i) group.append(document.createTextNode(", "));
      const link = el("button", "f0-step-link f0-inline-link", name);
      link.type = "button";
      link.addEventListener("click", () => select(name, { origin: "detail" }));
      group.append(link);
    });
    if (names.length > 12) group.append(el("span", "f0-muted", " and " + (names.length - 12) + " more"));
    host.append(group);
  }

  function attemptsSection(step) {
    const block = el("div", "f0-detail-block");
    const attempts = state.attempts.get(step.name) || [];
    block.append(el("h3", "", "Attempts (" + attempts.length + ")"));
    if (!attempts.length) { block.append(el("p", "f0-muted", "No attempt ran.")); return block; }
    const wrap = el("div", "f0-table-wrap f0-scroll-y");
    const tableNode = el("table", "f0-table f0-table-compact f0-attempts-table");
    const head = el("thead");
    const headRow = el("tr");
    for (const label of ["#", "Item", "Status", "Started", "Wall", "CPU", "Peak mem"]) {
      const th = el("th", label === "#" || label === "Item" || label === "Status" ? "" : "f0-num", label);
      th.scope = "col";
      headRow.append(th);
    }
    head.append(headRow);
    const rows = el("tbody");
    for (const attempt of attempts) {
      const tr = el("tr");
      const statusCell = el("td");
      statusCell.append(badge(attempt.status));
      tr.append(
        el("td", "", attempt.attempt),
        el("td", "", attempt.item === null || attempt.item === undefined ? "—" : attempt.item),
        statusCell,
        el("td", "f0-num", offset(attempt.started_at - state.view.run.started_at)),
        el("td", "f0-num", duration(attemptWall(attempt))),
        el("td", "f0-num", cpu(attempt.cpu_s)),
        el("td", "f0-num", bytes(attempt.peak_rss_bytes)),
      );
      rows.append(tr);
      const retry = attempt.retry_in_s !== null && attempt.retry_in_s !== undefined;
      if (attempt.error || retry) {
        tr.classList.add("f0-has-note");
        const note = el("tr", "f0-attempt-note");
        const cell = el("td");
        cell.colSpan = 7;
        if (attempt.error) cell.append(el("span", "f0-attempt-error", attempt.error.type + ": " + clip(attempt.error.message || "", 500)));
        if (retry) cell.append(el("span", "f0-muted", (attempt.error ? " · " : "") + "retried after " + duration(attempt.retry_in_s)));
        note.append(cell);
        rows.append(note);
      }
    }
    tableNode.append(head, rows);
    wrap.append(tableNode);
    block.append(wrap);
    return block;
  }

  function logSection(key, logs) {
    const block = el("div", "f0-detail-block f0-logs");
    const header = el("div", "f0-logs-head");
    header.append(el("h3", "", key ? "Logs" : "Run-level lines"));
    const counts = streamCounts(logs);
    detail.counts = new Map();
    const filters = el("div", "f0-stream-filters");
    filters.setAttribute("role", "group");
    filters.setAttribute("aria-label", "Show log streams");
    for (const stream of STREAMS) {
      const label = el("label", "f0-stream-toggle");
      label.dataset.stream = stream;
      const box = el("input");
      box.type = "checkbox";
      box.checked = state.streams.has(stream);
      box.dataset.stream = stream;
      box.addEventListener("change", () => {
        if (box.checked) state.streams.add(stream); else state.streams.delete(stream);
        renderDetail(true);
        const again = byId("f0-detail").querySelector('input[data-stream="' + stream + '"]');
        if (again) again.focus();
      });
      const count = el("span", "f0-muted", "(" + (counts.get(stream) || 0) + ")");
      detail.counts.set(stream, count);
      label.append(box, document.createTextNode(" " + stream + " "), count);
      filters.append(label);
    }
    header.append(filters);
    block.append(header);
    detail.dropped = null;
    if (logs.dropped > 0) block.append(droppedNote(key, logs));
    const box = el("div", "f0-log");
    box.setAttribute("role", "log");
    box.setAttribute("aria-label", key ? "Log lines of " + key : "Run-level log lines");
    box.tabIndex = 0;
    const fragment = document.createDocumentFragment();
    let shown = 0;
    for (const line of logs.lines) {
      if (!state.streams.has(line.stream)) continue;
      fragment.append(logLine(line));
      shown += 1;
    }
    box.append(fragment);
    const empty = el("p", "f0-muted f0-log-empty", logs.lines.length ? "No line in the chosen streams." : "No log lines.");
    empty.hidden = shown > 0;
    block.append(empty, box);
    box.hidden = shown === 0;
    detail.log = box;
    detail.logEmpty = empty;
    detail.logKey = key;
    return block;
  }

  function streamCounts(logs) {
    const counts = new Map();
    for (const line of logs.lines) counts.set(line.stream, (counts.get(line.stream) || 0) + 1);
    return counts;
  }

  function droppedText(count) {
    return count.toLocaleString() + " older line" + (count === 1 ? "" : "s") + " not shown";
  }

  function droppedNote(key, logs) {
    // the view carries a step's newest lines only; on the dashboard more can be asked for
    const note = el("p", "f0-log-dropped");
    const text = el("span", "f0-log-dropped-text", droppedText(logs.dropped));
    note.append(text);
    detail.dropped = text;
    if (!isLive || state.expanded.has(key) || link.gone) return note;
    const fetching = state.logFetch.get(key);
    const more = el("button", "f0-button f0-button-small f0-log-more",
      fetching === "loading" ? "Loading…" : "Show up to " + LOG_FETCH_LIMIT.toLocaleString() + " lines");
    more.type = "button";
    more.disabled = fetching === "loading";
    more.addEventListener("click", () => {
      more.disabled = true;
      more.textContent = "Loading…";
      fetchLogs(key, { focus: true });
    });
    note.append(" ", more);
    if (fetching && fetching !== "loading") note.append(" ", el("span", "f0-log-fetch-error", fetching));
    return note;
  }

  function logLine(line) {
    const row = el("div", "f0-log-line");
    row.dataset.stream = line.stream;
    const when = el("span", "f0-log-at", clock(line.at, true));
    const stream = el("span", "f0-log-stream", line.stream);
    let where = "#" + line.attempt;
    if (line.item !== null && line.item !== undefined) where += " item " + line.item;
    row.append(when, stream, el("span", "f0-log-where", where), el("span", "f0-log-text", line.text));
    return row;
  }

  function logScrollState(box) {
    return { atBottom: box.scrollTop + box.clientHeight >= box.scrollHeight - 4, top: box.scrollTop };
  }

  function restoreLogScroll(saved) {
    const box = detail.log;
    if (!box) return;
    if (detail.focusLog === detail.logKey && !state.logFetch.has(detail.logKey)) {
      detail.focusLog = null;
      box.focus({ preventScroll: true });
    }
    if (saved) { box.scrollTop = saved.atBottom ? box.scrollHeight : saved.top; return; }
    // a step's log opens at its end, as a terminal shows it (after the frame: no forced layout)
    requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; });
  }

  function flushLiveLogs() {
    // the live lines of the open panel, appended at once (one layout per frame, not per line)
    const queue = detail.queue;
    detail.queue = [];
    const key = panelKey();
    if (!queue.length || !detail.log || detail.logKey !== key) return;
    const logs = shownLogs(key);
    if (logs.dropped > 0 && !detail.dropped) { renderDetail(true); return; } // the note appears: redraw once
    const box = detail.log;
    const follow = box.hidden || box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    const fragment = document.createDocumentFragment();
    let added = 0;
    for (const line of queue) {
      if (!state.streams.has(line.stream)) continue;
      fragment.append(logLine(line));
      added += 1;
    }
    if (added) {
      box.append(fragment);
      // the panel keeps as many rows as the model keeps lines
      for (let extra = box.childElementCount - LIVE_LOG_LIMIT; extra > 0; extra -= 1) box.firstElementChild.remove();
      box.hidden = false;
      detail.logEmpty.hidden = true;
    }
    const counts = streamCounts(logs);
    for (const [stream, node] of detail.counts) node.textContent = "(" + (counts.get(stream) || 0) + ")";
    if (detail.dropped) detail.dropped.textContent = droppedText(logs.dropped);
    if (!added && logs.lines.length) detail.logEmpty.textContent = "No line in the chosen streams.";
    if (added && follow) box.scrollTop = box.scrollHeight;
    detail.logSig = logSignature(key);
  }

  // ------------------------------------------------------------------ more log lines (dashboard)

  function logsUrl(key) {
    return "/api/v1/runs/" + encodeURIComponent(state.view.run.run_id) + "/logs?step=" + encodeURIComponent(key) + "&limit=" + LOG_FETCH_LIMIT;
  }

  async function fetchLogs(key, options) {
    // a step's newest LOG_FETCH_LIMIT lines; `refresh` replaces lines fetched before, quietly
    const refresh = Boolean(options && options.refresh);
    if (state.logFetch.get(key) === "loading") return;
    state.logFetch.set(key, "loading");
    if (options && options.focus) detail.focusLog = key; // the button goes away: the lines take the focus
    let message = "";
    try {
      const response = await fetch(logsUrl(key), { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 401 || response.status === 403) { link.signOut(); message = "signed out"; return; }
      if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) { message = "the server answered " + response.status; return; }
      const data = await response.json();
      if (!data || !Array.isArray(data.lines)) { message = "the answer had no lines"; return; }
      state.expanded.delete(key); // re-inserted last: the most recently fetched steps are kept
      const over = Math.max(0, data.lines.length - LIVE_LOG_LIMIT);
      state.expanded.set(key, { lines: over ? data.lines.slice(over) : data.lines, dropped: (Number(data.dropped) || 0) + over });
      for (const old of state.expanded.keys()) {
        if (state.expanded.size <= EXPANDED_KEEP) break;
        if (old !== panelKey()) state.expanded.delete(old);
      }
    } catch (error) {
      message = "the server could not be reached";
    } finally {
      if (message && !refresh) state.logFetch.set(key, "Could not load the lines: " + message + ".");
      else state.logFetch.delete(key);
      if (message || key !== panelKey()) { if (detail.focusLog === key) detail.focusLog = null; }
      if (key === panelKey()) invalidate("detail");
    }
  }

  function carryExpanded() {
    // after a new view: the open panel keeps its fetched lines, brought up to date with the view's
    // newest ones (store ids tell which are new); lines fetched for other steps are let go
    const key = panelKey();
    const mine = state.expanded.get(key);
    state.expanded = new Map();
    if (!mine) return;
    const merged = mergeLogs(mine, state.logs.get(key) || NO_LOGS);
    state.expanded.set(key, merged || mine);
    if (!merged) fetchLogs(key, { refresh: true }); // a gap or no ids: ask again, showing the old lines meanwhile
  }

  function mergeLogs(mine, fresh) {
    let end = mine.lines.length;
    while (end > 0 && typeof mine.lines[end - 1].id !== "number") end -= 1; // live lines: the view has them now
    if (end === 0) return null;
    const lastId = mine.lines[end - 1].id;
    const first = fresh.lines.length ? fresh.lines[0] : null;
    if (first && typeof first.id !== "number") return null;
    if (first && fresh.dropped > 0 && first.id > lastId) return null; // lines in between may be missing
    const lines = mine.lines.slice(0, end);
    for (const line of fresh.lines) if (line.id > lastId) lines.push(line);
    const over = Math.max(0, lines.length - LIVE_LOG_LIMIT);
    if (over) lines.splice(0, over);
    return { lines, dropped: mine.dropped + over };
  }

  // ------------------------------------------------------------------ context

  const contextState = { signature: null };

  function contextVersions(context) {
    const versions = [];
    let last = null;
    for (const change of context.history) {
      if (change.version !== last) { versions.push(change.version); last = change.version; }
    }
    return versions;
  }

  function valuesAt(context, version) {
    // replay the history from its base (the context just before the first change listed)
    const values = dict(context.base);
    for (const change of context.history) {
      if (change.version > version) break;
      if (change.op === "delete") delete values[change.key];
      else values[change.key] = change.new;
    }
    return values;
  }

  function diffValues(before, after) {
    const changes = [];
    const keys = Array.from(new Set([...Object.keys(before), ...Object.keys(after)])).sort();
    for (const key of keys) {
      const had = Object.prototype.hasOwnProperty.call(before, key);
      const has = Object.prototype.hasOwnProperty.call(after, key);
      if (had && !has) changes.push({ kind: "removed", path: key, old: before[key] });
      else if (!had && has) changes.push({ kind: "added", path: key, new: after[key] });
      else nestedDiff(key, before[key], after[key], changes);
    }
    return changes;
  }

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  function nestedDiff(path, old, value, changes) {
    if (isObject(old) && isObject(value)) {
      const keys = Array.from(new Set([...Object.keys(old), ...Object.keys(value)])).sort();
      for (const key of keys) {
        const inOld = Object.prototype.hasOwnProperty.call(old, key);
        const inNew = Object.prototype.hasOwnProperty.call(value, key);
        const sub = path + "." + key;
        if (inOld && !inNew) changes.push({ kind: "removed", path: sub, old: old[key] });
        else if (!inOld && inNew) changes.push({ kind: "added", path: sub, new: value[key] });
        else nestedDiff(sub, old[key], value[key], changes);
      }
      return;
    }
    if (json(old) !== json(value)) changes.push({ kind: "changed", path, old, new: value });
  }

  function lastChanges(context) {
    const last = new Map();
    for (const change of context.history) last.set(change.key, change);
    return last;
  }

  function renderContext() {
    const context = state.view.context || { version: 0, values: {}, history: [], history_dropped: 0 };
    if (!context.history) context.history = [];
    const signature = context.version + "/" + context.history.length + "/" + context.history_dropped;
    if (signature === contextState.signature) return; // the pickers keep their place during a live run
    contextState.signature = signature;
    const keys = Object.keys(context.values || {}).sort();
    byId("f0-context-meta").textContent = "version " + context.version + " · " + keys.length + (keys.length === 1 ? " key" : " keys") +
      " · " + context.history.length + (context.history.length === 1 ? " change" : " changes") +
      (context.history_dropped ? " (" + context.history_dropped.toLocaleString() + " older not kept)" : "");

    // current values
    const valuesHost = byId("f0-context-values");
    if (!keys.length) {
      valuesHost.replaceChildren(el("p", "f0-muted", "The context is empty."));
    } else {
      const last = lastChanges(context);
      const tableNode = el("table", "f0-table f0-table-compact f0-kv-table");
      const head = el("thead");
      const headRow = el("tr");
      for (const [label, className] of [["Key", ""], ["Value", ""], ["Last change", "f0-col-last"]]) { const th = el("th", className, label); th.scope = "col"; headRow.append(th); }
      head.append(headRow);
      const rows = el("tbody");
      for (const key of keys) {
        const change = last.get(key);
        const tr = el("tr");
        const valueCell = el("td", "f0-col-value");
        valueCell.append(codeBlock(context.values[key], "f0-code-inline"));
        tr.append(el("td", "f0-mono f0-col-key", key), valueCell, el("td", "f0-muted f0-col-last", change ? "v" + change.version + (change.step ? " · " + change.step : "") : "—"));
        rows.append(tr);
      }
      tableNode.append(head, rows);
      const wrap = el("div", "f0-table-wrap f0-scroll-y");
      wrap.append(tableNode);
      valuesHost.replaceChildren(wrap);
    }
    renderDiffPickers(context);
    renderDiff();
    renderHistory();
  }

  function renderDiffPickers(context) {
    const versions = contextVersions(context);
    const base = context.base_version ?? (versions.length ? versions[0] - 1 : 0);
    const options = [[base, "v" + base + (base === 0 ? " · empty" : " · before the first change listed")]];
    const byVersion = new Map();
    for (const change of context.history) {
      if (!byVersion.has(change.version)) byVersion.set(change.version, []);
      byVersion.get(change.version).push(change);
    }
    for (const version of versions) {
      const changes = byVersion.get(version);
      const first = changes[0];
      const keys = changes.map((change) => change.key);
      let label = "v" + version + " · " + clock(first.at) + " · " + clip(keys.slice(0, 3).join(", "), 60) + (keys.length > 3 ? " +" + (keys.length - 3) : "");
      if (first.step) label += " · " + first.step;
      options.push([version, label]);
    }
    const all = options.map((option) => option[0]);
    const latest = all[all.length - 1];
    const a = state.diffA !== null && all.includes(state.diffA) ? state.diffA : all[0];
    const b = state.diffB !== null && all.includes(state.diffB) ? state.diffB : latest;
    for (const [id, chosen] of [["f0-diff-a", a], ["f0-diff-b", b]]) {
      const select = byId(id);
      const fragment = document.createDocumentFragment();
      for (const [version, label] of options) {
        const option = el("option", "", label);
        option.value = String(version);
        option.selected = version === chosen;
        fragment.append(option);
      }
      select.replaceChildren(fragment);
    }
  }

  function renderDiff() {
    const context = state.view.context;
    const host = byId("f0-context-diff");
    if (!context || !context.history || !context.history.length) {
      host.replaceChildren(el("p", "f0-muted", "No change recorded: nothing to compare."));
      return;
    }
    const a = Number(byId("f0-diff-a").value);
    const b = Number(byId("f0-diff-b").value);
    const changes = diffValues(valuesAt(context, a), valuesAt(context, b));
    const fragment = document.createDocumentFragment();
    const count = { added: 0, removed: 0, changed: 0 };
    for (const change of changes) count[change.kind] += 1;
    fragment.append(el("p", "f0-diff-summary", "v" + a + " → v" + b + ": " + count.added + " added · " + count.removed + " removed · " + count.changed + " changed"));
    if (!changes.length) {
      fragment.append(el("p", "f0-muted", a === b ? "Pick two different versions." : "The two versions hold the same values."));
    } else {
      const list = el("ul", "f0-diff");
      for (const change of changes) {
        const item = el("li", "f0-diff-item");
        item.dataset.kind = change.kind;
        const mark = el("span", "f0-diff-mark", change.kind === "added" ? "+" : change.kind === "removed" ? "−" : "~");
        mark.setAttribute("aria-hidden", "true");
        item.append(mark, el("span", "f0-diff-kind", change.kind), el("code", "f0-diff-key", change.path));
        const values = el("div", "f0-diff-values");
        if (change.kind === "removed") values.append(el("code", "f0-diff-old", clip(json(change.old), 2000)));
        else if (change.kind === "added") values.append(el("code", "f0-diff-new", clip(json(change.new), 2000)));
        else {
          const arrow = el("span", "f0-diff-arrow", " → ");
          values.append(el("code", "f0-diff-old", clip(json(change.old), 2000)), arrow, el("code", "f0-diff-new", clip(json(change.new), 2000)));
        }
        item.append(values);
        list.append(item);
      }
      fragment.append(list);
    }
    host.replaceChildren(fragment);
  }

  function renderHistory() {
    const context = state.view.context;
    const host = byId("f0-context-history");
    const history = (context && context.history) || [];
    if (!history.length) {
      host.replaceChildren(el("p", "f0-muted", "No change recorded in this run."));
      return;
    }
    const needle = state.historyFilter.trim().toLowerCase();
    const matching = [];
    for (let i = history.length - 1; i >= 0; i -= 1) {
      const change = history[i];
      if (needle && !(change.key.toLowerCase().includes(needle) || String(change.step || "").toLowerCase().includes(needle))) continue;
      matching.push(change);
    }
    const shown = state.historyAll ? matching : matching.slice(0, HISTORY_ROWS);
    const tableNode = el("table", "f0-table f0-table-compact f0-history-table");
    const head = el("thead");
    const headRow = el("tr");
    for (const [label, className] of [["Version", "f0-num"], ["Time", "f0-col-time"], ["Key", ""], ["Change", ""], ["Step", ""], ["Node", "f0-col-node"]]) {
      const th = el("th", className, label);
      th.scope = "col";
      headRow.append(th);
    }
    head.append(headRow);
    const rows = el("tbody");
    for (const change of shown) {
      const tr = el("tr");
      tr.dataset.op = change.op;
      const what = el("td", "f0-col-value");
      const op = el("span", "f0-op", change.op);
      op.dataset.op = change.op;
      what.append(op, document.createTextNode(" "));
      if (change.op === "delete") {
        what.append(el("code", "f0-diff-old", clip(json(change.old), 300)));
      } else {
        if (change.old !== null && change.old !== undefined) {
          what.append(el("code", "f0-diff-old", clip(json(change.old), 300)), el("span", "f0-diff-arrow", " → "));
        }
        what.append(el("code", "f0-diff-new", clip(json(change.new), 300)));
      }
      let source = change.step || "—";
      if (change.step && change.attempt) source += " #" + change.attempt;
      if (change.item !== null && change.item !== undefined) source += " item " + change.item;
      tr.append(el("td", "f0-num", "v" + change.version), el("td", "f0-mono f0-col-time", clock(change.at, true)), el("td", "f0-mono f0-col-key", change.key), what, el("td", "", source), el("td", "f0-muted f0-col-node", change.node || "—"));
      rows.append(tr);
    }
    tableNode.append(head, rows);
    const wrap = el("div", "f0-table-wrap f0-scroll-y f0-history-wrap");
    wrap.append(tableNode);
    const parts = [wrap];
    if (shown.length < matching.length) {
      const more = el("button", "f0-button", "Show all " + matching.length.toLocaleString() + " changes");
      more.type = "button";
      more.addEventListener("click", () => { state.historyAll = true; renderHistory(); });
      parts.push(more);
    }
    if (!matching.length) parts.splice(0, 1, el("p", "f0-muted", "No change matches the filter."));
    host.replaceChildren(...parts);
  }

  function setupContext() {
    const a = byId("f0-diff-a");
    const b = byId("f0-diff-b");
    a.addEventListener("change", () => { state.diffA = Number(a.value); renderDiff(); });
    b.addEventListener("change", () => { state.diffB = Number(b.value); renderDiff(); });
    byId("f0-diff-swap").addEventListener("click", () => {
      const old = a.value;
      a.value = b.value;
      b.value = old;
      state.diffA = Number(a.value);
      state.diffB = Number(b.value);
      renderDiff();
    });
    const filter = byId("f0-history-filter");
    filter.addEventListener("input", () => { state.historyFilter = filter.value; renderHistory(); });
  }

  // ------------------------------------------------------------------ live updates

  const live = { poll: 0, fetchTimer: 0, lastFetch: 0, fetching: false, again: false, finalTries: 0, ticker: 0 };

  const link = window.F0.live({
    onEvent: applyEvent,
    onOpen: () => { if (running()) scheduleRefetch(); }, // whatever happened before the subscription
    onChange: () => { updatePolling(); showLiveState(); },
    onGone: () => invalidate("detail"), // no more "Show up to 5,000 lines"
    retryDelay: (delay) => (running() ? delay : Math.max(delay, 10000)),
  });

  function showLiveState() {
    if (link.gone) setLiveState("gone", "Signed out: reload to sign in");
    else if (!running()) setLiveState("done", link.open ? "● Live · run " + state.view.run.status : "Run " + state.view.run.status);
    else if (link.open) setLiveState("live", "● Live");
    else setLiveState("polling", "↻ Updating every 2 s");
  }

  function updatePolling() {
    const want = running() && !link.gone;
    if (want && !live.poll) live.poll = setInterval(pollTick, REFETCH_MS);
    if (!want && live.poll) { clearInterval(live.poll); live.poll = 0; }
    if (running() && !live.ticker) live.ticker = setInterval(tick, 1000);
    if (!running() && live.ticker) { clearInterval(live.ticker); live.ticker = 0; tick(); }
  }

  function pollTick() {
    if (Date.now() - live.lastFetch >= REFETCH_MS - 100) refetch(); // events fetched it lately
  }

  function scheduleRefetch(delay) {
    if (live.fetchTimer) return;
    const wait = Math.max(delay || 0, live.lastFetch + REFETCH_MS - Date.now());
    live.fetchTimer = setTimeout(() => { live.fetchTimer = 0; refetch(); }, wait);
  }

  function viewUrl() {
    // with the revision we have, the server answers 204 (no body) when the run has not changed since
    let url = "/api/v1/runs/" + encodeURIComponent(state.view.run.run_id) + "/view";
    if (typeof state.view.revision === "string" && state.view.revision) url += "?unless=" + encodeURIComponent(state.view.revision);
    return url;
  }

  async function refetch() {
    if (link.gone) return;
    if (live.fetching) { live.again = true; return; }
    live.fetching = true;
    live.lastFetch = Date.now();
    try {
      const response = await fetch(viewUrl(), { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 401 || response.status === 403) { link.signOut(); return; }
      if (response.status === 204) {
        // nothing new; after run_finished the store may not have the end yet: ask a few more times
        if (!running() && live.finalTries > 0) { live.finalTries -= 1; live.again = true; }
        return;
      }
      if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) return;
      adopt(await response.json());
    } catch (error) {
      // offline or the server restarts: the next poll or event tries again
    } finally {
      live.fetching = false;
      if (live.again) { live.again = false; scheduleRefetch(); }
    }
  }

  function adopt(view) {
    if (!view || !view.run || view.run.run_id !== state.view.run.run_id) return;
    if (typeof view.generated_at === "number") state.clockOffset = view.generated_at - Date.now() / 1000;
    state.view = normalize(view);
    index(view);
    if (view.run.status !== "running") live.finalTries = 0;
    if (state.selected !== null && !state.steps.has(state.selected)) state.selected = null;
    carryExpanded();
    invalidate("head", "summary", "graph", "timeline", "table", "detail", "context");
    updatePolling();
    showLiveState();
  }

  function touchStep(step) {
    paintNode(step);
    invalidate("summary", "table", "timeline");
    if (step.name === state.selected) invalidate("detail");
  }

  function applyEvent(event) {
    const view = state.view;
    const run = view.run;
    if (event.run_id && event.run_id !== run.run_id) return;
    const step = event.step !== undefined ? state.steps.get(event.step) : null;
    switch (event.type) {
      case "run_started":
        run.status = "running";
        run.finished_at = null;
        run.duration_s = null;
        invalidate("head", "summary");
        scheduleRefetch();
        break;
      case "run_finished":
        run.status = event.status;
        run.finished_at = event.at;
        run.duration_s = event.duration_s;
        run.error = event.error ? { type: event.error.type, message: event.error.message } : null;
        invalidate("head", "timeline");
        if (live.fetchTimer) { clearTimeout(live.fetchTimer); live.fetchTimer = 0; }
        live.lastFetch = 0;
        live.finalTries = 5;
        scheduleRefetch(300); // the final view, once the store has it all
        break;
      case "step_started":
        if (!step) break;
        step.status = "running";
        step.started_at = event.at;
        step.finished_at = null;
        step.duration_s = null;
        touchStep(step);
        break;
      case "step_finished":
        if (!step) break;
        step.status = event.status;
        step.finished_at = event.finished_at ?? event.at;
        if (event.started_at !== undefined && event.started_at !== null) step.started_at = event.started_at;
        step.duration_s = event.duration_s;
        for (const key of ["attempts", "cpu_s", "peak_rss_bytes", "items", "reason", "output"]) if (hasOwn(event, key)) step[key] = event[key];
        step.error = event.error || null;
        touchStep(step);
        break;
      case "attempt_started": {
        if (!step) break;
        let attempt = findAttempt(event.step, event.item, event.attempt);
        if (!attempt) {
          attempt = { step: event.step, item: event.item ?? null, attempt: event.attempt, status: "running", started_at: event.at, finished_at: null, wall_s: null, cpu_s: null, peak_rss_bytes: null, error: null, retry_in_s: null };
          view.attempts.push(attempt);
          addAttempt(attempt);
        }
        if (step.status === "pending") { step.status = "running"; step.started_at = step.started_at ?? event.at; }
        step.attempts = Math.max(step.attempts || 0, event.attempt);
        touchStep(step);
        break;
      }
      case "attempt_finished": {
        if (!step) break;
        let attempt = findAttempt(event.step, event.item, event.attempt);
        if (!attempt) {
          attempt = { step: event.step, item: event.item ?? null, attempt: event.attempt, started_at: event.at - (event.wall_s || 0) };
          view.attempts.push(attempt);
          addAttempt(attempt);
        }
        Object.assign(attempt, {
          status: event.status, finished_at: event.at, wall_s: event.wall_s, cpu_s: event.cpu_s,
          peak_rss_bytes: event.peak_rss_bytes, error: event.error ? { type: event.error.type, message: event.error.message } : null,
          retry_in_s: event.will_retry_in_s ?? null,
        });
        touchStep(step);
        break;
      }
      case "log_lines":
        addLogLine(event);
        break;
      case "context_changed":
        applyContextChanges(event.changes || []);
        break;
      default:
        break;
    }
    if (!step && event.step !== undefined && event.step !== "" && event.type !== "log_lines") scheduleRefetch(); // a step the view does not know yet
    if (running()) scheduleRefetch();
    updatePolling();
    showLiveState();
  }

  function addLogLine(event) {
    const key = typeof event.step === "string" ? event.step : "";
    let logs = state.logs.get(key);
    if (!logs) { logs = { lines: [], dropped: 0 }; state.logs.set(key, logs); }
    const line = { item: event.item ?? null, attempt: event.attempt, stream: event.stream, text: event.text, at: event.at };
    if (!appendLine(logs, line)) return; // already in a refetched view
    const more = state.expanded.get(key);
    if (more) appendLine(more, line);
    if (key !== panelKey()) return;
    if (detail.log && detail.logKey === key) {
      detail.queue.push(line);
      invalidate("logtail");
    } else {
      invalidate("detail"); // the panel had no log box yet
    }
  }

  function appendLine(logs, line) {
    // the newest LIVE_LOG_LIMIT lines are kept; the older ones are counted as dropped
    const lines = logs.lines;
    for (let i = lines.length - 1; i >= Math.max(0, lines.length - 20); i -= 1) {
      const other = lines[i];
      if (other.at === line.at && other.text === line.text && other.stream === line.stream) return false;
    }
    if (Object.isFrozen(lines)) logs.lines = lines.slice();
    logs.lines.push(line);
    const over = logs.lines.length - LIVE_LOG_LIMIT;
    if (over > 0) { logs.lines.splice(0, over); logs.dropped += over; }
    return true;
  }

  function applyContextChanges(changes) {
    const context = state.view.context;
    const known = new Set(context.history.slice(-200).map((change) => change.version + "\u0000" + change.key));
    for (const change of changes) {
      if (!change || typeof change.key !== "string") continue;
      if (known.has(change.version + "\u0000" + change.key)) continue; // already in a refetched view
      context.history.push(change);
      // context.values has no prototype: a key "__proto__" is stored as a key
      if (change.op === "delete") delete context.values[change.key];
      else context.values[change.key] = change.new;
      context.version = Math.max(context.version || 0, change.version);
    }
    invalidate("context");
  }

  // ------------------------------------------------------------------ start

  RENDERERS.push(
    ["head", renderHead], ["summary", renderSummary], ["graph", renderGraph], ["timeline", renderTimeline],
    ["table", renderTable], ["logtail", flushLiveLogs], ["detail", renderDetail], ["context", renderContext],
  );

  function boot() {
    const data = byId("f0-view");
    if (!data) return;
    performance.mark("f0-start");
    let view;
    try {
      view = JSON.parse(data.textContent);
    } catch (error) {
      byId("main").prepend(el("p", "f0-callout f0-callout-error", "The run data on this page could not be read: " + error.message));
      return;
    }
    if (!view || typeof view !== "object" || !view.run) {
      byId("main").prepend(el("p", "f0-callout f0-callout-error", "The run data on this page could not be read."));
      return;
    }
    state.view = normalize(view);
    if (isLive && typeof view.generated_at === "number") state.clockOffset = view.generated_at - Date.now() / 1000;
    index(view);
    performance.mark("f0-parsed");
    setupGraphControls();
    setupTimeline();
    setupTable();
    setupContext();
    renderHead();
    renderSummary();
    try {
      renderGraphInit();
    } catch (error) { // the rest of the page is still worth drawing
      byId("f0-graph").replaceChildren(el("p", "f0-empty", "The graph could not be drawn: " + error.message));
    }
    performance.mark("f0-graph");
    renderTimeline();
    performance.mark("f0-timeline");
    renderTable();
    performance.mark("f0-table");
    let first = stepFromHash();
    if (!first && view.run.status === "failed") {
      const failed = view.steps.find((step) => step.status === "failed");
      if (failed) first = failed.name;
    }
    if (first && state.steps.has(first)) select(first, { origin: "boot" }); else renderDetail();
    performance.mark("f0-detail");
    renderContext();
    performance.mark("f0-context");
    window.addEventListener("hashchange", () => { const name = stepFromHash(); if (name) select(name, { origin: "hash" }); });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && state.selected && !event.target.closest("input, select, textarea")) select(null, { origin: "close" });
    });
    body.dataset.renderedScript = String(Math.round(performance.now()));
    requestAnimationFrame(() => setTimeout(() => { body.dataset.rendered = String(Math.round(performance.now())); }, 0));
    if (isLive) {
      showLiveState();
      updatePolling();
      link.start(state.view.run.run_id);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
