// Upload keys: create (the key is shown once, with client configs to download),
// list with last use (an admin's list names the owner of others' keys), revoke.

import * as api from '../api.js';
import { h, icon, button, busy, setTitle, copyWithToast, confirmDialog, toast, timeEl, emptyState, downloadFile, uid } from '../ui.js';
import { sharexConfig, ishareConfig, shellScript, curlOneLiner, hostOf, slug } from '../integrations.js';
import { explain } from '../errors.js';
import { fmtSeconds } from './upload.js';
import { runAction, getOrReport } from '../actions.js';

const NAME_MAX = 64;

export async function mount(root, { signal }) {
  setTitle('Upload keys');
  const up = (await api.settings())?.upload || null;
  const nameId = uid('keyname');
  const nameErrId = uid('keyname-err');
  const nameHintId = uid('keyname-hint');
  // No maxlength (it cuts a pasted name silently) and no `required` (the
  // browser's bubble): the form says what is wrong, like every other form.
  const nameInput = h('input', { id: nameId, class: 'input', placeholder: 'e.g. laptop-sharex', autocomplete: 'off', 'aria-describedby': nameHintId });
  const nameError = h('div', { id: nameErrId, class: 'form-error', role: 'alert', hidden: true });
  const setNameError = (text) => {
    if (!text) {
      nameError.hidden = true;
      nameError.replaceChildren();
      nameInput.removeAttribute('aria-invalid');
      nameInput.setAttribute('aria-describedby', nameHintId);
      return;
    }
    nameError.replaceChildren(icon('alert'), h('span', { text }));
    nameError.hidden = false;
    nameInput.setAttribute('aria-invalid', 'true');
    nameInput.setAttribute('aria-describedby', `${nameErrId} ${nameHintId}`);
  };
  nameInput.addEventListener('input', () => {
    if (!nameError.hidden && nameInput.value.trim() && [...nameInput.value.trim()].length <= NAME_MAX) setNameError(null);
  });
  const serverExpiry = up ? ` (${up.defaultExpirySeconds ? fmtSeconds(up.defaultExpirySeconds) : 'never'})` : '';
  const choices = [['', `Server default${serverExpiry}`], ['1h', '1 hour'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days']];
  const select = (id, options) => h('select', { id, class: 'input input-sm' },
    options.map(([value, label]) => h('option', { value, text: label })));
  const defId = uid('defexp');
  const maxId = uid('maxexp');
  const defaultExpiry = select(defId, [choices[0], ...choices.slice(1), ['never', 'Never']]);
  const maxExpiry = select(maxId, [['', 'No key limit'], ...choices.slice(1)]);
  const privateDefault = h('input', { type: 'checkbox', id: uid('kpriv'), class: 'checkbox' });
  const forcePrivate = h('input', { type: 'checkbox', id: uid('kforce'), class: 'checkbox' });
  const askExpiry = h('input', { type: 'checkbox', id: uid('kask'), class: 'checkbox' });
  // The .sxcu may send every upload into one album (X-Pixbin-Album).
  const albumSel = h('select', { id: uid('kalbum'), class: 'input input-sm' }, h('option', { value: '', text: 'None (library only)' }));
  api.getOptional('/api/albums', { signal }).then((r) => {
    for (const a of r?.albums || []) albumSel.append(h('option', { value: a.id, text: a.title }));
  }).catch(() => {});
  const check = (input, title, hint) => h('div', { class: 'check-field' }, input,
    h('label', { for: input.id }, h('span', { class: 'check-title', text: title }), h('span', { class: 'check-hint muted', text: hint })));
  const policy = h('details', { class: 'key-policy' },
    h('summary', { text: 'Expiry and privacy for this key' }),
    h('div', { class: 'field' }, h('label', { for: defId, class: 'label', text: 'Uploads expire after' }), defaultExpiry),
    h('div', { class: 'field' }, h('label', { for: maxId, class: 'label', text: 'Longest expiry an upload may ask for' }), maxExpiry),
    check(privateDefault, 'Private by default', `Uploads get a private ?key= link unless they send private=false.${up ? ` Unticked, the server default applies (${up.privateByDefault ? 'private' : 'public'}).` : ''}`),
    check(forcePrivate, 'Always private', 'Refuse public uploads with this key.'),
    check(askExpiry, 'ShareX asks for an expiry', 'The .sxcu makes ShareX offer 1d, 7d, 30d or never on each upload.'),
    h('div', { class: 'field' }, h('label', { for: albumSel.id, class: 'label', text: 'ShareX uploads into the album' }), albumSel));
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Create key' }));
  const reveal = h('div', { class: 'key-reveal-slot' });
  const listHost = h('div', null, h('div', { class: 'skeleton-group' }, h('div', { class: 'skeleton' }), h('div', { class: 'skeleton' })));
  const uploadUrl = `${api.baseUrl()}/api/upload`;

  const form = h('form', {
    class: 'key-form',
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        setNameError('Give the key a name, such as the device it is for.');
        nameInput.focus();
        return;
      }
      if ([...name].length > NAME_MAX) {
        setNameError(`The name is ${[...name].length} characters long; at most ${NAME_MAX} fit. Shorten it.`);
        nameInput.focus();
        return;
      }
      setNameError(null);
      await busy(createBtn, async () => {
        try {
          const body = {
            name,
            defaultExpiry: defaultExpiry.value || null,
            maxExpiry: maxExpiry.value || null,
            privateByDefault: privateDefault.checked ? true : null,
            forcePrivate: forcePrivate.checked,
          };
          const created = await api.api('POST', '/api/keys', { body });
          nameInput.value = '';
          showReveal(created, askExpiry.checked, albumSel.value);
          loadKeys();
        } catch (err) {
          if (err.status === 401) return;
          if (err.code === 'name_too_long' || /name/i.test(err.message || '')) {
            setNameError(explain(err));
            nameInput.focus();
          } else toast(explain(err), 'error');
        }
      });
    },
  },
  h('label', { for: nameId, class: 'label', text: 'Name' }),
  h('div', { class: 'input-group' }, nameInput, createBtn),
  nameError,
  h('p', { id: nameHintId, class: 'hint muted', text: `One key per device or app, so you can revoke it alone. Up to ${NAME_MAX} characters.` }),
  policy);

  root.append(
    h('div', { class: 'page-head' }, h('h1', { class: 'page-title', text: 'Upload keys' })),
    h('p', { class: 'page-intro muted' },
      'Upload keys let ShareX, ishare, scripts and shortcuts upload without your password. They send ',
      h('code', { text: 'Authorization: Bearer <key>' }), ' to ', h('code', { class: 'break', text: uploadUrl }), '.'),
    h('section', { class: 'panel', 'aria-labelledby': `${nameId}-h` },
      h('div', { class: 'panel-head' }, h('h2', { id: `${nameId}-h`, class: 'panel-title', text: 'Create a key' })),
      h('div', { class: 'panel-body' }, form)),
    reveal,
    h('section', { class: 'panel', 'aria-labelledby': `${nameId}-l` },
      h('div', { class: 'panel-head' }, h('h2', { id: `${nameId}-l`, class: 'panel-title', text: 'Your keys' })),
      h('div', { class: 'panel-body panel-body-flush' }, listHost)));

  function showReveal(created, ask, album) {
    const key = created.key;
    const base = api.baseUrl();
    const host = hostOf(base);
    const fileBase = `${host.replace(/[^a-z0-9.-]+/gi, '-')}-${slug(created.name)}`;
    const keyId = uid('newkey');
    const keyField = h('input', { id: keyId, class: 'input mono', readOnly: true, value: key });
    keyField.addEventListener('focus', () => keyField.select());
    const oneLiner = curlOneLiner({ baseUrl: base, key });
    const cfg = { baseUrl: base, key, name: created.name, askExpiry: ask, album };
    const close = () => {
      reveal.replaceChildren();
      nameInput.focus();
    };
    const box = h('section', { class: 'panel key-reveal', 'aria-labelledby': `${keyId}-t` },
      h('div', { class: 'panel-head' },
        h('h2', { id: `${keyId}-t`, class: 'panel-title' }, icon('check'), h('span', { text: `Key “${created.name}” created` })),
        button('Done', { variant: 'ghost', onClick: close })),
      h('div', { class: 'panel-body' },
        h('p', { class: 'callout', role: 'note' }, icon('alert'), h('span', { text: 'Copy the key or download a config now. It is shown only once; pixbin keeps just a hash of it.' })),
        h('label', { for: keyId, class: 'label', text: 'Upload key' }),
        h('div', { class: 'input-group' }, keyField, button('Copy key', { icon: 'copy', variant: 'primary', onClick: () => copyWithToast(key, 'Key') })),
        h('h3', { class: 'subhead', text: 'Set up a client' }),
        h('div', { class: 'integrations' },
          integration('ShareX', 'Windows. Double-click the file to import it and make pixbin your image uploader.', 'Download .sxcu', () =>
            downloadFile(`${fileBase}.sxcu`, `${JSON.stringify(sharexConfig(cfg), null, 2)}\n`, 'application/json')),
          integration('ishare', 'macOS. Open the file to add pixbin as a custom uploader.', 'Download .iscu', () =>
            downloadFile(`${fileBase}.iscu`, `${JSON.stringify(ishareConfig(cfg), null, 2)}\n`, 'application/json')),
          integration('Shell script', 'Linux: Flameshot, grim, maim, ksnip. Uploads a file or a Flameshot capture and copies the link.', 'Download .sh', () =>
            downloadFile('pixbin-upload.sh', shellScript(cfg), 'text/x-shellscript'))),
        h('div', { class: 'field' },
          h('span', { class: 'label', text: 'Or one line with curl' }),
          h('div', { class: 'code-block' },
            h('pre', null, h('code', { text: oneLiner })),
            button('Copy command', { icon: 'copy', iconOnly: true, onClick: () => copyWithToast(oneLiner, 'Command') })))));
    reveal.replaceChildren(box);
    keyField.focus();
  }

  async function loadKeys() {
    const data = await getOrReport('/api/keys', signal, (why) => listHost.replaceChildren(emptyState('alert', 'Could not load keys', why)));
    if (data === undefined) return;
    const keys = data?.keys || [];
    if (!keys.length) {
      listHost.replaceChildren(emptyState('key', 'No upload keys yet', 'Create one above to upload from ShareX, ishare or a script.'));
      return;
    }
    listHost.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { class: 'table keys-table' },
      h('thead', null, h('tr', null, ['Name', 'Key', 'Created', 'Last used', ''].map((t, i) =>
        h('th', { scope: 'col', text: t }, i === 4 ? h('span', { class: 'visually-hidden', text: 'Actions' }) : null)))),
      h('tbody', null, keys.map((k) => h('tr', { dataset: { keyId: String(k.id) } },
        h('td', { class: 'key-name', dataset: { label: 'Name' }, title: k.name },
          h('span', { text: k.name }), policyLine(k), ownerLine(k)),
        h('td', { dataset: { label: 'Key' } }, h('code', { class: 'mono', text: `${k.prefix}…` })),
        h('td', { dataset: { label: 'Created' } }, timeEl(k.createdAt)),
        h('td', { dataset: { label: 'Last used' } }, timeEl(k.lastUsedAt)),
        h('td', { class: 'cell-actions' }, button('Revoke', {
          icon: 'trash', variant: 'danger-ghost', cls: 'btn-sm',
          onClick: (e) => revoke(k, e.currentTarget),
        }))))))));
  }

  async function revoke(k, btn) {
    const ok = await confirmDialog({
      title: `Revoke “${k.name}”?`,
      body: 'Clients using this key will get “unauthorized” on their next upload. Images already uploaded stay.',
      confirmText: 'Revoke key',
      danger: true,
    });
    if (!ok) return;
    await runAction(btn, async () => {
      await api.api('DELETE', `/api/keys/${encodeURIComponent(k.id)}`);
      toast(`Key “${k.name}” revoked`, 'success');
      await loadKeys();
    });
  }

  await loadKeys();
  return () => { reveal.replaceChildren(); };
}

function integration(title, text, label, onDownload) {
  return h('div', { class: 'integration' },
    h('div', { class: 'integration-text' }, h('strong', { text: title }), h('span', { class: 'muted', text })),
    button(label, { icon: 'download', onClick: onDownload, cls: 'integration-btn' }));
}

/** Whose key it is, when an admin sees another account's key. */
function ownerLine(k) {
  return k.user && k.user !== api.session.username
    ? h('span', { class: 'key-policy-line muted', dataset: { owner: k.user }, text: `of ${k.user}` }) : null;
}

/** A one-line summary of a key's upload policy, or nothing when it has none. */
function policyLine(k) {
  const parts = [];
  if (k.defaultExpiry) parts.push(`expires after ${k.defaultExpiry}`);
  if (k.maxExpiry) parts.push(`at most ${k.maxExpiry}`);
  if (k.forcePrivate) parts.push('always private');
  else if (k.privateByDefault) parts.push('private by default');
  return parts.length ? h('span', { class: 'key-policy-line muted', text: parts.join(' · ') }) : null;
}
