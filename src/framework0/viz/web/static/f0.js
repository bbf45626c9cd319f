/* Framework0 page helpers, shared by run.js (the run page and the report) and runs.js (the runs list).
 * Loaded before them; it defines `window.F0` and nothing else:
 *
 *   ICONS, icon(status)        the status icons (the same map as viz/graph_svg.py), "•" for any other
 *   byId, el, badge            DOM helpers; text always goes in through textContent, never as markup
 *   pad, clock, dateTime, duration   time formatting
 *   setLiveState(name, text)   the "● Live" indicator (#f0-live) of a dashboard page
 *   live(options)              the live connection to /api/v1/ws (below)
 */
(function () {
  "use strict";

  const ICONS = Object.freeze(Object.assign(Object.create(null), {
    pending: "○", running: "▶", succeeded: "✓", failed: "✗", skipped: "⤼",
    cached: "♻", cancelled: "⊘", restored: "↺",
  }));
  const PING_MS = 60000;           // the server closes a socket idle for 300 s
  const STABLE_MS = 10000;         // a socket open this long resets the reconnect backoff

  function byId(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function icon(status) { return (typeof status === "string" && ICONS[status]) || "•"; }

  function badge(status, extra) {
    const node = el("span", "f0-status" + (extra ? " " + extra : ""));
    node.dataset.status = status || "other";
    const mark = el("span", "f0-status-icon", icon(status));
    mark.setAttribute("aria-hidden", "true");
    node.append(mark, el("span", "f0-status-word", status || "unknown"));
    return node;
  }

  function pad(value, width) { return String(value).padStart(width || 2, "0"); }

  function clock(seconds, millis) {
    if (seconds === null || seconds === undefined) return "—";
    const d = new Date(seconds * 1000);
    const text = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    return millis ? text + "." + pad(d.getMilliseconds(), 3) : text;
  }

  function dateTime(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const d = new Date(seconds * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(seconds);
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

  function setLiveState(name, text) {
    const node = byId("f0-live");
    if (!node) return;
    node.dataset.state = name;
    node.textContent = text;
  }

  /* The live connection of a dashboard page: a WebSocket to /api/v1/ws (the session cookie
   * authenticates it) subscribed to one run, or to every run with "*". It pings every 60 s, and
   * after a close it reconnects with a backoff of 1 s, 2 s, 4 s ... up to 30 s that starts over only
   * after a socket that stayed open 10 s (one the server closes at once waits longer each time).
   * Close code 4401 (the session ended) signs the page out and 4403 (this origin may not open
   * sockets) leaves it polling: neither reconnects.
   *
   * options (all optional):
   *   onEvent(event)   each event frame ({"type": "event", "event": {...}}), parsed
   *   accept(text)     false: the frame is dropped unparsed (a page that wants few of many frames)
   *   onOpen()         the socket is open and subscribed (after onChange)
   *   onChange()       open, closed or signed out: the page updates its polling and its indicator
   *   onGone()         signed out, once, before that onChange
   *   retryDelay(ms)   the wait before a reconnect, given the backoff's
   *
   * Returns {open, gone, refused (read only), start(run): connect and subscribe to `run`,
   * signOut(): the page learnt the session ended (a fetch answered 401 or 403): stop reconnecting}.
   */
  function live(options) {
    let run = null;
    let open = false;
    let gone = false;
    let refused = false;
    let openedAt = 0;
    let pinger = 0;
    let retry = 0;

    function changed() { if (options.onChange) options.onChange(); }

    function markGone() {
      if (gone) return false;
      gone = true;
      if (options.onGone) options.onGone();
      return true;
    }

    function signOut() { if (markGone()) changed(); }

    function connect() {
      if (gone || refused || !("WebSocket" in window)) { changed(); return; }
      let socket;
      try {
        socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws");
      } catch (error) {
        reconnectLater();
        return;
      }
      socket.addEventListener("open", () => {
        open = true;
        openedAt = Date.now();
        socket.send(JSON.stringify({ op: "subscribe", run: run }));
        // the server closes a socket that says nothing for 5 minutes
        pinger = setInterval(() => { if (socket.readyState === 1) socket.send('{"op":"ping"}'); }, PING_MS);
        changed();
        if (options.onOpen) options.onOpen();
      });
      socket.addEventListener("message", (message) => {
        const text = message.data;
        if (options.accept && (typeof text !== "string" || !options.accept(text))) return;
        let data;
        try { data = JSON.parse(text); } catch (error) { return; }
        if (data && data.type === "event" && data.event && options.onEvent) options.onEvent(data.event);
      });
      socket.addEventListener("close", (event) => {
        const wasOpen = open;
        open = false;
        clearInterval(pinger);
        pinger = 0;
        if (wasOpen && Date.now() - openedAt >= STABLE_MS) retry = 0;
        if (event.code === 4401) markGone();          // the session ended
        else if (event.code === 4403) refused = true; // this origin may not open sockets: polling only
        changed();
        reconnectLater();
      });
    }

    function reconnectLater() {
      if (gone || refused) return;
      const delay = Math.min(30000, 1000 * Math.pow(2, retry));
      retry += 1;
      setTimeout(connect, options.retryDelay ? options.retryDelay(delay) : delay);
    }

    function start(subscription) {
      run = subscription;
      connect();
    }

    return Object.freeze({
      get open() { return open; },
      get gone() { return gone; },
      get refused() { return refused; },
      start: start,
      signOut: signOut,
    });
  }

  window.F0 = Object.freeze({ ICONS, icon, byId, el, badge, pad, clock, dateTime, duration, setLiveState, live });
})();
