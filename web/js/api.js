// The API client: every request the console makes goes through here. The session cookie
// (HttpOnly) authenticates; changes carry the CSRF proof, which lives in this module's memory
// only (never in storage). Problems (RFC 9457) become ApiError with the fields to show.

let csrf = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = (problem && problem.code) || 'http_' + status;
    this.title = (problem && problem.title) || '';
    this.detail = (problem && problem.detail) || '';
    this.errors = (problem && Array.isArray(problem.errors)) ? problem.errors : [];
    this.unmet = (problem && Array.isArray(problem.unmet)) ? problem.unmet : [];
    this.requestId = (problem && problem.request_id) || '';
  }
}

/** The session answer (sign-in or GET /v1/sessions/current) gives the CSRF proof. */
export function setSession(session) {
  csrf = session ? session.csrf_token : null;
}

/** Called when the server says the session has ended (401). */
export function onSessionEnded(fn) {
  onSignedOut = fn;
}

function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * One request. opts: body (JSON), query (object), headers, accept ('json' | 'text').
 * Resolves to the parsed body (null for 204); rejects with ApiError.
 */
export async function request(method, path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const wantText = opts.accept && opts.accept !== 'application/json';
  headers['Accept'] = wantText ? opts.accept : 'application/json';
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf && !opts.noCsrf) {
    headers['X-CSRF-Token'] = csrf;
  }
  let res;
  try {
    res = await fetch(path + query(opts.query), {
      method, headers, body, credentials: 'same-origin', cache: 'no-store', redirect: 'error',
    });
  } catch (e) {
    throw new ApiError(0, { code: 'network', title: 'network' });
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  if (!res.ok) {
    let problem = null;
    if (type.includes('json')) {
      try { problem = await res.json(); } catch (e) { problem = null; }
    }
    const err = new ApiError(res.status, problem);
    if (res.status === 401 && !opts.quiet401) {
      csrf = null;
      onSignedOut(err);
    }
    throw err;
  }
  if (wantText) return res.text();
  return type.includes('json') ? res.json() : res.text();
}

export const get = (path, q, opts = {}) => request('GET', path, Object.assign({ query: q }, opts));
export const post = (path, body, opts = {}) => request('POST', path, Object.assign({ body }, opts));
export const patch = (path, body, opts = {}) => request('PATCH', path, Object.assign({ body }, opts));
export const del = (path, body, opts = {}) => request('DELETE', path, Object.assign({ body }, opts));

/** A fresh key for a creating POST; keep it while the same form is retried. */
export function idempotencyKey() {
  return crypto.randomUUID();
}

/** Every page of a list (for small directories: agencies, SOPs), at most max items. */
export async function getAll(path, q = {}, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, Object.assign({}, q, { limit: 100, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
