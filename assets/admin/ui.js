// DOM building, icons, toasts, dialogs, clipboard and formatting helpers.
//
// Everything is built with createElement/textContent: the UI runs under a CSP
// without 'unsafe-inline', and filenames are hostile input, so no user string
// ever passes through innerHTML and no markup carries a style attribute
// (dynamic sizes are set through element.style, which the CSP allows).

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an element. `props` keys: `class`, `text`, `on<Event>` (listener),
 * `dataset`, DOM properties (`value`, `checked`, `disabled`, `hidden`…) and
 * otherwise plain attributes. Children may be strings, nodes, arrays or falsy.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) applyProps(el, props);
  append(el, children);
  return el;
}

const DOM_PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'readOnly', 'required',
  'multiple', 'selected', 'indeterminate', 'open', 'htmlFor', 'tabIndex', 'loading', 'src', 'href',
  'type', 'placeholder', 'autocomplete', 'name', 'id', 'title', 'alt', 'min', 'max', 'accept']);

function applyProps(el, props) {
  for (const [key, val] of Object.entries(props)) {
    if (val === undefined || val === null || val === false && !DOM_PROPS.has(key)) continue;
    if (key === 'class') el.className = Array.isArray(val) ? val.filter(Boolean).join(' ') : val;
    else if (key === 'text') el.textContent = val;
    else if (key === 'dataset') Object.assign(el.dataset, val);
    else if (key === 'style') throw new Error('inline styles are blocked by the CSP');
    else if (key.startsWith('on') && typeof val === 'function') el.addEventListener(key.slice(2).toLowerCase(), val);
    else if (DOM_PROPS.has(key)) el[key] = val;
    else el.setAttribute(key, val === true ? '' : String(val));
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Creates an SVG element with attributes. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

// 24×24 stroke icons, drawn for pixbin.
const ICONS = {
  dashboard: 'M4 4h7v7H4z M13 4h7v4h-7z M13 11h7v9h-7z M4 14h7v6H4z',
  library: 'M3 5h18v14H3z M21 15l-5-5-9 9 M10 9.5a1.5 1.5 0 1 1-3 0a1.5 1.5 0 1 1 3 0',
  upload: 'M12 15V4 M7 9l5-5 5 5 M4 15v4a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-4',
  key: 'M11 15a4 4 0 1 1-8 0a4 4 0 1 1 8 0 M10 12l10-10 M15 7l3 3 M18 4l2 2',
  logout: 'M9 20H6a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2h3 M16 17l5-5-5-5 M21 12H9',
  copy: 'M9 9h11v11H9z M5 15H4V4h11v1',
  external: 'M14 4h6v6 M20 4l-9 9 M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5',
  lock: 'M5 11h14v10H5z M8 11V7a4 4 0 0 1 8 0v4',
  unlock: 'M5 11h14v10H5z M8 11V7a4 4 0 0 1 7.7-1.5',
  rotate: 'M20 12a8 8 0 1 1-2.4-5.7 M20 4v5h-5',
  trash: 'M4 7h16 M10 11v6 M14 11v6 M6 7l1 13h10l1-13 M9 7V4h6v3',
  check: 'M5 12l5 5 9-10',
  x: 'M6 6l12 12 M18 6L6 18',
  search: 'M17 11a6 6 0 1 1-12 0a6 6 0 1 1 12 0 M21 21l-5.7-5.7',
  back: 'M15 18l-6-6 6-6',
  eye: 'M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12z M15 12a3 3 0 1 1-6 0a3 3 0 1 1 6 0',
  download: 'M12 4v11 M7 10l5 5 5-5 M4 20h16',
  plus: 'M12 5v14 M5 12h14',
  image: 'M4 4h16v16H4z M20 15l-4-4-8 9 M10 9a1.5 1.5 0 1 1-3 0a1.5 1.5 0 1 1 3 0',
  globe: 'M21 12a9 9 0 1 1-18 0a9 9 0 1 1 18 0 M3 12h18 M12 3c3 3.5 3 14.5 0 18 M12 3c-3 3.5-3 14.5 0 18',
  link: 'M10 14a4 4 0 0 0 6 0l3-3a4 4 0 0 0-6-6l-1 1 M14 10a4 4 0 0 0-6 0l-3 3a4 4 0 0 0 6 6l1-1',
  alert: 'M12 3l10 18H2z M12 10v4 M12 17.5v.5',
  terminal: 'M4 5h16v14H4z M8 10l3 2-3 2 M13 15h3',
  database: 'M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3z M4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6 M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3',
  disk: 'M3 14h18v6H3z M3 14l3-9h12l3 9 M7 17h.01 M11 17h.01',
  code: 'M8 8l-5 4 5 4 M16 8l5 4-5 4 M14 5l-4 14',
  clock: 'M21 12a9 9 0 1 1-18 0a9 9 0 1 1 18 0 M12 7v5l3 2',
  user: 'M16 8a4 4 0 1 1-8 0a4 4 0 1 1 8 0 M4 21c0-4 3.6-7 8-7s8 3 8 7',
  users: 'M13 8a3.5 3.5 0 1 1-7 0a3.5 3.5 0 1 1 7 0 M2.5 20c0-3.4 3-6 7-6s7 2.6 7 6 M16 4.6a3.5 3.5 0 0 1 0 6.8 M18.5 14.3c1.8.8 3 2.7 3 5.7',
  shield: 'M12 3l8 3v6c0 4.5-3.4 8-8 9-4.6-1-8-4.5-8-9V6z',
  ban: 'M21 12a9 9 0 1 1-18 0a9 9 0 1 1 18 0 M5.6 5.6l12.8 12.8',
  settings: 'M4 6h10 M18 6h2 M4 12h4 M12 12h8 M4 18h12 M20 18h0 M14 4v4 M8 10v4 M16 16v4',
  retry: 'M4 12a8 8 0 1 0 2.4-5.7 M4 4v5h5',
  info: 'M21 12a9 9 0 1 1-18 0a9 9 0 1 1 18 0 M12 11v6 M12 7.5v.5',
};

/** An inline SVG icon, hidden from assistive technology. */
export function icon(name, cls) {
  return svg('svg', {
    class: cls ? `icon ${cls}` : 'icon', viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false', 'data-icon': name,
    fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round',
  }, svg('path', { d: ICONS[name] || ICONS.image }));
}

/** pixbin's mark: a rounded tile with a picture glyph. */
export function logo(size = 28) {
  return svg('svg', { class: 'logo', viewBox: '0 0 32 32', width: size, height: size, 'aria-hidden': 'true' },
    svg('rect', { x: 1, y: 1, width: 30, height: 30, rx: 8, class: 'logo-tile' }),
    svg('path', { d: 'M7 23l6-7 4 4.5 3-3 5 5.5z', class: 'logo-glyph' }),
    svg('circle', { cx: 21, cy: 10.5, r: 2.6, class: 'logo-glyph' }));
}

/** A button with an icon and a label (`iconOnly` keeps the label for screen readers and as a tooltip). */
export function button(label, { icon: ic, variant, iconOnly, onClick, type = 'button', cls, disabled } = {}) {
  return h('button', {
    type, disabled,
    class: ['btn', variant && `btn-${variant}`, iconOnly && 'btn-icon', cls],
    title: iconOnly ? label : undefined,
    'aria-label': iconOnly ? label : undefined,
    onClick,
  }, ic && icon(ic), iconOnly ? null : h('span', { text: label }));
}

/** Runs `fn` while `btn` shows a busy state; returns fn's result. */
export async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try { return await fn(); } finally { btn.disabled = false; btn.removeAttribute('aria-busy'); }
}

// ---------- form errors ----------

/**
 * The error line of a form, wired to its fields: `show(text, field)` puts the
 * sentence in `error`, marks `field` invalid, points its description at the
 * error (keeping its hint from `hints`, a Map field -> hint id) and focuses
 * it; `clear()` undoes all that. With `keepSpace`, the line stays in the
 * layout while empty (class `is-empty`), so an error does not move the form.
 */
export function formErrors(error, fields, { hints = new Map(), keepSpace = false } = {}) {
  const visible = (on) => {
    if (keepSpace) error.classList.toggle('is-empty', !on);
    else error.hidden = !on;
  };
  const describe = (f, ids) => {
    const list = ids.filter(Boolean).join(' ');
    if (list) f.setAttribute('aria-describedby', list);
    else f.removeAttribute('aria-describedby');
  };
  return {
    clear() {
      visible(false);
      error.replaceChildren();
      for (const f of fields) {
        f.removeAttribute('aria-invalid');
        describe(f, [hints.get(f)]);
      }
    },
    show(text, f) {
      error.replaceChildren(icon('alert'), h('span', { text }));
      visible(true);
      if (!f) return;
      f.setAttribute('aria-invalid', 'true');
      describe(f, [error.id, hints.get(f)]);
      f.focus();
    },
  };
}

// ---------- toasts ----------

/** Shows a short message; `type` is info, success or error. */
export function toast(message, type = 'info', timeout = type === 'error' ? 6000 : 3200) {
  const host = document.getElementById('toasts');
  if (!host) return;
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onClick: () => dismiss() }, icon('x'));
  const el = h('div', { class: `toast toast-${type}`, role: type === 'error' ? 'alert' : 'status' },
    icon(type === 'error' ? 'alert' : type === 'success' ? 'check' : 'image'), h('span', { class: 'toast-text', text: message }), close);
  const dismiss = () => {
    el.classList.add('toast-out');
    setTimeout(() => el.remove(), 180);
  };
  host.append(el);
  while (host.children.length > 4) host.firstElementChild.remove();
  if (timeout) setTimeout(dismiss, timeout);
}

// ---------- dialogs ----------

function openDialog(dialog) {
  // A modal dialog makes the rest of the page inert; keep it in the body while open.
  document.body.append(dialog);
  dialog.showModal();
  dialog.addEventListener('close', () => dialog.remove(), { once: true });
}

/** A modal yes/no question. Resolves true when confirmed. */
export function confirmDialog({ title, body, confirmText = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const cancel = button('Cancel', { onClick: () => dialog.close('cancel') });
    const ok = button(confirmText, { variant: danger ? 'danger' : 'primary', onClick: () => dialog.close('ok') });
    const titleId = uid('dlg');
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId, class: 'dialog-title', text: title }),
      body && h('p', { class: 'dialog-body', text: body }),
      h('div', { class: 'dialog-actions' }, cancel, ok));
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'));
    openDialog(dialog);
    (danger ? cancel : ok).focus();
  });
}

/** Shows `text` selected in a box so it can be copied by hand (last clipboard fallback). */
export function showCopyBox(text, title = 'Copy this link') {
  const field = h('input', { class: 'input mono', readOnly: true, value: text, 'aria-label': title });
  const titleId = uid('dlg');
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'dialog-title', text: title }),
    h('p', { class: 'dialog-body', text: 'Your browser blocked the clipboard. Press Ctrl+C (⌘C on a Mac) to copy it.' }),
    field,
    h('div', { class: 'dialog-actions' }, button('Close', { variant: 'primary', onClick: () => dialog.close() })));
  openDialog(dialog);
  field.focus();
  field.select();
}

// ---------- clipboard ----------

/**
 * Copies text. navigator.clipboard needs a secure context, which a home-lab
 * `http://192.168.x.y` is not, so fall back to execCommand on a hidden
 * textarea, and finally to a box with the text selected.
 */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { /* permission denied or not focused: try the old way */ }
  }
  const previous = document.activeElement;
  const ta = h('textarea', { class: 'clip-helper', readOnly: true, 'aria-hidden': 'true', tabIndex: -1 });
  ta.value = text;
  // Inside a modal dialog everything outside it is inert and cannot be selected.
  (document.querySelector('dialog[open]') || document.body).append(ta);
  ta.select();
  ta.setSelectionRange(0, text.length);
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  if (previous instanceof HTMLElement) previous.focus({ preventScroll: true });
  if (ok) return true;
  showCopyBox(text);
  return false;
}

/** Copies and confirms with a toast. */
export async function copyWithToast(text, what = 'Link') {
  if (await copyText(text)) toast(`${what} copied`, 'success');
}

// ---------- downloads ----------

/** Offers `content` as a file download without a round trip to the server. */
export function downloadFile(filename, content, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------- formatting ----------

let uidCounter = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  uidCounter += 1;
  return `${prefix}-${uidCounter}`;
}

const nf = new Intl.NumberFormat();
/** 12345 → "12,345" in the user's locale. */
export function fmtNumber(n) {
  return typeof n === 'number' && Number.isFinite(n) ? nf.format(n) : '—';
}

/** Bytes in decimal units: 1234567 → "1.2 MB". */
export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = -1;
  do { v /= 1000; i += 1; } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const df = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
/** Full local date and time. */
export function fmtDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : dtf.format(d);
}
/** "Nov 27" from an ISO date or YYYY-MM-DD (read as a calendar day, not shifted by time zone). */
export function fmtDay(iso) {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T12:00:00`) : new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : df.format(d);
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
/** "3 minutes ago", "yesterday"… */
export function timeAgo(iso) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '—';
  const s = Math.round((t - Date.now()) / 1000);
  const abs = Math.abs(s);
  if (abs < 45) return 'just now';
  const steps = [[60, 'second'], [3600, 'minute'], [86400, 'hour'], [604800, 'day'], [2629800, 'week'], [31557600, 'month'], [Infinity, 'year']];
  const div = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800, month: 2629800, year: 31557600 };
  for (const [limit, unit] of steps) {
    if (abs < limit) return rtf.format(Math.round(s / div[unit]), unit);
  }
  return fmtDate(iso);
}

/** A `<time>` element showing a relative time, with the full date as tooltip. */
export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted', text: 'never' });
  return h('time', { datetime: iso, title: fmtDate(iso), text: timeAgo(iso) });
}

let regionNames = null;
/**
 * Display name and code for an ISO 3166 alpha-2 country. Codes are shown as
 * text chips rather than flag emoji: Windows has no flag glyphs.
 */
export function country(code) {
  const cc = typeof code === 'string' ? code.trim().toUpperCase() : '';
  if (!/^[A-Z]{2}$/.test(cc) || cc === 'XX' || cc === 'ZZ') return { code: '??', name: 'Unknown' };
  let name = cc;
  try {
    regionNames ||= new Intl.DisplayNames(undefined, { type: 'region' });
    name = regionNames.of(cc) || cc;
  } catch { /* old browser: keep the code */ }
  return { code: cc, name };
}

/** A country code chip followed by the country's name. */
export function countryLabel(code) {
  const c = country(code);
  return h('span', { class: 'cc-cell' }, h('span', { class: 'cc', 'aria-hidden': 'true', text: c.code }), h('span', { text: c.name }));
}

/** Sets a document title in the house format. */
export function setTitle(page) {
  document.title = page ? `${page} · pixbin` : 'pixbin';
}

/** An empty-state block. */
export function emptyState(ic, title, text, action) {
  return h('div', { class: 'empty' }, h('div', { class: 'empty-icon' }, icon(ic)),
    h('p', { class: 'empty-title', text: title }), text && h('p', { class: 'empty-text', text }), action);
}

/** A visually hidden live region message, for screen readers. */
export function srOnly(text) {
  return h('span', { class: 'visually-hidden', text });
}
