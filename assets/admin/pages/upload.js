// Upload: file picker, drag-and-drop, paste, a queue with per-file progress
// (XHR, since fetch reports no upload progress), and links to copy.

import * as api from '../api.js';
import { h, icon, button, fmtBytes, setTitle, copyWithToast, uid } from '../ui.js';
import { explain, typeList } from '../errors.js';
import { copyAsDialog } from '../actions.js';

const CONCURRENCY = 3;

/** 3600 → "1 hour", 604800 → "7 days". */
export function fmtSeconds(s) {
  if (s == null) return 'never';
  const units = [[31536000, 'year'], [604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  for (const [size, unit] of units) {
    if (s >= size && s % size === 0) {
      const n = s / size;
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${s} seconds`;
}

export async function mount(root, { pendingFiles, signal }) {
  setTitle('Upload');
  // The server's real defaults: what an upload gets when the form says nothing.
  const settings = await api.settings();
  if (signal?.aborted) return undefined;
  const up = settings?.upload || null;
  const queue = [];
  const objectUrls = [];
  let running = 0;

  const inputId = uid('file');
  const accept = up?.allowedTypes?.length
    ? up.allowedTypes.map((t) => `image/${t === 'jpg' ? 'jpeg' : t === 'ico' ? 'x-icon' : t}`).join(',')
    : 'image/*';
  const input = h('input', { type: 'file', id: inputId, multiple: true, accept, class: 'visually-hidden file-input' });
  const privId = uid('priv');
  // The box starts as an upload without it would be: the server's default.
  const priv = h('input', { type: 'checkbox', id: privId, checked: Boolean(up?.privateByDefault), class: 'checkbox' });

  const expId = uid('exp');
  const serverDefault = up ? `Server default (${up.defaultExpirySeconds ? `after ${fmtSeconds(up.defaultExpirySeconds)}` : 'never'})` : 'Server default';
  const expires = h('select', { id: expId, class: 'input input-sm' },
    [['', serverDefault], ['1h', 'In 1 hour'], ['1d', 'In 1 day'], ['7d', 'In 7 days'], ['30d', 'In 30 days'], ['never', 'Never']]
      .map(([value, label]) => h('option', { value, text: label })));
  const mvId = uid('maxviews');
  const maxViews = h('input', { id: mvId, type: 'number', min: 1, step: 1, inputmode: 'numeric', class: 'input input-sm', placeholder: 'No limit' });

  const zone = h('div', { class: 'dropzone' },
    h('div', { class: 'dropzone-icon' }, icon('upload')),
    h('p', { class: 'dropzone-title', text: 'Drop images here' }),
    h('p', { class: 'dropzone-text muted paste-hint' }, 'or paste from the clipboard (', h('kbd', { text: /Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl' }), '+', h('kbd', { text: 'V' }), ')'),
    input,
    h('label', { for: inputId, class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Choose files' })),
    up && h('p', { class: 'dropzone-limits muted', dataset: { test: 'limits' } },
      `${typeList(up.allowedTypes || [])} · up to ${fmtBytes(up.maxBytes)} each`));

  const list = h('ul', { class: 'upload-list', 'aria-label': 'Uploads' });
  const copyAll = button('Copy all links', { icon: 'copy', onClick: () => {
    const links = queue.filter((q) => q.result).map((q) => q.result.url);
    if (links.length) copyWithToast(links.join('\n'), links.length === 1 ? 'Link' : `${links.length} links`);
  } });
  const clearDone = button('Clear finished', { variant: 'ghost', onClick: () => {
    for (const item of [...queue]) {
      if (item.state === 'done' || item.state === 'error') {
        item.el.remove();
        queue.splice(queue.indexOf(item), 1);
      }
    }
    syncToolbar();
  } });
  const toolbar = h('div', { class: 'upload-toolbar', hidden: true }, copyAll, clearDone);

  root.append(
    h('div', { class: 'page-head' }, h('h1', { class: 'page-title', text: 'Upload' })),
    zone,
    h('div', { class: 'upload-options' },
      h('div', { class: 'check-field' }, priv,
        h('label', { for: privId },
          h('span', { class: 'check-title', text: 'Private' }),
          h('span', { class: 'check-hint muted', text: `Only people with the link (it carries a secret key) can see it.${up ? ` Server default: ${up.privateByDefault ? 'private' : 'public'}.` : ''}` }))),
      h('div', { class: 'upload-limits' },
        h('div', { class: 'field' }, h('label', { for: expId, class: 'label', text: 'Expires' }), expires),
        h('div', { class: 'field' }, h('label', { for: mvId, class: 'label', text: 'Max views' }), maxViews))),
    toolbar,
    list);

  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';
  });

  // Drag and drop: highlight while files hover the page.
  let dragDepth = 0;
  const onDragEnter = (e) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    dragDepth += 1;
    zone.classList.add('is-dragging');
  };
  const onDragLeave = () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) zone.classList.remove('is-dragging');
  };
  const onDrop = (e) => {
    dragDepth = 0;
    zone.classList.remove('is-dragging');
    if (!e.dataTransfer?.files.length) return;
    e.preventDefault();
    addFiles(e.dataTransfer.files);
  };
  const onPaste = (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return;
    e.preventDefault();
    addFiles(files.map((f, i) => renamePasted(f, i)));
  };
  document.addEventListener('dragenter', onDragEnter);
  document.addEventListener('dragleave', onDragLeave);
  document.addEventListener('drop', onDrop);
  document.addEventListener('paste', onPaste);

  function addFiles(files) {
    for (const file of files) {
      const item = { file, state: 'queued', result: null, abort: null };
      item.el = row(item);
      queue.push(item);
      list.append(item.el);
    }
    syncToolbar();
    pump();
  }

  function syncToolbar() {
    toolbar.hidden = !queue.length;
    copyAll.hidden = !queue.some((q) => q.result);
    clearDone.hidden = !queue.some((q) => q.state === 'done' || q.state === 'error');
  }

  function pump() {
    while (running < CONCURRENCY) {
      const item = queue.find((q) => q.state === 'queued');
      if (!item) return;
      start(item);
    }
  }

  function start(item) {
    running += 1;
    item.state = 'uploading';
    setStatus(item, 'Uploading… 0%');
    item.el.classList.add('is-uploading');
    const { promise, abort } = api.uploadFile(item.file, {
      isPrivate: priv.checked,
      expires: expires.value,
      maxViews: Number.parseInt(maxViews.value, 10) > 0 ? Number.parseInt(maxViews.value, 10) : null,
      onProgress: (f) => {
        const pct = Math.round(f * 100);
        item.progress.value = pct;
        setStatus(item, pct >= 100 ? 'Processing…' : `Uploading… ${pct}%`);
      },
    });
    item.abort = abort;
    promise.then((img) => {
      item.state = 'done';
      item.result = img;
      item.progress.value = 100;
      item.el.classList.add('is-done');
      setStatus(item, 'Done');
      showResult(item, img);
    }, (err) => {
      item.state = 'error';
      item.el.classList.add('is-error');
      setStatus(item, err.code === 'aborted' ? 'Cancelled' : explain(err, up));
      item.status.title = err.message || '';
    }).finally(() => {
      running -= 1;
      item.el.classList.remove('is-uploading');
      item.cancel.hidden = true;
      item.fixes.hidden = item.state !== 'error';
      syncToolbar();
      pump();
    });
  }

  function retry(item) {
    item.el.classList.remove('is-error');
    item.fixes.hidden = true;
    item.cancel.hidden = false;
    item.progress.value = 0;
    item.status.removeAttribute('title');
    item.state = 'queued';
    setStatus(item, 'Waiting…');
    syncToolbar();
    pump();
  }

  function dismiss(item) {
    item.el.remove();
    queue.splice(queue.indexOf(item), 1);
    syncToolbar();
  }

  function setStatus(item, text) {
    item.status.textContent = text;
    item.progress.setAttribute('aria-valuetext', text);
  }

  function row(item) {
    const preview = URL.createObjectURL(item.file);
    objectUrls.push(preview);
    const img = h('img', { src: preview, alt: '', class: 'upload-thumb', decoding: 'async' });
    img.addEventListener('error', () => img.replaceWith(h('span', { class: 'upload-thumb thumb-broken' }, icon('image'))));
    const nameId = uid('up');
    item.progress = h('progress', { max: 100, value: 0, class: 'progress', 'aria-labelledby': nameId });
    item.status = h('span', { class: 'upload-status', text: 'Waiting…' });
    item.result_el = h('div', { class: 'upload-result', hidden: true });
    item.cancel = button('Cancel upload', {
      icon: 'x', iconOnly: true, variant: 'ghost',
      onClick: () => {
        if (item.state === 'uploading') item.abort?.();
        else if (item.state === 'queued') {
          item.state = 'error';
          item.el.classList.add('is-error');
          setStatus(item, 'Cancelled');
          item.cancel.hidden = true;
          item.fixes.hidden = false;
          syncToolbar();
        }
      },
    });
    item.fixes = h('div', { class: 'upload-fixes', hidden: true },
      button('Retry', { icon: 'retry', cls: 'btn-sm', onClick: () => retry(item) }),
      button('Dismiss', { icon: 'x', variant: 'ghost', cls: 'btn-sm', onClick: () => dismiss(item) }));
    return h('li', { class: 'upload-item' },
      img,
      h('div', { class: 'upload-main' },
        h('div', { class: 'upload-line' },
          h('span', { id: nameId, class: 'upload-name', text: item.file.name, title: item.file.name }),
          h('span', { class: 'upload-size muted', text: fmtBytes(item.file.size) })),
        item.progress,
        item.status,
        item.fixes,
        item.result_el),
      item.cancel);
  }

  function showResult(item, img) {
    const linkId = uid('link');
    const link = h('input', { id: linkId, class: 'input mono input-sm', readOnly: true, value: img.url, 'aria-label': `Link to ${img.filename}` });
    link.addEventListener('focus', () => link.select());
    item.result_el.replaceChildren(
      h('div', { class: 'input-group' }, link,
        button('Copy link', { icon: 'copy', variant: 'primary', cls: 'btn-sm', onClick: () => copyWithToast(img.url) })),
      h('div', { class: 'upload-links' },
        h('button', { type: 'button', class: 'text-link link-button', onClick: () => copyAsDialog(img) }, icon('code'), h('span', { text: 'Copy as…' })),
        h('a', { href: img.url, target: '_blank', rel: 'noopener noreferrer', class: 'text-link' }, 'Open', icon('external')),
        h('a', { href: `/admin/images/${encodeURIComponent(img.id)}`, class: 'text-link', text: 'Details' }),
        img.isPrivate && h('span', { class: 'badge badge-private' }, icon('lock'), h('span', { text: 'Private' }))));
    item.result_el.hidden = false;
  }

  if (pendingFiles?.length) addFiles(pendingFiles.splice(0));

  return () => {
    document.removeEventListener('dragenter', onDragEnter);
    document.removeEventListener('dragleave', onDragLeave);
    document.removeEventListener('drop', onDrop);
    document.removeEventListener('paste', onPaste);
    // Uploads in flight keep going; only the previews are released.
    for (const u of objectUrls) URL.revokeObjectURL(u);
  };
}

/** Clipboard images arrive as "image.png"; give them a name worth keeping. */
function renamePasted(file, i) {
  if (!/^image\.\w+$/i.test(file.name) && file.name) return file;
  const ext = (file.type.split('/')[1] || 'png').replace('jpeg', 'jpg').replace(/\+.*$/, '');
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
  return new File([file], `paste_${stamp}${i ? `_${i + 1}` : ''}.${ext}`, { type: file.type });
}
