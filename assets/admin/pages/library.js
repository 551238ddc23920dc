// Library: a filterable, infinitely scrolling thumbnail grid over the cursor API,
// with per-image and bulk actions. A user's library holds their own images (the
// server scopes it); an admin sees every account's and may pick one owner.

import * as api from '../api.js';
import { h, icon, button, busy, fmtBytes, fmtNumber, timeEl, setTitle, copyWithToast, confirmDialog, toast, emptyState, uid } from '../ui.js';
import { togglePrivacy, deleteImage, deleteNow, setPrivacyNow, copyAsDialog, expiryShort, viewsLeftShort } from '../actions.js';
import { explain } from '../errors.js';
import { accountPicker } from '../widgets.js';
import { addToAlbumDialog, downloadZip } from './albums.js';

const PAGE_SIZE = 48;

const STATUSES = [['', 'Active'], ['expiring', 'Expiring'], ['expired', 'Expired'], ['all', 'All']];
// value → [sort, order]
const SORTS = [
  ['', 'Newest first', 'date', 'desc'], ['oldest', 'Oldest first', 'date', 'asc'],
  ['largest', 'Largest first', 'size', 'desc'], ['smallest', 'Smallest first', 'size', 'asc'],
  ['views', 'Most viewed', 'views', 'desc'], ['name', 'Name A–Z', 'name', 'asc'], ['name-desc', 'Name Z–A', 'name', 'desc'],
];

/**
 * An <img> for an image's tile: always the session thumbnail route, which
 * serves every image the session may see (private and view-limited too)
 * without spending a view. A tile never downloads the original: when the
 * thumbnail cannot be had, a placeholder stands in.
 */
export function thumbnail(img, { eager = false } = {}) {
  const el = h('img', { alt: '', loading: eager ? 'eager' : 'lazy', decoding: 'async', class: 'thumb-img', src: api.thumbUrl(img) });
  el.addEventListener('error', () => {
    el.replaceWith(h('span', { class: 'thumb-broken', title: 'Preview unavailable' }, icon('image')));
  });
  return el;
}

/** "YYYY-MM-DD" (local calendar day) → RFC 3339 instant at the start or end of that day. */
function dayBound(value, end) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  if (!m) return null;
  const d = end ? new Date(+m[1], +m[2] - 1, +m[3], 23, 59, 59, 999) : new Date(+m[1], +m[2] - 1, +m[3]);
  return d.toISOString();
}

export async function mount(root, { query, signal }) {
  setTitle('Library');
  const filters = {
    q: query.get('q') || '',
    type: ['public', 'private'].includes(query.get('type')) ? query.get('type') : '',
    from: query.get('from') || '',
    to: query.get('to') || '',
    status: STATUSES.some(([v]) => v && v === query.get('status')) ? query.get('status') : '',
    sort: SORTS.some(([v]) => v && v === query.get('sort')) ? query.get('sort') : '',
    // An admin may narrow the library to one account's images.
    user: api.isAdmin() ? query.get('user') || '' : '',
  };
  const items = new Map(); // uuid -> { img, el }
  const selected = new Set();
  let cursor = null;
  let done = false;
  let loading = false;
  let generation = 0;
  let pageController = null;
  let lastClicked = null;

  // ---------- filters ----------
  const search = h('input', { type: 'search', class: 'input', placeholder: 'Search filenames', 'aria-label': 'Search filenames', value: filters.q, autocomplete: 'off' });
  const typeName = uid('type');
  const typeGroup = h('fieldset', { class: 'segmented' }, h('legend', { class: 'visually-hidden', text: 'Visibility' }),
    [['', 'All'], ['public', 'Public'], ['private', 'Private']].map(([v, label]) => {
      const id = uid('t');
      return [h('input', { type: 'radio', name: typeName, id, value: v, checked: filters.type === v, class: 'segmented-input' }),
        h('label', { for: id, class: 'segmented-label', text: label })];
    }));
  const fromId = uid('from');
  const toId = uid('to');
  const from = h('input', { type: 'date', id: fromId, class: 'input input-date', value: filters.from });
  const to = h('input', { type: 'date', id: toId, class: 'input input-date', value: filters.to });
  const statusId = uid('status');
  const statusSel = h('select', { id: statusId, class: 'input input-select' },
    STATUSES.map(([v, label]) => h('option', { value: v, text: label, selected: filters.status === v })));
  const sortId = uid('sort');
  const sortSel = h('select', { id: sortId, class: 'input input-select' },
    SORTS.map(([v, label]) => h('option', { value: v, text: label, selected: filters.sort === v })));
  let ownerValue = filters.user;
  const owner = api.isAdmin() ? accountPicker('Owner', filters.user, signal, (v) => { ownerValue = v; readFilters(); }) : null;
  const clear = button('Clear filters', { icon: 'x', variant: 'ghost', onClick: () => {
    search.value = ''; from.value = ''; to.value = ''; statusSel.value = ''; sortSel.value = '';
    if (owner) owner.querySelector('select').value = '';
    ownerValue = '';
    typeGroup.querySelector('input[value=""]').checked = true;
    readFilters();
  } });
  const filterForm = h('form', { class: 'filters', role: 'search', onSubmit: (e) => { e.preventDefault(); readFilters(); } },
    h('div', { class: 'search-field' }, icon('search'), search),
    typeGroup,
    h('div', { class: 'date-range' },
      h('div', { class: 'date-field' }, h('label', { for: fromId, class: 'label-inline', text: 'From' }), from),
      h('div', { class: 'date-field' }, h('label', { for: toId, class: 'label-inline', text: 'To' }), to)),
    h('div', { class: 'select-field' }, h('label', { for: statusId, class: 'label-inline', text: 'Status' }), statusSel),
    h('div', { class: 'select-field' }, h('label', { for: sortId, class: 'label-inline', text: 'Sort' }), sortSel),
    owner,
    clear);

  let debounce = null;
  search.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(readFilters, 300); });
  typeGroup.addEventListener('change', readFilters);
  from.addEventListener('change', readFilters);
  to.addEventListener('change', readFilters);
  statusSel.addEventListener('change', readFilters);
  sortSel.addEventListener('change', readFilters);

  function readFilters() {
    clearTimeout(debounce);
    const next = {
      q: search.value.trim(),
      type: typeGroup.querySelector('input:checked')?.value || '',
      from: from.value,
      to: to.value,
      status: statusSel.value,
      sort: sortSel.value,
      user: ownerValue,
    };
    if (JSON.stringify(next) === JSON.stringify(filters)) return;
    Object.assign(filters, next);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
    const qs = params.toString();
    history.replaceState(null, '', `/admin/library${qs ? `?${qs}` : ''}`);
    reset();
  }

  // ---------- grid ----------
  const status = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
  const grid = h('ul', { class: 'grid', 'aria-label': 'Images' });
  const more = button('Load more', { cls: 'load-more', onClick: () => loadPage() });
  const footer = h('div', { class: 'grid-footer' }, more);
  const countEl = h('span', { class: 'bulk-count' });
  const bulk = h('div', { class: 'bulk-bar', hidden: true, role: 'region', 'aria-label': 'Selection' },
    countEl,
    h('div', { class: 'bulk-actions' },
      button('Select all', { variant: 'ghost', onClick: () => { for (const k of items.keys()) selected.add(k); syncSelection(); } }),
      button('Clear', { variant: 'ghost', onClick: () => { selected.clear(); syncSelection(); } }),
      button('Make private', { icon: 'lock', onClick: (e) => bulkPrivacy(e.currentTarget, true) }),
      button('Make public', { icon: 'globe', onClick: (e) => bulkPrivacy(e.currentTarget, false) }),
      button('Add to album', { icon: 'image', onClick: () => addToAlbumDialog(selectedIds()) }),
      button('Download zip', { icon: 'download', onClick: (e) => busy(e.currentTarget, () => downloadZip(selectedIds())) }),
      button('Delete', { icon: 'trash', variant: 'danger', onClick: (e) => bulkDelete(e.currentTarget) })));
  const selectedIds = () => [...selected].map((u) => items.get(u)?.img?.id).filter(Boolean);

  root.append(
    h('div', { class: 'page-head' },
      h('h1', { class: 'page-title', text: 'Library' }),
      h('a', { href: '/admin/upload', class: 'btn btn-primary' }, icon('upload'), h('span', { text: 'Upload' }))),
    filterForm, status, grid, footer, bulk);

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !loading && !done) loadPage();
  }, { rootMargin: '800px 0px' });
  observer.observe(more);

  function syncFilterUi() {
    clear.hidden = !(filters.q || filters.type || filters.from || filters.to || filters.status || filters.sort || filters.user);
  }

  function syncSelection() {
    for (const [uuid, { el }] of items) {
      const on = selected.has(uuid);
      el.classList.toggle('is-selected', on);
      const box = el.querySelector('.tile-check input');
      if (box) box.checked = on;
    }
    for (const uuid of [...selected]) if (!items.has(uuid)) selected.delete(uuid);
    grid.classList.toggle('has-selection', selected.size > 0);
    bulk.hidden = selected.size === 0;
    countEl.textContent = `${selected.size} selected`;
  }

  function reset() {
    generation += 1;
    pageController?.abort();
    items.clear();
    selected.clear();
    cursor = null;
    done = false;
    loading = false;
    grid.replaceChildren(...Array.from({ length: 8 }, () => h('li', { class: 'tile tile-skeleton', 'aria-hidden': 'true' })));
    syncSelection();
    syncFilterUi();
    loadPage(true);
  }

  async function loadPage(first = false) {
    if (loading || done) return;
    loading = true;
    const gen = generation;
    more.disabled = true;
    more.querySelector('span').textContent = 'Loading…';
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (filters.type) params.set('type', filters.type);
    if (filters.q) params.set('q', filters.q);
    const fromIso = dayBound(filters.from, false);
    const toIso = dayBound(filters.to, true);
    if (fromIso) params.set('from', fromIso);
    if (toIso) params.set('to', toIso);
    if (filters.status) params.set('status', filters.status);
    if (filters.user) params.set('user', filters.user);
    const sort = SORTS.find(([v]) => v === filters.sort);
    if (sort && filters.sort) {
      params.set('sort', sort[2]);
      params.set('order', sort[3]);
    }
    if (cursor) params.set('cursor', cursor);
    pageController = new AbortController();
    const onAbort = () => pageController.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const data = await api.api('GET', `/api/list?${params}`, { signal: pageController.signal });
      if (gen !== generation) return;
      if (first) grid.replaceChildren();
      for (const img of data.images || []) {
        if (items.has(img.uuid)) continue;
        const el = tile(img);
        items.set(img.uuid, { img, el });
        grid.append(el);
      }
      cursor = data.nextCursor || null;
      done = !cursor;
      status.textContent = `${items.size} images shown${done ? '' : ', more available'}`;
      if (items.size === 0) grid.replaceChildren(emptyTile());
    } catch (e) {
      if (e.name === 'AbortError' || gen !== generation) return;
      if (first) grid.replaceChildren();
      if (e.status !== 401) toast(explain(e), 'error');
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (gen === generation) {
        loading = false;
        more.disabled = false;
        more.querySelector('span').textContent = 'Load more';
        footer.hidden = done;
        // A tall screen may show the whole first page with the sentinel still in view.
        if (!done && isInView(more)) setTimeout(() => loadPage(), 0);
      }
    }
  }

  function emptyTile() {
    const filtered = filters.q || filters.type || filters.from || filters.to || filters.status;
    return h('li', { class: 'grid-empty' }, filtered
      ? emptyState('search', 'No images match these filters.', 'Try another search or clear the filters.')
      : emptyState('image', 'No images yet', 'Upload a screenshot, or set up ShareX with an upload key.',
        h('div', { class: 'empty-actions' },
          h('a', { href: '/admin/upload', class: 'btn btn-primary', text: 'Upload images' }),
          h('a', { href: '/admin/keys', class: 'btn', text: 'Create an upload key' }))));
  }

  function replaceItem(img) {
    const entry = items.get(img.uuid);
    if (!entry) return;
    const el = tile(img);
    entry.el.replaceWith(el);
    items.set(img.uuid, { img, el });
    syncSelection();
    // Keep keyboard focus near where it was.
    el.querySelector('.tile-actions button')?.focus();
  }

  function removeItem(uuid) {
    const entry = items.get(uuid);
    if (!entry) return;
    entry.el.remove();
    items.delete(uuid);
    selected.delete(uuid);
    syncSelection();
    if (items.size === 0 && done) grid.replaceChildren(emptyTile());
  }

  function tile(img) {
    const detail = `/admin/images/${encodeURIComponent(img.id)}`;
    const check = h('input', { type: 'checkbox', 'aria-label': `Select ${img.filename}`, checked: selected.has(img.uuid) });
    check.addEventListener('click', (e) => {
      const keys = [...items.keys()];
      if (e.shiftKey && lastClicked && items.has(lastClicked)) {
        const [a, b] = [keys.indexOf(lastClicked), keys.indexOf(img.uuid)].sort((x, y) => x - y);
        for (const k of keys.slice(a, b + 1)) {
          if (check.checked) selected.add(k);
          else selected.delete(k);
        }
      } else if (check.checked) selected.add(img.uuid);
      else selected.delete(img.uuid);
      lastClicked = img.uuid;
      syncSelection();
    });
    // Each icon shows what its button does (the label's action), never the state.
    const actions = [
      button('Copy link', { icon: 'copy', iconOnly: true, onClick: () => copyWithToast(img.url) }),
      button('Copy as…', { icon: 'code', iconOnly: true, onClick: () => copyAsDialog(img) }),
      h('a', { href: img.url, target: '_blank', rel: 'noopener noreferrer', class: 'btn btn-icon', title: 'Open', 'aria-label': `Open ${img.filename} in a new tab` }, icon('external')),
      button(img.isPrivate ? 'Make public' : 'Make private', {
        icon: img.isPrivate ? 'globe' : 'lock', iconOnly: true,
        onClick: async (e) => { e.currentTarget.disabled = true; const next = await togglePrivacy(img); if (next) replaceItem(next); else e.currentTarget.disabled = false; },
      }),
      button('Delete', {
        icon: 'trash', iconOnly: true, cls: 'btn-icon-danger',
        onClick: async () => { if (await deleteImage(img)) removeItem(img.uuid); },
      }),
    ];
    return h('li', { class: 'tile', dataset: { uuid: img.uuid, id: String(img.id) } },
      h('div', { class: 'tile-media' },
        h('a', { href: detail, class: 'tile-thumb', tabIndex: -1, 'aria-hidden': 'true' }, thumbnail(img)),
        h('label', { class: 'tile-check' }, check),
        img.isPrivate && h('span', { class: 'badge badge-private' }, icon('lock'), h('span', { text: 'Private' }))),
      h('div', { class: 'tile-body' },
        h('a', { href: detail, class: 'tile-name', text: img.filename, title: img.filename }),
        h('div', { class: 'tile-meta' },
          h('span', { text: fmtBytes(img.size) }),
          img.width && img.height ? h('span', { text: `${img.width}×${img.height}` }) : null,
          // An admin sees every account's images: name the owner of others'.
          img.owner && img.owner !== api.session.username ? h('span', { class: 'tile-owner', title: `Owner: ${img.owner}`, text: img.owner }) : null),
        h('div', { class: 'tile-meta' }, timeEl(img.uploadedAt),
          h('span', { class: 'tile-views', title: `${fmtNumber(img.views)} ${img.views === 1 ? 'view' : 'views'}` }, icon('eye'), h('span', { text: fmtNumber(img.views) }))),
        (img.expiresAt || img.maxViews != null) && h('div', { class: 'tile-meta tile-life' },
          img.expiresAt && h('span', { class: 'chip', title: `Expires ${new Date(img.expiresAt).toLocaleString()}` }, icon('clock'), h('span', { text: expiryShort(img.expiresAt) })),
          img.maxViews != null && h('span', { class: 'chip', title: 'Views left before the link stops' }, icon('eye'), h('span', { text: viewsLeftShort(img) }))),
        h('div', { class: 'tile-actions' }, actions)));
  }

  async function bulkPrivacy(btn, makePrivate) {
    const list = [...selected].map((u) => items.get(u)?.img).filter((i) => i && i.isPrivate !== makePrivate);
    if (!list.length) {
      toast(`The selected images are already ${makePrivate ? 'private' : 'public'}.`, 'info');
      return;
    }
    btn.disabled = true;
    let failed = 0;
    const queue = [...list];
    const worker = async () => {
      while (queue.length) {
        const img = queue.shift();
        try {
          const next = await setPrivacyNow(img, makePrivate);
          const entry = items.get(img.uuid);
          if (entry) {
            const el = tile(next);
            entry.el.replaceWith(el);
            items.set(img.uuid, { img: next, el });
          }
        } catch (e) {
          if (e.status === 401) return;
          failed += 1;
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    btn.disabled = false;
    syncSelection();
    const done = list.length - failed;
    if (done) toast(`${done} ${done === 1 ? 'image is' : 'images are'} now ${makePrivate ? 'private' : 'public'}`, 'success');
    if (failed) toast(`${failed} could not be changed`, 'error');
  }

  async function bulkDelete(btn) {
    const list = [...selected].map((u) => items.get(u)?.img).filter(Boolean);
    if (!list.length) return;
    const ok = await confirmDialog({
      title: `Delete ${list.length} ${list.length === 1 ? 'image' : 'images'}?`,
      body: 'They and their links will be gone for good.',
      confirmText: `Delete ${list.length}`,
      danger: true,
    });
    if (!ok) return;
    btn.disabled = true;
    let failed = 0;
    const queue = [...list];
    const worker = async () => {
      while (queue.length) {
        const img = queue.shift();
        try {
          await deleteNow(img);
          removeItem(img.uuid);
        } catch (e) {
          if (e.status === 401) return;
          failed += 1;
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    btn.disabled = false;
    const deleted = list.length - failed;
    if (deleted) toast(`Deleted ${deleted} ${deleted === 1 ? 'image' : 'images'}`, 'success');
    if (failed) toast(`${failed} could not be deleted`, 'error');
  }

  function onKey(e) {
    if (e.key === 'Escape' && selected.size && !document.querySelector('dialog[open]')) {
      selected.clear();
      syncSelection();
    }
  }
  document.addEventListener('keydown', onKey);

  reset();
  return () => {
    observer.disconnect();
    pageController?.abort();
    clearTimeout(debounce);
    document.removeEventListener('keydown', onKey);
  };
}

function isInView(el) {
  const r = el.getBoundingClientRect();
  return r.top < window.innerHeight + 800 && r.bottom > 0 && !el.closest('[hidden]');
}
