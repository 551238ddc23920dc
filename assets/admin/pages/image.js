// One image: preview, metadata, link and actions, and its view statistics.

import * as api from '../api.js';
import { h, icon, button, fmtBytes, fmtNumber, fmtDate, setTitle, copyWithToast, emptyState, uid } from '../ui.js';
import { togglePrivacy, rotateKey, deleteImage } from '../actions.js';
import { panel, skeleton, noData, fillDays, viewsChart, countryList, referrerList, panelError } from '../widgets.js';

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
  const body = h('div', { class: 'image-layout' });
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
    const preview = h('img', { src: api.proxyUrl(img), alt: `Preview of ${img.filename}`, class: 'preview-img', decoding: 'async' });
    if (img.width && img.height) { preview.width = img.width; preview.height = img.height; }
    preview.addEventListener('error', () => preview.replaceWith(h('span', { class: 'thumb-broken' }, icon('image'))));

    const rows = [
      ['Size', `${fmtBytes(img.size)} (${fmtNumber(img.size)} bytes)`],
      ['Dimensions', img.width && img.height ? `${img.width} × ${img.height} px` : '—'],
      ['Type', img.contentType || img.extension?.toUpperCase() || '—'],
      ['Uploaded', fmtDate(img.uploadedAt)],
      ['Views', fmtNumber(img.views)],
      ['ID', `${img.id} · ${img.uuid}`],
    ];
    const hashRow = img.hash && h('div', { class: 'meta-row' },
      h('dt', { text: 'Hash' }),
      h('dd', { class: 'hash-cell' }, h('code', { class: 'mono hash', text: img.hash, title: img.hash }),
        button('Copy hash', { icon: 'copy', iconOnly: true, onClick: () => copyWithToast(img.hash, 'Hash') })));

    body.replaceChildren(
      h('a', { href: img.url, target: '_blank', rel: 'noopener noreferrer', class: 'preview', 'aria-label': `Open ${img.filename} in a new tab` }, preview),
      h('div', { class: 'image-side' },
        h('div', { class: 'field' },
          h('label', { for: linkId, class: 'label', text: img.isPrivate ? 'Private link (includes its key)' : 'Public link' }),
          h('div', { class: 'input-group' }, link,
            button('Copy link', { icon: 'copy', variant: 'primary', onClick: () => copyWithToast(img.url) }))),
        h('div', { class: 'action-row' },
          h('a', { href: img.url, target: '_blank', rel: 'noopener noreferrer', class: 'btn' }, icon('external'), h('span', { text: 'Open' })),
          button(img.isPrivate ? 'Make public' : 'Make private', {
            icon: img.isPrivate ? 'globe' : 'lock',
            onClick: async (e) => { e.currentTarget.disabled = true; const next = await togglePrivacy(img); if (next) { img = next; render(); } else e.currentTarget.disabled = false; },
          }),
          img.isPrivate && button('Rotate key', {
            icon: 'rotate',
            onClick: async () => { const next = await rotateKey(img); if (next) { img = next; render(); } },
          }),
          button('Delete', {
            icon: 'trash', variant: 'danger-ghost',
            onClick: async () => { if (await deleteImage(img)) navigate('/admin/library'); },
          })),
        h('dl', { class: 'meta-list' },
          rows.map(([k, v]) => h('div', { class: 'meta-row' }, h('dt', { text: k }), h('dd', { text: v }))),
          hashRow)));
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
