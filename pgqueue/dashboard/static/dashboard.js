// pgqueue dashboard: confirmations, selection and bulk actions, SVG time charts with
// tooltips, the live overview, history charts (from the database's rollups), the live
// job page and live lists. No framework, no build step.
(function () {
  "use strict";
  var body = document.body;
  var base = body.dataset.base || "";
  var pollMs = parseInt(body.dataset.pollMs || "2000", 10);
  var SVG = "http://www.w3.org/2000/svg";
  var NUM = new Intl.NumberFormat();
  var COMPACT = new Intl.NumberFormat(undefined, {notation: "compact", maximumFractionDigits: 1});
  var TERMINAL = {succeeded: 1, dead: 1, cancelled: 1};

  // --- forms: confirmations, selection, bulk --------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });

  function wireSelectAll(boxId, formId) {
    var all = document.getElementById(boxId);
    if (!all) { return; }
    all.addEventListener("change", function () {
      document.querySelectorAll("input[type=checkbox][form=" + formId + "]").forEach(function (box) {
        box.checked = all.checked;
      });
      countSelected();
    });
  }
  function selected() { return document.querySelectorAll("input[type=checkbox][form=bulk]:checked"); }
  function countSelected() {
    var node = document.getElementById("selected-count");
    if (node) { node.textContent = NUM.format(selected().length); }
  }
  wireSelectAll("select-all", "dead-bulk");
  wireSelectAll("select-all-jobs", "bulk");
  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.getAttribute && ev.target.getAttribute("form") === "bulk") { countSelected(); }
  });

  var bulk = document.getElementById("bulk");
  if (bulk) {
    bulk.addEventListener("submit", function (ev) {
      var button = ev.submitter;
      if (!button) { return; }
      var scope = button.dataset.scope || "selected";
      bulk.querySelector("input[name=scope]").value = scope;
      var action = button.value, question;
      if (scope === "filter") {
        question = action[0].toUpperCase() + action.slice(1) + " all " + NUM.format(+button.dataset.count) +
          " jobs matching this filter?";
      } else {
        var n = selected().length;
        if (!n) { ev.preventDefault(); window.alert("Select at least one job."); return; }
        question = action[0].toUpperCase() + action.slice(1) + " " + n + " selected job" + (n === 1 ? "" : "s") + "?";
      }
      if (action === "delete") { question += " Deleted jobs are gone for good."; }
      if (!window.confirm(question)) { ev.preventDefault(); }
    });
  }

  // --- charts ------------------------------------------------------------------------------
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // The smallest of 1, 2, 2.5, 5 x 10^k at or above v.
  function niceCeil(v) {
    if (!(v > 0)) { return 1; }
    var scale = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (v <= steps[i] * scale) { return steps[i] * scale; } }
    return 10 * scale;
  }

  function seconds(v) {
    if (v === null || v === undefined) { return "-"; }
    if (v === 0) { return "0"; }
    if (v < 0.001) { return (v * 1e6).toFixed(0) + "µs"; }
    if (v < 1) { return (v * 1000).toFixed(v < 0.01 ? 1 : 0) + "ms"; }
    if (v < 10) { return v.toFixed(1) + "s"; }
    if (v < 120) { return Math.round(v) + "s"; }
    if (v < 7200) { return Math.floor(v / 60) + "m " + Math.floor(v % 60) + "s"; }
    return Math.floor(v / 3600) + "h " + Math.floor((v % 3600) / 60) + "m";
  }
  var FORMATS = {
    count: function (v) { return COMPACT.format(v); },
    exact: function (v) { return NUM.format(Math.round(v * 100) / 100); },
    percent: function (v) { return (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%"; },
    seconds: seconds
  };

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function clock(t, span) {
    var d = new Date(t * 1000);
    if (span > 3 * 86400) { return (d.getMonth() + 1) + "/" + d.getDate(); }
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function fullTime(t) {
    var d = new Date(t * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  // Tick spacing for a time axis: about 5 ticks on round minutes, hours or days.
  function timeStep(span) {
    var steps = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];
    for (var i = 0; i < steps.length; i++) { if (span / steps[i] <= 6) { return steps[i]; } }
    return 259200;
  }

  // points: [{t, ...}]; series: [{key, cls, label}]; opts: {format, tip}
  function timeChart(svg, points, series, opts) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var box = svg.viewBox.baseVal;
    var W = box.width || 600, H = box.height || 170, L = 52, R = 8, T = 8, B = 20;
    var fmt = FORMATS[opts.format || "count"];
    var top = 0;
    points.forEach(function (p) { series.forEach(function (s) { var v = p[s.key]; if (v > top) { top = v; } }); });
    var maxY = opts.format === "percent" ? Math.min(1, niceCeil(top || 0.01)) : niceCeil(top);
    var x0 = points.length ? points[0].t : 0, x1 = points.length ? points[points.length - 1].t : 1;
    if (opts.from !== undefined) { x0 = Math.min(x0, opts.from); }
    if (x1 <= x0) { x1 = x0 + 1; }
    function px(x) { return L + (W - L - R) * (x - x0) / (x1 - x0); }
    function py(y) { return T + (H - T - B) * (1 - y / maxY); }
    [0, 0.5, 1].forEach(function (f) {
      var y = py(maxY * f);
      svg.appendChild(el("line", {x1: L, x2: W - R, y1: y, y2: y, "class": "grid"}));
      svg.appendChild(el("text", {x: L - 6, y: y + 4, "text-anchor": "end", "class": "axis"}, fmt(maxY * f)));
    });
    var span = x1 - x0, step = timeStep(span);
    var offset = new Date().getTimezoneOffset() * 60;
    for (var t = Math.ceil((x0 - offset) / step) * step + offset; t <= x1; t += step) {
      var x = px(t);
      if (x < L + 14 || x > W - R - 14) { continue; }
      svg.appendChild(el("line", {x1: x, x2: x, y1: H - B, y2: H - B + 3, "class": "grid"}));
      svg.appendChild(el("text", {x: x, y: H - 5, "text-anchor": "middle", "class": "axis"}, clock(t, span)));
    }
    if (!points.length) {
      svg.appendChild(el("text", {x: (L + W) / 2, y: H / 2, "text-anchor": "middle", "class": "axis"}, "no data yet"));
      return;
    }
    series.forEach(function (s) {
      var pts = [];
      points.forEach(function (p) {
        if (p[s.key] === null || p[s.key] === undefined) { return; }
        pts.push(px(p.t).toFixed(1) + "," + py(p[s.key]).toFixed(1));
      });
      if (pts.length === 1) {
        var xy = pts[0].split(",");
        svg.appendChild(el("circle", {cx: xy[0], cy: xy[1], r: 2.5, "class": "dot " + s.cls}));
      }
      svg.appendChild(el("polyline", {points: pts.join(" "), "class": "line " + s.cls}));
    });
    // Tooltip: the nearest point's time and values, on hover or touch.
    var cursor = el("line", {x1: 0, x2: 0, y1: T, y2: H - B, "class": "cursor", visibility: "hidden"});
    svg.appendChild(cursor);
    var tip = tooltip(svg);
    function show(ev) {
      var rect = svg.getBoundingClientRect();
      var x = (ev.clientX - rect.left) * W / rect.width;
      var t = x0 + (x - L) * (x1 - x0) / (W - L - R), best = null;
      points.forEach(function (p) { if (best === null || Math.abs(p.t - t) < Math.abs(best.t - t)) { best = p; } });
      if (!best) { return; }
      cursor.setAttribute("x1", px(best.t)); cursor.setAttribute("x2", px(best.t));
      cursor.setAttribute("visibility", "visible");
      var lines = [fullTime(best.t)];
      series.forEach(function (s) {
        var v = best[s.key];
        lines.push(s.label + ": " + (v === null || v === undefined ? "-" : (opts.format === "count" ? NUM.format(v) : fmt(v))));
      });
      tip.textContent = lines.join("\n");
      tip.style.display = "block";
      var left = ev.clientX - rect.left + 12;
      if (left + tip.offsetWidth > rect.width) { left = ev.clientX - rect.left - tip.offsetWidth - 12; }
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = "8px";
    }
    svg.onmousemove = show;
    svg.ontouchstart = function (ev) { show(ev.touches[0]); };
    svg.onmouseleave = function () { tip.style.display = "none"; cursor.setAttribute("visibility", "hidden"); };
  }

  function tooltip(svg) {
    var holder = svg.parentNode;
    var tip = holder.querySelector(".tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip";
      holder.appendChild(tip);
    }
    tip.style.display = "none";
    return tip;
  }

  // --- overview: live numbers and the depth chart (history from the database, then live) ---
  var depthSvg = document.getElementById("chart-depth");
  var rateSvg = document.getElementById("chart-throughput");
  var live = [];

  function setText(id, value) {
    var node = document.getElementById(id);
    if (!node) { return; }
    (node.querySelector("a") || node).textContent = value;
  }

  function renderOverview(data) {
    live.push({t: data.time, queued: data.totals.queued, running: data.totals.running});
    if (live.length > 300) { live.shift(); }
    var history = (data.depth_history || []).filter(function (p) { return p.t < live[0].t; });
    var depth = history.concat(live);
    timeChart(depthSvg, depth, [
      {key: "queued", cls: "queued", label: "queued"}, {key: "running", cls: "running", label: "running"}
    ], {format: "count", from: data.time - 3600});
    // The newest bucket is still filling: drawing it would show a false drop.
    var tp = data.throughput.filter(function (p) { return p.t + data.bucket_s <= data.time; });
    timeChart(rateSvg, tp, [
      {key: "succeeded", cls: "succeeded", label: "succeeded"}, {key: "dead", cls: "dead", label: "dead"},
      {key: "cancelled", cls: "cancelled", label: "cancelled"}
    ], {format: "count"});

    ["queued", "running", "scheduled", "dead"].forEach(function (k) { setText("total-" + k, NUM.format(data.totals[k])); });
    setText("total-rate", NUM.format(data.totals.per_s));
    setText("workers-alive", NUM.format(data.workers.alive));

    var rows = document.querySelectorAll("#queues tbody tr[data-queue]");
    var shown = Array.prototype.map.call(rows, function (r) { return r.dataset.queue; }).join(",");
    var now = data.queues.map(function (q) { return q.queue; }).join(",");
    var changed = shown !== now;
    data.queues.forEach(function (q) {
      var row = document.querySelector('#queues tr[data-queue="' + CSS.escape(q.queue) + '"]');
      if (!row) { return; }
      ["queued", "scheduled", "waiting", "running", "per_s"].forEach(function (k) {
        var cell = row.querySelector('[data-col="' + k + '"]');
        if (cell) { cell.textContent = NUM.format(q[k]); }
      });
      var dead = row.querySelector('[data-col="dead"]');
      if (dead) { (dead.querySelector("a") || dead).textContent = NUM.format(q.dead); }
      var oldest = row.querySelector('[data-col="oldest"]');
      if (oldest) { oldest.textContent = seconds(q.oldest_queued_age_s); }
      var status = row.querySelector('[data-col="status"] .badge');
      if (status && (status.textContent === "paused") !== q.paused) { changed = true; }
    });
    // A queue appeared, went away, or was paused elsewhere: its buttons are stale.
    if (changed && !document.hidden) { window.location.reload(); }
  }

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  function every(ms, fn) {
    function loop() {
      var done = document.hidden ? Promise.resolve() : fn();
      Promise.resolve(done)
        .then(function () { body.classList.remove("stale"); }, function () { body.classList.add("stale"); })
        .then(function () { window.setTimeout(loop, ms); });
    }
    window.setTimeout(loop, ms);
  }

  if (depthSvg && rateSvg) {
    var initial = document.getElementById("initial");
    if (initial) { renderOverview(JSON.parse(initial.textContent)); }
    every(pollMs, function () { return getJSON(base + "/api/overview").then(renderOverview); });
  }

  // --- history charts (overview and task pages) ----------------------------------------------
  document.querySelectorAll("[data-history]").forEach(function (section) {
    var url = section.dataset.history;
    function chart(name) { return section.querySelector('[data-chart="' + name + '"]'); }
    function draw(data) {
      var width = data.width_s === 60 ? "minute" : "hour";
      document.querySelectorAll(".width").forEach(function (n) { n.textContent = width; });
      var pts = data.points, from = data.time - data.window_s;
      timeChart(chart("finished"), pts, [
        {key: "succeeded", cls: "succeeded", label: "succeeded"}, {key: "dead", cls: "dead", label: "dead"},
        {key: "cancelled", cls: "cancelled", label: "cancelled"}
      ], {format: "count", from: from});
      var attempted = pts.filter(function (p) { return p.succeeded + p.failed_attempts > 0; });
      timeChart(chart("failure"), attempted, [{key: "failure_rate", cls: "dead", label: "failure rate"}],
        {format: "percent", from: from});
      ["run", "wait"].forEach(function (kind) {
        var timed = pts.filter(function (p) { return p[kind + "_p50"] !== null; });
        timeChart(chart(kind), timed, [
          {key: kind + "_p50", cls: "p50", label: "p50"}, {key: kind + "_p95", cls: "p95", label: "p95"},
          {key: kind + "_p99", cls: "p99", label: "p99"}
        ], {format: "seconds", from: from});
      });
    }
    function load() { return getJSON(url).then(draw); }
    document.querySelectorAll("[data-range]").forEach(function (chip) {
      chip.addEventListener("click", function (ev) {
        ev.preventDefault();
        url = url.replace(/range=[^&]*/, "range=" + chip.dataset.range);
        document.querySelectorAll("[data-range]").forEach(function (c) { c.classList.toggle("active", c === chip); });
        load();
      });
    });
    load();
    every(30000, load);
  });

  // --- the live job page -----------------------------------------------------------------------
  var head = document.querySelector("[data-live-job]");
  if (head && !TERMINAL[head.dataset.state]) {
    every(pollMs, function () {
      return getJSON(base + "/api/jobs/" + head.dataset.liveJob).then(function (job) {
        var errors = (job.errors || []).length;
        if (job.state !== head.dataset.state || String(job.attempt) !== head.dataset.attempt ||
            String(errors) !== head.dataset.errors) {
          window.location.reload();  // a new attempt, an error or the end: the whole page changes
          return;
        }
        var bar = document.querySelector("#job-progress-bar progress");
        var p = job.progress;
        if (p && !bar) { window.location.reload(); return; }
        if (p && bar) {
          if (p.total) { bar.max = p.total; bar.value = p.current || 0; }
          var pct = document.querySelector("#job-progress-bar .pct");
          if (pct) { pct.textContent = p.total ? Math.round(100 * (p.current || 0) / p.total) + "%" : NUM.format(p.current || 0); }
          var msg = document.querySelector("#job-progress-bar .msg");
          if (msg) { msg.textContent = p.message || ""; }
          var raw = document.getElementById("job-progress");
          if (raw) { raw.textContent = JSON.stringify(p, null, 2); }
        }
      });
    });
  }

  // --- live lists: re-read the page and swap the table bodies ------------------------------------
  var liveBox = document.getElementById("live");
  var tables = ["jobs", "workers", "running"].filter(function (id) { return document.getElementById(id); });
  if (liveBox && tables.length) {
    every(Math.max(pollMs, 3000), function () {
      if (!liveBox.checked || selected().length) { return null; }  // never under a selection
      return fetch(window.location.href, {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          tables.forEach(function (id) {
            var fresh = doc.querySelector("#" + id + " tbody"), old = document.querySelector("#" + id + " tbody");
            if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
          });
          document.querySelectorAll("tbody form[data-confirm]").forEach(function (form) {
            if (form.dataset.wired) { return; }
            form.dataset.wired = "1";
            form.addEventListener("submit", function (ev) {
              if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
            });
          });
        });
    });
  }
})();
