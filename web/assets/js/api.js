// The JSON API the pages use (docs/API.md); nothing else is fetched.

/** A pattern as a URL path part: percent-encoded, commas kept readable. */
export function enc(pattern) {
  return encodeURIComponent(pattern).replace(/%2C/gi, ',').replace(/%2A/gi, '*');
}

// The bearer token (`auth.token`), when the server has one. Kept in localStorage;
// `#token=...` in a page's address stores it (the fragment never reaches the server
// or its logs). Reads also get it as the `treestat_token` cookie, because an
// EventSource or an <img> graph cannot carry a header; writes send the header only.
const TOKEN_KEY = 'treestat.token';
const TOKEN_COOKIE = 'treestat_token';

function storedToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return ''; }
}

function setCookie(token) {
  const v = token ? encodeURIComponent(token) : '';
  const age = token ? '' : '; max-age=0';
  document.cookie = `${TOKEN_COOKIE}=${v}; path=/; SameSite=Strict${age}`;
}

/** Stores (or with '' forgets) the token for this browser. */
export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch (_) { /* storage off: the cookie still lasts the session */ }
  setCookie(token);
}

(function takeToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    const rest = location.hash.replace(/(?:^#|&)token=[^&]*/, '').replace(/^&/, '');
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  } else {
    setCookie(storedToken());
  }
}());

function withToken(headers = {}) {
  const t = storedToken();
  return t ? { ...headers, authorization: `Bearer ${t}` } : headers;
}

let asking = false;
/** Asks for the token once per page after a 401; a new token reloads the page. */
function askToken(message) {
  if (asking || typeof HTMLDialogElement === 'undefined') return;
  asking = true;
  const dlg = document.createElement('dialog');
  dlg.id = 'token-dialog';
  dlg.innerHTML = '<form method="dialog"><p></p>'
    + '<label>Token <input name="token" type="password" autocomplete="current-password" required></label>'
    + '<menu><button value="cancel" formnovalidate>Cancel</button><button class="primary" value="ok">Use token</button></menu></form>';
  dlg.querySelector('p').textContent = storedToken()
    ? 'The server refused the stored token. Enter its access token (auth.token).'
    : 'This server needs its access token (auth.token) to show its data.';
  dlg.title = message;
  dlg.addEventListener('close', () => {
    const token = dlg.querySelector('input').value.trim();
    if (dlg.returnValue === 'ok' && token) {
      setToken(token);
      location.reload();
    } else {
      asking = false;
      dlg.remove();
    }
  });
  document.body.append(dlg);
  dlg.showModal();
}

async function answer(res) {
  if (res.ok) {
    if (res.status === 204) return null;
    const type = res.headers.get('content-type') || '';
    return type.includes('json') ? res.json() : res.text();
  }
  let msg = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) msg = body.error;
  } catch (_) { /* not JSON: keep the status line */ }
  if (res.status === 401) askToken(msg);
  const err = new Error(msg);
  err.status = res.status;
  throw err;
}

export async function getJSON(url, opts = {}) {
  const headers = withToken(opts.headers || { accept: 'application/json' });
  return answer(await fetch(url, { ...opts, headers }));
}

/**
 * `[[path, value], ...]`: current totals under a pattern; with `stat` (one stat name,
 * docs/API.md `?stat=`) each value is that stat of the leaf.
 */
// The pages browse the whole tree, the server's own `_treestat` subtree folded in it:
// `internal=1` keeps it in root-level wildcard answers (docs/API.md).
export function totals(pattern, stat) {
  const q = `?${new URLSearchParams(stat ? { stat, internal: '1' } : { internal: '1' })}`;
  return getJSON(pattern ? `/get/${enc(pattern)}${q}` : `/get${q}`);
}

/** Nested JSON of the whole tree, `_treestat` included. */
export const all = () => getJSON('/all?internal=1');

/**
 * Series `[{path, action, points: [[ts, value], ...]}]` between two times. With `stat`
 * (`p50,p99`, docs/API.md `?stat=`) the server answers
 * `[{path, step, stats, points: [[ts, v1, v2, ...]]}]`: see `statLines`.
 */
export function trend(pattern, from, until, points, stat) {
  const q = new URLSearchParams({ from: String(from), until: String(until) });
  if (points) q.set('points', String(Math.max(2, Math.round(points))));
  if (stat) q.set('stat', stat);
  return getJSON(`/trend/${enc(pattern)}.json?${q}`);
}

/**
 * A `/trend?stat=` answer as one line per series and stat, `{path: '<path> <stat>',
 * points: [[ts, value], ...]}`, the points where the stat has a value.
 */
export function statLines(series) {
  return series.flatMap((s) => (s.stats || []).map((stat, i) => ({
    path: `${s.path} ${stat}`,
    step: s.step,
    points: s.points.filter((p) => p[i + 1] !== null).map((p) => [p[0], p[i + 1]]),
  })));
}

/** Markers under a pattern between two times (`[{path, ts, text}]`); [] when unsupported. */
export async function markers(pattern, from, until) {
  const q = new URLSearchParams({ from: String(from), until: String(until) });
  try {
    return await getJSON(`/markers/${enc(pattern)}.json?${q}`);
  } catch (_) {
    return [];
  }
}

export function graphURL(pattern, from, until, opts = {}) {
  const q = new URLSearchParams({ from: String(from), until: String(until) });
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== '') q.set(k, String(v));
  return `/graph/${enc(pattern)}.png?${q}`;
}

export function exportURL(pattern, format, from, until) {
  const q = new URLSearchParams();
  if (from !== undefined) q.set('from', String(from));
  if (until !== undefined) q.set('until', String(until));
  const s = q.toString();
  return `/export/${enc(pattern)}.${format}${s ? `?${s}` : ''}`;
}

/** Uploads an NDJSON or CSV export; answers the server's summary. */
export async function importFile(file) {
  const csv = /\.csv$/i.test(file.name) || file.type === 'text/csv';
  return answer(await fetch('/import', {
    method: 'POST',
    headers: withToken({ 'content-type': csv ? 'text/csv' : 'application/x-ndjson' }),
    body: file,
  }));
}

export const views = {
  list: () => getJSON('/api/views'),
  get: (name) => getJSON(`/api/views/${encodeURIComponent(name)}`),
  put: (name, view) => getJSON(`/api/views/${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(view),
  }),
  remove: (name) => getJSON(`/api/views/${encodeURIComponent(name)}`, { method: 'DELETE' }),
};

/** An EventSource on `/events/<pattern>` (with `?stat=` when a stat is given). */
export function events(pattern, stat) {
  const q = `?${new URLSearchParams(stat ? { stat, internal: '1' } : { internal: '1' })}`;
  return new EventSource(pattern ? `/events/${enc(pattern)}${q}` : `/events/${q}`);
}
