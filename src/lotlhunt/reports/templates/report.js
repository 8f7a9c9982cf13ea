"use strict";
(function () {
  // Report data is text: rendered with textContent only, never parsed as HTML.
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var S = data.strings, R = data.rules, rows = data.rows, LEVELS = data.levels;
  var PAGE = 100, CLIP = 260;
  var T = 0, HOST = 1, RULE = 2, CHAN = 3, EID = 4, RID = 5, INC = 6, SRC = 7, MATCHED = 8, DETAILS = 9, FIELDS = 10;
  function str(i) { return i < 0 || i === undefined || i === null ? "" : S[i]; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function pad(n, w) { n = String(n); while (n.length < w) n = "0" + n; return n; }
  function timeText(t) {
    if (t === null || data.base_us === null) return "";
    var us = data.base_us + t;
    var ms = Math.floor(us / 1000);
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + "." + pad(((us % 1000000) + 1000000) % 1000000, 6);
  }
  function pairs(list) {
    var out = [];
    for (var i = 0; i + 1 < list.length; i += 2) out.push([S[list[i]], S[list[i + 1]]]);
    return out;
  }
  function detailsText(row) {
    var p = pairs(row[DETAILS].length ? row[DETAILS] : row[FIELDS]);
    return p.map(function (kv) { return kv[0] + ": " + kv[1]; }).join(" \u00a6 ");
  }
  var searchText = null;
  function haystack(i) {
    if (searchText === null) searchText = new Array(rows.length);
    var h = searchText[i];
    if (h === undefined) {
      var r = rows[i];
      h = [str(r[HOST]), str(R[r[RULE]][0]), str(r[CHAN]), r[EID], str(r[INC]), str(r[SRC]),
           pairs(r[DETAILS]).join(" "), pairs(r[FIELDS]).join(" ")].join("\n").toLowerCase();
      searchText[i] = h;
    }
    return h;
  }

  var state = { text: "", level: "", host: "", incident: "", rule: "", technique: "", sort: null, dir: 1, page: 0 };
  var view = [];

  function fill(select, values) {
    values.forEach(function (v) { var o = el("option", null, v[1]); o.value = v[0]; select.appendChild(o); });
  }
  function distinct(col) {
    var seen = {}, out = [];
    rows.forEach(function (r) { var k = r[col]; if (k >= 0 && !seen[k]) { seen[k] = 1; out.push(k); } });
    return out.sort(function (a, b) { return S[a] < S[b] ? -1 : S[a] > S[b] ? 1 : 0; });
  }
  fill(document.getElementById("f-level"), LEVELS.map(function (l, i) { return [String(i), l]; }));
  fill(document.getElementById("f-host"), distinct(HOST).map(function (k) { return [S[k], S[k]]; }));
  fill(document.getElementById("f-incident"), distinct(INC).map(function (k) { return [S[k], S[k]]; }));
  fill(document.getElementById("f-rule"), R.map(function (r, i) { return [String(i), S[r[0]]]; })
    .sort(function (a, b) { return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0; }));

  var keys = {
    time: function (r) { return r[T] === null ? -Infinity : r[T]; },
    host: function (r) { return str(r[HOST]).toLowerCase(); },
    level: function (r) { return R[r[RULE]][2]; },
    rule: function (r) { return S[R[r[RULE]][0]].toLowerCase(); },
    event: function (r) { return str(r[CHAN]) + ":" + pad(r[EID] === null ? 0 : r[EID], 6); },
    incident: function (r) { return str(r[INC]); }
  };

  function apply() {
    var text = state.text.toLowerCase(), level = state.level === "" ? -1 : Number(state.level);
    var rule = state.rule === "" ? -1 : Number(state.rule);
    view = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], rr = R[r[RULE]];
      if (level >= 0 && rr[2] !== level) continue;
      if (rule >= 0 && r[RULE] !== rule) continue;
      if (state.host && str(r[HOST]) !== state.host) continue;
      if (state.incident && str(r[INC]) !== state.incident) continue;
      if (state.technique && rr[4].indexOf(state.technique) < 0) continue;
      if (text && haystack(i).indexOf(text) < 0) continue;
      view.push(i);
    }
    if (state.sort) {
      var key = keys[state.sort], dir = state.dir;
      var cached = view.map(function (i) { return [key(rows[i]), i]; });
      cached.sort(function (a, b) { return a[0] < b[0] ? -dir : a[0] > b[0] ? dir : a[1] - b[1]; });
      view = cached.map(function (x) { return x[1]; });
    }
    state.page = 0;
    render();
  }

  var body = document.getElementById("det-body");
  function render() {
    while (body.firstChild) body.removeChild(body.firstChild);
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * PAGE, end = Math.min(view.length, start + PAGE);
    var frag = document.createDocumentFragment();
    for (var k = start; k < end; k++) frag.appendChild(rowElement(view[k]));
    body.appendChild(frag);
    document.getElementById("p-info").textContent = view.length
      ? (start + 1) + "\u2013" + end + " of " + view.length + " detections (page " + (state.page + 1) + " of " + pages + ")"
      : "no detection matches these filters";
    document.getElementById("p-prev").disabled = state.page === 0;
    document.getElementById("p-next").disabled = state.page >= pages - 1;
    var tech = document.getElementById("f-technique");
    tech.textContent = state.technique ? "technique " + state.technique : "";
  }

  function rowElement(i) {
    var r = rows[i], rr = R[r[RULE]];
    var tr = el("tr", "det");
    tr.appendChild(el("td", null, timeText(r[T])));
    tr.appendChild(el("td", null, str(r[HOST])));
    var lv = el("td"); lv.appendChild(el("span", "lvl " + LEVELS[rr[2]], LEVELS[rr[2]])); tr.appendChild(lv);
    tr.appendChild(el("td", "wrap", S[rr[0]]));
    tr.appendChild(el("td", null, str(r[CHAN]) + (r[EID] === null ? "" : " " + r[EID])));
    tr.appendChild(el("td", null, str(r[INC])));
    var text = detailsText(r);
    // The full text is in the row's explanation; the table shows its start.
    tr.appendChild(el("td", "wrap details", text.length > CLIP ? text.slice(0, CLIP - 1) + "\u2026" : text));
    tr.addEventListener("click", function () { toggle(tr, i); });
    return tr;
  }

  function toggle(tr, i) {
    var next = tr.nextSibling;
    if (next && next.className === "explain") { body.removeChild(next); return; }
    var r = rows[i], rr = R[r[RULE]];
    var ex = el("tr", "explain"), td = el("td");
    td.colSpan = 7;
    var kv = el("div", "kv");
    function add(k, v) { kv.appendChild(el("span", "k", k)); kv.appendChild(el("span", "v", v)); }
    add("rule", S[rr[0]] + " (" + S[rr[1]] + ")");
    add("tags", rr[3].map(function (t) { return S[t]; }).join(", "));
    add("matched", r[MATCHED].map(function (m) { return S[m]; }).join(", ") || "(the rule as a whole)");
    pairs(r[FIELDS]).forEach(function (p) { add("rule read " + p[0], p[1]); });
    pairs(r[DETAILS]).forEach(function (p) { add("event " + p[0], p[1]); });
    add("record", str(r[CHAN]) + " event " + (r[EID] === null ? "?" : r[EID]) + ", record " + (r[RID] === null ? "?" : r[RID]));
    add("file", str(r[SRC]));
    td.appendChild(kv); ex.appendChild(td);
    body.insertBefore(ex, tr.nextSibling);
  }

  function bind(id, key, ev) {
    var e = document.getElementById(id);
    e.addEventListener(ev || "change", function () { state[key] = e.value; apply(); });
  }
  bind("f-text", "text", "input"); bind("f-level", "level"); bind("f-host", "host");
  bind("f-incident", "incident"); bind("f-rule", "rule");
  function set(id, value) { document.getElementById(id).value = value; }
  document.getElementById("f-clear").addEventListener("click", function () {
    state.text = state.level = state.host = state.incident = state.rule = state.technique = "";
    ["f-text", "f-level", "f-host", "f-incident", "f-rule"].forEach(function (id) { set(id, ""); });
    document.querySelectorAll(".tech.active").forEach(function (b) { b.classList.remove("active"); });
    apply();
  });
  document.getElementById("p-prev").addEventListener("click", function () { state.page--; render(); });
  document.getElementById("p-next").addEventListener("click", function () { state.page++; render(); });
  document.querySelectorAll("th.sortable").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      state.dir = state.sort === key ? -state.dir : 1;
      state.sort = key;
      document.querySelectorAll("th.sortable").forEach(function (o) { o.classList.remove("asc", "desc"); });
      th.classList.add(state.dir > 0 ? "asc" : "desc");
      apply();
    });
  });
  function jump() { document.getElementById("detections").scrollIntoView(); }
  document.querySelectorAll(".tech").forEach(function (b) {
    b.addEventListener("click", function () {
      var on = state.technique !== b.getAttribute("data-technique");
      document.querySelectorAll(".tech.active").forEach(function (o) { o.classList.remove("active"); });
      state.technique = on ? b.getAttribute("data-technique") : "";
      if (on) b.classList.add("active");
      apply(); jump();
    });
  });
  document.querySelectorAll(".show-host").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault(); state.host = a.getAttribute("data-host"); set("f-host", state.host); apply(); jump();
    });
  });
  document.querySelectorAll(".show-incident").forEach(function (b) {
    b.addEventListener("click", function () {
      state.incident = b.getAttribute("data-incident"); set("f-incident", state.incident); apply(); jump();
    });
  });
  apply();
})();
