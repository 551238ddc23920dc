// Where the UI may go after login (`?next=`): same-origin admin pages only.
//
// A prefix check is not enough: browsers drop tabs and newlines from URLs and
// read `\` as `/` (WHATWG URL), so `/\t/evil.example` or `/\evil.example`
// become `//evil.example`, another site. Parsing the URL the way the browser
// will and comparing origins closes every such spelling (SECURITY.md A31).

/**
 * The path to follow for a `next` value, or null when it leaves the admin UI.
 * @param {unknown} next
 * @param {string} origin the page's origin (location.origin in the browser)
 */
export function safeNext(next, origin = globalThis.location?.origin) {
  if (typeof next !== 'string' || !next.startsWith('/') || !origin) return null;
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  if (url.pathname !== '/admin' && !url.pathname.startsWith('/admin/')) return null;
  return url.pathname + url.search + url.hash;
}
