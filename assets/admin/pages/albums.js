// Albums: the list (create one, open one) and one album's editor: title,
// description, visibility, expiry, cover, order (drag a tile, or move it with
// its arrow buttons), remove images, copy the gallery link as raw, Markdown,
// BBCode or HTML, open the gallery, download its zip, delete the album.

import * as api from '../api.js';
import { h, icon, button, busy, setTitle, copyWithToast, confirmDialog, toast, emptyState, uid, fmtDate } from '../ui.js';
import { panel } from '../widgets.js';
import { explain } from '../errors.js';

const VISIBILITY = [
  ['unlisted', 'Unlisted: anyone with the link'],
  ['public', 'Public: anyone, and search engines'],
  ['private', 'Private: only you'],
];
const EXPIRY = [['', 'Keep'], ['never', 'Never expires'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days']];

export async function mount(root, { params, signal, navigate }) {
  if (params[0]) return mountOne(root, params[0], { signal, navigate });
  setTitle('Albums');
  const titleId = uid('atitle');
  const titleInput = h('input', { id: titleId, class: 'input', placeholder: 'e.g. Holiday 2026', autocomplete: 'off' });
  const form = h('form', { class: 'inline-form album-create' },
    h('div', { class: 'field' }, h('label', { for: titleId, class: 'label', text: 'New album' }),
      h('div', { class: 'input-group' }, titleInput,
        h('button', { type: 'submit', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Create album' })))));
  const list = h('div', { class: 'album-list' });
  root.append(h('div', { class: 'page-head' }, h('h1', { class: 'page-title', tabIndex: -1, text: 'Albums' })),
    panel('Create', form), panel('Your albums', list));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    await busy(btn, async () => {
      try {
        const album = await api.api('POST', '/api/albums', { body: { title: titleInput.value.trim() } });
        toast('Album created', 'success');
        navigate(`/admin/albums/${album.id}`);
      } catch (err) {
        toast(explain(err), 'error');
      }
    });
  });

  try {
    const { albums } = await api.api('GET', '/api/albums', { signal });
    if (!albums.length) {
      list.append(emptyState('image', 'No albums yet', 'Create one above, or select images in the library and add them to an album.'));
    }
    for (const a of albums) {
      list.append(h('a', { href: `/admin/albums/${a.id}`, class: 'album-row', dataset: { album: a.id } },
        a.coverThumbUrl
          ? h('img', { src: a.coverThumbUrl, alt: '', class: 'album-cover', loading: 'lazy', width: 64, height: 64 })
          : h('span', { class: 'album-cover album-cover-empty', 'aria-hidden': 'true' }, icon('image')),
        h('span', { class: 'album-row-text' },
          h('span', { class: 'album-row-title', text: a.title }),
          h('span', { class: 'muted', text: `${a.imageCount} ${a.imageCount === 1 ? 'image' : 'images'} · ${a.visibility}${a.expiresAt ? ` · expires ${fmtDate(a.expiresAt)}` : ''}` }))));
    }
  } catch (err) {
    if (err.name !== 'AbortError') list.append(h('p', { class: 'form-error', role: 'alert', text: explain(err) }));
  }
  return null;
}

/** The album's link in the four paste forms, each with a Copy button. */
function copyRows(album) {
  return [['raw', 'Link'], ['markdown', 'Markdown'], ['bbcode', 'BBCode'], ['html', 'HTML']].map(([k, label]) => {
    const id = uid(`acopy-${k}`);
    const field = h('input', { id, class: 'input mono input-sm', readOnly: true, value: album.links[k] });
    field.addEventListener('focus', () => field.select());
    return h('div', { class: 'field copy-as-row', dataset: { format: k } },
      h('label', { for: id, class: 'label', text: label }),
      h('div', { class: 'input-group' }, field,
        button(`Copy ${label}`, { icon: 'copy', iconOnly: true, onClick: () => copyWithToast(album.links[k], label) })));
  });
}

async function mountOne(root, id, { signal, navigate }) {
  let album;
  try {
    album = await api.api('GET', `/api/albums/${encodeURIComponent(id)}`, { signal });
  } catch (err) {
    if (err.name === 'AbortError') return null;
    setTitle('Album not found');
    root.append(h('h1', { class: 'page-title', text: 'Album not found' }),
      emptyState('alert', explain(err), null, h('a', { href: '/admin/albums', class: 'btn btn-primary', text: 'All albums' })));
    return null;
  }
  setTitle(album.title);
  const heading = h('h1', { class: 'page-title', tabIndex: -1 });
  const ids = { title: uid('t'), desc: uid('d'), vis: uid('v'), exp: uid('e') };
  const title = h('input', { id: ids.title, class: 'input', value: album.title });
  const desc = h('textarea', { id: ids.desc, class: 'input', rows: 3 });
  const vis = h('select', { id: ids.vis, class: 'input input-select' },
    VISIBILITY.map(([v, label]) => h('option', { value: v, text: label })));
  const exp = h('select', { id: ids.exp, class: 'input input-select' },
    EXPIRY.map(([v, label]) => h('option', { value: v, text: label })));
  const expNow = h('p', { class: 'muted' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('check'), h('span', { text: 'Save' }));
  const form = h('form', { class: 'album-form' },
    h('div', { class: 'field' }, h('label', { for: ids.title, class: 'label', text: 'Title' }), title),
    h('div', { class: 'field' }, h('label', { for: ids.desc, class: 'label', text: 'Description' }), desc),
    h('div', { class: 'field' }, h('label', { for: ids.vis, class: 'label', text: 'Who can see it' }), vis),
    h('div', { class: 'field' }, h('label', { for: ids.exp, class: 'label', text: 'Expiry' }), exp, expNow),
    save);
  const links = h('div', { class: 'album-links' });
  const grid = h('ol', { class: 'album-grid', 'aria-label': 'Images in order' });
  const actions = h('div', { class: 'page-actions' },
    h('a', { class: 'btn', target: '_blank', rel: 'noopener' }, icon('external'), h('span', { text: 'Open gallery' })),
    h('a', { class: 'btn', download: '' }, icon('download'), h('span', { text: 'Download zip' })),
    button('Delete album', { icon: 'trash', variant: 'danger', onClick: remove }));
  root.append(h('div', { class: 'page-head' }, heading, actions),
    panel('Details', form), panel('Share', links), panel('Images', grid));

  function show(next) {
    album = next;
    heading.textContent = album.title;
    title.value = album.title;
    desc.value = album.description;
    vis.value = album.visibility;
    exp.value = '';
    expNow.textContent = album.expiresAt ? `Expires ${fmtDate(album.expiresAt)}` : 'Does not expire';
    actions.children[0].href = album.url;
    actions.children[1].href = album.zipUrl;
    links.replaceChildren(...copyRows(album));
    renderGrid();
  }

  function renderGrid() {
    grid.replaceChildren();
    if (!album.images.length) {
      grid.append(h('li', { class: 'muted', text: 'No images yet. Select images in the library and choose “Add to album”.' }));
      return;
    }
    album.images.forEach((img, i) => {
      const isCover = album.cover === img.id || (album.cover == null && i === 0);
      const li = h('li', { class: `album-item${isCover ? ' is-cover' : ''}`, draggable: 'true', dataset: { id: String(img.id) } },
        h('img', { src: api.thumbUrl(img), alt: img.filename, loading: 'lazy', width: 120, height: 120 }),
        h('span', { class: 'album-item-name', text: `${i + 1}. ${img.filename}` }),
        h('span', { class: 'album-item-actions' },
          button(`Move ${img.filename} earlier`, { icon: 'back', iconOnly: true, disabled: i === 0, onClick: () => move(i, i - 1) }),
          button(`Move ${img.filename} later`, { icon: 'back', iconOnly: true, cls: 'flip', disabled: i === album.images.length - 1, onClick: () => move(i, i + 1) }),
          button(isCover ? 'Cover' : `Make ${img.filename} the cover`, { icon: 'image', iconOnly: true, cls: isCover ? 'is-on' : '', onClick: () => patch({ cover: img.id }) }),
          button(`Remove ${img.filename} from the album`, { icon: 'x', iconOnly: true, onClick: () => setImages(album.imageIds.filter((x) => x !== img.id)) })));
      li.addEventListener('dragstart', (e) => { e.dataTransfer.setData('text/plain', String(i)); li.classList.add('is-dragging'); });
      li.addEventListener('dragend', () => li.classList.remove('is-dragging'));
      li.addEventListener('dragover', (e) => e.preventDefault());
      li.addEventListener('drop', (e) => {
        e.preventDefault();
        const from = Number(e.dataTransfer.getData('text/plain'));
        if (Number.isInteger(from) && from !== i) move(from, i);
      });
      grid.append(li);
    });
  }

  async function setImages(list) {
    try {
      show(await api.api('PUT', `/api/albums/${album.id}/images`, { body: { ids: list } }));
    } catch (err) {
      toast(explain(err), 'error');
    }
  }

  function move(from, to) {
    const list = [...album.imageIds];
    const [one] = list.splice(from, 1);
    list.splice(to, 0, one);
    return setImages(list);
  }

  async function patch(body) {
    try {
      show(await api.api('PATCH', `/api/albums/${album.id}`, { body }));
      return true;
    } catch (err) {
      toast(explain(err), 'error');
      return false;
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { title: title.value.trim(), description: desc.value, visibility: vis.value };
    if (exp.value) body.expiresAt = exp.value;
    await busy(save, async () => { if (await patch(body)) toast('Album saved', 'success'); });
  });

  async function remove() {
    const ok = await confirmDialog({
      title: `Delete “${album.title}”?`,
      body: 'The album and its link go; its images stay in the library.',
      confirmText: 'Delete album',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.api('DELETE', `/api/albums/${album.id}`);
      toast('Album deleted', 'success');
      navigate('/admin/albums');
    } catch (err) {
      toast(explain(err), 'error');
    }
  }

  show(album);
  return null;
}

/** The library's "Add to album" dialog: an existing album or a new one. */
export async function addToAlbumDialog(imageIds) {
  let albums = [];
  try {
    ({ albums } = await api.api('GET', '/api/albums'));
  } catch (err) {
    toast(explain(err), 'error');
    return;
  }
  const titleId = uid('dlg');
  const selId = uid('asel');
  const newId = uid('anew');
  const sel = h('select', { id: selId, class: 'input input-select' },
    h('option', { value: '', text: 'A new album…' }),
    albums.map((a) => h('option', { value: a.id, text: a.title })));
  const name = h('input', { id: newId, class: 'input', placeholder: 'Title of the new album' });
  const nameField = h('div', { class: 'field' }, h('label', { for: newId, class: 'label', text: 'New album title' }), name);
  sel.addEventListener('change', () => { nameField.hidden = sel.value !== ''; });
  const add = button('Add', { variant: 'primary', onClick: async () => {
    try {
      const album = sel.value
        ? await api.api('POST', `/api/albums/${sel.value}/images`, { body: { ids: imageIds } })
        : await api.api('POST', '/api/albums', { body: { title: name.value.trim(), images: imageIds } });
      toast(`Added to “${album.title}”`, 'success');
      dialog.close();
    } catch (err) {
      toast(explain(err), 'error');
    }
  } });
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'dialog-title', text: `Add ${imageIds.length} ${imageIds.length === 1 ? 'image' : 'images'} to an album` }),
    h('div', { class: 'field' }, h('label', { for: selId, class: 'label', text: 'Album' }), sel),
    nameField,
    h('div', { class: 'dialog-actions' }, button('Cancel', { onClick: () => dialog.close() }), add));
  document.body.append(dialog);
  dialog.showModal();
  dialog.addEventListener('close', () => dialog.remove(), { once: true });
  sel.focus();
}

/** Downloads the images `ids` as one zip (POST, so the session's CSRF token goes with it). */
export async function downloadZip(ids) {
  const res = await fetch('/api/images/zip', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': api.csrf() },
    body: JSON.stringify({ ids }),
  });
  if (!res.ok) {
    toast(explain(await api.errorFrom(res)), 'error');
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: `pixbin-${ids.length}-images.zip`, class: 'visually-hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
