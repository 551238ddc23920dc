// Statistics widgets shared by the dashboard, the image, users and account
// pages: a views-per-day bar chart drawn with plain elements (crisp at any
// width, themed by CSS), ranked lists of countries and referrers, and usage
// meters against a quota.

import * as api from './api.js';
import { h, fmtNumber, fmtBytes, fmtDay, country, emptyState, uid } from './ui.js';
import { explain } from './errors.js';

/** A titled panel. `body` may be replaced later via panel.setBody(). */
export function panel(title, body, { cls, action } = {}) {
  const id = uid('panel');
  const content = h('div', { class: 'panel-body' }, body);
  const el = h('section', { class: ['panel', cls], 'aria-labelledby': id },
    h('div', { class: 'panel-head' }, h('h2', { id, class: 'panel-title', text: title }), action),
    content);
  el.setBody = (...nodes) => content.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  el.setTitle = (text) => { el.querySelector('.panel-title').textContent = text; };
  return el;
}

/** A bar filled to `pct` percent (warning colours near the end), named `label` for screen readers. */
export function meter(pct, label) {
  const p = Math.max(0, Math.min(100, pct));
  const fill = h('div', { class: ['meter-fill', p > 90 && 'meter-danger', p > 75 && p <= 90 && 'meter-warn'] });
  fill.style.width = `${p}%`;
  return h('div', {
    class: 'meter', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(p),
  }, fill);
}

/** "1.2 MB of 10 MB · 12%" or "1.2 MB · no limit"; `bytes` picks the unit. */
export function usageText(used, limit, { bytes = false } = {}) {
  const f = bytes ? fmtBytes : fmtNumber;
  if (typeof limit !== 'number') return `${f(used)} · no limit`;
  const pct = limit > 0 ? (used / limit) * 100 : 100;
  return `${f(used)} of ${f(limit)} · ${pct.toFixed(pct < 10 ? 1 : 0)}%`;
}

/**
 * One quota line: what is used, against the limit, with a bar when there is
 * a limit. `what` names it ("Storage", "Images").
 */
export function quotaLine(what, used, limit, { bytes = false } = {}) {
  const hasLimit = typeof limit === 'number';
  return h('div', { class: 'quota', dataset: { quota: what.toLowerCase() } },
    h('div', { class: 'quota-text' }, h('span', { class: 'quota-what', text: what }), h('span', { class: 'quota-value', text: usageText(used, limit, { bytes }) })),
    hasLimit && meter(limit > 0 ? (used / limit) * 100 : 100, `${what} used of the quota`));
}

/**
 * An admin's choice of whose objects a page shows: every account's ('') or
 * one account's (its name, the API's `?user=`). The accounts load after the
 * page; until then only the current choice is offered.
 */
export function accountPicker(label, current, signal, onChange) {
  const id = uid('account');
  const option = (value, text) => h('option', { value, text, selected: value === current });
  const select = h('select', { id, class: 'input input-sm input-select', onChange: () => onChange(select.value) },
    option('', 'All users'), current && option(current, current));
  api.getOptional('/api/users', { signal }).then((d) => {
    const names = (d?.users || []).map((u) => u.name);
    if (current && !names.includes(current)) names.push(current);
    select.replaceChildren(option('', 'All users'), ...names.sort().map((n) => option(n, n)));
    select.value = current;
  }).catch(() => { /* the choice stays: every account */ });
  return h('div', { class: 'select-field account-picker' }, h('label', { for: id, class: 'label-inline', text: label }), select);
}

/** Grey placeholder lines shown while a panel loads. */
export function skeleton(lines = 3) {
  return h('div', { class: 'skeleton-group', 'aria-hidden': 'true' },
    Array.from({ length: lines }, () => h('div', { class: 'skeleton' })));
}

/** The "no data yet" state for stats that are missing or empty. */
export function noData(text = 'No data yet') {
  return h('p', { class: 'no-data', text });
}

/** Fills the last `n` days so a chart always shows a full month, even with gaps. */
export function fillDays(days, n = 30) {
  const byDate = new Map((days || []).map((d) => [d.date, d]));
  const out = [];
  const today = new Date();
  for (let i = n - 1; i >= 0; i -= 1) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const key = d.toISOString().slice(0, 10);
    const v = byDate.get(key);
    out.push({ date: key, views: v?.views ?? 0, unique: v?.unique ?? 0 });
  }
  // Keep any dates the server sent that fall outside our window (clock skew).
  if ((days || []).some((d) => !out.find((o) => o.date === d.date))) return days;
  return out;
}

function niceMax(v) {
  if (v <= 4) return 4;
  const pow = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= v) return m * pow;
  return 10 * pow;
}

/** "1 view", "2 views". */
export function plural(n, one, many = `${one}s`) {
  return `${fmtNumber(n)} ${n === 1 ? one : many}`;
}

/**
 * Views per day as bars: the lower, darker part of each bar is the day's
 * unique visitors, the lighter part above the other views. The legend's
 * swatches and the bars take their colours from the same CSS variables.
 */
export function viewsChart(days, { period = days?.length || 30 } = {}) {
  if (!days?.length || days.every((d) => !d.views)) return noData(`No views in the last ${period} days`);
  const max = niceMax(Math.max(...days.map((d) => d.views || 0)));
  const total = days.reduce((s, d) => s + (d.views || 0), 0);
  const uniqueTotal = days.reduce((s, d) => s + Math.min(d.unique || 0, d.views || 0), 0);
  const bars = days.map((d) => {
    const views = d.views || 0;
    const unique = Math.min(d.unique || 0, views);
    const bar = h('div', { class: ['bar', !views && 'bar-zero'] });
    bar.style.height = `${(views / max) * 100}%`;
    const inner = h('div', { class: 'bar-unique' });
    inner.style.height = views ? `${(unique / views) * 100}%` : '0';
    bar.append(inner);
    return h('div', { class: 'bar-col' }, bar,
      h('div', { class: 'bar-tip', role: 'presentation' },
        h('strong', { text: fmtDay(d.date) }),
        h('span', { text: plural(views, 'view') }),
        h('span', { text: `${fmtNumber(unique)} unique` })));
  });
  const grid = h('div', { class: 'chart-grid', 'aria-hidden': 'true' },
    [max, max / 2, 0].map((v) => h('div', { class: 'chart-gridline' }, h('span', { text: fmtNumber(v) }))));
  // About one label a week (every day for a week), placed under its bar.
  const step = days.length <= 10 ? 1 : days.length <= 31 ? 5 : 14;
  const labels = h('div', { class: 'chart-x', 'aria-hidden': 'true' });
  for (let i = days.length - 1; i >= 0; i -= step) {
    const span = h('span', { class: 'chart-x-label', text: fmtDay(days[i].date) });
    span.style.left = `${((i + 0.5) / days.length) * 100}%`;
    labels.prepend(span);
  }
  // The bars are decoration for sighted users; screen readers get a table.
  // (Wrapped: a table ignores the width/height/overflow that hide a box.)
  const table = h('div', { class: 'visually-hidden' }, h('table', null,
    h('caption', { text: `Views per day, last ${period} days` }),
    h('thead', null, h('tr', null, h('th', { text: 'Day' }), h('th', { text: 'Views' }), h('th', { text: 'Unique visitors' }))),
    h('tbody', null, days.map((d) => h('tr', null, h('td', { text: d.date }), h('td', { text: fmtNumber(d.views || 0) }), h('td', { text: fmtNumber(d.unique || 0) }))))));
  return h('div', { class: 'chart' },
    h('div', { class: 'chart-legend' },
      h('span', { class: 'legend legend-views' }, h('span', { class: 'legend-dot' }), plural(total, 'view')),
      h('span', { class: 'legend legend-unique', title: 'Each visitor counts once per day (UTC)' }, h('span', { class: 'legend-dot' }),
        `${plural(uniqueTotal, 'unique visitor')} (per day)`)),
    h('div', { class: 'chart-plot' }, grid, h('div', { class: 'chart-bars', 'aria-hidden': 'true' }, bars)),
    labels, table);
}

/** The 7 / 30 / 90 days choice above a chart; `onChange(days)`. */
export function rangePicker(current, onChange) {
  const name = uid('range');
  return h('fieldset', { class: 'segmented segmented-sm range-picker' },
    h('legend', { class: 'visually-hidden', text: 'Period' }),
    [7, 30, 90].map((n) => {
      const id = uid('r');
      const input = h('input', { type: 'radio', name, id, value: String(n), checked: n === current, class: 'segmented-input' });
      input.addEventListener('change', () => { if (input.checked) onChange(n); });
      return [input, h('label', { for: id, class: 'segmented-label', text: `${n} days` })];
    }));
}

/** A ranked list with a proportional bar behind each row. */
function rankList(rows) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return h('ol', { class: 'rank-list' }, rows.map((r) => {
    const fill = h('span', { class: 'rank-fill', 'aria-hidden': 'true' });
    fill.style.width = `${(r.value / max) * 100}%`;
    return h('li', { class: 'rank-row' }, fill,
      h('span', { class: 'rank-label' }, r.lead && h('span', { class: 'cc', 'aria-hidden': 'true', text: r.lead }), h('span', { class: 'rank-text', text: r.label, title: r.label })),
      h('span', { class: 'rank-value', text: r.valueText }));
  }));
}

/** Top countries with code, name, views and share. */
export function countryList(countries) {
  if (!countries?.length) return noData();
  return rankList(countries.slice(0, 10).map((c) => {
    const { code, name } = country(c.country);
    const pct = typeof c.percent === 'number' ? ` · ${c.percent.toFixed(c.percent < 10 ? 1 : 0)}%` : '';
    return { lead: code, label: name, value: c.views || 0, valueText: `${fmtNumber(c.views)}${pct}` };
  }));
}

/** True when every view's country is unknown (no GeoIP database). */
export function allUnknown(countries) {
  return Boolean(countries?.length) && countries.every((c) => country(c.country).code === '??');
}

/** Top referrer hosts ("Direct" when there was none). */
export function referrerList(referrers) {
  if (!referrers?.length) return noData();
  return rankList(referrers.slice(0, 10).map((r) => ({
    label: r.host || 'Direct or unknown', value: r.views || 0, valueText: fmtNumber(r.views),
  })));
}

/** Replaces a panel body with an error message that does not break the page. */
export function panelError(err) {
  if (err?.status === 404) return noData();
  return emptyState('alert', 'Could not load this', explain(err));
}
