// Image actions shared by the library and the image page. Each returns the
// updated image JSON (or true for a delete) and reports failures with a toast.
// `runAction` is the same pattern for any button that calls the API.

import * as api from './api.js';
import { h, button, busy, confirmDialog, toast, copyWithToast, uid, fmtNumber } from './ui.js';
import { explain } from './errors.js';

/**
 * Runs `fn` while `btn` shows a busy state; a failure becomes an error toast
 * (except 401: the app is already on its way to sign-in). Resolves true when
 * `fn` succeeded.
 */
export function runAction(btn, fn) {
  return busy(btn, async () => {
    try {
      await fn();
      return true;
    } catch (e) {
      if (e.status !== 401) toast(explain(e), 'error');
      return false;
    }
  });
}

/**
 * GETs `path` for a page's panel. A failure other than an abort or a 401
 * (the app is on its way to sign-in) is handed to `fail(sentence)`; either
 * way a failure resolves `undefined`.
 */
export async function getOrReport(path, signal, fail) {
  try {
    return await api.api('GET', path, { signal });
  } catch (e) {
    if (e.name !== 'AbortError' && e.status !== 401) fail(explain(e));
    return undefined;
  }
}

/** Flips an image between public and private. Returns the new image or null. */
export async function togglePrivacy(img) {
  try {
    const next = await setPrivacyNow(img, !img.isPrivate);
    toast(next.isPrivate ? 'Image is now private. Its link carries a key.' : 'Image is now public.', 'success');
    return next;
  } catch (e) {
    if (e.status !== 401) toast(explain(e), 'error');
    return null;
  }
}

/** Issues a new private key after confirmation; the old link stops working. */
export async function rotateKey(img) {
  const ok = await confirmDialog({
    title: 'Create a new private link?',
    body: `The current link to “${img.filename}” will stop working for everyone who has it.`,
    confirmText: 'Rotate key',
    danger: true,
  });
  if (!ok) return null;
  try {
    const next = await api.api('POST', `/api/images/${encodeURIComponent(img.id)}/rotate-key`);
    toast('New link created. The old one no longer works.', 'success');
    return next;
  } catch (e) {
    if (e.status !== 401) toast(explain(e), 'error');
    return null;
  }
}

/** Deletes without asking (callers confirm). Throws ApiError. A 404 counts as gone. */
export async function deleteNow(img) {
  try {
    await api.api('DELETE', `/api/delete/${encodeURIComponent(img.uuid)}`);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  return true;
}

/** Asks, then deletes one image. Returns true when it is gone. */
export async function deleteImage(img) {
  const ok = await confirmDialog({
    title: 'Delete this image?',
    body: `“${img.filename}” and its links will be gone for good.`,
    confirmText: 'Delete',
    danger: true,
  });
  if (!ok) return false;
  try {
    await deleteNow(img);
    toast('Image deleted', 'success');
    return true;
  } catch (e) {
    if (e.status !== 401) toast(explain(e), 'error');
    return false;
  }
}

/** Sets an image public or private without asking. Throws ApiError. */
export function setPrivacyNow(img, isPrivate) {
  return api.api('POST', `/api/images/${encodeURIComponent(img.id)}/privacy`, { body: { isPrivate } });
}

// ---------- copy as ----------

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

/** The ways to paste an image's link: [id, label, text]. */
export function linkFormats(img) {
  const url = img.url;
  const alt = String(img.filename || 'image').replace(/[[\]\\]/g, '\\$&').replace(/[\r\n]+/g, ' ');
  return [
    ['raw', 'Link', url],
    ['markdown', 'Markdown', `![${alt}](${url})`],
    ['bbcode', 'BBCode', `[img]${url}[/img]`],
    ['html', 'HTML', `<img src="${escapeHtml(url)}" alt="${escapeHtml(img.filename || '')}">`],
  ];
}

/** A dialog offering the link as raw URL, Markdown, BBCode and HTML, each with a Copy button. */
export function copyAsDialog(img) {
  const titleId = uid('dlg');
  const rows = linkFormats(img).map(([id, label, text]) => {
    const fieldId = uid(`copy-${id}`);
    const field = h('input', { id: fieldId, class: 'input mono input-sm', readOnly: true, value: text });
    field.addEventListener('focus', () => field.select());
    return h('div', { class: 'field copy-as-row', dataset: { format: id } },
      h('label', { for: fieldId, class: 'label', text: label }),
      h('div', { class: 'input-group' }, field,
        button(`Copy ${label}`, { icon: 'copy', iconOnly: true, onClick: () => copyWithToast(text, label) })));
  });
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'dialog-title', text: 'Copy as' }),
    h('p', { class: 'dialog-body muted break', text: img.filename }),
    rows,
    h('div', { class: 'dialog-actions' }, button('Close', { variant: 'primary', onClick: () => dialog.close() })));
  document.body.append(dialog);
  dialog.showModal();
  dialog.addEventListener('close', () => dialog.remove(), { once: true });
  rows[0].querySelector('button').focus();
  return dialog;
}

// ---------- lifetime, short forms for tiles ----------

/** "expires in 3 d", "expired": short enough for a tile. */
export function expiryShort(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (Number.isNaN(ms)) return '';
  if (ms <= 0) return 'expired';
  const min = ms / 60e3;
  if (min < 60) return `expires in ${Math.max(1, Math.round(min))} min`;
  if (min < 48 * 60) return `expires in ${Math.round(min / 60)} h`;
  return `expires in ${Math.round(min / 1440)} d`;
}

/** "2 of 5 views left". */
export function viewsLeftShort(img) {
  const left = img.viewsLeft ?? img.maxViews;
  return `${fmtNumber(left)} of ${fmtNumber(img.maxViews)} ${img.maxViews === 1 ? 'view' : 'views'} left`;
}
