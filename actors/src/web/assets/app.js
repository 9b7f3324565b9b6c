// pmx web dashboard: a client of the JSON API (docs/web.md), no framework.
// The list is polled every 2 s while the page is visible (asking for it is also what keeps
// the daemon sampling cpu and memory); GET /api/events adds live log lines, metrics between
// polls and an immediate refresh on lifecycle events. While the stream cannot be had (an
// error answer) the selected app's logs are polled too. Hidden page: no polling, no stream.
"use strict";
(() => {
  const POLL_MS = 2000;
  const HISTORY = 900; // points kept per instance (30 min at 2 s)
  const LOG_LINES = 500; // lines kept in the log view
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  const st = {
    rows: [], // the last /api/processes answer
    selected: null, // id of the selected instance
    history: new Map(), // id -> [{t, cpu, mem}]
    stream: "unknown", // "unknown" | "live" | "absent"
    events: null, // EventSource of lifecycle + metrics events
    logEvents: null, // EventSource of the selected app's log lines
    pollTimer: 0,
    logTimer: 0,
    soon: 0,
    busy: false,
    offline: false,
  };

  // ---- formatting -------------------------------------------------------------------
  const bytes = (b) => {
    if (b == null) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i === 0 ? String(b) : b.toFixed(b < 10 ? 1 : b < 100 ? 1 : 0)) + " " + u[i];
  };
  const pct = (c) => (c == null ? "–" : (c < 10 ? c.toFixed(1) : c.toFixed(0)) + "%");
  const dur = (ms) => {
    if (ms == null) return "–";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    const h = Math.floor(m / 60);
    if (h < 24) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  };
  const statusClass = (s) => (s === "waiting restart" ? "waiting" : s);

  // ---- the API ----------------------------------------------------------------------
  // A read that gets no answer within READ_TIMEOUT_MS counts as the daemon unreachable
  // (a killed daemon's port waits in the fd holder's backlog: no refusal ever comes).
  // Actions wait longer: a restart of many instances takes its time.
  const READ_TIMEOUT_MS = 5000;
  const ACTION_TIMEOUT_MS = 120000;
  async function api(method, path) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), method === "GET" ? READ_TIMEOUT_MS : ACTION_TIMEOUT_MS);
    let r;
    try {
      r = await fetch(path, {
        method,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
        signal: abort.signal,
      });
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) {
      const e = new Error(body && body.error ? body.error.message : method + " " + path + ": HTTP " + r.status);
      e.status = r.status;
      throw e;
    }
    return body;
  }

  function notice(text) {
    $("notice-text").textContent = text;
    $("notice").hidden = !text;
  }

  function link(kind, text) {
    const el = $("link");
    el.className = "link " + kind;
    $("link-text").textContent = text;
  }

  function showLink() {
    if (document.hidden) link("", "paused");
    else if (st.offline) link("down", "daemon unreachable");
    else if (st.stream === "live") link("live", "live");
    else link("polling", "polling every 2s");
  }

  // ---- history ----------------------------------------------------------------------
  function record(id, t, cpu, mem) {
    if (mem == null) return;
    let h = st.history.get(id);
    if (!h) { h = []; st.history.set(id, h); }
    // Two figures within half a second (a poll and an event): one point, the newer figures.
    const last = h[h.length - 1];
    if (last && t - last.t < 500) { last.cpu = cpu; last.mem = mem; }
    else h.push({ t, cpu, mem });
    if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
  }

  // ---- the list ---------------------------------------------------------------------
  async function poll() {
    clearTimeout(st.pollTimer);
    if (document.hidden) return;
    try {
      const rows = await api("GET", "/api/processes");
      st.offline = false;
      st.rows = rows;
      // Every poll is a point too: the chart grows whether or not the stream carries
      // metrics events (a point within half a second of an event's is merged with it).
      const now = Date.now();
      for (const r of rows) record(r.id, now, r.cpu, r.memory);
      render();
    } catch (e) {
      st.offline = e.status === undefined;
      if (e.status === 401) notice("This service needs its token: open /?token=<token> (the token is in $PMX_HOME/web.token).");
      else if (st.offline) notice("");
      else notice(e.message);
    }
    showLink();
    if (!document.hidden) st.pollTimer = setTimeout(poll, POLL_MS);
  }

  // A lifecycle event: refresh soon (several events of one restart make one request).
  function pollSoon() {
    clearTimeout(st.soon);
    st.soon = setTimeout(poll, 150);
  }

  // Many metrics events (one per instance per second): one render per frame.
  let frame = 0;
  function renderSoon() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  }

  function cell(tr, cls) {
    let td = tr.querySelector("td." + cls);
    if (!td) { td = document.createElement("td"); td.className = cls; tr.appendChild(td); }
    return td;
  }

  function render() {
    const tbody = $("rows");
    const seen = new Set();
    const rows = st.rows.slice().sort((a, b) => a.id - b.id);
    if (st.selected == null || !rows.some((r) => r.id === st.selected)) {
      const pick = rows.find((r) => "#" + r.id === location.hash) || rows[0];
      if (pick) select(pick.id, false);
    }
    for (const r of rows) {
      seen.add(String(r.id));
      let tr = tbody.querySelector('tr[data-id="' + r.id + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.id = String(r.id);
        for (const c of ["c-id", "c-name", "c-status", "c-pid num", "c-cpu num", "c-mem num", "c-restarts num", "c-uptime num"]) {
          const td = document.createElement("td");
          td.className = c;
          tr.appendChild(td);
        }
        tr.addEventListener("click", () => select(r.id, true));
        tbody.appendChild(tr);
      }
      tr.dataset.name = r.name;
      tr.dataset.status = r.status;
      tr.classList.toggle("selected", r.id === st.selected);
      cell(tr, "c-id").textContent = r.id;
      const name = cell(tr, "c-name");
      name.textContent = r.name;
      if (rows.filter((x) => x.name === r.name).length > 1) {
        const n = document.createElement("span");
        n.className = "ns";
        n.textContent = " #" + r.instance;
        name.appendChild(n);
      }
      name.title = r.namespace === "default" ? r.name : r.namespace + ":" + r.name;
      const badge = document.createElement("span");
      badge.className = "badge " + statusClass(r.status);
      badge.textContent = r.status;
      cell(tr, "c-status").replaceChildren(badge);
      cell(tr, "c-pid").textContent = r.pid == null ? "–" : r.pid;
      cell(tr, "c-cpu").textContent = pct(r.cpu);
      cell(tr, "c-mem").textContent = bytes(r.memory);
      cell(tr, "c-restarts").textContent = r.restarts;
      cell(tr, "c-uptime").textContent = dur(r.uptime);
    }
    for (const tr of Array.from(tbody.children)) if (!seen.has(tr.dataset.id)) tr.remove();
    // Keep the id order when an instance appears between others.
    for (const r of rows) tbody.appendChild(tbody.querySelector('tr[data-id="' + r.id + '"]'));
    $("empty").hidden = rows.length > 0;
    renderSummary(rows);
    renderDetail();
  }

  function renderSummary(rows) {
    const count = (s) => rows.filter((r) => r.status === s).length;
    const cpu = rows.reduce((a, r) => a + (r.cpu || 0), 0);
    const mem = rows.reduce((a, r) => a + (r.memory || 0), 0);
    const parts = [
      ["n-online", count("online"), "online"],
      ["n-stopped", count("stopped"), "stopped"],
      ["n-errored", count("errored"), "errored"],
      ["n-cpu", pct(cpu), "cpu"],
      ["n-mem", bytes(mem), "memory"],
    ];
    $("summary").replaceChildren(...parts.map(([cls, v, label]) => {
      const s = document.createElement("span");
      s.className = cls;
      const b = document.createElement("b");
      b.textContent = v;
      s.append(b, " " + label);
      return s;
    }));
  }

  // ---- the selected instance ----------------------------------------------------------
  function current() {
    return st.rows.find((r) => r.id === st.selected);
  }

  function select(id, byUser) {
    if (st.selected === id) return;
    st.selected = id;
    if (byUser) history.replaceState(null, "", "#" + id);
    for (const tr of $("rows").children) tr.classList.toggle("selected", tr.dataset.id === String(id));
    $("logs").replaceChildren();
    seedHistory(id);
    loadLogs();
    followLogs();
    renderDetail();
  }

  // The daemon keeps a short history of samples while someone looks: start the chart
  // with it, then keep the points gathered here that are newer.
  async function seedHistory(id) {
    try {
      const d = await api("GET", "/api/processes/" + id);
      const mine = st.history.get(id) || [];
      const theirs = ((d[0] && d[0].history) || []).map((p) => ({ t: p.time, cpu: p.cpu, mem: p.memory }));
      const last = theirs.length ? theirs[theirs.length - 1].t : 0;
      st.history.set(id, theirs.concat(mine.filter((p) => p.t > last)).slice(-HISTORY));
      renderCharts();
    } catch (_) { /* the list shows what went wrong */ }
  }

  function renderDetail() {
    const r = current();
    $("detail").hidden = !r;
    if (!r) return;
    // The buttons act on this instance: with several, the title names which.
    const several = st.rows.filter((x) => x.name === r.name).length > 1;
    $("d-name").textContent = r.name + (several ? " #" + r.instance : "");
    const badge = $("d-status");
    badge.className = "badge " + statusClass(r.status);
    badge.textContent = r.status;
    const facts = [
      ["id", r.id],
      ["pid", r.pid == null ? "–" : r.pid],
      ["uptime", dur(r.uptime)],
      ["restarts", r.restarts],
      ["mode", r.mode + (r.mode === "cluster" ? " #" + r.instance : "")],
      ["namespace", r.namespace],
      ["user", r.user],
    ];
    if (r.group) facts.push(["group", r.group]);
    if (r.watching) facts.push(["watch", "on"]);
    $("d-facts").replaceChildren(...facts.map(([k, v]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      dd.dataset.fact = k;
      div.append(dt, dd);
      return div;
    }));
    $("cpu-now").textContent = pct(r.cpu);
    $("mem-now").textContent = bytes(r.memory);
    if (!st.busy) for (const b of document.querySelectorAll(".actions button")) b.disabled = false;
    renderCharts();
  }

  // ---- charts (inline SVG) ----------------------------------------------------------
  function renderCharts() {
    const h = st.history.get(st.selected) || [];
    chart($("chart-cpu"), h, (p) => p.cpu, (m) => Math.max(5, m * 1.25), pct, $("cpu-max"));
    chart($("chart-mem"), h, (p) => p.mem, (m) => Math.max(1024 * 1024, m * 1.5), bytes, $("mem-max"));
  }

  function chart(fig, points, value, top, fmt, scale) {
    const svg = fig.querySelector("svg");
    const W = 300, H = 60;
    const pts = points.filter((p) => value(p) != null);
    const kids = [];
    for (const y of [15, 30, 45]) {
      const g = document.createElementNS(SVG, "line");
      g.setAttribute("class", "grid");
      g.setAttribute("x1", 0); g.setAttribute("x2", W);
      g.setAttribute("y1", y); g.setAttribute("y2", y);
      kids.push(g);
    }
    if (pts.length >= 2) {
      const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
      const peak = Math.max(...pts.map(value));
      const max = top(peak);
      const xy = pts.map((p) => [
        ((p.t - t0) / Math.max(1, t1 - t0)) * W,
        H - 2 - (value(p) / max) * (H - 6),
      ]);
      const d = xy.map(([x, y], i) => (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1)).join(" ");
      const area = document.createElementNS(SVG, "path");
      area.setAttribute("class", "area");
      area.setAttribute("d", d + " L" + W + " " + H + " L0 " + H + " Z");
      const line = document.createElementNS(SVG, "path");
      line.setAttribute("class", "line");
      line.setAttribute("d", d);
      kids.push(area, line);
      scale.textContent = "peak " + fmt(peak) + " · last " + dur(t1 - t0);
    } else {
      scale.textContent = "collecting…";
    }
    svg.replaceChildren(...kids);
  }

  // ---- logs ---------------------------------------------------------------------------
  function appendLines(lines) {
    const pre = $("logs");
    const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
    const frag = document.createDocumentFragment();
    for (const [stream, text] of lines) {
      const span = document.createElement("span");
      if (stream === "err") span.className = "err";
      span.textContent = text + "\n";
      frag.appendChild(span);
    }
    pre.appendChild(frag);
    while (pre.childNodes.length > LOG_LINES) pre.firstChild.remove();
    if ($("follow").checked && (atEnd || lines.length)) pre.scrollTop = pre.scrollHeight;
  }

  // The last 50 lines of each file, out first then err (the files carry no common clock).
  async function loadLogs() {
    const id = st.selected;
    clearTimeout(st.logTimer);
    if (id == null || document.hidden) return;
    try {
      const files = await api("GET", "/api/logs/" + id + "?lines=50");
      if (id !== st.selected) return;
      const lines = [];
      for (const f of files) for (const l of f.lines) lines.push([f.stream, l]);
      $("logs").replaceChildren();
      if (!lines.length) lines.push(["meta", "(no log lines yet)"]);
      appendLines(lines);
    } catch (e) {
      if (id === st.selected) { $("logs").replaceChildren(); appendLines([["err", e.message]]); }
    }
    if (st.stream === "absent" && !document.hidden) st.logTimer = setTimeout(loadLogs, POLL_MS);
  }

  function followLogs() {
    if (st.logEvents) { st.logEvents.close(); st.logEvents = null; }
    const r = current();
    if (st.stream !== "live" || !r || document.hidden) return;
    const id = r.id;
    const es = new EventSource("/api/events?apps=" + encodeURIComponent(r.name) + "&events=log");
    es.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch (_) { return; }
      if (e.event === "log" && e.id === id && id === st.selected) {
        const pre = $("logs");
        if (pre.childNodes.length === 1 && pre.firstChild.textContent.startsWith("(no log")) pre.replaceChildren();
        appendLines([[e.stream, e.message]]);
      }
    };
    st.logEvents = es;
  }

  // ---- the event stream ---------------------------------------------------------------
  function openEvents() {
    if (st.events || st.stream === "absent" || document.hidden || typeof EventSource === "undefined") return;
    const es = new EventSource("/api/events?events=online,exit,restart,errored,stop,metrics,lagged");
    st.events = es;
    es.onopen = () => {
      const was = st.stream;
      st.stream = "live";
      clearTimeout(st.logTimer);
      if (was !== "live") { followLogs(); loadLogs(); }
      showLink();
    };
    es.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch (_) { return; }
      if (e.event === "metrics") {
        const r = st.rows.find((x) => x.id === e.id);
        if (!r) return;
        if (e.cpu !== undefined) r.cpu = e.cpu;
        if (e.memory !== undefined) r.memory = e.memory;
        record(e.id, Date.now(), r.cpu, r.memory);
        renderSoon();
      } else {
        pollSoon();
      }
    };
    es.onerror = () => {
      // Closed for good: the service has no stream (404) or refused it; else the
      // browser reconnects by itself, and meanwhile the page is not live.
      if (es.readyState === EventSource.CONNECTING && st.stream === "live") {
        st.stream = "unknown";
        pollSoon();
      }
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        st.events = null;
        if (st.stream !== "live") {
          st.stream = "absent";
          loadLogs();
        } else {
          st.stream = "unknown";
          setTimeout(openEvents, POLL_MS);
        }
      }
      showLink();
    };
  }

  function closeEvents() {
    if (st.events) { st.events.close(); st.events = null; }
    if (st.logEvents) { st.logEvents.close(); st.logEvents = null; }
    if (st.stream === "live") st.stream = "unknown";
  }

  // ---- actions ------------------------------------------------------------------------
  async function act(verb) {
    const r = current();
    if (!r || st.busy) return;
    st.busy = true;
    const buttons = document.querySelectorAll(".actions button");
    for (const b of buttons) b.disabled = true;
    try {
      await api("POST", "/api/processes/" + r.id + "/" + verb);
      notice("");
    } catch (e) {
      notice(verb + " " + r.name + ": " + e.message);
    } finally {
      st.busy = false;
      for (const b of buttons) b.disabled = false;
      poll();
    }
  }

  // ---- wiring -------------------------------------------------------------------------
  function wake() {
    showLink();
    if (document.hidden) {
      clearTimeout(st.pollTimer);
      clearTimeout(st.logTimer);
      closeEvents();
      return;
    }
    poll();
    openEvents();
    loadLogs();
    followLogs();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll(".actions button")) {
      b.addEventListener("click", () => act(b.dataset.action));
    }
    $("notice-close").addEventListener("click", () => notice(""));
    document.addEventListener("visibilitychange", wake);
    wake();
  });
})();
