// /trend/view/: the tree on the left, one chart per selected path on the right.
//
// State lives in the URL (`?p=<pattern>&p=...&range=3600` or `&from=&until=`,
// `&compare=prev|<pattern>`, `&stat=p50,p90,p99`, `&view=<name>`), so a chart can be
// linked and reloaded. With a stat (docs/API.md `?stat=`) each series is drawn as one
// line per stat, labelled `<path> <stat>`.

import * as api from './api.js';
import { $, h, dateTime, toast, setupTheme, onTheme, debounce } from './ui.js';
import { Tree, VirtualList } from './tree.js';
import { Chart, align, color } from './chart.js';

setupTheme();

const MAX_CHARTS = 12;
const now = () => Math.floor(Date.now() / 1000);

const state = {
  tree: new Tree(),
  filter: '',
  collapsed: new Set(),
  selected: [],
  span: 3600, // seconds, or null for a fixed (custom) range
  from: now() - 3600,
  until: now(),
  compare: '',
  stat: '',
  view: '',
  graph: {},
  charts: new Map(), // pattern -> {box, chart, labels}
};

// For the browser test and the console: the charts and their x ranges.
window.treestat = {
  charts: () => [...state.charts.entries()].map(([pattern, c]) => ({
    pattern,
    min: c.chart ? c.chart.u.scales.x.min : null,
    max: c.chart ? c.chart.u.scales.x.max : null,
    series: c.chart ? c.chart.u.series.slice(1).map((s) => s.label) : [],
    points: c.chart ? c.chart.u.data.slice(1).map((ys) => ys.filter((v) => v !== null).length) : [],
  })),
  range: () => ({ from: state.from, until: state.until }),
  stat: () => state.stat,
  loading: () => inflight,
};
let inflight = 0;

// ---- the tree ---------------------------------------------------------------------

const list = new VirtualList($('#tree'), makeRow, paintRow);

function makeRow(el) {
  el.className = 'row';
  const box = h('input', { type: 'checkbox', 'aria-label': 'select' });
  const name = h('span', { class: 'name' }, h('span', { class: 'tw' }), h('span', { class: 'k' }));
  el.append(box, name);
  box.addEventListener('change', () => el._node && toggle(el._node.path));
  name.firstChild.addEventListener('click', () => {
    const n = el._node;
    if (!n || n.leaf) return;
    if (state.collapsed.has(n.path)) state.collapsed.delete(n.path); else state.collapsed.add(n.path);
    relayout();
  });
  name.lastChild.addEventListener('click', () => el._node && toggle(el._node.path));
  el._parts = [box, name.firstChild, name.lastChild];
}

function paintRow(el, n) {
  const [box, tw, k] = el._parts;
  const on = state.selected.includes(n.path);
  box.checked = on;
  el.classList.toggle('selected', on);
  el.classList.toggle('branch', !n.leaf);
  el.dataset.path = n.path;
  tw.textContent = n.leaf ? '' : state.collapsed.has(n.path) ? '▸' : '▾';
  k.textContent = n.key;
  k.title = n.path;
  k.style.paddingLeft = `${n.depth * 12}px`;
}

function relayout() {
  list.setRows(state.tree.flatten(state.collapsed, state.filter));
  $('#treeCount').textContent = `${state.tree.leaves.size.toLocaleString()} leaves`;
}

async function loadTree() {
  try {
    const tree = new Tree();
    tree.addNested(await api.all());
    state.tree = tree;
    // Start with the first two levels open and deeper branches closed.
    state.collapsed = new Set();
    const closeDeep = (n) => { for (const c of n.kids()) if (!c.leaf) { if (c.depth >= 1) state.collapsed.add(c.path); closeDeep(c); } };
    closeDeep(tree.root);
    state.collapsed.add('_treestat'); // the server's own counters: folded until asked for
    for (const p of state.selected) openTo(p);
    relayout();
  } catch (e) {
    toast(`tree: ${e.message}`, true);
  }
}

function openTo(path) {
  const keys = path.split(',');
  for (let i = 1; i < keys.length; i++) state.collapsed.delete(keys.slice(0, i).join(','));
}

function toggle(path) {
  const i = state.selected.indexOf(path);
  if (i >= 0) state.selected.splice(i, 1);
  else if (state.selected.length >= MAX_CHARTS) { toast(`at most ${MAX_CHARTS} charts`, true); return; }
  else state.selected.push(path);
  for (const el of list.pool) el._ver = -1;
  list.schedule();
  saveURL();
  syncCharts();
}

// ---- time range -------------------------------------------------------------------

function setSpan(span) {
  state.span = span;
  state.until = now();
  state.from = state.until - span;
  paintRange();
}

function setFixed(from, until) {
  state.span = null;
  state.from = Math.floor(from);
  state.until = Math.ceil(until);
  $('#live').checked = false;
  paintRange();
}

const toLocal = (ts) => {
  const d = new Date(ts * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};

function paintRange() {
  for (const b of document.querySelectorAll('#ranges button')) {
    const r = b.dataset.range;
    b.setAttribute('aria-pressed', String(r === 'custom' ? state.span === null : Number(r) === state.span));
  }
  $('#rangeText').textContent = `${dateTime(state.from)} — ${dateTime(state.until)}`;
  $('#from').value = toLocal(state.from);
  $('#until').value = toLocal(state.until);
}

$('#ranges').addEventListener('click', (ev) => {
  const r = ev.target.closest('button')?.dataset.range;
  if (!r) return;
  if (r === 'custom') { $('#custom').classList.toggle('open'); return; }
  $('#custom').classList.remove('open');
  setSpan(Number(r));
  saveURL();
  refreshAll();
});

$('#custom').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = Date.parse($('#from').value) / 1000;
  const u = Date.parse($('#until').value) / 1000;
  if (!(f < u)) { toast('"from" must be before "until"', true); return; }
  setFixed(f, u);
  saveURL();
  refreshAll();
});

const refetchSoon = debounce(() => { saveURL(); refreshAll(); }, 350);

/** A user zoomed or panned a chart: every chart follows, then gets finer data. */
function onRange(min, max) {
  if (!(max > min)) return;
  setFixed(min, max);
  for (const c of state.charts.values()) c.chart?.setRange([state.from, state.until]);
  refetchSoon();
}

const firstChart = () => [...state.charts.values()].find((c) => c.chart)?.chart;
$('#zoomIn').addEventListener('click', () => firstChart()?.zoom(0.5));
$('#zoomOut').addEventListener('click', () => firstChart()?.zoom(2));
$('#panLeft').addEventListener('click', () => firstChart()?.pan(-0.25));
$('#panRight').addEventListener('click', () => firstChart()?.pan(0.25));

$('#compare').addEventListener('change', (ev) => {
  const v = ev.target.value;
  $('#comparePath').hidden = v !== 'path';
  state.compare = v === 'prev' ? 'prev' : v === 'path' ? $('#comparePath').value.trim() : '';
  if (v === 'path' && !state.compare) { $('#comparePath').focus(); return; }
  saveURL();
  refreshAll();
});
$('#comparePath').addEventListener('change', (ev) => {
  state.compare = ev.target.value.trim();
  saveURL();
  refreshAll();
});

$('#stat').addEventListener('change', (ev) => {
  state.stat = ev.target.value;
  saveURL();
  refreshAll();
});

/** Shows `stat` in the picker, adding it as an option when the URL named another. */
function paintStat() {
  const sel = $('#stat');
  if (state.stat && ![...sel.options].some((o) => o.value === state.stat)) {
    sel.append(h('option', { value: state.stat }, state.stat));
  }
  sel.value = state.stat;
}

/** A pattern's series between two times, one line per stat when a stat is picked. */
async function lines(pattern, from, until, points) {
  const series = await api.trend(pattern, from, until, points, state.stat);
  return state.stat ? api.statLines(series) : series;
}

setInterval(() => {
  if (state.span && $('#live').checked && document.visibilityState === 'visible') {
    setSpan(state.span);
    refreshAll();
  }
}, 15000);

// ---- charts -----------------------------------------------------------------------

function chartBox(pattern) {
  const links = h('span', { class: 'small' });
  const box = h('div', { class: 'panel chart', dataset: { pattern } },
    h('h3', {}, h('span', { class: 'title mono' }, pattern || '(everything)'), links,
      h('button', { type: 'button', class: 'icon small', title: 'Remove', 'aria-label': `Remove ${pattern}`, onclick: () => toggle(pattern) }, '×')),
    h('div', { class: 'plot' }));
  box._links = links;
  return box;
}

function paintLinks(box, pattern) {
  const w = Math.min(1600, Math.max(400, box.clientWidth));
  const g = { width: w, height: 300, theme: document.documentElement.dataset.theme || undefined, ...graphOpts() };
  box._links.replaceChildren(
    h('a', { href: api.graphURL(pattern, state.from, state.until, g), target: '_blank', title: 'This chart as a PNG' }, 'PNG'), ' · ',
    h('a', { href: api.exportURL(pattern, 'ndjson', state.from, state.until), download: '' }, 'NDJSON'), ' · ',
    h('a', { href: api.exportURL(pattern, 'csv', state.from, state.until), download: '' }, 'CSV'));
}

function graphOpts() {
  const out = {};
  for (const k of ['style', 'type', 'title', 'legend']) if (state.graph[k] !== undefined) out[k] = state.graph[k];
  if (state.stat) out.stat = state.stat;
  return out;
}

function syncCharts() {
  const host = $('#charts');
  for (const [p, c] of state.charts) {
    if (!state.selected.includes(p)) { c.chart?.destroy(); c.box.remove(); state.charts.delete(p); }
  }
  for (const p of state.selected) {
    if (state.charts.has(p)) continue;
    const box = chartBox(p);
    host.append(box);
    state.charts.set(p, { box, chart: null, labels: '' });
    loadChart(p);
  }
  if (!state.selected.length) {
    host.replaceChildren(h('div', { class: 'panel chart empty' }, 'Select paths in the tree to chart them.'));
  } else {
    host.querySelector('.empty')?.remove();
  }
}

function refreshAll() { for (const p of state.charts.keys()) loadChart(p); }

async function loadChart(pattern) {
  const c = state.charts.get(pattern);
  if (!c) return;
  const { from, until } = state;
  const points = Math.max(60, c.box.clientWidth || 600);
  const seq = (c.seq = (c.seq || 0) + 1);
  paintLinks(c.box, pattern);
  inflight++;
  try {
    const [series, marks, extra] = await Promise.all([
      lines(pattern, from, until, points),
      api.markers(pattern, from, until),
      compareSeries(pattern, from, until, points),
    ]);
    // Removed meanwhile, or a newer request (a zoom) is on its way: drop this answer.
    if (state.charts.get(pattern) !== c || c.seq !== seq) return;
    const all = [...series, ...extra];
    const plot = c.box.querySelector('.plot');
    c.box.classList.toggle('nodata', !all.some((s) => s.points.length));
    if (!all.length) {
      if (c.chart) {
        // Keep the axes (a zoom into a quiet stretch): same series, no points.
        c.chart.setData(c.chart.u.data.map(() => []), [from, until], marks);
      } else {
        plot.replaceChildren(h('div', { class: 'empty' }, 'No data in this range.'));
      }
      return;
    }
    const defs = all.map((s, i) => ({
      label: s.label || s.path,
      color: color(s.base ?? i),
      dash: s.dash,
    }));
    const data = align(all);
    const labels = defs.map((d) => d.label).join('\n');
    if (c.chart && c.labels === labels) {
      c.chart.setData(data, [from, until], marks);
    } else {
      c.chart?.destroy();
      plot.replaceChildren();
      c.chart = new Chart(plot, { series: defs, data, range: [from, until], markers: marks, onRange });
      c.labels = labels;
    }
  } catch (e) {
    if (c.seq === seq) c.box.querySelector('.plot').replaceChildren(h('div', { class: 'empty error' }, e.message));
  } finally {
    inflight--;
  }
}

/** The overlay series: the previous period (shifted onto this one) or another pattern. */
async function compareSeries(pattern, from, until, points) {
  if (!state.compare) return [];
  try {
    if (state.compare === 'prev') {
      const d = until - from;
      const prev = await lines(pattern, from - d, until - d, points);
      return prev.map((s, i) => ({
        ...s, base: i, dash: [5, 4], label: `${s.path} (previous)`,
        points: s.points.map(([t, v]) => [t + d, v]),
      }));
    }
    const other = await lines(state.compare, from, until, points);
    return other.map((s, i) => ({ ...s, base: i + 5, dash: [2, 3], label: `${s.path} (compare)` }));
  } catch (e) {
    toast(`compare: ${e.message}`, true);
    return [];
  }
}

onTheme(() => {
  for (const c of state.charts.values()) { c.chart?.destroy(); c.chart = null; c.labels = ''; }
  refreshAll();
});

// ---- import -----------------------------------------------------------------------

/** Paths and the time extent of an NDJSON (`["path", ts, value]`) or CSV export. */
export function scanExport(text, csv) {
  const paths = new Set();
  let lo = Infinity;
  let hi = -Infinity;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    let row = null;
    if (csv) row = csvRow(line);
    else {
      try { row = JSON.parse(line); } catch (_) { row = null; }
    }
    if (!Array.isArray(row) || row.length < 3) continue;
    const ts = Number(row[1]);
    if (!Number.isFinite(ts)) continue; // a header line
    paths.add(String(row[0]));
    lo = Math.min(lo, ts);
    hi = Math.max(hi, ts);
  }
  return { paths: [...paths], lo, hi };
}

/** The server's answer to an import, in words. */
function importSummary(name, res) {
  if (!res || typeof res !== 'object' || res.imported === undefined) return `imported ${name}`;
  let text = `imported ${Number(res.imported).toLocaleString()} points from ${name}`;
  if (res.skipped) text += `, ${Number(res.skipped).toLocaleString()} skipped`;
  if (res.errors && res.errors.length) text += `: ${res.errors.slice(0, 3).join('; ')}`;
  return text;
}

function csvRow(line) {
  const out = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (q) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') q = false; else cur += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

$('#import').addEventListener('change', async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  try {
    const text = await file.text();
    const scan = scanExport(text, /\.csv$/i.test(file.name));
    const res = await api.importFile(file);
    toast(importSummary(file.name, res), Boolean(res && res.errors && res.errors.length));
    await loadTree();
    if (scan.paths.length && Number.isFinite(scan.lo)) {
      const pad = Math.max(60, (scan.hi - scan.lo) * 0.05);
      setFixed(scan.lo - pad, scan.hi + pad);
      // Imported series live in the trend store, not in the live tree: list them too.
      for (const p of scan.paths.slice(0, 1000)) state.tree.node(p);
      for (const p of scan.paths.slice(0, 6)) if (!state.selected.includes(p)) { state.selected.push(p); openTo(p); }
      relayout();
      saveURL();
      syncCharts();
      refreshAll();
    }
  } catch (e) {
    toast(`import failed: ${e.message}`, true);
  } finally {
    ev.target.value = '';
  }
});

// ---- URL state and start ----------------------------------------------------------

function saveURL() {
  const q = new URLSearchParams();
  if (state.view) q.set('view', state.view);
  for (const p of state.selected) q.append('p', p);
  if (state.span) q.set('range', String(state.span));
  else { q.set('from', String(state.from)); q.set('until', String(state.until)); }
  if (state.compare) q.set('compare', state.compare);
  if (state.stat) q.set('stat', state.stat);
  history.replaceState(null, '', `/trend/view/?${q}`);
}

/** `-6h`, `-30min`, `-1d`, ... as seconds; null otherwise. */
function relative(text) {
  const m = /^-(\d+)(s|min|h|d|w|y)$/.exec(String(text || '').trim());
  if (!m) return null;
  const unit = { s: 1, min: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[m[2]];
  return Number(m[1]) * unit;
}

async function start() {
  const q = new URLSearchParams(location.search);
  state.view = q.get('view') || '';
  state.selected = q.getAll('p').slice(0, MAX_CHARTS);
  if (state.view) {
    try {
      const v = await api.views.get(state.view);
      state.graph = v.graph || {};
      if (!state.selected.length) state.selected = v.patterns.slice(0, MAX_CHARTS);
      document.title = `${state.view} · Trend · treestat`;
      const span = relative(state.graph.from);
      if (span && !q.has('range') && !q.has('from')) q.set('range', String(span));
    } catch (e) {
      toast(`view ${state.view}: ${e.message}`, true);
    }
  }
  const f = Number(q.get('from'));
  const u = Number(q.get('until'));
  if (q.has('from') && q.has('until') && f < u) setFixed(f, u);
  else setSpan(Number(q.get('range')) || 3600);
  state.stat = q.get('stat') || '';
  paintStat();
  state.compare = q.get('compare') || '';
  if (state.compare) {
    $('#compare').value = state.compare === 'prev' ? 'prev' : 'path';
    $('#comparePath').hidden = state.compare === 'prev';
    if (state.compare !== 'prev') $('#comparePath').value = state.compare;
  }
  saveURL();
  syncCharts();
  await loadTree();
}

$('#filter').addEventListener('input', debounce((ev) => {
  state.filter = ev.target.value;
  if (state.filter) state.collapsed.clear();
  relayout();
}, 150));
$('#reloadTree').addEventListener('click', loadTree);

start();
