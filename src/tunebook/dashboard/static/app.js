/* tunebook dashboard: keeps the server-rendered pages live. Values are set with
   textContent (never innerHTML), except the study sections, which the server renders
   and escapes. RENDER_JS (tunebookDraw) is prepended by the server. */
(function () {
  "use strict";
  var main = document.querySelector("main");
  var page = main ? main.dataset.page : "";
  var EVERY = 2000;

  function fmt(v) {
    if (v === null || v === undefined || v === "") return "-";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
    return String(v);
  }
  function when(t) { return t ? new Date(t * 1000).toLocaleString() : "-"; }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }
  function cell(tr, value, href) {
    var td = document.createElement("td");
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = fmt(value);
      td.appendChild(a);
    } else {
      var box = document.createElement("div");  /* a long text scrolls in its cell */
      box.className = "cell";
      box.textContent = fmt(value);
      td.appendChild(box);
    }
    tr.appendChild(td);
    return td;
  }
  function q(name) { return encodeURIComponent(name); }

  function studies() {
    getJSON("/api/studies").then(function (rows) {
      var body = document.querySelector("#studies tbody");
      body.replaceChildren();
      rows.forEach(function (s) {
        var tr = document.createElement("tr");
        cell(tr, s.name, "/study?name=" + q(s.name));
        cell(tr, s.description);
        cell(tr, s.experiment);
        cell(tr, Object.keys(s.counts).filter(function (k) { return s.counts[k]; })
          .map(function (k) { return s.counts[k] + " " + k; }).join(", ") || "no trials");
        cell(tr, s.best);
        cell(tr, s.finished + "/" + s.budget);
        cell(tr, when(s.last_update));
        body.appendChild(tr);
      });
    }).catch(function () {});
  }

  var table = { sort: "index", desc: false, offset: 0, limit: 50, total: 0 };
  var chosen = [];

  function trials() {
    var name = main.dataset.name;
    var status = document.getElementById("status").value;
    var text = document.getElementById("filter").value;
    var url = "/api/study/trials?name=" + q(name) + "&sort=" + table.sort + "&desc=" +
      table.desc + "&status=" + q(status) + "&q=" + q(text) + "&offset=" + table.offset +
      "&limit=" + table.limit;
    return getJSON(url).then(function (data) {
      table.total = data.total;
      var head = document.querySelector("#trials-table thead");
      /* per-value trials are numbered within their sub-study: say which one */
      var heads = [["", null]].concat(data.split ? [["sub-study", "study"]] : [])
        .concat([["trial", "index"], ["status", "status"], [data.metric, "value"]])
        .concat(data.columns.map(function (c) { return [c, null]; }))
        .concat([["reason", null]]);
      var tr = document.createElement("tr");
      heads.forEach(function (h) {
        var th = document.createElement("th");
        /* ▲: the column's values grow down the table. Sorting by value puts the best
           first, so on a maximize study "best first" is ▼. */
        var up = !table.desc !== (h[1] === "value" && data.goal === "maximize");
        th.textContent = h[0] + (h[1] && h[1] === table.sort ? (up ? " ▲" : " ▼") : "");
        if (h[1]) {
          th.dataset.sort = h[1];
          th.addEventListener("click", function () {
            table.desc = table.sort === h[1] ? !table.desc : false;
            table.sort = h[1];
            table.offset = 0;
            trials();
          });
        }
        tr.appendChild(th);
      });
      head.replaceChildren(tr);
      var body = document.querySelector("#trials-table tbody");
      body.replaceChildren();
      data.rows.forEach(function (r) {
        var row = document.createElement("tr");
        var address = r.study + "/" + r.index;
        var box = document.createElement("input");
        box.type = "checkbox";
        box.checked = chosen.indexOf(address) >= 0;
        box.addEventListener("change", function () {
          chosen = chosen.filter(function (c) { return c !== address; });
          if (box.checked) chosen.push(address);
          chosen = chosen.slice(-5);
          compareLink();
        });
        var first = document.createElement("td");
        first.appendChild(box);
        row.appendChild(first);
        if (data.split) cell(row, r.sub_study);
        cell(row, r.index, "/trial?study=" + q(r.study) + "&index=" + r.index);
        cell(row, r.status).className = r.status;
        cell(row, r.value);
        data.columns.forEach(function (c) { cell(row, r.params[c]); });
        cell(row, r.reason);
        body.appendChild(row);
      });
      var last = Math.min(table.offset + table.limit, table.total);
      document.getElementById("page").textContent =
        (table.total ? table.offset + 1 : 0) + "–" + last + " of " + table.total;
    }).catch(function () {});
  }
  function compareLink() {
    document.getElementById("compare").href =
      "/compare?" + chosen.map(function (c) { return "t=" + q(c); }).join("&");
  }

  function study() {
    var sections = document.getElementById("sections");
    var name = main.dataset.name;
    getJSON("/api/study?name=" + q(name)).then(function (s) {
      if (s.version === sections.dataset.version) return;
      return getJSON("/api/study/sections?name=" + q(name)).then(function (fresh) {
        sections.innerHTML = fresh.html;  /* rendered and escaped by the server */
        sections.dataset.version = fresh.version;
        tunebookDraw(sections);
        return trials();
      });
    }).catch(function () {});
  }

  function trial() {
    if (["running", "queued"].indexOf(main.dataset.status) < 0) return;
    getJSON("/api/trial?study=" + q(main.dataset.study) + "&index=" + main.dataset.index)
      .then(function (t) { if (t.status !== main.dataset.status) location.reload(); })
      .catch(function () {});
  }

  tunebookDraw(document);
  if (page === "studies") setInterval(studies, EVERY);
  if (page === "study") {
    var timer = null;
    document.getElementById("status").addEventListener("change", function () {
      table.offset = 0; trials();
    });
    document.getElementById("filter").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { table.offset = 0; trials(); }, 250);
    });
    document.getElementById("prev").addEventListener("click", function () {
      table.offset = Math.max(0, table.offset - table.limit); trials();
    });
    document.getElementById("next").addEventListener("click", function () {
      if (table.offset + table.limit < table.total) { table.offset += table.limit; trials(); }
    });
    trials();
    setInterval(study, EVERY);
  }
  if (page === "trial") setInterval(trial, EVERY);
})();
