// The JSON API the pages use (DESIGN.md §5); nothing else is fetched.

/** A pattern as a URL path part: percent-encoded, commas kept readable. */
export function enc(pattern) {
  return encodeURIComponent(pattern).replace(/%2C/gi, ',').replace(/%2A/gi, '*');
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
  const err = new Error(msg);
  err.status = res.status;
  throw err;
}

export async function getJSON(url, opts = {}) {
  return answer(await fetch(url, { headers: { accept: 'application/json' }, ...opts }));
}

/** `[[path, value], ...]`: current totals under a pattern. */
export const totals = (pattern) => getJSON(pattern ? `/get/${enc(pattern)}` : '/get');

/** Nested JSON of the whole tree. */
export const all = () => getJSON('/all');

/** Series `[{path, action, points: [[ts, value], ...]}]` between two times. */
export function trend(pattern, from, until, points) {
  const q = new URLSearchParams({ from: String(from), until: String(until) });
  if (points) q.set('points', String(Math.max(2, Math.round(points))));
  return getJSON(`/trend/${enc(pattern)}.json?${q}`);
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
    headers: { 'content-type': csv ? 'text/csv' : 'application/x-ndjson' },
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

/** An EventSource on `/events/<pattern>`. */
export function events(pattern) {
  return new EventSource(pattern ? `/events/${enc(pattern)}` : '/events/');
}
