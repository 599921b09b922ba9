// A WedCloud dashboard page's live updates (control_plane/monitoring/dashboard_page.py inlines this
// under the page's nonce). The server drew every chart; this script keeps them current from the
// stream: a metrics event adds its values to the chart's newest 30-second bucket (or starts a new
// one) and the chart is redrawn; an alerts event moves the firing count.
// The API key comes from the URL fragment (#key=...), which browsers never send to a server, or
// from sessionStorage; it goes to the stream as the subprotocol "key.<key>", never in a URL.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var g = data.geometry, NS = "http://www.w3.org/2000/svg", BUCKET = 30;
  var status = document.getElementById("stream-status");
  var lastId = data.stream.since || 0, retry = 1000;

  function say(state, text) { status.dataset.state = state; status.textContent = "Live updates: " + text; }

  function apiKey() {
    var match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem("wedcloud.key", decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);  // out of the address bar and history
    }
    return sessionStorage.getItem("wedcloud.key");
  }

  // -- drawing: the same scale and geometry as analytics/svg.py --------------------------------
  function niceStep(raw) {
    var power = Math.pow(10, Math.floor(Math.log10(raw))), factors = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < factors.length; i++) if (raw <= factors[i] * power) return factors[i] * power;
    return 10 * power;
  }
  function scaleOver(values) {
    var all = [0].concat(values), lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
    if (hi - lo <= 0) return { lo: 0, hi: 1, step: 0.25 };
    var step = niceStep((hi - lo) / 5);
    return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step: step };
  }
  function n(v) { var t = v.toFixed(1); return t === "-0.0" ? "0.0" : t; }
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function reduce(bucket, how) {
    return how === "avg" ? bucket.sum / bucket.count : how === "max" ? bucket.max : bucket.sum;
  }
  function label(value, step) {
    var decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
    if (step * Math.pow(10, decimals) % 1 !== 0) decimals += 1;
    return value.toLocaleString("en-GB", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }
  function redraw(panel) {
    var plot = document.querySelector('[data-panel="' + panel.id + '"] g.plot');
    if (!plot) return;
    var end = Math.max(Number(plot.dataset.end), panel.buckets.length ? panel.buckets[panel.buckets.length - 1].t : 0);
    var start = end - data.window_seconds;
    var values = [];
    panel.buckets.forEach(function (b) { if (b.t >= start) panel.reduce.forEach(function (h) { values.push(reduce(b, h)); }); });
    var s = scaleOver(values), width = g.width - g.left - g.right, height = g.height - g.top - g.bottom;
    var x = function (t) { return g.left + width * (t - start) / (end - start); };
    var y = function (v) { return g.top + height * (1 - (v - s.lo) / (s.hi - s.lo)); };
    while (plot.firstChild) plot.removeChild(plot.firstChild);
    plot.dataset.start = String(Math.round(start)); plot.dataset.end = String(Math.round(end));
    for (var tick = s.lo; tick <= s.hi + s.step / 2; tick += s.step) {
      plot.appendChild(el("line", { "class": "grid", x1: g.left, x2: g.width - g.right, y1: n(y(tick)), y2: n(y(tick)) }));
      plot.appendChild(el("text", { "class": "tick", x: g.left - 6, y: n(y(tick)), "text-anchor": "end" }, label(tick, s.step)));
    }
    for (var i = 0; i < 5; i++) {
      var t = start + (end - start) * i / 4, d = new Date(t * 1000);
      var hhmm = ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
      plot.appendChild(el("text", { "class": "tick", x: n(x(t)), y: g.height - g.bottom + 18, "text-anchor": "middle" }, hhmm));
    }
    panel.reduce.forEach(function (how, index) {
      var pts = panel.buckets.filter(function (b) { return b.t >= start && b.count; })
        .map(function (b) { return [x(b.t), y(reduce(b, how))]; });
      if (!pts.length) return;
      var colour = panel.colours[index];
      if (pts.length === 1) {
        plot.appendChild(el("circle", { "class": "mark", "data-series": how, cx: n(pts[0][0]), cy: n(pts[0][1]), r: 4, fill: colour }));
        return;
      }
      var path = pts.map(function (p, k) { return (k ? "L" : "M") + n(p[0]) + " " + n(p[1]); }).join(" ");
      plot.appendChild(el("path", { "class": "mark", "data-series": how, d: path, fill: "none", stroke: colour,
        "stroke-width": "2.5", "stroke-linejoin": "round" }));
    });
    var empty = plot.parentNode.querySelector("text.empty");
    if (empty && values.length) empty.remove();
  }

  // -- events -------------------------------------------------------------------------------------
  function onMetrics(event) {
    var values = event.data.values || {}, at = Date.parse(event.data.at) / 1000;
    if (!isFinite(at)) return;
    var t = Math.floor(at / BUCKET) * BUCKET;
    data.panels.forEach(function (panel) {
      if (panel.kind !== "line" || (panel.provider && panel.provider !== event.provider_id)) return;
      var value = values[panel.metric];
      if (typeof value !== "number") return;
      var last = panel.buckets[panel.buckets.length - 1];
      if (!last || last.t < t) { last = { t: t, sum: 0, count: 0, max: -Infinity }; panel.buckets.push(last); }
      else if (last.t > t) { last = panel.buckets.filter(function (b) { return b.t === t; })[0]; if (!last) return; }
      last.sum += value; last.count += 1; last.max = Math.max(last.max, value);
      redraw(panel);
    });
  }
  function onAlert(event) {
    var move = event.data.transition || {}, severity = event.severity || event.data.severity || "unknown";
    var delta = (move.to === "firing" ? 1 : 0) - (move.from === "firing" ? 1 : 0);
    if (!delta) return;
    data.panels.forEach(function (panel) {
      if (panel.kind !== "stat" || panel.topic !== "alerts") return;
      if (panel.provider && panel.provider !== event.provider_id) return;
      var total = document.querySelector('[data-stat="' + panel.id + '"]');
      total.textContent = String(Math.max(0, Number(total.textContent) + delta));
      var list = document.querySelector('[data-by="' + panel.id + '"]');
      var item = list.querySelector('[data-count="' + CSS.escape(severity) + '"] span');
      if (!item) {
        var li = document.createElement("li");
        li.dataset.count = severity; li.textContent = severity + ": ";
        item = document.createElement("span"); item.textContent = "0"; li.appendChild(item); list.appendChild(li);
      }
      item.textContent = String(Math.max(0, Number(item.textContent) + delta));
    });
  }

  function connect() {
    var key = apiKey();
    if (!key) { say("no-key", "no API key: open this page with #key=<your key> at the end of its address."); return; }
    var base = /^https?:$/.test(location.protocol) ? location.protocol + "//" + location.host : data.stream.origin;
    var query = "?topics=" + encodeURIComponent(data.stream.topics.join(","));
    if (data.stream.provider) query += "&provider=" + encodeURIComponent(data.stream.provider);
    if (lastId) query += "&since=" + lastId;
    var socket = new WebSocket(base.replace(/^http/, "ws") + data.stream.path + query, ["wedcloud.v1", "key." + key]);
    say("connecting", "connecting…");
    socket.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type === "hello") { retry = 1000; say("live", "live."); }
      else if (event.type === "lost") say("live", "live (" + event.count + " events were dropped).");
      else if (event.type === "event") {
        lastId = Math.max(lastId, event.id);
        if (event.topic === "metrics") onMetrics(event);
        else if (event.topic === "alerts") onAlert(event);
        document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
      }
    };
    socket.onclose = function (closed) {
      if (closed.code === 1008) { sessionStorage.removeItem("wedcloud.key"); say("refused", "the stream refused the key."); return; }
      say("closed", "disconnected; trying again…");
      setTimeout(connect, retry); retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
})();
