// Dashboard: totals, views per day, top countries/referrers/images, recent views.
// Each panel loads on its own; a missing stats endpoint (404) shows "no data yet".

import * as api from '../api.js';
import { h, icon, fmtNumber, fmtBytes, setTitle, timeEl, countryLabel } from '../ui.js';
import { panel, skeleton, noData, fillDays, viewsChart, countryList, referrerList, panelError } from '../widgets.js';
import { thumbnail } from './library.js';

export async function mount(root, { signal }) {
  setTitle('Dashboard');
  const cards = h('div', { class: 'cards', 'aria-live': 'polite' });
  const chart = panel('Views, last 30 days', skeleton(4), { cls: 'panel-wide' });
  const countries = panel('Top countries', skeleton());
  const referrers = panel('Top referrers', skeleton());
  const top = panel('Top images', skeleton());
  const recent = panel('Recent views', skeleton(), { cls: 'panel-wide' });

  root.append(
    h('div', { class: 'page-head' },
      h('h1', { class: 'page-title', text: 'Dashboard' }),
      h('a', { href: '/admin/upload', class: 'btn btn-primary' }, icon('upload'), h('span', { text: 'Upload' }))),
    cards,
    h('div', { class: 'panels' }, chart, countries, referrers, top, recent));

  renderCards(cards, undefined);
  let topData;
  let recentData;
  const load = (path, fn, target) => api.getOptional(path, { signal })
    .then((data) => fn(data))
    .catch((e) => {
      if (e.name === 'AbortError') return;
      if (target) target.setBody(panelError(e));
      else fn(null);
    });

  await Promise.all([
    load('/api/stats', (s) => renderCards(cards, s)),
    load('/api/stats/views?days=30', (d) => chart.setBody(d ? viewsChart(fillDays(d.days, 30)) : noData()), chart),
    load('/api/stats/countries', (d) => countries.setBody(countryList(d?.countries)), countries),
    load('/api/stats/referrers', (d) => referrers.setBody(referrerList(d?.referrers)), referrers),
    load('/api/stats/top', (d) => { topData = d; top.setBody(topImages(d?.images)); }, top),
    load('/api/stats/recent', (d) => { recentData = d; }, recent),
  ]);
  // Recent views carry only ids; name the images that the top list knows.
  if (recentData !== undefined) {
    const names = new Map((topData?.images || []).map((i) => [i.uuid, i.filename]));
    recent.setBody(recentViews(recentData?.views, names));
  }
}

function card(label, value, sub, { ic, extra, key } = {}) {
  return h('div', { class: 'card', dataset: { stat: key } },
    h('div', { class: 'card-label' }, icon(ic), h('span', { text: label })),
    h('div', { class: 'card-value', text: value }),
    sub && h('div', { class: 'card-sub', text: sub }),
    extra);
}

/** `s` undefined = loading, null = stats not available. */
function renderCards(el, s) {
  const loading = s === undefined;
  const v = (x, f = fmtNumber) => (loading ? '…' : s && x !== undefined && x !== null ? f(x) : '—');
  const limit = s?.storageLimit;
  let bar = null;
  let storageSub = loading ? '' : s ? 'No limit set' : 'No data yet';
  if (typeof limit === 'number' && limit > 0) {
    // The quota counts blocks and rows too (README, Quota): show that measure.
    const pct = Math.min(100, ((s.storageCharged ?? s.storageUsed) / limit) * 100);
    const fill = h('div', { class: ['meter-fill', pct > 90 && 'meter-danger', pct > 75 && pct <= 90 && 'meter-warn'] });
    fill.style.width = `${pct}%`;
    bar = h('div', {
      class: 'meter', role: 'progressbar', 'aria-label': 'Storage used', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct),
    }, fill);
    storageSub = `of ${fmtBytes(limit)} · ${pct.toFixed(pct < 10 ? 1 : 0)}%`;
  }
  el.replaceChildren(
    card('Images', v(s?.images), null, { ic: 'library', key: 'images' }),
    card('Private', v(s?.privateImages), null, { ic: 'lock', key: 'private' }),
    card('Views', v(s?.views), automatedHits(s), { ic: 'eye', key: 'views' }),
    card('Unique visitors', v(s?.uniqueVisitors), null, { ic: 'globe', key: 'unique' }),
    card('Storage used', v(s?.storageUsed, fmtBytes), storageSub, { ic: 'database', extra: bar, key: 'storage' }),
    card('Disk free', v(s?.diskFree, fmtBytes), null, { ic: 'disk', key: 'disk' }),
  );
  if (s === null) el.append(h('p', { class: 'cards-note muted', text: 'Statistics are not available on this server yet.' }));
}

/** "12 bot hits · 3 link previews" when the server counts those apart from views. */
function automatedHits(s) {
  const parts = [];
  if (s?.botHits) parts.push(`${fmtNumber(s.botHits)} bot ${s.botHits === 1 ? 'hit' : 'hits'}`);
  if (s?.unfurlerHits) parts.push(`${fmtNumber(s.unfurlerHits)} link ${s.unfurlerHits === 1 ? 'preview' : 'previews'}`);
  return parts.length ? `+ ${parts.join(' · ')}` : null;
}

function topImages(images) {
  if (!images?.length) return noData();
  return h('ol', { class: 'top-images' }, images.slice(0, 8).map((img) =>
    h('li', null, h('a', { href: `/admin/images/${img.id}`, class: 'top-image' },
      h('span', { class: 'top-thumb' }, thumbnail(img)),
      h('span', { class: 'top-name', text: img.filename, title: img.filename }),
      h('span', { class: 'top-views' }, icon('eye'), h('span', { text: fmtNumber(img.views) }))))));
}

function recentViews(views, names) {
  if (!views?.length) return noData();
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', null, h('tr', null, ['When', 'Image', 'Country', 'Referrer', 'Client'].map((t) => h('th', { scope: 'col', text: t, class: t === 'Client' ? 'col-client' : null })))),
    h('tbody', null, views.slice(0, 20).map((v) => {
      return h('tr', null,
        h('td', { class: 'nowrap' }, timeEl(v.at)),
        h('td', { class: 'truncate-cell' }, h('a', { href: `/admin/images/${encodeURIComponent(v.imageId ?? v.uuid)}`, text: v.filename || names.get(v.uuid) || (v.uuid ? v.uuid.slice(0, 8) : `#${v.imageId}`), title: v.uuid || '' })),
        h('td', { class: 'nowrap' }, countryLabel(v.country)),
        h('td', { class: 'truncate-cell', text: v.referrer || '—', title: v.referrer || '' }),
        h('td', { class: 'truncate-cell muted col-client', text: v.agent || '—', title: v.agent || '' }));
    }))));
}
