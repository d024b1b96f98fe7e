// The one way the console talks to the vault. The HttpOnly session cookie authenticates every call
// (credentials: 'same-origin'); every change also carries the session's CSRF token, which lives in
// this module's memory only (never in storage or the URL).

/** An error answer of the API, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details && typeof details === 'object' ? details : {};
  }
}

let csrfToken = null;
let sessionEnded = () => {};

/** Sets (or, with null, forgets) the CSRF token of the signed-in session. */
export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** `fn` runs when a call answers 401: the session expired or was revoked. */
export function onSessionEnded(fn) {
  sessionEnded = fn;
}

/** A query string from an object, leaving out empty values: qs({a: 1, b: ''}) is "?a=1". */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** encodeURIComponent for a path segment (ids come from the API or the user). */
export const seg = encodeURIComponent;

/**
 * Calls the API. Resolves with the parsed JSON body (or null for an empty one); rejects with an
 * ApiError. A 401 also ends the session in the UI, except for the session endpoints themselves,
 * whose callers handle it (a failed sign-in is not an ended session).
 */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') {
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network_error', 'The vault could not be reached. Check your connection and try again.');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined; // not JSON: a proxy's error page, say
    }
  }
  if (res.ok) {
    if (data === undefined) throw new ApiError(res.status, 'bad_response', `The vault answered ${res.status} with a body that is not JSON.`);
    return data;
  }
  const isObject = data && typeof data === 'object';
  const err = new ApiError(
    res.status,
    isObject && typeof data.error === 'string' ? data.error : `http_${res.status}`,
    isObject && typeof data.message === 'string' && data.message ? data.message : `The vault answered ${res.status} ${res.statusText || ''}`.trim(),
    isObject ? data.details : undefined,
  );
  if (res.status === 401 && !path.startsWith('/console/api/session')) sessionEnded(err);
  throw err;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);
