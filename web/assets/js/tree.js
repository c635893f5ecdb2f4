// The tree model shared by the pages and a virtualised list that shows it.
//
// The list keeps only the rows in view (plus a margin) in the DOM and repaints a row
// only when its node changed (`ver`), so 5,000 leaves cost what a screenful costs.

export const ROW = 30;

export class Node {
  constructor(key, path, depth) {
    this.key = key;
    this.path = path;
    this.depth = depth;
    this.children = null; // Map key -> Node, null for a leaf
    this.sorted = null;
    this.value = null; // the last interval's value
    this.total = null; // the value since start
    this.hist = []; // recent interval values (null: not touched)
    this.fresh = false;
    this.marker = null;
    this.ver = 0;
  }

  get leaf() { return this.children === null; }

  kids() {
    if (!this.children) return [];
    if (!this.sorted) {
      this.sorted = [...this.children.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    return this.sorted;
  }
}

export class Tree {
  constructor() {
    this.root = new Node('', '', -1);
    this.root.children = new Map();
    this.leaves = new Map(); // path -> leaf Node
    this.changed = true; // structure changed since the last flatten
  }

  /** The node at `path` (comma-joined), created with its parents when missing. */
  node(path) {
    const hit = this.leaves.get(path);
    if (hit) return hit;
    const keys = path.split(',');
    let n = this.root;
    let p = '';
    for (let i = 0; i < keys.length; i++) {
      p = i === 0 ? keys[0] : `${p},${keys[i]}`;
      if (!n.children) {
        // A value stood where a subtree now grows: it becomes a branch.
        n.children = new Map();
        this.leaves.delete(n.path);
      }
      let c = n.children.get(keys[i]);
      if (!c) {
        c = new Node(keys[i], p, i);
        n.children.set(keys[i], c);
        n.sorted = null;
        this.changed = true;
        if (i === keys.length - 1) this.leaves.set(p, c);
      }
      n = c;
    }
    return n;
  }

  /** Adds every leaf of a nested JSON tree (as `/all` answers). */
  addNested(obj, prefix = '') {
    for (const [k, v] of Object.entries(obj || {})) {
      const p = prefix ? `${prefix},${k}` : k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) this.addNested(v, p);
      else {
        const n = this.node(p);
        if (typeof v === 'number') { n.total = v; n.ver++; }
      }
    }
  }

  /** The visible rows: depth-first, skipping collapsed subtrees and filtered-out nodes. */
  flatten(collapsed, filter) {
    const out = [];
    const f = (filter || '').trim().toLowerCase();
    gen++;
    const visit = (n) => {
      for (const c of n.kids()) {
        if (f && !matches(c, f)) continue;
        out.push(c);
        if (!c.leaf && !collapsed.has(c.path)) visit(c);
      }
    };
    visit(this.root);
    this.changed = false;
    return out;
  }
}

let gen = 0;

function matches(n, f) {
  if (n.path.toLowerCase().includes(f)) return true;
  if (n.leaf) return false;
  if (n._g === gen) return n._fm;
  n._g = gen;
  n._fm = n.kids().some((c) => matches(c, f));
  return n._fm;
}

/** A scrolling list that renders only the rows in view. */
export class VirtualList {
  /**
   * @param {HTMLElement} box the scrolling container
   * @param {(el: HTMLElement) => void} make builds an empty row element
   * @param {(el: HTMLElement, node: Node) => void} paint fills a row for a node
   */
  constructor(box, make, paint) {
    this.box = box;
    this.make = make;
    this.paint = paint;
    this.rows = [];
    this.pool = [];
    this.spacer = document.createElement('div');
    this.spacer.className = 'spacer';
    box.append(this.spacer);
    this.pending = false;
    this.lastPaintMs = 0;
    box.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(box);
  }

  setRows(rows) {
    this.rows = rows;
    this.spacer.style.height = `${rows.length * ROW}px`;
    for (const el of this.pool) el._node = null;
    this.schedule();
  }

  /** Repaints on the next frame (many calls in one frame paint once). */
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const t0 = performance.now();
    const top = this.box.scrollTop;
    const height = this.box.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - 8);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW) + 8);
    const need = Math.max(0, last - first);
    while (this.pool.length < need) {
      const el = document.createElement('div');
      this.make(el);
      el._node = null;
      el._ver = -1;
      this.spacer.append(el);
      this.pool.push(el);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const el = this.pool[i];
      if (i >= need) {
        if (el.style.display !== 'none') el.style.display = 'none';
        el._node = null;
        continue;
      }
      const idx = first + i;
      const node = this.rows[idx];
      if (el.style.display === 'none') el.style.display = '';
      if (el._idx !== idx) { el.style.transform = `translateY(${idx * ROW}px)`; el._idx = idx; }
      if (el._node !== node || el._ver !== node.ver) {
        el._node = node;
        el._ver = node.ver;
        this.paint(el, node);
      }
    }
    this.lastPaintMs = performance.now() - t0;
  }

  /** Forces every row in view to repaint (theme change). */
  repaintAll() {
    for (const el of this.pool) el._ver = -1;
    this.schedule();
  }
}

/** Draws a sparkline of `values` (null = gap) on a canvas, sized for the screen. */
export function sparkline(canvas, values, color) {
  const dpr = window.devicePixelRatio || 1;
  const w = 84;
  const hgt = 22;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = hgt * dpr; }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return;
  if (hi === lo) { hi += 1; lo -= 1; }
  const n = Math.max(values.length - 1, 1);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.4;
  ctx.beginPath();
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) { pen = false; return; }
    const x = (i / n) * (w - 2) + 1;
    const y = hgt - 2 - ((v - lo) / (hi - lo)) * (hgt - 4);
    if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    pen = true;
  });
  ctx.stroke();
  // A value with no neighbour draws no line: show it as a dot.
  ctx.fillStyle = color;
  values.forEach((v, i) => {
    if (v === null || (values[i - 1] ?? null) !== null || (values[i + 1] ?? null) !== null) return;
    const x = (i / n) * (w - 2) + 1;
    const y = hgt - 2 - ((v - lo) / (hi - lo)) * (hgt - 4);
    ctx.beginPath();
    ctx.arc(x, y, 1.8, 0, Math.PI * 2);
    ctx.fill();
  });
}
