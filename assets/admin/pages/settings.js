// Settings: the upload defaults that are safe to change while the server runs
// (stored in its database; a value set by the environment or a flag wins and
// is shown locked), the server's effective configuration with where each
// value came from, and a backup download.

import * as api from '../api.js';
import { h, icon, busy, setTitle, toast, emptyState, uid, fmtBytes } from '../ui.js';
import { panel } from '../widgets.js';
import { explain } from '../errors.js';
import { fmtSeconds } from './upload.js';

const KNOWN_TYPES = ['png', 'jpeg', 'gif', 'webp', 'bmp', 'ico'];
const EXPIRY_CHOICES = [[null, 'Never'], [3600, '1 hour'], [86400, '1 day'], [604800, '7 days'], [2592000, '30 days'], [7776000, '90 days'], [31536000, '1 year']];
const STRIP_MODES = [
  ['gps', 'Location only (GPS)', 'Removes where a photo was taken; keeps camera details and colour profiles.'],
  ['all', 'All metadata', 'Removes EXIF, XMP, IPTC and comments; keeps the colour profile.'],
  ['none', 'Nothing', 'Stores files exactly as uploaded, location included.'],
];
const SOURCE_NAMES = { flag: 'command line', env: 'environment', file: 'config file', default: 'default', database: 'this page' };

/** "privateByDefault", "private_by_default", "upload.private-by-default" → "privatebydefault". */
const norm = (s) => String(s).toLowerCase().replace(/^upload[._-]?/, '').replace(/[^a-z0-9]/g, '');

export async function mount(root, { signal }) {
  setTitle('Settings');
  const head = h('div', { class: 'page-head' }, h('h1', { class: 'page-title', text: 'Settings' }));
  let doc;
  try {
    doc = await api.api('GET', '/api/settings', { signal });
  } catch (e) {
    if (e.name === 'AbortError' || e.status === 401) return undefined;
    root.append(head, e.status === 404
      ? emptyState('settings', 'This server has no settings page yet.', 'Update pixbin to change upload defaults here.')
      : emptyState('alert', 'Could not load the settings', explain(e)));
    return undefined;
  }
  const defaults = h('div');
  const effective = h('div');
  root.append(head,
    h('p', { class: 'page-intro muted', text: 'Upload defaults apply to every upload from now on: the API, ShareX and this admin alike. A value set by the environment or the command line wins and is shown locked.' }),
    h('div', { class: 'stack' }, defaults, backupPanel(), effective));

  const render = () => {
    defaults.replaceChildren(defaultsPanel(doc, (next) => { doc = next; api.settings({ fresh: true }); render(); }));
    effective.replaceChildren(effectivePanel(doc));
  };
  render();
  return undefined;
}

// Runtime fields and the names the effective configuration may list them under.
const ALIASES = {
  privateByDefault: ['privateByDefault'],
  defaultExpirySeconds: ['defaultExpirySeconds', 'defaultExpiry'],
  defaultExpiry: ['defaultExpirySeconds', 'defaultExpiry'],
  stripMode: ['stripMode', 'stripMetadata'],
  allowedTypes: ['allowedTypes'],
};

/** The effective entry for a runtime field, if the server lists one. */
function entryFor(doc, field) {
  const names = (ALIASES[field] || [field]).map(norm);
  return (doc.effective || []).find((e) => names.includes(norm(e.name)));
}

function lockedBy(doc, field) {
  const e = entryFor(doc, field);
  if (!e) return null;
  if (e.overriddenByEnv || e.source === 'env' || e.source === 'flag') return SOURCE_NAMES[e.source] || e.source;
  return null;
}

function defaultsPanel(doc, onSaved) {
  const up = doc.upload || {};
  const error = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const lockNote = (field) => {
    const by = lockedBy(doc, field);
    return by ? h('p', { class: 'hint lock-note' }, icon('lock'), h('span', { text: `Set by the ${by}; change it there.` })) : null;
  };

  const privId = uid('s-priv');
  const priv = h('input', { type: 'checkbox', id: privId, class: 'checkbox', checked: Boolean(up.privateByDefault), disabled: Boolean(lockedBy(doc, 'privateByDefault')) });

  const expId = uid('s-exp');
  const choices = EXPIRY_CHOICES.slice();
  if (up.defaultExpirySeconds && !choices.some(([v]) => v === up.defaultExpirySeconds)) choices.push([up.defaultExpirySeconds, fmtSeconds(up.defaultExpirySeconds)]);
  const expiry = h('select', { id: expId, class: 'input input-select', disabled: Boolean(lockedBy(doc, 'defaultExpirySeconds') || lockedBy(doc, 'defaultExpiry')) },
    choices.map(([v, label]) => h('option', { value: v === null ? '' : String(v), text: label, selected: (up.defaultExpirySeconds ?? null) === v })));

  const stripName = uid('s-strip');
  const stripLocked = Boolean(lockedBy(doc, 'stripMode'));
  const modes = STRIP_MODES.some(([v]) => v === up.stripMode) || !up.stripMode ? STRIP_MODES : [...STRIP_MODES, [up.stripMode, up.stripMode, '']];
  const strip = h('fieldset', { class: 'choice-group' },
    h('legend', { class: 'label', text: 'Remove metadata from uploads' }),
    modes.map(([v, label, hint]) => {
      const id = uid('s-strip-o');
      return h('div', { class: 'check-field' },
        h('input', { type: 'radio', id, name: stripName, value: v, class: 'checkbox', checked: up.stripMode === v, disabled: stripLocked }),
        h('label', { for: id }, h('span', { class: 'check-title', text: label }), hint && h('span', { class: 'check-hint muted', text: hint })));
    }),
    lockNote('stripMode'));

  const typesLocked = Boolean(lockedBy(doc, 'allowedTypes'));
  const allowed = new Set((up.allowedTypes || []).map((t) => (t === 'jpg' ? 'jpeg' : t)));
  const known = [...new Set([...KNOWN_TYPES, ...allowed])];
  const types = h('fieldset', { class: 'choice-group choice-inline' },
    h('legend', { class: 'label', text: 'Allowed image types' }),
    known.map((t) => {
      const id = uid('s-type');
      return h('div', { class: 'check-field check-inline' },
        h('input', { type: 'checkbox', id, value: t, class: 'checkbox', checked: allowed.has(t), disabled: typesLocked }),
        h('label', { for: id }, h('span', { class: 'check-title', text: t.toUpperCase() })));
    }),
    lockNote('allowedTypes'));

  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('check'), h('span', { text: 'Save defaults' }));
  const form = h('form', {
    class: 'settings-form',
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      const body = {};
      if (!priv.disabled && priv.checked !== Boolean(up.privateByDefault)) body.privateByDefault = priv.checked;
      const exp = expiry.value === '' ? null : Number(expiry.value);
      if (!expiry.disabled && exp !== (up.defaultExpirySeconds ?? null)) body.defaultExpirySeconds = exp;
      const mode = strip.querySelector('input:checked')?.value;
      if (!stripLocked && mode && mode !== up.stripMode) body.stripMode = mode;
      const picked = [...types.querySelectorAll('input:checked')].map((i) => i.value);
      if (!typesLocked && picked.join() !== [...allowed].join()) {
        if (!picked.length) {
          error.replaceChildren(icon('alert'), h('span', { text: 'Allow at least one image type, or nothing could be uploaded.' }));
          error.hidden = false;
          return;
        }
        body.allowedTypes = picked;
      }
      if (!Object.keys(body).length) {
        toast('Nothing to change', 'info');
        return;
      }
      await busy(save, async () => {
        try {
          const next = await api.api('PUT', '/api/settings', { body });
          toast('Defaults saved', 'success');
          onSaved(next);
        } catch (err) {
          if (err.status === 401) return;
          error.replaceChildren(icon('alert'), h('span', { text: explain(err) }));
          error.hidden = false;
        }
      });
    },
  },
  h('div', { class: 'check-field' }, priv,
    h('label', { for: privId }, h('span', { class: 'check-title', text: 'Private by default' }),
      h('span', { class: 'check-hint muted', text: 'Uploads that do not say otherwise get a private link with a secret key.' }))),
  lockNote('privateByDefault'),
  h('div', { class: 'field field-narrow' }, h('label', { for: expId, class: 'label', text: 'Uploads expire after' }), expiry,
    lockNote('defaultExpirySeconds') || lockNote('defaultExpiry')),
  strip,
  types,
  h('p', { class: 'hint muted', text: `Largest upload: ${fmtBytes(up.maxBytes)} (set when the server starts).` }),
  error,
  h('div', { class: 'form-actions' }, save));
  return panel('Upload defaults', form);
}

function backupPanel() {
  return panel('Backup', h('div', { class: 'row-between' },
    h('p', { class: 'muted', text: 'One .tar file with the database, every image and the key file. Restore it with pixbin restore.' }),
    h('a', { href: '/api/backup', download: '', class: 'btn' }, icon('download'), h('span', { text: 'Download backup' }))));
}

function fmtValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.join(', ');
  return JSON.stringify(v);
}

function effectivePanel(doc) {
  const rows = doc.effective || [];
  const geo = doc.geoip === false
    ? h('p', { class: 'panel-note muted' }, icon('info'), h('span', { text: 'No GeoIP database: the dashboard cannot tell countries. Start the server with --geoip-db (or PIXBIN_GEOIP_DB) pointing at a country .mmdb file.' }))
    : null;
  return panel('Effective configuration', [geo, rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table table-stack config-table' },
    h('caption', { class: 'visually-hidden', text: 'Effective configuration and where each value came from' }),
    h('thead', null, h('tr', null, ['Setting', 'Value', 'Source'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, rows.map((r) => h('tr', { dataset: { name: r.name } },
      h('th', { scope: 'row', class: 'mono-cell', text: r.name }),
      h('td', { class: 'mono-cell break', dataset: { label: 'Value' }, text: fmtValue(r.value) }),
      h('td', { dataset: { label: 'Source' } },
        h('span', { class: `badge badge-source badge-${r.source}`, text: SOURCE_NAMES[r.source] || r.source }),
        r.overriddenByEnv ? h('span', { class: 'muted small', text: ' · overrides the saved value' }) : null,
        r.runtime ? h('span', { class: 'muted small', text: ' · changeable here' }) : null))))))
    : h('p', { class: 'muted', text: 'The server did not list its configuration.' })], { cls: 'panel-flush-table' });
}

