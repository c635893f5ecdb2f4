// `/` and /dashboard/<name>: a dashboard (docs/DASHBOARDS.md) as a grid of live uPlot
// charts. Each panel is seeded with the recent past from /trend, then fed by one
// /events stream of every value; the panels that read stats (p50/p90/p99) ask
// /api/q for the interval just closed, so a page holds one of the browser's ~6
// connections per host.
// A panel shows only once one of its series has a value; a section without a shown
// panel is hidden. `/dashboard/` (no name) lists the dashboards.

import * as api from './api.js';
import { $, h, toast, setupTheme, onTheme } from './ui.js';
import { color } from './chart.js';

setupTheme();

const name = document.body.dataset.view || '';
const state = { dash: null, panels: [], sources: [], lastTs: 0, listed: [] };
// Figures for the browser test and for curious users (`treestat` in the console).
const stats = {
  firstChartMs: null,
  streams: 0,
  intervals: 0, // interval messages received

  panels: () => state.panels.map((p) => ({
    title: p.spec.title, shown: !p.box.hidden, series: p.keys.slice(), points: p.points,
  })),
};
window.treestat = stats;

// ---- patterns: the subset of CONCEPTS.md's grammar a panel selects with -----------

function compile(pattern) {
  const segs = pattern.split(',');
  while (segs.length && segs[segs.length - 1] === '') segs.pop();
  return segs.map((text) => {
    const m = text.split('|')[0];
    if (m === '**') return { any: true };
    if (m === '') return {};
    if (/[*?]/.test(m)) {
      const re = m.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
      return { re: new RegExp(`^${re}$`) };
    }
    return { lit: m };
  });
}

/** Whether the segments match the start of `keys` (all of them when `exact`). */
function matches(segs, keys, exact) {
  const go = (i, j) => {
    if (i === segs.length) return !exact || j === keys.length;
    const s = segs[i];
    if (s.any) {
      for (let k = j; k <= keys.length; k += 1) if (go(i + 1, k)) return true;
      return false;
    }
    if (j >= keys.length) return false;
    const key = keys[j];
    const ok = s.lit !== undefined ? s.lit === key : s.re ? s.re.test(key) : true;
    return ok && go(i + 1, j + 1);
  };
  return go(0, 0);
}

// ---- value formats -----------------------------------------------------------------

function fmt(v, style) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  const n = (x, d) => `${+x.toFixed(d)}`;
  if (style === 'bytes') {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    let x = a;
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i += 1; }
    return `${v < 0 ? '-' : ''}${n(x, x < 10 ? 2 : 1)} ${units[i]}`;
  }
  if (style === 'seconds') return a < 1 ? `${n(v * 1000, a < 0.01 ? 2 : 1)} ms` : `${n(v, 2)} s`;
  if (style === 'percent') return `${n(v, 1)}%`;
  if (a >= 1e9) return `${n(v / 1e9, 2)}G`;
  if (a >= 1e6) return `${n(v / 1e6, 2)}M`;
  if (a >= 1e4) return `${n(v / 1e3, 1)}k`;
  return n(v, a < 1 ? 3 : 2);
}

/** The last value that is not null. */
function lastOf(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null) return values[i];
  return null;
}

/** An x-axis tick: the local time of day. */
function clock(ts) {
  const d = new Date(ts * 1000);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}${d.getSeconds() ? `:${two(d.getSeconds())}` : ''}`;
}

function cssVar(v) { return getComputedStyle(document.documentElement).getPropertyValue(v).trim(); }

function fill(c) { return `${c}55`; }

// ---- one panel ---------------------------------------------------------------------

class Panel {
  constructor(spec, win) {
    this.spec = spec;
    this.win = win;
    this.segs = compile(spec.pattern);
    this.stats = spec.stat ? spec.stat.split(',').map((s) => s.trim()).filter(Boolean) : null;
    this.series = new Map(); // series key -> Map(ts -> value)
    this.keys = [];
    this.points = 0;
    this.u = null;
    this.dirty = false;
    const href = `/trend/view/?p=${encodeURIComponent(spec.pattern)}&range=3600`;
    this.plot = h('div', { class: 'plot' });
    this.box = h('article', { class: `panel dash-panel size-${spec.size || 'm'}`, hidden: true, dataset: { pattern: spec.pattern } },
      h('h3', {}, h('a', { href, title: `${spec.pattern}: open in the trend view` }, spec.title),
        spec.unit || spec.style === 'percent' ? h('span', { class: 'unit' }, spec.style === 'percent' ? '%' : spec.unit) : null),
      this.plot);
  }

  take(keys) {
    if (!matches(this.segs, keys, this.spec.exact)) return false;
    return !this.spec.keys || !this.spec.keys.length || this.spec.keys.includes(keys[keys.length - 1]);
  }

  /** Adds one interval's rows (`[[path, value]]`) starting at `ts`, `len` seconds long. */
  add(ts, len, rows) {
    const acc = new Map();
    for (const [path, v] of rows) {
      const keys = path.split(',');
      if (!this.take(keys)) continue;
      if (this.stats) {
        if (!v || typeof v !== 'object') continue;
        for (const s of this.stats) if (typeof v[s] === 'number') acc.set(`${path},${s}`, v[s]);
        continue;
      }
      if (typeof v !== 'number') continue;
      const k = this.spec.fold ? keys.slice(0, this.spec.fold).join(',') : path;
      acc.set(k, (acc.get(k) || 0) + (this.spec.rate && len > 0 ? v / len : v));
    }
    for (const [k, v] of acc) {
      let m = this.series.get(k);
      if (!m) { m = new Map(); this.series.set(k, m); }
      m.set(ts, v);
    }
    if (acc.size) this.dirty = true;
  }

  /** Adds a /trend answer (with or without `stats`). */
  addTrend(rows) {
    const byTs = new Map();
    for (const s of rows) {
      for (const p of s.points) {
        const ts = p[0];
        let v;
        if (s.stats) {
          v = {};
          s.stats.forEach((name, i) => { if (typeof p[i + 1] === 'number') v[name] = p[i + 1]; });
        } else {
          v = p[1];
        }
        if (!byTs.has(ts)) byTs.set(ts, { len: s.step, rows: [] });
        byTs.get(ts).rows.push([s.path, v]);
      }
    }
    for (const [ts, { len, rows: r }] of byTs) this.add(ts, len, r);
  }

  /** The series to draw: in `keys` order (else by name), the `top` largest when set. */
  order(from) {
    let ks = [...this.series.keys()];
    const sum = (k) => { let t = 0; for (const [ts, v] of this.series.get(k)) if (ts >= from) t += v; return t; };
    const last = (k) => k.split(',').pop();
    if (this.spec.keys && this.spec.keys.length) {
      ks.sort((a, b) => this.spec.keys.indexOf(last(a)) - this.spec.keys.indexOf(last(b)) || a.localeCompare(b));
    } else if (this.stats) {
      ks.sort((a, b) => this.stats.indexOf(last(a)) - this.stats.indexOf(last(b)) || a.localeCompare(b));
    } else {
      ks.sort();
    }
    if (this.spec.top) {
      const sums = new Map(ks.map((k) => [k, sum(k)]));
      ks = ks.filter((k) => sums.get(k) > 0).sort((a, b) => sums.get(b) - sums.get(a)).slice(0, this.spec.top);
    }
    return ks;
  }

  /** Labels: each key without the segments every series shares. */
  labels(ks) {
    const parts = ks.map((k) => k.split(','));
    const n = Math.max(...parts.map((p) => p.length));
    const same = [];
    for (let i = 0; i < n; i += 1) same.push(parts.length > 1 && parts.every((p) => p[i] === parts[0][i]));
    return parts.map((p) => {
      const kept = p.filter((_, i) => !same[i]);
      return (parts.length === 1 ? p.slice(-1) : kept).join(',') || p.join(',');
    });
  }

  draw(now, force) {
    // A chart spans the window, or less while less of the past exists (a fresh start),
    // so the first minutes are not a sliver at the right edge.
    let first = Infinity;
    for (const m of this.series.values()) for (const ts of m.keys()) if (ts < first) first = ts;
    this.now = now;
    this.from = Math.max(now - this.win, Math.min(first, now - 30));
    if (!this.dirty && !force && this.u) { this.u.setData(this.u.data); return; }
    this.dirty = false;
    const from = now - this.win;
    for (const [k, m] of this.series) {
      for (const ts of m.keys()) if (ts < from - this.win) m.delete(ts);
      if (!m.size) this.series.delete(k); // a URL gone from the log is forgotten
    }
    const ks = this.order(from);
    const xs = [...new Set(ks.flatMap((k) => [...this.series.get(k).keys()]))].filter((t) => t >= from).sort((a, b) => a - b);
    this.points = xs.length;
    if (!ks.length || !xs.length) { this.box.hidden = true; return; }
    // Shown (with its section) before a chart is built: a hidden box has no width.
    this.box.hidden = false;
    this.box.closest('.dash-section').hidden = false;
    const raw = ks.map((k) => xs.map((t) => { const v = this.series.get(k).get(t); return v === undefined ? null : v; }));
    let ys = raw;
    const stacked = this.spec.chart === 'stacked';
    if (stacked) {
      const run = new Array(xs.length).fill(0);
      ys = raw.map((r) => r.map((v, i) => { run[i] += v || 0; return run[i]; }));
    }
    const data = [xs, ...ys];
    const same = this.u && this.keys.length === ks.length && this.keys.every((k, i) => k === ks[i]) && !force;
    this.keys = ks;
    this.raw = raw;
    if (same) {
      this.u.setData(data);
      return;
    }
    if (this.u) this.u.destroy();
    this.u = new uPlot(this.options(ks), data, this.plot);
    if (!this.ro) {
      this.ro = new ResizeObserver(() => this.resize());
      this.ro.observe(this.box);
    }
    if (stats.firstChartMs === null) {
      performance.mark('treestat:first-chart');
      stats.firstChartMs = performance.now();
    }
  }

  width() { return Math.max(200, this.box.clientWidth - 16); }

  height() {
    const phone = window.innerWidth < 700;
    return this.spec.size === 's' ? (phone ? 140 : 150) : (phone ? 170 : 200);
  }

  options(ks) {
    const style = this.spec.style;
    const line = cssVar('--line');
    const axis = { stroke: cssVar('--muted'), grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 }, font: '11px system-ui, sans-serif' };
    const labels = this.labels(ks);
    const chart = this.spec.chart || 'line';
    const raw = () => this.raw;
    const series = [{ label: 'time' }, ...ks.map((k, i) => {
      const c = color(i);
      const s = {
        label: labels[i], stroke: c, width: 1.5, spanGaps: false,
        // At the cursor: the value there; otherwise the latest value.
        value: (u, v, si, di) => fmt(di === null || di === undefined ? lastOf(raw()[si - 1]) : raw()[si - 1][di], style),
      };
      if (chart === 'area' || chart === 'stacked') s.fill = fill(c);
      if (chart === 'bar') { s.paths = uPlot.paths.bars({ size: [0.8, 40] }); s.fill = fill(c); }
      return s;
    })];
    const bands = chart === 'stacked' ? ks.slice(1).map((_, i) => ({ series: [i + 2, i + 1] })) : [];
    return {
      width: this.width(),
      height: this.height(),
      cursor: { sync: { key: 'treestat-dash' }, drag: { x: false, y: false }, points: { size: 5 } },
      legend: { live: true },
      bands,
      scales: {
        x: { time: true, range: () => [this.from, this.now] },
        y: style === 'percent' && chart === 'stacked' ? { range: [0, 100] } : { range: (u, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1] },
      },
      axes: [{ ...axis, values: (u, ts) => ts.map(clock) }, { ...axis, size: style === 'bytes' ? 76 : 60, values: (u, vals) => vals.map((v) => fmt(v, style)) }],
      series,
    };
  }

  resize() { if (this.u) this.u.setSize({ width: this.width(), height: this.height() }); }
}

// ---- the page ------------------------------------------------------------------------

function status(cls, text) {
  $('#dot').className = `dot ${cls}`;
  $('#statusText').textContent = text;
}

function redraw(force = false) {
  const now = state.lastTs || Math.floor(Date.now() / 1000);
  for (const p of state.panels) p.draw(now, force);
  for (const sec of document.querySelectorAll('.dash-section')) {
    sec.hidden = ![...sec.querySelectorAll('.dash-panel')].some((b) => !b.hidden);
  }
  $('#waiting').hidden = state.panels.some((p) => !p.box.hidden);
}

function build(dash) {
  state.dash = dash;
  document.title = `${dash.title} · treestat`;
  $('#dashTitle').textContent = dash.title;
  const win = dash.window || 300;
  state.panels = [];
  const sections = dash.sections.map((s) => {
    const panels = s.panels.map((spec) => new Panel(spec, win));
    state.panels.push(...panels);
    return h('section', { class: 'dash-section', hidden: true }, h('h2', {}, s.title),
      h('div', { class: 'dash-grid' }, panels.map((p) => p.box)));
  });
  $('#sections').replaceChildren(...sections);
}

async function seed() {
  const until = Math.floor(Date.now() / 1000) + 1;
  const from = until - (state.dash.window || 300) - 1;
  await Promise.all(state.panels.map(async (p) => {
    const q = new URLSearchParams({ from: String(from), until: String(until) });
    if (p.stats) q.set('stat', p.stats.join(','));
    try {
      const rows = await api.getJSON(`/trend/${api.enc(p.spec.pattern)}.json?${q}`);
      p.addTrend(rows);
      for (const s of rows) for (const pt of s.points) state.lastTs = Math.max(state.lastTs, pt[0]);
      redraw(); // each panel as soon as its past is here, not after the slowest
    } catch (_) { /* no trend store, or nothing yet: the stream fills the panel */ }
  }));
}

/** `{"a": {"b": {"p50": 1, "p99": 2}}}` as `[["a,b", {"p50": 1, "p99": 2}]]`. */
function flatten(tree, names) {
  const out = [];
  const walk = (node, path) => {
    if (node === null || typeof node !== 'object') return;
    const ks = Object.keys(node);
    if (ks.length && ks.every((k) => names.includes(k))) { out.push([path.join(','), node]); return; }
    for (const k of ks) walk(node[k], [...path, k]);
  };
  walk(tree, []);
  return out;
}

/** The stats panels' values for the interval just closed: one short request each. */
async function fetchStats(msg) {
  await Promise.all(state.panels.filter((p) => p.stats).map(async (p) => {
    const q = new URLSearchParams({ window: `${msg.len}s`, stat: p.stats.join(',') });
    try {
      const tree = await api.getJSON(`/api/q/${api.enc(p.spec.pattern)}.json?${q}`);
      p.add(msg.start, msg.len, flatten(tree, p.stats));
    } catch (_) { /* counted as no data; the next interval tries again */ }
  }));
}

async function onInterval(ev) {
  const msg = JSON.parse(ev.data);
  const rows = Object.entries(msg.values || {});
  state.lastTs = Math.max(state.lastTs, msg.start);
  for (const p of state.panels) if (!p.stats) p.add(msg.start, msg.len, rows);
  stats.intervals += 1;
  status('live', `live · ${new Date(msg.start * 1000).toLocaleTimeString(undefined, { hour12: false })}`);
  redraw();
  await fetchStats(msg);
  redraw();
}

/**
 * One stream of every value, whatever the panels: a browser holds ~6 connections
 * per host across its tabs, and a page holding one per panel would starve the
 * others (and its own saves). The stats panels ask `/api/q` once per interval.
 */
function connect() {
  for (const s of state.sources) s.close();
  // `internal=1`: the self-metrics panels read `_treestat` from the same stream.
  const src = new EventSource('/events/?internal=1');
  src.addEventListener('open', () => { stats.streams += 1; status('live', 'live'); });
  src.addEventListener('interval', onInterval);
  src.addEventListener('error', () => status('down', 'reconnecting…'));
  state.sources = [src];
}

// ---- editing: copy, change and save a dashboard as JSON ------------------------------

function openEditor() {
  const { name: n, ...doc } = state.dash;
  $('#json').value = JSON.stringify(doc, null, 2);
  $('#saveName').value = n;
  const row = state.listed.find((d) => d.name === n);
  $('#revert').hidden = !(row && row.saved);
  $('#revert').textContent = row && row.built_in ? 'Restore the default' : 'Delete';
  $('#editError').textContent = '';
  $('#editor').hidden = false;
  $('#json').focus();
}

$('#edit').addEventListener('click', () => {
  if ($('#editor').hidden) openEditor(); else $('#editor').hidden = true;
});
$('#cancel').addEventListener('click', () => { $('#editor').hidden = true; });
$('#editForm').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const n = $('#saveName').value.trim();
  let doc;
  try { doc = JSON.parse($('#json').value); } catch (e) { $('#editError').textContent = `not JSON: ${e.message}`; return; }
  try {
    const saved = await api.getJSON(`/api/dashboards/${encodeURIComponent(n)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(doc),
    });
    toast(`saved "${saved.name}"`);
    location.assign(`/dashboard/${encodeURIComponent(saved.name)}`);
  } catch (e) {
    $('#editError').textContent = e.message;
  }
});
$('#revert').addEventListener('click', async () => {
  const n = state.dash.name;
  if (!confirm(`Delete the saved copy of "${n}"?`)) return;
  try {
    await api.getJSON(`/api/dashboards/${encodeURIComponent(n)}`, { method: 'DELETE' });
    location.reload();
  } catch (e) {
    $('#editError').textContent = e.message;
  }
});

function dashURL(n) { return n === 'overview' ? '/' : `/dashboard/${encodeURIComponent(n)}`; }

function fillPicker() {
  const pick = $('#dashPick');
  pick.replaceChildren(...state.listed.map((d) => h('option', { value: d.name, selected: d.name === name }, d.title === d.name ? d.name : `${d.title} (${d.name})`)),
    h('option', { value: '' , selected: !name }, 'All dashboards…'));
  pick.addEventListener('change', () => { location.assign(pick.value ? dashURL(pick.value) : '/dashboard/'); });
}

function showList() {
  $('#dashTitle').textContent = 'Dashboards';
  $('#edit').hidden = true;
  $('#waiting').hidden = true;
  status('', `${state.listed.length} dashboards`);
  const list = $('#dashList');
  list.hidden = false;
  list.replaceChildren(...state.listed.map((d) => h('li', { dataset: { name: d.name } },
    h('a', { href: dashURL(d.name) }, d.title), h('span', { class: 'muted small mono' }, d.name),
    h('span', { class: 'muted small' }, d.saved ? (d.built_in ? 'saved copy of a default' : 'saved') : 'default'))));
}

async function start() {
  try {
    state.listed = await api.getJSON('/api/dashboards');
  } catch (e) {
    toast(e.message, true);
  }
  fillPicker();
  if (!name) { showList(); return; }
  try {
    build(await api.getJSON(`/api/dashboards/${encodeURIComponent(name)}`));
  } catch (e) {
    status('down', e.message);
    toast(e.message, true);
    return;
  }
  connect();
  await seed();
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => state.panels.forEach((p) => p.resize()), 100);
});
onTheme(() => redraw(true));

start();
