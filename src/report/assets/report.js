// treestat report: draws the report embedded in #report-data (docs/REPORT.md).
// No requests: everything, charts included (inline SVG), is made here.
"use strict";
(function () {
  const R = JSON.parse(document.getElementById("report-data").textContent);
  const $ = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  };
  const SVG = "http://www.w3.org/2000/svg";
  const s$ = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  };
  const num = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
  const bytes = (n) => {
    if (n == null) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0, v = Number(n);
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(v < 10 ? 2 : 1) : v) + " " + u[i];
  };
  const secs = (s) => {
    if (s == null) return "–";
    if (s < 0.001) return (s * 1e6).toFixed(0) + " µs";
    if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + " ms";
    return s.toFixed(s < 10 ? 3 : 1) + " s";
  };
  const span = (s) => {
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  };
  const pct = (n, total) => (total ? (100 * n / total).toFixed(2) + " %" : "–");

  // Theme: the system's, or the one picked here (kept in localStorage when allowed).
  const root = document.documentElement;
  try { const t = localStorage.getItem("treestat-report-theme"); if (t) root.dataset.theme = t; } catch (e) { /* file:// without storage */ }
  document.getElementById("theme").addEventListener("click", () => {
    const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    try { localStorage.setItem("treestat-report-theme", root.dataset.theme); } catch (e) { /* ignore */ }
  });

  const G = R.general;
  document.getElementById("subtitle").textContent =
    R.files.map((f) => f.path).join(", ") + " · " + (G.first ? G.first + " – " + G.last : "no times") + " · format " + R.format;
  document.getElementById("footer").textContent =
    `Made by ${R.generator} at ${R.generated_at} in ${num(G.generation_ms)} ms. ` +
    (R.accuracy.visitors_exact ? "Unique visitors are exact. " :
      `Unique visitors are a HyperLogLog estimate (standard error ${(100 * R.accuracy.visitors_std_error).toFixed(2)} %). `) +
    `Per-row visitors are exact up to ${R.accuracy.row_visitors_exact_up_to}, then estimated (standard error ${(100 * R.accuracy.row_visitors_std_error).toFixed(2)} %). ` +
    `Tables show at most ${num(R.accuracy.rows_per_table)} rows.`;

  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  main.textContent = "";

  function section(id, title, note, wide) {
    const s = $("section", { id: "panel-" + id, class: wide ? "wide" : "" }, $("h2", {}, title, note ? $("small", {}, note) : null));
    main.append(s);
    return s;
  }

  // General statistics.
  {
    const s = section("general", "General statistics", null, true);
    nav.append($("a", { href: "#panel-general" }, "General"));
    const items = [
      ["Total requests", num(G.requests)], ["Valid requests", num(G.valid)], ["Failed requests", num(G.failed)],
      ["Unique visitors", (R.accuracy.visitors_exact ? "" : "≈ ") + num(G.unique_visitors)],
      ["Unique URLs", num(G.unique_urls)], ["Referrers", num(G.unique_referrers)], ["404 not found", num(G.not_found)],
      ["Bandwidth", bytes(G.bandwidth)], ["Log size", bytes(G.log_size)],
      ["Time span", G.first ? span(G.span_seconds) : "–"], ["Generation time", num(G.generation_ms) + " ms"],
    ];
    s.append($("div", { class: "stats" }, ...items.map(([k, v]) => $("div", { class: "stat", "data-stat": k }, $("b", {}, v), $("span", {}, k)))));
  }

  // Charts: vertical bars (or lines) of one or two series over labels.
  function chart(labels, series, kind, wide) {
    const W = wide ? 1280 : 640, H = 200, L = 46, B = 22, T = 8;
    const svg = s$("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (const f of [0, 0.5, 1]) {
      svg.append(s$("line", { class: "grid", x1: L, x2: W, y1: y(max * f), y2: y(max * f) }));
      svg.append(s$("text", { x: L - 4, y: y(max * f) + 4, "text-anchor": "end" }, compact(max * f)));
    }
    const n = labels.length, step = (W - L) / Math.max(1, n);
    const every = Math.max(1, Math.ceil(n / 8));
    labels.forEach((lab, i) => {
      if (i % every === 0) svg.append(s$("text", { x: L + step * (i + 0.5), y: H - 6, "text-anchor": "middle" }, lab));
    });
    series.forEach((s, k) => {
      if (kind === "line") {
        const d = s.values.map((v, i) => (i ? "L" : "M") + (L + step * (i + 0.5)).toFixed(1) + " " + y(v).toFixed(1)).join(" ");
        svg.append(s$("path", { class: "s" + k, d }));
      } else {
        const bw = Math.max(1, step * 0.8 / series.length);
        s.values.forEach((v, i) => {
          const x = L + step * i + step * 0.1 + bw * k;
          const r = s$("rect", { class: "s" + k, x: x.toFixed(1), y: y(v).toFixed(1), width: bw.toFixed(1), height: Math.max(0, H - B - y(v)).toFixed(1) });
          r.append(s$("title", {}, `${labels[i]}: ${num(v)} ${s.name}`));
          svg.append(r);
        });
      }
    });
    const legend = $("div", { class: "legend" }, ...series.map((s, k) => $("span", {}, $("i", { class: "l" + k }), s.name)));
    return $("div", { class: "chart" }, svg, legend);
  }
  function compact(v) {
    if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return Math.round(v).toString();
  }
  // Horizontal bars of the top rows.
  function hbars(rows, total) {
    const top = rows.slice(0, 8), W = 640, rowH = 20, H = top.length * rowH + 4, L = 170;
    const svg = s$("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    const max = Math.max(1, ...top.map((r) => r.hits));
    top.forEach((r, i) => {
      const label = r.key.length > 26 ? r.key.slice(0, 25) + "…" : r.key;
      svg.append(s$("text", { x: L - 6, y: i * rowH + 15, "text-anchor": "end" }, label));
      const w = (W - L - 70) * r.hits / max;
      const rect = s$("rect", { class: "s0", x: L, y: i * rowH + 4, width: w.toFixed(1), height: rowH - 6, rx: 2 });
      rect.append(s$("title", {}, `${r.key}: ${num(r.hits)}`));
      svg.append(rect, s$("text", { x: L + w + 4, y: i * rowH + 15 }, pct(r.hits, total)));
    });
    return svg;
  }

  // A sortable, filterable table; rows may have children (shown when opened).
  function table(p, cols, total, byKey) {
    // Time series read in time order; the other tables most hits first.
    const state = byKey ? { key: "key", dir: 1, filter: "", all: false } : { key: "hits", dir: -1, filter: "", all: false };
    const box = $("div", {});
    const input = $("input", { type: "search", placeholder: "Filter", "aria-label": "Filter " + p.title });
    const count = $("span", {});
    const more = $("button", { type: "button" }, "Show all");
    const tbody = $("tbody", {});
    const heads = cols.map((c) => $("th", { class: c.k === "key" ? "key" : "", scope: "col", "data-col": c.k }, c.label));
    const thead = $("thead", {}, $("tr", {}, ...heads));
    const LIMIT = 25;
    function render() {
      const f = state.filter.toLowerCase();
      const match = (r) => !f || String(r.key).toLowerCase().includes(f) || (r.children || []).some((c) => String(c.key).toLowerCase().includes(f));
      const rows = p.rows.filter(match).slice();
      const k = state.key, d = state.dir;
      rows.sort((a, b) => {
        const x = a[k], y = b[k];
        if (typeof x === "string" || typeof y === "string") return d * String(x).localeCompare(String(y), undefined, { numeric: true });
        return d * ((x == null ? -1 : x) - (y == null ? -1 : y));
      });
      const shown = state.all ? rows : rows.slice(0, LIMIT);
      const max = Math.max(1, ...p.rows.map((r) => r.hits || 0));
      tbody.textContent = "";
      for (const r of shown) {
        const tr = $("tr", { class: r.children && r.children.length ? "parent" : "" });
        for (const c of cols) tr.append(cell(c, r, total, max));
        tbody.append(tr);
        if (r.children && r.children.length) {
          const kids = r.children.map((ch) => {
            const t = $("tr", { class: "child", hidden: "" });
            for (const c of cols) t.append(cell(c, ch, total, max));
            return t;
          });
          tr.firstChild.addEventListener("click", () => { tr.classList.toggle("open"); kids.forEach((t) => (t.hidden = !t.hidden)); });
          tbody.append(...kids);
        }
      }
      count.textContent = `${num(shown.length)} of ${num(rows.length)} rows`;
      more.hidden = state.all || rows.length <= LIMIT;
      heads.forEach((h) => h.setAttribute("aria-sort", h.dataset.col === k ? (d > 0 ? "ascending" : "descending") : "none"));
    }
    heads.forEach((h) => h.addEventListener("click", () => {
      const c = h.dataset.col;
      state.dir = state.key === c ? -state.dir : (c === "key" ? 1 : -1);
      state.key = c;
      render();
    }));
    input.addEventListener("input", () => { state.filter = input.value; render(); });
    more.addEventListener("click", () => { state.all = true; render(); });
    box.append($("div", { class: "tools" }, input, count, more), $("div", { class: "scroll" }, $("table", {}, thead, tbody)));
    render();
    return box;
  }
  function cell(c, r, total, max) {
    const v = r[c.k];
    if (c.k === "key") {
      const td = $("td", { class: "key" }, $("span", {}, v));
      if (!c.nobar && r.hits != null) td.prepend($("i", { style: `width:${(100 * r.hits / max).toFixed(1)}%` }));
      return td;
    }
    if (c.k === "share") return $("td", {}, pct(r.hits, total));
    return $("td", {}, c.f ? c.f(v) : num(v));
  }

  const panelTotal = (p) => p.rows.reduce((a, r) => a + (r.hits || 0), 0);
  const anyTime = (p) => p.rows.some((r) => r.time_mean != null);

  for (const p of R.panels) {
    const wide = p.kind === "series" && p.id !== "hour_of_day";
    const note = !p.available ? null : p.exact ? "exact" :
      `top ${num(R.accuracy.rows_per_table)}; hits may be short by up to ${num(p.max_error)} (column “± hits”)`;
    const s = section(p.id, p.title, note, wide);
    s.dataset.available = p.available;
    nav.append($("a", { href: "#panel-" + p.id, class: p.available ? "" : "off" }, p.title));
    if (!p.available) { s.append($("p", { class: "reason" }, "No data: " + p.reason + ".")); continue; }
    const total = p.id === "not_found" ? G.not_found : G.valid;
    if (p.kind === "series") {
      const labels = p.rows.map((r) => (p.id === "timeline" ? r.key.slice(5).replace("T", " ") + "h" : p.id === "visitors" ? r.key.slice(5) : r.key));
      const series = [{ name: "requests", values: p.rows.map((r) => r.hits) }, { name: "visitors", values: p.rows.map((r) => r.visitors) }];
      s.append(chart(labels, series, p.chart, wide));
      s.append(table(p, [{ k: "key", label: p.id === "hour_of_day" ? "Hour" : "Time", nobar: true }, { k: "hits", label: "Hits" }, { k: "visitors", label: "Visitors" }, { k: "bytes", label: "Bandwidth", f: bytes }], total, true));
    } else if (p.kind === "percentiles") {
      const b = p.buckets;
      s.append(chart(b.map((x) => secs(x[0])), [{ name: "requests", values: b.map((x) => x[1]) }], "bars"));
      s.append($("div", { class: "stats" }, ...p.rows.map((r) => $("div", { class: "stat" }, $("b", {}, secs(r.seconds)), $("span", {}, r.key)))));
      s.append($("p", { class: "reason" }, `${num(p.count)} requests with $${p.field}; quantiles within ${100 * p.relative_accuracy} % (DDSketch).`));
    } else {
      s.append(hbars(p.rows, total));
      const cols = [{ k: "key", label: p.id === "ips" ? "IP" : p.id === "status" ? "Status" : "Name" }, { k: "hits", label: "Hits" }, { k: "share", label: "%" }];
      if (p.kind === "table" || p.id === "status") cols.push({ k: "visitors", label: "Visitors" }, { k: "bytes", label: "Bandwidth", f: bytes });
      if (anyTime(p)) cols.push({ k: "time_mean", label: "Mean time", f: secs }, { k: "time_max", label: "Max time", f: secs });
      if (!p.exact) cols.push({ k: "error", label: "± hits" });
      s.append(table(p, cols, p.kind === "tree" ? panelTotal(p) : total));
      if (p.evicted && p.evicted.rows) s.append($("p", { class: "reason" }, `${num(p.evicted.rows)} rarer rows (${num(p.evicted.hits)} hits, ${bytes(p.evicted.bytes)}) were folded away to keep memory bounded.`));
    }
  }
  document.body.dataset.ready = "1";
})();
