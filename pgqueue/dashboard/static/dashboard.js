// pgqueue dashboard: confirmations, select-all, and the live overview (polls a JSON
// endpoint, updates the numbers in place, draws two small SVG line charts).
(function () {
  "use strict";
  var body = document.body;
  var base = body.dataset.base || "";
  var pollMs = parseInt(body.dataset.pollMs || "2000", 10);
  var SVG = "http://www.w3.org/2000/svg";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[type=checkbox][form=dead-bulk]").forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  var depthSvg = document.getElementById("chart-depth");
  var rateSvg = document.getElementById("chart-throughput");
  if (!depthSvg || !rateSvg) { return; }

  var MAX_SAMPLES = 300;
  var samples = [];

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // The smallest of 2, 4, 5, 10, 20, 40, 50, ... at or above v: even, so the middle
  // grid line is a whole number too.
  function niceCeil(v) {
    var scale = 1;
    while (true) {
      var steps = [2, 4, 5, 10];
      for (var i = 0; i < steps.length; i++) { if (v <= steps[i] * scale) { return steps[i] * scale; } }
      scale *= 10;
    }
  }

  // series: [{cls, values: [number]}], all of the same length as xs (seconds).
  function lineChart(svg, xs, series, xLabel) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var W = 600, H = 160, L = 44, B = 18, T = 8;
    var top = 0;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v > top) { top = v; } }); });
    var maxY = niceCeil(top);
    var x0 = xs.length ? xs[0] : 0, x1 = xs.length ? xs[xs.length - 1] : 1;
    if (x1 === x0) { x1 = x0 + 1; }
    function px(x) { return L + (W - L - 4) * (x - x0) / (x1 - x0); }
    function py(y) { return T + (H - T - B) * (1 - y / maxY); }
    [0, 0.5, 1].forEach(function (f) {
      var y = py(maxY * f);
      svg.appendChild(el("line", {x1: L, x2: W - 4, y1: y, y2: y, "class": "grid"}));
      svg.appendChild(el("text", {x: L - 6, y: y + 4, "text-anchor": "end", "class": "axis"},
        String(Math.round(maxY * f))));
    });
    svg.appendChild(el("text", {x: L, y: H - 3, "class": "axis"}, xLabel));
    svg.appendChild(el("text", {x: W - 4, y: H - 3, "text-anchor": "end", "class": "axis"}, "now"));
    series.forEach(function (s) {
      if (!xs.length) { return; }
      var pts = xs.map(function (x, i) { return px(x).toFixed(1) + "," + py(s.values[i]).toFixed(1); });
      svg.appendChild(el("polyline", {points: pts.join(" "), "class": "line " + s.cls}));
    });
  }

  function setText(id, value) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var target = node.querySelector("a") || node;
    target.textContent = String(value);
  }

  function seconds(v) {
    if (v === null || v === undefined) { return "-"; }
    if (v < 10) { return v.toFixed(1) + "s"; }
    if (v < 120) { return Math.round(v) + "s"; }
    if (v < 7200) { return Math.floor(v / 60) + "m " + Math.floor(v % 60) + "s"; }
    return Math.floor(v / 3600) + "h " + Math.floor((v % 3600) / 60) + "m";
  }

  function render(data) {
    samples.push({t: data.time, queued: data.totals.queued, running: data.totals.running});
    if (samples.length > MAX_SAMPLES) { samples.shift(); }
    lineChart(depthSvg, samples.map(function (s) { return s.t; }), [
      {cls: "queued", values: samples.map(function (s) { return s.queued; })},
      {cls: "running", values: samples.map(function (s) { return s.running; })}
    ], samples.length > 1 ? "-" + seconds(samples[samples.length - 1].t - samples[0].t) : "");
    // The newest bucket is still filling: drawing it would show a false drop.
    var tp = data.throughput.filter(function (p) { return p.t + data.bucket_s <= data.time; });
    lineChart(rateSvg, tp.map(function (p) { return p.t; }), [
      {cls: "succeeded", values: tp.map(function (p) { return p.succeeded; })},
      {cls: "dead", values: tp.map(function (p) { return p.dead; })},
      {cls: "cancelled", values: tp.map(function (p) { return p.cancelled; })}
    ], "-10m");

    ["queued", "running", "scheduled", "dead"].forEach(function (k) { setText("total-" + k, data.totals[k]); });
    setText("total-rate", data.totals.per_s);
    setText("workers-alive", data.workers.alive);

    var rows = document.querySelectorAll("#queues tbody tr[data-queue]");
    var shown = Array.prototype.map.call(rows, function (r) { return r.dataset.queue; }).join(",");
    var now = data.queues.map(function (q) { return q.queue; }).join(",");
    var changed = shown !== now;
    data.queues.forEach(function (q) {
      var row = document.querySelector('#queues tr[data-queue="' + CSS.escape(q.queue) + '"]');
      if (!row) { return; }
      ["queued", "scheduled", "waiting", "running", "per_s"].forEach(function (k) {
        var cell = row.querySelector('[data-col="' + k + '"]');
        if (cell) { cell.textContent = String(q[k]); }
      });
      var dead = row.querySelector('[data-col="dead"]');
      if (dead) { (dead.querySelector("a") || dead).textContent = String(q.dead); }
      var oldest = row.querySelector('[data-col="oldest"]');
      if (oldest) { oldest.textContent = seconds(q.oldest_queued_age_s); }
      var status = row.querySelector('[data-col="status"] .badge');
      if (status && (status.textContent === "paused") !== q.paused) { changed = true; }
    });
    // A queue appeared, went away, or was paused elsewhere: its buttons are stale.
    if (changed && !document.hidden) { window.location.reload(); }
  }

  function poll() {
    fetch(base + "/api/overview", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) { render(data); body.classList.remove("stale"); })
      .catch(function () { body.classList.add("stale"); })
      .then(function () { window.setTimeout(poll, pollMs); });
  }

  var initial = document.getElementById("initial");
  if (initial) { render(JSON.parse(initial.textContent)); }
  window.setTimeout(poll, pollMs);
})();
