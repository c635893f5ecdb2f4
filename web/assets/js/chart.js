// A time-series chart on uPlot (vendored, loaded as the global `uPlot`): drag to zoom,
// shift-drag / one-finger drag to pan, wheel / pinch to zoom, a synced cursor whose
// legend shows the values at a moment, and markers drawn as flags.

const PALETTE = ['#1f77b4', '#e8590c', '#2f9e44', '#d6336c', '#7048e8', '#0c8599', '#f59f00', '#5c940d', '#c2255c', '#495057'];

export function color(i) { return PALETTE[i % PALETTE.length]; }

/** Puts series with their own timestamps on one x axis (nulls where one has no point). */
export function align(seriesList) {
  const xs = new Set();
  for (const s of seriesList) for (const [t] of s.points) xs.add(t);
  const x = [...xs].sort((a, b) => a - b);
  const at = new Map(x.map((t, i) => [t, i]));
  const ys = seriesList.map((s) => {
    const y = new Array(x.length).fill(null);
    for (const [t, v] of s.points) y[at.get(t)] = v;
    return y;
  });
  return [x, ...ys];
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * A chart in `el`.
 * @param {{series: {label: string, color: string, dash?: number[]}[], data: any[],
 *   range: [number, number], markers: {ts: number, text: string, path: string}[],
 *   onRange: (min: number, max: number) => void}} o
 */
export class Chart {
  constructor(el, o) {
    this.el = el;
    this.o = o;
    this.markers = o.markers || [];
    // The x range the page set itself. uPlot reports scale changes later (batched in
    // a microtask), so a change is the user's only when it differs from this.
    this.expect = o.range;
    const fg = cssVar('--fg');
    const line = cssVar('--line');
    const axis = { stroke: cssVar('--muted') || fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const opts = {
      width: this.width(),
      height: this.height(),
      cursor: { drag: { x: true, y: false, setScale: true }, sync: { key: 'treestat' }, points: { size: 6 } },
      scales: { x: { time: true } },
      legend: { live: true },
      axes: [{ ...axis }, { ...axis, size: 56, values: (u, vals) => vals.map((v) => shortNum(u, v)) }],
      series: [{ label: 'time' }, ...o.series.map((s) => ({
        label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: true,
        value: (u, v) => (v === null || v === undefined ? '–' : shortNum(u, v)),
      }))],
      hooks: {
        setScale: [(u, key) => {
          if (key !== 'x') return;
          const { min, max } = u.scales.x;
          const [a, b] = this.expect;
          if (Math.abs(min - a) < 1e-3 && Math.abs(max - b) < 1e-3) return;
          this.expect = [min, max];
          this.o.onRange(u.scales.x.min, u.scales.x.max);
        }],
        draw: [(u) => this.drawMarkers(u)],
      },
    };
    // uPlot sets its scales while it is built: that is not a user zoom.
    this.u = new uPlot(opts, o.data, el);
    this.setRange(o.range);
    this.bindPan();
    this.resize = () => {
      this.u.setSize({ width: this.width(), height: this.height() });
    };
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(el);
  }

  width() { return Math.max(200, this.el.clientWidth - 4); }
  height() { return window.innerWidth < 760 ? 200 : 260; }

  /** Sets the x range without reporting it as a user zoom. */
  setRange([min, max]) {
    this.expect = [min, max];
    this.u.setScale('x', { min, max });
  }

  setData(data, range, markers) {
    this.markers = markers || this.markers;
    this.u.setData(data, false);
    this.setRange(range);
  }

  destroy() { this.ro.disconnect(); this.u.destroy(); }

  /** Zooms the x range by `f` around the fraction `at` of the width. */
  zoom(f, at = 0.5) {
    const { min, max } = this.u.scales.x;
    const span = max - min;
    const c = min + span * at;
    const next = Math.max(span * f, 10);
    this.u.setScale('x', { min: c - next * at, max: c + next * (1 - at) });
  }

  /** Pans by a fraction of the visible span (negative: to the past). */
  pan(frac) {
    const { min, max } = this.u.scales.x;
    const d = (max - min) * frac;
    this.u.setScale('x', { min: min + d, max: max + d });
  }

  bindPan() {
    const over = this.u.over;
    const root = this.u.root;
    // Shift-drag (or the middle button) pans; uPlot's own drag (zoom) never sees it.
    root.addEventListener('mousedown', (e) => {
      if (!(e.shiftKey || e.button === 1) || !over.contains(e.target)) return;
      e.stopPropagation();
      e.preventDefault();
      const x0 = e.clientX;
      const { min, max } = this.u.scales.x;
      const per = (max - min) / over.clientWidth;
      const move = (m) => {
        const d = (x0 - m.clientX) * per;
        this.setRange([min + d, max + d]);
      };
      const up = () => {
        window.removeEventListener('mousemove', move);
        window.removeEventListener('mouseup', up);
        this.o.onRange(this.u.scales.x.min, this.u.scales.x.max);
      };
      window.addEventListener('mousemove', move);
      window.addEventListener('mouseup', up);
    }, true);
    over.addEventListener('wheel', (e) => {
      if (!e.ctrlKey && !e.altKey) return; // plain wheel scrolls the page
      e.preventDefault();
      const r = over.getBoundingClientRect();
      this.zoom(e.deltaY > 0 ? 1.25 : 0.8, (e.clientX - r.left) / r.width);
    }, { passive: false });
    // Touch: one finger pans, two fingers pinch-zoom.
    let t0 = null;
    over.addEventListener('touchstart', (e) => {
      const { min, max } = this.u.scales.x;
      const r = over.getBoundingClientRect();
      const xs = [...e.touches].map((t) => t.clientX - r.left);
      t0 = { xs, min, max, w: r.width };
    }, { passive: true });
    over.addEventListener('touchmove', (e) => {
      if (!t0) return;
      e.preventDefault();
      const r = over.getBoundingClientRect();
      const xs = [...e.touches].map((t) => t.clientX - r.left);
      const span = t0.max - t0.min;
      let min;
      let max;
      if (xs.length >= 2 && t0.xs.length >= 2) {
        const d0 = Math.abs(t0.xs[0] - t0.xs[1]) || 1;
        const d1 = Math.abs(xs[0] - xs[1]) || 1;
        const mid0 = (t0.xs[0] + t0.xs[1]) / 2;
        const tMid = t0.min + (mid0 / t0.w) * span;
        const next = Math.max(span * (d0 / d1), 10);
        const mid1 = (xs[0] + xs[1]) / 2;
        min = tMid - (mid1 / t0.w) * next;
        max = min + next;
      } else {
        const d = ((t0.xs[0] - xs[0]) / t0.w) * span;
        min = t0.min + d;
        max = t0.max + d;
      }
      this.setRange([min, max]);
    }, { passive: false });
    over.addEventListener('touchend', (e) => {
      if (!t0 || e.touches.length) return;
      t0 = null;
      this.o.onRange(this.u.scales.x.min, this.u.scales.x.max);
    });
  }

  drawMarkers(u) {
    if (!this.markers.length) return;
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const c = cssVar('--marker') || '#bf8700';
    ctx.save();
    ctx.strokeStyle = c;
    ctx.fillStyle = c;
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = devicePixelRatio;
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    for (const m of this.markers) {
      const x = Math.round(u.valToPos(m.ts, 'x', true));
      if (x < left || x > left + width) continue;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillText(`⚑ ${m.text}`.slice(0, 40), x + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
    }
    ctx.restore();
  }
}

function shortNum(u, v) {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(a < 1 ? 4 : 2)}`;
}
