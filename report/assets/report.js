(function () {
  "use strict";
  var payload = JSON.parse(document.getElementById("pair-data").textContent);
  var cols = payload.columns, rows = payload.rows, media = payload.media || {}, details = payload.details || {};
  var stems = payload.stems || {};
  var ix = {};
  cols.forEach(function (c, i) { ix[c.key] = i; });
  var ids = rows.map(function (r) { return r[ix.original_id] + "~" + r[ix.instrumental_id]; });
  var shown = cols.filter(function (c) { return c.show; });
  var ROLE_LABELS = {original: "Original", instrumental: "Instrumental (aligned)",
                     vocal: "Derived vocal (original \u2212 instrumental)"};
  var state = {status: "", reason: "", flag: "", text: "", mediaOnly: false, ranges: {}, sort: null, dir: 1, page: 0};
  var open = new Set();
  var view = [];
  var table = document.getElementById("pairs-table");
  var thead = table.tHead, tbody = table.tBodies[0];

  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function fmt(v, c) {
    if (v === null || v === undefined || v === "") { return c.type === "num" ? "\u2013" : ""; }
    return c.type === "num" ? Number(v).toFixed(c.digits) : String(v);
  }
  function reasonGroup(r) {
    var k = (r || "").indexOf(":"), g = k < 0 ? (r || "") : r.slice(0, k);
    return g === "duplicate-of" ? "duplicate" : g;
  }
  function safeUri(uri, prefix) { return (typeof uri === "string" && uri.indexOf(prefix) === 0) ? uri : ""; }
  function num(s) { if (s === "" || s === null) { return null; } var v = Number(s); return isFinite(v) ? v : null; }

  function matches(i) {
    var r = rows[i];
    if (state.status && r[ix.status] !== state.status) { return false; }
    if (state.reason) {
      var g = reasonGroup(r[ix.reason]);
      if (state.reason === "(accepted)" ? r[ix.status] !== "accepted" : g !== state.reason) { return false; }
    }
    if (state.flag && ix.flags !== undefined) {
      var f = r[ix.flags] || "";
      if (state.flag === "(any)") { if (!f) { return false; } }
      else if (state.flag === "(none)") { if (f) { return false; } }
      else if ((" " + f + " ").indexOf(" " + state.flag + " ") < 0) { return false; }
    }
    if (state.mediaOnly && !(media[ids[i]] && media[ids[i]].thumbs)) { return false; }
    if (state.text) {
      var hay = (ids[i] + "\n" + r[ix.artist] + "\n" + r[ix.original_title] + "\n" +
                 r[ix.instrumental_title]).toLowerCase();
      if (hay.indexOf(state.text) < 0) { return false; }
    }
    for (var key in state.ranges) {
      var lim = state.ranges[key], v = r[ix[key]];
      if (lim[0] !== null && !(v !== null && v >= lim[0])) { return false; }
      if (lim[1] !== null && !(v !== null && v <= lim[1])) { return false; }
    }
    return true;
  }

  function recompute() {
    view = [];
    for (var i = 0; i < rows.length; i++) { if (matches(i)) { view.push(i); } }
    if (state.sort !== null) {
      var k = ix[state.sort], dir = state.dir, numeric = cols[k].type === "num";
      view.sort(function (a, b) {
        var x = rows[a][k], y = rows[b][k];
        var xn = x === null || x === "", yn = y === null || y === "";
        if (xn || yn) { return xn === yn ? a - b : (xn ? 1 : -1); }
        var c = numeric ? x - y : String(x).localeCompare(String(y));
        return c !== 0 ? c * dir : a - b;
      });
    }
    var pages = Math.max(1, Math.ceil(view.length / payload.page_rows));
    state.page = Math.min(state.page, pages - 1);
    render();
  }

  function field(dl, label, value) {
    if (value === null || value === undefined || value === "") { return; }
    dl.appendChild(h("dt", null, label));
    dl.appendChild(h("dd", null, value));
  }

  function detailRow(i) {
    var r = rows[i], id = ids[i], d = details[id] || {}, m = media[id];
    var tr = h("tr", "detail"), td = h("td");
    td.colSpan = shown.length + 1;
    var grid = h("div", "detail-grid"), mediaBox = h("div", "media");
    var sides = [["Original", "original"], ["Instrumental", "instrumental"]];
    sides.forEach(function (s) {
      var box = h("div"), dl = h("dl");
      box.appendChild(h("h3", null, s[0]));
      field(dl, "Title", r[ix[s[1] + "_title"]]);
      field(dl, "Artist", r[ix.artist]);
      field(dl, "Track id", r[ix[s[1] + "_id"]]);
      if (ix[s[1] + "_duration_s"] !== undefined) {
        field(dl, "Catalog duration", fmt(r[ix[s[1] + "_duration_s"]], cols[ix[s[1] + "_duration_s"]]) + " s");
      }
      if (s[1] === "instrumental" && ix.marker !== undefined) { field(dl, "Marker", r[ix.marker]); }
      field(dl, "Audio file", d[s[1] + "_audio_path"]);
      box.appendChild(dl);
      grid.appendChild(box);
    });
    var box = h("div", "verdict"), dl = h("dl");
    box.appendChild(h("h3", null, "Verdict and measurements"));
    field(dl, "Pair id", id);
    cols.forEach(function (c) {
      if (c.key === "artist" || /_id$|_title$|_duration_s$|^marker$/.test(c.key)) { return; }
      field(dl, c.label, c.type === "num" ? fmt(r[ix[c.key]], c) : r[ix[c.key]]);
    });
    if (m && m.roles) { field(dl, "Media", m.roles.join(", ")); }
    if (stems[id]) {  // export-stems items of this pair (pair-report --stems): relative links to their folders
      var dd = h("dd", "stems");
      stems[id].forEach(function (it, k) {
        var a = h("a", null, it.split + "/" + it.item + " (" + it.seconds.toFixed(1) + " s)");
        if (!/^[a-z][a-z0-9+.-]*:/i.test(it.href) || /^(s3|gs|az|https?):/i.test(it.href)) { a.href = it.href; }
        if (k) { dd.appendChild(document.createTextNode(", ")); }
        dd.appendChild(a);
      });
      dl.appendChild(h("dt", null, "Exported items"));
      dl.appendChild(dd);
    }
    box.appendChild(dl);
    grid.appendChild(box);
    var inner = h("div", "detail-inner");
    td.appendChild(inner);
    inner.appendChild(grid);
    grid.appendChild(mediaBox);

    if (m && m.thumbs) {
      ["original", "instrumental", "vocal"].forEach(function (role) {
        var fig = h("figure", "media-fig"), wrap = h("div", "thumb"), img = h("img");
        img.alt = ROLE_LABELS[role] + " spectrogram";
        img.src = safeUri(m.thumbs[role], "data:image/jpeg;base64,");
        img.dataset.role = role;
        wrap.appendChild(img);
        if (m.seconds > 0) {
          var win = h("div", "clipwin");
          win.style.left = (100 * m.clip_start_s / m.seconds).toFixed(2) + "%";
          win.style.width = (100 * m.clip_seconds / m.seconds).toFixed(2) + "%";
          win.title = "clip window";
          wrap.appendChild(win);
        }
        fig.appendChild(wrap);
        fig.appendChild(h("figcaption", null, ROLE_LABELS[role] + " \u2014 0 to " + Number(m.seconds).toFixed(1) +
          " s, 0 to 4096 Hz; clip from " + Number(m.clip_start_s).toFixed(1) + " s"));
        var au = h("audio");
        au.controls = true;
        au.preload = "metadata";
        au.dataset.role = role;
        au.src = safeUri(m.clips[role], "data:audio/");
        fig.appendChild(au);
        mediaBox.appendChild(fig);
      });
      if (m.map) {
        var mfig = h("figure", "media-fig map-fig"), mimg = h("img");
        mimg.alt = "alignment map: segments, trusted spans, gain";
        mimg.src = safeUri(m.map, "data:image/svg+xml;base64,");
        mfig.appendChild(mimg);
        mfig.appendChild(h("figcaption", null, "Alignment map: offset per segment, trusted spans (shaded), " +
          "slowly varying gain"));
        mediaBox.appendChild(mfig);
      }
    } else if (m && m.error) {
      mediaBox.appendChild(h("p", "notice", "No clips: " + m.error));
    } else if (payload.mode !== "audio") {
      mediaBox.appendChild(h("p", "legend-note", "No clips: the audio stage has not run (metadata only)."));
    } else if (r[ix.offset_s] === null) {
      mediaBox.appendChild(h("p", "legend-note", "No clips: this pair was never aligned (rejected as " +
        (r[ix.reason] || "?") + " before the audio comparison)."));
    } else {
      mediaBox.appendChild(h("p", "legend-note",
        "No clips for this pair: only the sample and the flagged pairs carry spectrograms and audio " +
        "(see \u201cWhat this page leaves out\u201d)."));
    }
    tr.appendChild(td);
    return tr;
  }

  function render() {
    var start = state.page * payload.page_rows, stop = Math.min(view.length, start + payload.page_rows);
    var frag = document.createDocumentFragment();
    for (var p = start; p < stop; p++) {
      var r = rows[view[p]], id = ids[view[p]];
      var tr = h("tr", "pair");
      tr.dataset.pairId = id;
      var first = h("td"), btn = h("button", "toggle", open.has(id) ? "\u25BE" : "\u25B8");
      btn.type = "button";
      btn.setAttribute("aria-expanded", open.has(id) ? "true" : "false");
      btn.setAttribute("aria-label", "details of " + id);
      first.appendChild(btn);
      if (media[id] && media[id].thumbs) { first.appendChild(h("span", "has-media", "\u266A")); }
      tr.appendChild(first);
      shown.forEach(function (c) {
        var v = r[ix[c.key]], td;
        if (c.key === "status") {
          td = h("td"); td.appendChild(h("span", "st st-" + v, v));
        } else {
          td = h("td", c.type === "num" ? "num" : (c.key === "flags" ? "flags" : "txt"), fmt(v, c));
          if (c.type !== "num" && v) { td.title = String(v); }
        }
        td.dataset.col = c.key;
        tr.appendChild(td);
      });
      if (open.has(id)) { tr.classList.add("open"); }
      frag.appendChild(tr);
      if (open.has(id)) { frag.appendChild(detailRow(view[p])); }
    }
    tbody.replaceChildren(frag);
    var pages = Math.max(1, Math.ceil(view.length / payload.page_rows));
    document.getElementById("p-info").textContent = "page " + (state.page + 1) + " of " + pages +
      (view.length ? " \u00B7 pairs " + (start + 1) + "\u2013" + stop : "");
    document.getElementById("match-count").textContent = view.length.toLocaleString("en") + " of " +
      rows.length.toLocaleString("en") + " shown";
    table.dataset.matching = String(view.length);
    table.dataset.page = String(state.page);
    thead.querySelectorAll("th[data-col]").forEach(function (th) {
      var k = th.dataset.col;
      th.setAttribute("aria-sort", state.sort === k ? (state.dir > 0 ? "ascending" : "descending") : "none");
      var b = th.querySelector("button.sort");
      if (b) { b.textContent = th.dataset.label + (state.sort === k ? (state.dir > 0 ? " \u25B2" : " \u25BC") : ""); }
    });
  }

  function buildHead() {
    var tr = h("tr"), ftr = h("tr", "filters");
    tr.appendChild(h("th"));
    ftr.appendChild(h("th", null, "min/max"));
    shown.forEach(function (c) {
      var th = h("th", c.type === "num" ? "num" : null), b = h("button", "sort", c.label);
      b.type = "button";
      th.dataset.col = c.key;
      th.dataset.label = c.label;
      b.addEventListener("click", function () {
        if (state.sort === c.key) { state.dir = -state.dir; } else { state.sort = c.key; state.dir = 1; }
        recompute();
      });
      th.appendChild(b);
      tr.appendChild(th);
      var fth = h("th");
      if (c.type === "num") {
        ["min", "max"].forEach(function (which, j) {
          var inp = h("input");
          inp.type = "number"; inp.step = "any"; inp.placeholder = which;
          inp.id = "f-" + c.key + "-" + which;
          inp.setAttribute("aria-label", c.label + " " + which);
          var apply = function () {
            var lim = state.ranges[c.key] || [null, null];
            lim[j] = num(inp.value);
            if (lim[0] === null && lim[1] === null) { delete state.ranges[c.key]; } else { state.ranges[c.key] = lim; }
            state.page = 0; recompute();
          };
          inp.addEventListener("change", apply);
          fth.appendChild(inp);
        });
      }
      ftr.appendChild(fth);
    });
    thead.appendChild(tr);
    thead.appendChild(ftr);
  }

  function options(select, values) {
    values.forEach(function (v) { var o = h("option", null, v[1]); o.value = v[0]; select.appendChild(o); });
  }

  function buildControls() {
    var statuses = {}, reasons = {}, flags = {};
    rows.forEach(function (r) {
      statuses[r[ix.status]] = (statuses[r[ix.status]] || 0) + 1;
      var g = reasonGroup(r[ix.reason]);
      if (g) { reasons[g] = (reasons[g] || 0) + 1; }
      if (ix.flags !== undefined && r[ix.flags]) {
        r[ix.flags].split(" ").forEach(function (f) { flags[f] = (flags[f] || 0) + 1; });
      }
    });
    var byCount = function (o) {
      return Object.keys(o).sort(function (a, b) { return o[b] - o[a] || a.localeCompare(b); })
        .map(function (k) { return [k, k + " (" + o[k] + ")"]; });
    };
    var st = document.getElementById("f-status"), rs = document.getElementById("f-reason"),
        fl = document.getElementById("f-flag"), tx = document.getElementById("f-text"),
        mo = document.getElementById("f-media");
    options(st, [["", "all"]].concat(byCount(statuses)));
    options(rs, [["", "all"]].concat(payload.mode === "audio" ? [["(accepted)", "none (accepted)"]] : [])
      .concat(byCount(reasons)));
    options(fl, [["", "all"], ["(any)", "any flag"], ["(none)", "no flag"]].concat(byCount(flags)));
    st.addEventListener("change", function () { state.status = st.value; state.page = 0; recompute(); });
    rs.addEventListener("change", function () { state.reason = rs.value; state.page = 0; recompute(); });
    fl.addEventListener("change", function () { state.flag = fl.value; state.page = 0; recompute(); });
    mo.addEventListener("change", function () { state.mediaOnly = mo.checked; state.page = 0; recompute(); });
    var timer = null;
    var onText = function () { state.text = tx.value.trim().toLowerCase(); state.page = 0; recompute(); };
    tx.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(onText, 150); });
    tx.addEventListener("change", function () { clearTimeout(timer); onText(); });
    document.getElementById("f-reset").addEventListener("click", function () {
      state.status = state.reason = state.flag = state.text = ""; state.mediaOnly = false; state.ranges = {};
      st.value = rs.value = fl.value = tx.value = ""; mo.checked = false;
      thead.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      state.page = 0; recompute();
    });
    var last = function () { return Math.max(0, Math.ceil(view.length / payload.page_rows) - 1); };
    document.getElementById("p-first").addEventListener("click", function () { state.page = 0; render(); });
    document.getElementById("p-prev").addEventListener("click", function () {
      state.page = Math.max(0, state.page - 1); render(); });
    document.getElementById("p-next").addEventListener("click", function () {
      state.page = Math.min(last(), state.page + 1); render(); });
    document.getElementById("p-last").addEventListener("click", function () { state.page = last(); render(); });
    tbody.addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr.pair");
      if (!tr || ev.target.closest("a, audio, input")) { return; }
      var id = tr.dataset.pairId;
      if (open.has(id)) { open.delete(id); } else { open.add(id); }
      render();
    });
  }

  var t0 = performance.now();
  buildHead();
  buildControls();
  recompute();
  document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  document.body.dataset.ready = "1";
})();
