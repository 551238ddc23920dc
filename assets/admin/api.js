// The JSON API client: session state, CSRF header, errors, and XHR uploads.

/** What the server told us at login/refresh/session. */
export const session = {
  username: null,
  /** `admin` or `user` (a server without roles sends none: everyone is an admin). */
  role: null,
  csrfToken: null,
  expiresAt: null,
  baseUrl: null,
  version: null,
};

const SIGNED_IN_FLAG = 'pixbin:signed-in';

/** An API error carrying the HTTP status and the machine-readable `code`. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

// Over HTTPS the server names the cookie with the __Host- prefix.
function csrfCookie() {
  return readCookie('__Host-pixbin_csrf') || readCookie('pixbin_csrf');
}

// The cookie comes first: another tab may have refreshed the session and
// rotated the token since this tab last heard it.
function csrfToken() {
  return csrfCookie() || session.csrfToken;
}

/** The CSRF token for a request made outside `api` (a download). */
export function csrf() {
  return csrfToken();
}

/** True when a session probably exists, so asking /api/session is worth a request. */
export function maybeSignedIn() {
  let flag = null;
  try { flag = localStorage.getItem(SIGNED_IN_FLAG); } catch { /* storage disabled */ }
  return Boolean(csrfCookie() || flag);
}

function remember(data) {
  session.username = data.username ?? session.username;
  session.role = data.role ?? session.role;
  session.csrfToken = data.csrfToken ?? session.csrfToken;
  session.expiresAt = data.expiresAt ?? session.expiresAt;
  session.baseUrl = (data.baseUrl || session.baseUrl || location.origin).replace(/\/+$/, '');
  session.version = data.version ?? session.version;
  try { localStorage.setItem(SIGNED_IN_FLAG, '1'); } catch { /* storage disabled */ }
}

/** True unless the session belongs to an account with the `user` role. */
export function isAdmin() {
  return session.role !== 'user';
}

/** Forgets the session locally. */
export function forget() {
  for (const k of Object.keys(session)) session[k] = null;
  settingsPromise = null;
  try { localStorage.removeItem(SIGNED_IN_FLAG); } catch { /* storage disabled */ }
}

const listeners = new Set();
/** Registers a callback run when any call answers 401 (session gone). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

export async function errorFrom(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: e.g. a proxy's HTML page */ }
  const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
  const message = body?.error || `${res.status} ${res.statusText || 'error'}`.trim();
  return new ApiError(res.status, body?.code || `http_${res.status}`, message, Number.isFinite(retry) ? retry : null);
}

/**
 * Calls the API. Non-GET requests carry the CSRF token; a 403 `csrf` answer
 * re-reads the token from /api/session once and retries.
 * Options: `body` (JSON), `signal`, `auth` (false: do not treat 401 as logout).
 */
export async function api(method, path, { body, signal, auth = true, retried = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrfToken();
    if (t) headers['X-CSRF-Token'] = t;
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection.');
  }
  if (res.ok) {
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }
  const err = await errorFrom(res);
  if (err.status === 403 && err.code === 'csrf' && !retried) {
    await loadSession().catch(() => null);
    return api(method, path, { body, signal, auth, retried: true });
  }
  if (err.status === 401 && auth) {
    forget();
    for (const fn of listeners) fn(err);
  }
  throw err;
}

/** GET that resolves to null on 404 (for endpoints that may not exist yet). */
export async function getOptional(path, opts) {
  try {
    return await api('GET', path, opts);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

/** Signs in; throws ApiError (codes invalid_credentials, rate_limited…). */
export async function login(username, password) {
  const data = await api('POST', '/api/login', { body: { username, password }, auth: false });
  remember(data);
  return data;
}

/** Reads the current session; throws ApiError 401 when signed out. */
export async function loadSession() {
  const data = await api('GET', '/api/session', { auth: false });
  remember(data);
  return data;
}

/** Extends the session and rotates the CSRF token. */
export async function refresh() {
  const data = await api('POST', '/api/refresh');
  remember(data);
  return data;
}

/** Ends the session on the server and locally. */
export async function logout() {
  try { await api('POST', '/api/logout', { auth: false }); } finally { forget(); }
}

/** The session-authenticated URL of an image's original bytes (does not count a view). */
export function proxyUrl(img) {
  return `/api/proxy/${encodeURIComponent(img.uuid)}.${encodeURIComponent(img.extension)}`;
}

/**
 * The session thumbnail of an image (never its original, never a view):
 * the server's `thumbUrl` when it sends one, else the same route built here.
 */
export function thumbUrl(img) {
  if (typeof img.thumbUrl === 'string' && img.thumbUrl.startsWith('/api/proxy/thumb/')) return img.thumbUrl;
  return `/api/proxy/thumb/${encodeURIComponent(img.uuid)}.${encodeURIComponent(img.extension)}`;
}

let settingsPromise = null;
/**
 * GET /api/settings, asked once per page load (null when the server has no
 * such endpoint). `fresh` asks again, e.g. after the settings page saved.
 */
export function settings({ fresh = false } = {}) {
  if (fresh || !settingsPromise) {
    settingsPromise = getOptional('/api/settings').catch(() => null);
  }
  return settingsPromise;
}

/** Absolute base URL of this pixbin, as configured on the server. */
export function baseUrl() {
  return (session.baseUrl || location.origin).replace(/\/+$/, '');
}

/**
 * Uploads one file with XHR (fetch has no upload progress).
 * Returns { promise, abort }. `onProgress(fraction)` runs as bytes leave.
 */
export function uploadFile(file, { isPrivate, expires, maxViews, onProgress }) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', '/api/upload');
    xhr.responseType = 'text';
    xhr.setRequestHeader('Accept', 'application/json');
    const t = csrfToken();
    if (t) xhr.setRequestHeader('X-CSRF-Token', t);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        resolve(body);
        return;
      }
      const err = new ApiError(xhr.status, body?.code || `http_${xhr.status}`,
        body?.error || (xhr.status === 413 ? 'File too large for the server or proxy.' : `Upload failed (${xhr.status}).`));
      if (xhr.status === 401) {
        forget();
        for (const fn of listeners) fn(err);
      }
      reject(err);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'Network error during upload.'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Cancelled'));
    // The server reads `private` before the file part, so it must come first.
    const form = new FormData();
    form.append('private', isPrivate ? 'true' : 'false');
    if (expires) form.append('expires', expires);
    if (maxViews) form.append('max_views', String(maxViews));
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
