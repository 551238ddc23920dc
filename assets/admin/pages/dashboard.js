// Dashboard: totals, views per day, top countries/referrers/images, recent views,
// and integrity (damaged blobs, the scrub's progress and last result).
// Each panel loads on its own; a missing stats endpoint (404) shows "no data yet".
// An account sees its own numbers (the server scopes them); an admin sees the
// whole instance and may switch to one account's numbers (`?user=`). Integrity
// and free disk space concern the instance, so only admins see them.

import * as api from '../api.js';
import { h, icon, fmtNumber, fmtBytes, setTitle, timeEl, countryLabel } from '../ui.js';
import { panel, skeleton, noData, fillDays, viewsChart, countryList, referrerList, panelError, rangePicker, allUnknown, meter, accountPicker } from '../widgets.js';
import { thumbnail } from './library.js';
import { describeAgent } from './account.js';

const RANGE_PREF = 'pixbin:chart-days';

export async function mount(root, { signal, query }) {
  setTitle('Dashboard');
  const admin = api.isAdmin();
  // '' is the server's default: everything for an admin, one's own otherwise.
  let scope = admin ? (query?.get('user') || '') : '';
  const cards = h('div', { class: 'cards', 'aria-live': 'polite' });
  let days = 30;
  try { days = [7, 30, 90].includes(Number(localStorage.getItem(RANGE_PREF))) ? Number(localStorage.getItem(RANGE_PREF)) : 30; } catch { /* storage disabled */ }
  const chart = panel(`Views, last ${days} days`, skeleton(4), {
    cls: 'panel-wide',
    action: rangePicker(days, (n) => {
      days = n;
      try { localStorage.setItem(RANGE_PREF, String(n)); } catch { /* ignore */ }
      loadChart();
    }),
  });
  const countries = panel('Top countries', skeleton());
  const referrers = panel('Top referrers', skeleton());
  const top = panel('Top images', skeleton());
  const recent = panel('Recent views', skeleton());
  const integrity = admin ? panel('Integrity', skeleton(2), { cls: 'panel-wide' }) : null;
  const onboarding = h('div');

  root.append(
    h('div', { class: 'page-head' },
      h('h1', { class: 'page-title', text: 'Dashboard' }),
      admin && accountPicker('Statistics of', scope, signal, (next) => {
        scope = next;
        // Keep the choice in the address, so a reload or a shared link shows the same numbers.
        history.replaceState(null, '', scope ? `/admin/?user=${encodeURIComponent(scope)}` : '/admin/');
        loadAll();
      }),
      h('a', { href: '/admin/upload', class: 'btn btn-primary' }, icon('upload'), h('span', { text: 'Upload' }))),
    onboarding,
    cards,
    // Rows of two on a wide screen: chart full width, then countries and
    // referrers, then top images and recent views side by side (no holes),
    // then integrity full width.
    h('div', { class: 'panels panels-dashboard' }, chart, countries, referrers, top, recent, integrity));

  /** `path` with the chosen account, when an admin chose one. */
  const scoped = (path) => (scope ? `${path}${path.includes('?') ? '&' : '?'}user=${encodeURIComponent(scope)}` : path);

  let chartGen = 0;
  async function loadChart() {
    const gen = ++chartGen;
    chart.setTitle(`Views, last ${days} days`);
    try {
      const d = await api.getOptional(scoped(`/api/stats/views?days=${days}`), { signal });
      if (gen === chartGen) chart.setBody(d ? viewsChart(fillDays(d.days, days), { period: days }) : noData());
    } catch (e) {
      if (e.name !== 'AbortError' && gen === chartGen) chart.setBody(panelError(e));
    }
  }

  let gen = 0;
  async function loadAll() {
    const mine = ++gen;
    const current = () => mine === gen;
    renderCards(cards, undefined, { admin, scope });
    onboarding.replaceChildren();
    let topData;
    let recentData;
    const load = (path, fn, target) => api.getOptional(path, { signal })
      .then((data) => current() && fn(data))
      .catch((e) => {
        if (e.name === 'AbortError' || !current()) return;
        if (target) target.setBody(panelError(e));
        else fn(null);
      });
    await Promise.all([
      load(scoped('/api/stats'), (s) => {
        renderCards(cards, s, { admin, scope });
        if (s && s.images === 0 && !(admin && scope)) showOnboarding(onboarding);
      }),
      loadChart(),
      load(scoped('/api/stats/countries'), async (d) => {
        const list = countryList(d?.countries);
        const geo = allUnknown(d?.countries) ? (await api.settings())?.geoip : true;
        countries.setBody(list, geo === false ? h('p', { class: 'panel-note muted' }, icon('info'),
          h('span', { text: 'Countries show as Unknown because this server has no GeoIP database. Start it with --geoip-db pointing at a GeoLite2-Country or DB-IP country .mmdb file.' })) : null);
      }, countries),
      load(scoped('/api/stats/referrers'), (d) => referrers.setBody(referrerList(d?.referrers)), referrers),
      load(scoped('/api/stats/top'), (d) => { topData = d; top.setBody(topImages(d?.images)); }, top),
      load(scoped('/api/stats/recent'), (d) => { recentData = d; }, recent),
      integrity && load('/api/integrity', (d) => integrity.setBody(integrityPanel(d)), integrity),
    ]);
    // Recent views carry only ids; name the images that the top list knows.
    if (recentData !== undefined && current()) {
      const names = new Map((topData?.images || []).map((i) => [i.uuid, i.filename]));
      recent.setBody(recentViews(recentData?.views, names));
    }
  }

  await loadAll();
}

function card(label, value, sub, { ic, extra, key } = {}) {
  return h('div', { class: 'card', dataset: { stat: key } },
    h('div', { class: 'card-label' }, icon(ic), h('span', { text: label })),
    h('div', { class: 'card-value', text: value }),
    sub && h('div', { class: 'card-sub', text: sub }),
    extra);
}

/**
 * `s` undefined = loading, null = stats not available. An account's numbers
 * (a user's own, or the one an admin chose) carry its quotas as the limits.
 */
function renderCards(el, s, { admin, scope }) {
  const loading = s === undefined;
  const v = (x, f = fmtNumber) => (loading ? '…' : s && x !== undefined && x !== null ? f(x) : '—');
  const limit = s?.storageLimit;
  let bar = null;
  let storageSub = loading ? '' : s ? 'No limit set' : 'No data yet';
  if (typeof limit === 'number' && limit > 0) {
    // The quota counts blocks and rows too (README, Quota): show that measure.
    const pct = Math.min(100, ((s.storageCharged ?? s.storageUsed) / limit) * 100);
    bar = meter(pct, 'Storage used');
    storageSub = `of ${fmtBytes(limit)} · ${pct.toFixed(pct < 10 ? 1 : 0)}%`;
  }
  el.replaceChildren(...[
    card('Images', v(s?.images), typeof s?.imageLimit === 'number' ? `of ${fmtNumber(s.imageLimit)}` : null, { ic: 'library', key: 'images' }),
    card('Private', v(s?.privateImages), null, { ic: 'lock', key: 'private' }),
    card('Views', v(s?.views), automatedHits(s), { ic: 'eye', key: 'views' }),
    card('Unique visitors', v(s?.uniqueVisitors), loading ? null : 'all time, each counted once a day', { ic: 'globe', key: 'unique' }),
    card('Storage used', v(s?.storageUsed, fmtBytes), storageSub, { ic: 'database', extra: bar, key: 'storage' }),
    admin && !scope && card('Disk free', v(s?.diskFree, fmtBytes), null, { ic: 'disk', key: 'disk' }),
  ].filter(Boolean));
  if (s === null) el.append(h('p', { class: 'cards-note muted', text: 'Statistics are not available on this server yet.' }));
}

/** "12 bot hits · 3 link previews" when the server counts those apart from views. */
function automatedHits(s) {
  const parts = [];
  if (s?.botHits) parts.push(`${fmtNumber(s.botHits)} bot ${s.botHits === 1 ? 'hit' : 'hits'}`);
  if (s?.unfurlerHits) parts.push(`${fmtNumber(s.unfurlerHits)} link ${s.unfurlerHits === 1 ? 'preview' : 'previews'}`);
  return parts.length ? `+ ${parts.join(' · ')}` : null;
}

/** First steps on an instance with no images yet. */
function showOnboarding(host) {
  const base = api.baseUrl();
  const curl = `curl -H "Authorization: Bearer YOUR_KEY" -F "file=@screenshot.png" ${base}/api/upload`;
  host.replaceChildren(h('section', { class: 'panel onboarding', 'aria-labelledby': 'onboarding-title' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'onboarding-title', class: 'panel-title', text: 'Get started' })),
    h('div', { class: 'panel-body' },
      h('ol', { class: 'steps' },
        h('li', null, h('strong', { text: 'Create an upload key' }), h('span', { class: 'muted', text: ' for each device or app, on the ' }),
          h('a', { href: '/admin/keys', text: 'Upload keys' }), h('span', { class: 'muted', text: ' page.' })),
        h('li', null, h('strong', { text: 'Download the ShareX config' }),
          h('span', { class: 'muted', text: ' (.sxcu) shown with the new key, or the ishare config or shell script, and open it.' })),
        h('li', null, h('strong', { text: 'Or upload your first image' }), h('span', { class: 'muted', text: ' from a terminal:' }),
          h('pre', { class: 'code-block' }, h('code', { text: curl })))),
      h('div', { class: 'empty-actions empty-actions-start' },
        h('a', { href: '/admin/keys', class: 'btn btn-primary' }, icon('key'), h('span', { text: 'Create an upload key' })),
        h('a', { href: '/admin/upload', class: 'btn' }, icon('upload'), h('span', { text: 'Upload in the browser' }))))));
}

function topImages(images) {
  if (!images?.length) return noData();
  return h('ol', { class: 'top-images' }, images.slice(0, 8).map((img) =>
    h('li', null, h('a', { href: `/admin/images/${img.id}`, class: 'top-image' },
      h('span', { class: 'top-thumb' }, thumbnail(img)),
      h('span', { class: 'top-name', text: img.filename, title: img.filename }),
      h('span', { class: 'top-views' }, icon('eye'), h('span', { text: fmtNumber(img.views) }))))));
}

/** Recent views as a list: every fact visible at any width, nothing behind a sideways scroll. */
function recentViews(views, names) {
  if (!views?.length) return noData();
  return h('ol', { class: 'recent-list' }, views.slice(0, 20).map((v) => {
    const name = v.filename || names.get(v.uuid) || (v.uuid ? v.uuid.slice(0, 8) : `#${v.imageId}`);
    return h('li', { class: 'recent-row' },
      h('div', { class: 'recent-top' },
        h('a', { href: `/admin/images/${encodeURIComponent(v.imageId ?? v.uuid)}`, text: name, title: v.uuid || '' }),
        timeEl(v.at)),
      h('div', { class: 'recent-facts' },
        countryLabel(v.country),
        h('span', null, h('span', { class: 'fact-label', text: 'From ' }), h('span', { text: v.referrer || 'direct' })),
        h('span', { title: v.agent || '' }, h('span', { class: 'fact-label', text: 'Client ' }), h('span', { text: clientName(v.agent) }))));
  }));
}

/** A short name for a User-Agent ("Discordbot", "Firefox on Linux"); the full one is the tooltip. */
function clientName(ua) {
  if (!ua) return 'unknown';
  const bot = /([A-Za-z][\w-]*(?:bot|Bot|preview|Preview|externalhit))/.exec(ua);
  if (bot) return bot[1];
  return describeAgent(ua);
}

/** Damaged blobs (each answers 500 until `pixbin repair --from BACKUP`) and the scrub. */
function integrityPanel(d) {
  if (!d) return noData();
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : 'never');
  const sc = d.scrub || {};
  const damaged = d.damagedBlobs || 0;
  const rows = [
    ['Damaged blobs', damaged ? `${fmtNumber(damaged)} (run pixbin repair --from a backup)` : 'none'],
    ['Scrub', sc.passStarted ? `running, ${Math.round((sc.progress || 0) * 100)}% (${fmtNumber(sc.passChecked || 0)} blobs)` : `next pass ${when(sc.nextPass)}`],
    ['Last complete pass', sc.lastCompleted ? `${when(sc.lastCompleted)}: ${fmtNumber(sc.lastChecked || 0)} blobs, ${fmtNumber(sc.lastDamaged || 0)} damaged` : 'none yet'],
  ];
  return h('dl', { class: ['integrity', damaged && 'integrity-damaged'], dataset: { damaged: String(damaged) } },
    rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]),
    (d.damaged || []).slice(0, 10).map((m) => h('dd', { class: 'muted truncate-cell', text: `${m.kind} of image ${m.image}: ${m.reason} (${m.hash.slice(0, 12)}…)`, title: m.hash })));
}
