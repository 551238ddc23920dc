// One image: preview, metadata, link and actions, its lifetime (expiry and
// view limit), and its view statistics.

import * as api from '../api.js';
import { h, icon, button, busy, toast, confirmDialog, fmtBytes, fmtNumber, fmtDate, timeAgo, setTitle, copyWithToast, emptyState, uid } from '../ui.js';
import { togglePrivacy, rotateKey, deleteImage, copyAsDialog } from '../actions.js';
import { panel, skeleton, noData, fillDays, viewsChart, countryList, referrerList, panelError } from '../widgets.js';
import { explain } from '../errors.js';

export async function mount(root, { params, signal, navigate }) {
  const [id] = params;
  setTitle('Image');
  const back = h('a', { href: '/admin/library', class: 'back-link' }, icon('back'), h('span', { text: 'Library' }));
  let img;
  try {
    img = await api.api('GET', `/api/images/${encodeURIComponent(id)}`, { signal });
  } catch (e) {
    if (e.status === 404 || e.status === 400) {
      setTitle('Image not found');
      root.append(back, h('h1', { class: 'page-title', text: 'Image not found' }),
        emptyState('image', 'This image does not exist or was deleted.', null, h('a', { href: '/admin/library', class: 'btn btn-primary', text: 'Back to the library' })));
      return undefined;
    }
    throw e;
  }

  const head = h('div');
  // The preview and the details box are rebuilt on every change; the lifetime
  // panel stays, so a half-filled form and the focus survive a privacy toggle.
  let preview = h('div');
  let previewUrl = null;
  const side = h('div', { class: 'image-side' });
  const lifetime = lifetimePanel(() => img, (next) => { img = next; render(); });
  const metadata = panel('Metadata', null, { cls: 'metadata-panel' });
  const body = h('div', { class: 'image-layout' }, h('div', { class: 'image-main' }, preview, metadata),
    h('div', { class: 'image-aside' }, side, lifetime.el));
  const chart = panel('Views, last 30 days', skeleton(4), { cls: 'panel-wide' });
  const countries = panel('Countries', skeleton());
  const referrers = panel('Referrers', skeleton());
  root.append(back, head, body, h('div', { class: 'panels' }, chart, countries, referrers));

  const render = () => {
    setTitle(img.filename);
    head.replaceChildren(h('div', { class: 'page-head page-head-file' },
      h('h1', { class: 'page-title page-title-file', text: img.filename, title: img.filename }),
      h('span', { class: ['badge', img.isPrivate ? 'badge-private' : 'badge-public'] }, icon(img.isPrivate ? 'lock' : 'globe'), h('span', { text: img.isPrivate ? 'Private' : 'Public' }))));

    const linkId = uid('link');
    const link = h('input', { id: linkId, class: 'input mono', readOnly: true, value: img.url });
    link.addEventListener('focus', () => link.select());
    if (img.url !== previewUrl) {
      const pic = h('img', { src: api.proxyUrl(img), alt: `Preview of ${img.filename}`, class: 'preview-img', decoding: 'async' });
      if (img.width && img.height) {
        pic.width = img.width;
        pic.height = img.height;
        // A small image is shown enlarged by a whole factor with crisp pixels,
        // not as a speck in a large empty box.
        const factor = Math.floor(Math.min(320 / img.width, 320 / img.height));
        if (factor >= 2) {
          pic.classList.add('preview-scaled');
          pic.style.width = `${img.width * factor}px`;
          pic.title = `Shown at ${factor}× its size (${img.width} × ${img.height} px)`;
        }
      }
      pic.addEventListener('error', () => pic.replaceWith(h('span', { class: 'thumb-broken' }, icon('image'))));
      const next = h('a', { href: img.url, target: '_blank', rel: 'noopener noreferrer', class: 'preview', 'aria-label': `Open ${img.filename} in a new tab` }, pic);
      preview.replaceWith(next);
      preview = next;
      previewUrl = img.url;
    }

    const rows = [
      ['Size', `${fmtBytes(img.size)} (${fmtNumber(img.size)} bytes)`],
      ['Dimensions', img.width && img.height ? `${img.width} × ${img.height} px` : '—'],
      ['Type', img.contentType || img.extension?.toUpperCase() || '—'],
      ['Uploaded', fmtDate(img.uploadedAt)],
      img.owner && ['Owner', img.owner],
      ['Views', fmtNumber(img.views)],
      ['ID', `${img.id} · ${img.uuid}`],
    ];
    const hashRow = img.hash && h('div', { class: 'meta-row' },
      h('dt', { text: 'Hash' }),
      h('dd', { class: 'hash-cell' }, h('code', { class: 'mono hash', text: img.hash, title: img.hash }),
        button('Copy hash', { icon: 'copy', iconOnly: true, onClick: () => copyWithToast(img.hash, 'Hash') })));

    side.replaceChildren(
      h('div', { class: 'field' },
        h('label', { for: linkId, class: 'label', text: img.isPrivate ? 'Private link (includes its key)' : 'Public link' }),
        h('div', { class: 'input-group' }, link,
          button('Copy link', { icon: 'copy', variant: 'primary', onClick: () => copyWithToast(img.url) }))),
      h('div', { class: 'action-row' },
        h('a', { href: img.url, target: '_blank', rel: 'noopener noreferrer', class: 'btn' }, icon('external'), h('span', { text: 'Open' })),
        button('Copy as…', { icon: 'code', onClick: () => copyAsDialog(img) }),
        button(img.isPrivate ? 'Make public' : 'Make private', {
          icon: img.isPrivate ? 'globe' : 'lock',
          onClick: async (e) => { e.currentTarget.disabled = true; const next = await togglePrivacy(img); if (next) { img = next; render(); } else e.currentTarget.disabled = false; },
        }),
        img.isPrivate && button('Rotate key', {
          icon: 'rotate',
          onClick: async () => { const next = await rotateKey(img); if (next) { img = next; render(); } },
        })),
      h('div', { class: 'danger-row' },
        button('Delete', {
          icon: 'trash', variant: 'danger-ghost', cls: 'btn-block',
          onClick: async () => { if (await deleteImage(img)) navigate('/admin/library'); },
        })),
      h('dl', { class: 'meta-list' },
        rows.filter(Boolean).map(([k, v]) => h('div', { class: 'meta-row' }, h('dt', { text: k }), h('dd', null, v))),
        hashRow));
    lifetime.show(img);
    metadata.setBody(metadataBody(img));
  };
  render();

  try {
    const stats = await api.getOptional(`/api/images/${encodeURIComponent(img.id)}/stats`, { signal });
    if (!stats) {
      for (const p of [chart, countries, referrers]) p.setBody(noData());
    } else {
      chart.setBody(viewsChart(fillDays(stats.days, 30)));
      countries.setBody(countryList(stats.countries));
      referrers.setBody(referrerList(stats.referrers));
    }
  } catch (e) {
    if (e.name !== 'AbortError') for (const p of [chart, countries, referrers]) p.setBody(panelError(e));
  }
  return undefined;
}

// ---------- metadata: what the file holds, what was removed ----------

const KIND_NAMES = { exif: 'EXIF', icc: 'ICC colour profile', xmp: 'XMP', iptc: 'IPTC', comment: 'Comment', text: 'Text chunk', gps: 'GPS location', orientation: 'Orientation' };

function metaItem(m) {
  if (typeof m === 'string') return h('li', null, h('strong', { text: KIND_NAMES[m] || m }));
  const name = KIND_NAMES[m.kind] || m.kind || 'Other';
  return h('li', null, h('strong', { text: name }), m.detail ? h('span', { class: 'muted', text: ` · ${m.detail}` }) : null);
}

function metadataBody(img) {
  const md = img.metadata;
  if (!md) return noData('This server does not report metadata yet.');
  const present = md.present || [];
  const stripped = md.stripped || [];
  return h('div', { class: 'metadata' },
    h('h3', { class: 'subhead', text: 'In the stored file' }),
    present.length ? h('ul', { class: 'meta-items' }, present.map(metaItem)) : h('p', { class: 'muted', text: 'No metadata: only the picture itself.' }),
    h('h3', { class: 'subhead', text: 'Removed at upload' }),
    stripped.length ? h('ul', { class: 'meta-items' }, stripped.map(metaItem)) : h('p', { class: 'muted', text: 'Nothing was removed.' }));
}

// ---------- lifetime: expiry and view limit ----------

const MAX_VIEWS = 1_000_000_000;

// The same choices and wording as the upload page, with "keep" first and a
// custom date last. Durations count from the moment the change is saved.
const EXPIRY_CHOICES = [
  ['', 'Keep current'], ['1h', 'In 1 hour'], ['1d', 'In 1 day'], ['7d', 'In 7 days'], ['30d', 'In 30 days'],
  ['never', 'Never'], ['custom', 'Custom date and time…'],
];

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'always' });
/**
 * "in 7 days", "in 3 hours": exact for the choices offered (timeAgo would say
 * "next week" for seven days less a second).
 */
function relative(ms) {
  const abs = Math.abs(ms);
  const units = [['minute', 60e3, 59.5 * 60e3], ['hour', 3600e3, 23.5 * 3600e3], ['day', 86400e3, 60 * 86400e3],
    ['month', 2629800e3, 365 * 86400e3], ['year', 31557600e3, Infinity]];
  for (const [unit, size, below] of units) {
    if (abs < below) return rtf.format(Math.round(ms / size), unit);
  }
  return '';
}

/** "in 7 days" (full date as tooltip), "expired 2 hours ago" or "Never". */
function expiryText(iso) {
  if (!iso) return 'Never';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '—';
  const ms = t - Date.now();
  return h('time', { datetime: iso, title: fmtDate(iso), text: ms <= 0 ? `expired ${timeAgo(iso)}` : ms < 60e3 ? 'in under a minute' : relative(ms) });
}

/** "3 views left (of 5)", or "No limit". */
function viewLimitText(img) {
  if (img.maxViews === null || img.maxViews === undefined) return 'No limit';
  const left = img.viewsLeft ?? img.maxViews;
  return `${fmtNumber(left)} ${left === 1 ? 'view' : 'views'} left (of ${fmtNumber(img.maxViews)})`;
}

/** A Date as the value of an `<input type=datetime-local>`, in local time. */
function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function localZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { return ''; }
}

/**
 * The "Lifetime" panel: the current expiry and view limit, and a form that
 * changes them with PATCH /api/images/{id}. `getImg` returns the image as the
 * page knows it; `onSaved(img)` receives the server's answer.
 */
function lifetimePanel(getImg, onSaved) {
  const expId = uid('lt-exp');
  const dateId = uid('lt-date');
  const mvId = uid('lt-mv');
  const errId = uid('lt-err');
  const mvHintId = uid('lt-mvh');
  const dateHintId = uid('lt-dh');

  const now = h('dl', { class: 'lifetime-now' });
  const expiry = h('select', { id: expId, class: 'input', name: 'expiresAt' },
    EXPIRY_CHOICES.map(([value, label]) => h('option', { value, text: label })));
  const date = h('input', { id: dateId, type: 'datetime-local', class: 'input', name: 'expiresAtCustom', 'aria-describedby': dateHintId });
  const zone = localZone();
  const dateField = h('div', { class: 'field', hidden: true },
    h('label', { for: dateId, class: 'label', text: 'Date and time' }),
    date,
    h('p', { id: dateHintId, class: 'hint muted', text: zone ? `Your local time (${zone}).` : 'Your local time.' }));
  const maxViews = h('input', {
    id: mvId, type: 'number', min: 1, max: MAX_VIEWS, step: 1, inputmode: 'numeric', class: 'input', name: 'maxViews',
    placeholder: 'No limit', 'aria-describedby': mvHintId,
  });
  const error = h('div', { id: errId, class: 'form-error lifetime-error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('check'), h('span', { text: 'Save' }));

  const hints = new Map([[expiry, ''], [date, dateHintId], [maxViews, mvHintId]]);
  const describe = (el, ids) => (ids ? el.setAttribute('aria-describedby', ids) : el.removeAttribute('aria-describedby'));
  const clearError = () => {
    error.hidden = true;
    error.replaceChildren();
    for (const [el, hint] of hints) {
      el.removeAttribute('aria-invalid');
      describe(el, hint);
    }
  };
  const showError = (text, field) => {
    error.replaceChildren(icon('alert'), h('span', { text }));
    error.hidden = false;
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      describe(field, `${errId} ${hints.get(field)}`.trim());
    }
  };

  expiry.addEventListener('change', () => {
    const custom = expiry.value === 'custom';
    dateField.hidden = !custom;
    if (custom && !date.value) {
      // Start from the current expiry if there is one ahead, else from tomorrow.
      const cur = getImg().expiresAt ? new Date(getImg().expiresAt) : null;
      date.value = toLocalInput(cur && cur.getTime() > Date.now() ? cur : new Date(Date.now() + 86_400_000));
    }
  });

  /** The PATCH body for what changed, or a client-side complaint. */
  const collect = () => {
    const img = getImg();
    const out = {};
    if (expiry.value === 'custom') {
      const d = date.value ? new Date(date.value) : null;
      if (!d || Number.isNaN(d.getTime())) return { problem: 'Choose a date and time for the expiry.', field: date };
      out.expiresAt = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    } else if (expiry.value) {
      out.expiresAt = expiry.value;
    }
    const raw = maxViews.value.trim();
    if (maxViews.validity.badInput || (raw && !/^\d+$/.test(raw))) {
      return { problem: 'Max views must be a whole number, or empty for no limit.', field: maxViews };
    }
    const n = raw ? Number(raw) : null;
    if (n !== null && (n < 1 || n > MAX_VIEWS)) {
      return { problem: `Max views must be from 1 to ${fmtNumber(MAX_VIEWS)}, or empty for no limit.`, field: maxViews };
    }
    if (n !== (img.maxViews ?? null)) out.maxViews = n;
    return { body: out };
  };

  const form = h('form', {
    class: 'lifetime-form',
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      clearError();
      const { body, problem, field } = collect();
      if (problem) {
        showError(problem, field);
        field.focus();
        return;
      }
      if (!Object.keys(body).length) {
        toast('Nothing to change', 'info');
        return;
      }
      // Views already used under a limit still count: a limit at or below them
      // ends the link at once, and the sweeper then deletes the image.
      const img = getImg();
      const used = img.maxViews != null && img.viewsLeft != null ? img.maxViews - img.viewsLeft : 0;
      if (body.maxViews != null && body.maxViews <= used && !await confirmDialog({
        title: 'End this image’s link now?',
        body: `It has already been viewed ${fmtNumber(used)} ${used === 1 ? 'time' : 'times'} under its limit, so a limit of ${fmtNumber(body.maxViews)} stops its link at once and the image will be deleted.`,
        confirmText: 'Set the limit',
        danger: true,
      })) {
        maxViews.focus();
        return;
      }
      await busy(save, async () => {
        try {
          const next = await api.api('PATCH', `/api/images/${encodeURIComponent(getImg().id)}`, { body });
          expiry.value = '';
          date.value = '';
          dateField.hidden = true;
          shownMax = maxViews.value; // the saved value replaces what was typed
          onSaved(next);
          toast('Lifetime saved', 'success');
        } catch (err) {
          if (err.name === 'AbortError' || err.status === 401) return;
          // The server's own words, next to the form; what was entered stays.
          const onExpiry = 'expiresAt' in body && (err.code === 'expiry_too_long' || /expir/i.test(err.message));
          const onViews = 'maxViews' in body && /view/i.test(err.message);
          showError(explain(err), onExpiry ? (expiry.value === 'custom' ? date : expiry) : onViews ? maxViews : null);
        }
      });
    },
  },
  h('div', { class: 'field' }, h('label', { for: expId, class: 'label', text: 'Expiry' }), expiry),
  dateField,
  h('div', { class: 'field' },
    h('label', { for: mvId, class: 'label', text: 'Max views' }),
    maxViews,
    h('p', { id: mvHintId, class: 'hint muted', text: 'Leave empty for no limit. Views already counted against a limit still count.' })),
  error,
  h('div', { class: 'lifetime-actions' }, save));

  const el = panel('Lifetime', [now, form], { cls: 'lifetime-panel' });

  let shownMax; // the max views value last filled in from the server
  /** Shows `img`'s current values; the form keeps what the user typed. */
  const show = (img) => {
    now.replaceChildren(
      h('div', { class: 'meta-row' }, h('dt', { text: 'Expires' }),
        h('dd', null, expiryText(img.expiresAt), img.expiresAt && h('span', { class: 'muted', text: ` · ${fmtDate(img.expiresAt)}` }))),
      h('div', { class: 'meta-row' }, h('dt', { text: 'View limit' }), h('dd', null, viewLimitText(img))));
    // Follow the server's value unless the field holds an unsaved edit.
    const value = img.maxViews === null || img.maxViews === undefined ? '' : String(img.maxViews);
    if (shownMax === undefined || maxViews.value === shownMax) maxViews.value = value;
    shownMax = value;
  };
  return { el, show };
}
