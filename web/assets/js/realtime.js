// /realtime/<pattern> and /realtime/view/<name>: the live tree under one or more
// patterns. Seeded from /get (totals) and /trend (recent history), then updated by one
// Server-Sent Events message per closed interval. Updates only touch the model; one
// animation frame repaints the rows in view. `?stat=p99` (docs/API.md) shows that stat
// of each leaf instead of its value (`–` where a leaf has none: a quantile of a leaf
// that is not a histogram), from /get, /trend and /events with the same `stat`.

import * as api from './api.js';
import { $, h, num, time, toast, setupTheme, onTheme } from './ui.js';
import { Tree, VirtualList, sparkline } from './tree.js';

const HISTORY = 60; // intervals kept per leaf for the sparkline
const MAX_STREAMS = 4; // a browser holds ~6 HTTP/1.1 connections per host
const MAX_MARKERS = 200;

setupTheme();

const body = document.body;
const state = {
  patterns: [],
  stat: new URLSearchParams(location.search).get('stat') || '',
  tree: new Tree(),
  // The server's own counters are folded away until asked for (they are many, and
  // rarely what a visitor came for).
  collapsed: new Set(['_treestat']),
  filter: '',
  paused: false,
  sources: [],
  markers: [],
  lastStart: 0,
  stats: { firstRenderMs: null, renderMs: null, updates: [], leaves: 0, streams: 0 },
};
// Figures for the browser test and for curious users (`treestat` in the console).
window.treestat = state.stats;
state.stats.stat = state.stat;

let sparkColor = '#1f6feb';
function readColors() {
  sparkColor = getComputedStyle(document.documentElement).getPropertyValue('--spark').trim() || sparkColor;
}
readColors();

const list = new VirtualList($('#rows'), makeRow, paintRow);
onTheme(() => { readColors(); list.repaintAll(); });

function makeRow(el) {
  el.className = 'row';
  const name = h('span', { class: 'name' }, h('span', { class: 'tw' }), h('span', { class: 'k' }));
  el.append(name, h('span', { class: 'v cur' }), h('span', { class: 'v total' }), h('canvas'));
  name.firstChild.addEventListener('click', () => {
    const n = el._node;
    if (!n || n.leaf) return;
    if (state.collapsed.has(n.path)) state.collapsed.delete(n.path); else state.collapsed.add(n.path);
    relayout();
  });
  el._parts = el.querySelectorAll('.tw, .k, .cur, .total, canvas');
}

function paintRow(el, n) {
  const [tw, k, cur, total, canvas] = el._parts;
  el.classList.toggle('branch', !n.leaf);
  el.dataset.path = n.path;
  if (n.seenAt !== undefined) el.dataset.start = n.seenAt; else delete el.dataset.start;
  tw.textContent = n.leaf ? '' : state.collapsed.has(n.path) ? '▸' : '▾';
  k.textContent = n.key;
  k.style.paddingLeft = `${n.depth * 14}px`;
  k.title = n.marker ? `${n.path}\n⚑ ${n.marker}` : n.path;
  if (n.leaf) {
    cur.textContent = num(n.value);
    cur.classList.toggle('fresh', n.fresh);
    total.textContent = num(n.total);
    canvas.style.visibility = 'visible';
    sparkline(canvas, n.hist, sparkColor);
  } else {
    cur.textContent = '';
    total.textContent = '';
    cur.classList.remove('fresh');
    canvas.style.visibility = 'hidden';
  }
}

function relayout() {
  list.setRows(state.tree.flatten(state.collapsed, state.filter));
  $('#count').textContent = `${state.tree.leaves.size.toLocaleString()} leaves`;
  state.stats.leaves = state.tree.leaves.size;
}

function setStatus(kind, text) {
  $('#dot').className = `dot ${kind}`;
  $('#statusText').textContent = text;
}

/** Applies one `interval` message: `{start, len, values: {path: value}, markers}`. */
function apply(msg) {
  const t0 = performance.now();
  const tree = state.tree;
  const before = tree.leaves.size;
  const values = msg.values || {};
  if (msg.start > state.lastStart) {
    state.lastStart = msg.start;
    // A new interval: every known leaf gets one history slot (null when untouched).
    for (const n of tree.leaves.values()) {
      if (n.fresh || n.value !== null) { n.fresh = false; n.ver++; }
      n.value = null;
      n.hist.push(null);
      if (n.hist.length > HISTORY) n.hist.shift();
    }
  }
  for (const path in values) {
    const n = tree.node(path);
    const raw = values[path];
    // With `stat`, each value is `{"<stat>": value}`.
    const v = state.stat && raw !== null && typeof raw === 'object' ? raw[state.stat] ?? null : raw;
    n.value = v;
    n.fresh = true;
    if (n.seenAt === undefined) n.seenAt = msg.start;
    if (n.hist.length === 0) n.hist.push(null);
    n.hist[n.hist.length - 1] = v;
    n.ver++;
  }
  for (const m of msg.markers || []) addMarker(m);
  if (tree.changed || tree.leaves.size !== before) relayout(); else list.schedule();
  const applyMs = performance.now() - t0;
  // The paint happens in the next frame; record both parts of the update's cost.
  requestAnimationFrame(() => {
    state.stats.updates.push({ leaves: Object.keys(values).length, applyMs, paintMs: list.lastPaintMs });
    if (state.stats.updates.length > 100) state.stats.updates.shift();
  });
  setStatus('live', `live · ${time(msg.start + msg.len)}`);
  // New leaves have no total yet: fetch at once rather than at the next refresh.
  refreshTotals(tree.leaves.size !== before);
}

function addMarker(m) {
  state.markers.unshift(m);
  if (state.markers.length > MAX_MARKERS) state.markers.pop();
  const n = state.tree.leaves.get(m.path);
  if (n) { n.marker = m.text; n.ver++; }
  const ul = $('#markers');
  ul.prepend(h('li', {}, h('span', { class: 'ts mono' }, time(m.ts)), h('b', {}, '⚑ '), h('code', {}, m.path), ' ', m.text));
  while (ul.children.length > MAX_MARKERS) ul.lastChild.remove();
  $('#markerCount').textContent = `${state.markers.length} (newest first)`;
}

let totalsBusy = false;
let totalsAt = 0;
let totalsLater = 0;
async function refreshTotals(now = false) {
  const t = performance.now();
  if (totalsBusy || (!now && t - totalsAt < 2000)) {
    // Held back: refresh once the 2 s are up, so that the last push's totals show
    // even when no interval follows it.
    if (!totalsLater) {
      totalsLater = setTimeout(() => { totalsLater = 0; refreshTotals(); }, Math.max(100, 2000 - (t - totalsAt)));
    }
    return;
  }
  clearTimeout(totalsLater);
  totalsLater = 0;
  totalsBusy = true;
  totalsAt = t;
  try {
    for (const p of state.patterns) {
      const rows = await api.totals(p, state.stat);
      for (const [path, v] of rows) {
        const n = state.tree.node(path);
        if (n.total !== v) { n.total = v; n.ver++; }
      }
    }
    if (state.tree.changed) relayout(); else list.schedule();
  } catch (e) {
    setStatus('down', e.message);
  } finally {
    totalsBusy = false;
  }
}

async function seed() {
  const t0 = performance.now();
  for (const p of state.patterns) {
    const rows = await api.totals(p, state.stat);
    for (const [path, v] of rows) { const n = state.tree.node(path); n.total = v; }
  }
  relayout();
  await new Promise((r) => requestAnimationFrame(() => { list.render(); r(); }));
  state.stats.renderMs = performance.now() - t0;
  state.stats.firstRenderMs = performance.now();
  // Recent history for the sparklines; the trend API may not keep any yet.
  const now = Math.floor(Date.now() / 1000);
  for (const p of state.patterns) {
    try {
      // With a stat, points are `[ts, value]` of that one stat.
      const series = await api.trend(p, now - 10 * 60, now, HISTORY, state.stat);
      for (const s of series) {
        const n = state.tree.leaves.get(s.path);
        if (!n || n.hist.length) continue;
        n.hist = s.points.slice(-HISTORY).map(([, v]) => v);
        n.ver++;
      }
    } catch (_) { /* no trends: sparklines start empty */ }
  }
  list.schedule();
}

function connect() {
  for (const s of state.sources) s.close();
  state.sources = state.patterns.slice(0, MAX_STREAMS).map((p) => {
    const src = api.events(p, state.stat);
    src.addEventListener('open', () => {
      state.stats.streams = state.sources.filter((x) => x.readyState === EventSource.OPEN).length;
      setStatus('live', 'live');
    });
    src.addEventListener('interval', (ev) => {
      if (state.paused) { state.held = ev.data; return; }
      try { apply(JSON.parse(ev.data)); } catch (e) { setStatus('down', `bad message: ${e.message}`); }
    });
    src.addEventListener('lagged', () => setStatus('down', 'fell behind; some intervals skipped'));
    src.addEventListener('error', () => setStatus('down', 'reconnecting…'));
    return src;
  });
  if (state.patterns.length > MAX_STREAMS) {
    toast(`showing live updates for the first ${MAX_STREAMS} patterns only`);
  }
}

/** The picker and the column heads show the stat picked. */
function paintStat() {
  const sel = $('#stat');
  if (state.stat && ![...sel.options].some((o) => o.value === state.stat)) {
    sel.append(h('option', { value: state.stat }, state.stat));
  }
  sel.value = state.stat;
  $('#headCur').textContent = state.stat ? `interval ${state.stat}` : 'interval';
  $('#headTotal').textContent = state.stat ? `total ${state.stat}` : 'total';
  state.stats.stat = state.stat;
}

/** `?stat=` of this page's address, kept across pattern changes. */
const statQuery = () => (state.stat ? `?${new URLSearchParams({ stat: state.stat })}` : '');

$('#stat').addEventListener('change', (ev) => {
  state.stat = ev.target.value;
  history.replaceState(null, '', location.pathname + statQuery());
  paintStat();
  start(state.patterns);
});

async function start(patterns) {
  state.patterns = patterns;
  state.tree = new Tree();
  state.markers = [];
  $('#markers').textContent = '';
  setStatus('', 'loading…');
  try {
    await seed();
  } catch (e) {
    setStatus('down', e.message);
    toast(e.message, true);
  }
  connect();
}

$('#pause').addEventListener('click', (ev) => {
  state.paused = !state.paused;
  ev.currentTarget.setAttribute('aria-pressed', String(state.paused));
  ev.currentTarget.textContent = state.paused ? 'Resume' : 'Pause';
  if (state.paused) setStatus('', 'paused');
  else if (state.held) { apply(JSON.parse(state.held)); state.held = null; }
});

let filterTimer = 0;
$('#filter').addEventListener('input', (ev) => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => { state.filter = ev.target.value; relayout(); }, 120);
});
$('#expand').addEventListener('click', () => { state.collapsed.clear(); relayout(); });
$('#collapse').addEventListener('click', () => {
  for (const n of state.tree.root.kids()) if (!n.leaf) state.collapsed.add(n.path);
  relayout();
});

paintStat();
const view = body.dataset.view;
if (view) {
  const input = $('#pattern');
  input.readOnly = true;
  document.title = `${view} · Realtime · treestat`;
  api.views.get(view).then((v) => {
    input.value = v.patterns.join('   ');
    input.title = `view "${view}"`;
    const bar = $('#patternForm');
    bar.querySelector('button[type=submit]').replaceWith(h('a', { href: '/setting/view', class: 'small' }, `edit view "${view}"`));
    start(v.patterns);
  }).catch((e) => { setStatus('down', e.message); toast(e.message, true); });
} else {
  const initial = body.dataset.pattern || '';
  $('#pattern').value = initial;
  $('#patternForm').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = $('#pattern').value.trim();
    history.pushState(null, '', `/realtime/${api.enc(p)}${statQuery()}`);
    start([p]);
  });
  window.addEventListener('popstate', () => {
    const p = decodeURIComponent(location.pathname.replace(/^\/realtime\/?/, ''));
    $('#pattern').value = p;
    start([p]);
  });
  start([initial]);
}
