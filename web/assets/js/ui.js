// Shared page helpers: theme toggle, toasts, number and time formatting.

const root = document.documentElement;

function applyTheme(t) {
  if (t === 'light' || t === 'dark') root.dataset.theme = t;
  else delete root.dataset.theme;
}

/** The theme in force: the toggle's choice, else the system's. */
export function theme() {
  if (root.dataset.theme) return root.dataset.theme;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

const themeListeners = [];
export function onTheme(fn) { themeListeners.push(fn); }

export function setupTheme() {
  try { applyTheme(localStorage.getItem('treestat.theme')); } catch (_) { /* storage off */ }
  const btn = document.getElementById('theme');
  if (btn) {
    btn.addEventListener('click', () => {
      const next = theme() === 'dark' ? 'light' : 'dark';
      applyTheme(next);
      try { localStorage.setItem('treestat.theme', next); } catch (_) { /* storage off */ }
      themeListeners.forEach((fn) => fn(next));
    });
  }
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    themeListeners.forEach((fn) => fn(theme()));
  });
}

let toastTimer = 0;
export function toast(text, isError = false) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.classList.toggle('error', isError);
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), isError ? 6000 : 2500);
}

const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const fmtSmall = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 });
export function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && a < 0.01) return fmtSmall.format(v);
  if (a >= 1e9) return `${fmt.format(v / 1e9)}G`;
  if (a >= 1e6) return `${fmt.format(v / 1e6)}M`;
  return fmt.format(v);
}

export function time(ts) {
  const d = new Date(ts * 1000);
  return d.toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(ts) {
  const d = new Date(ts * 1000);
  return d.toLocaleString(undefined, { hour12: false });
}

export function debounce(fn, ms) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

export const $ = (sel, el = document) => el.querySelector(sel);

/** Creates an element with properties and children (text or nodes). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
