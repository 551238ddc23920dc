// Users (admins only): every account with its usage against its quotas, role,
// state and last visit; set quotas, disable or enable, change role, hand out a one-time
// password-reset link, delete (their images deleted or given to another
// account); invite links (uses, expiry) to create, copy and revoke.
//
// The server guards every rule (never the last admin, a disabled account
// stops at once); this page shows its refusals in plain words and never
// assumes an action worked before the answer says so.

import * as api from '../api.js';
import { h, icon, button, setTitle, confirmDialog, toast, timeEl, emptyState, uid, copyWithToast, fmtNumber, fmtDate } from '../ui.js';
import { panel, skeleton, quotaLine } from '../widgets.js';
import { runAction, getOrReport } from '../actions.js';

const EXPIRIES = [['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days']];
const MAX_USES = 1000;

export async function mount(root, { signal }) {
  setTitle('Users');
  const me = api.session.username;
  const accounts = panel('Accounts', skeleton(3));
  const invites = panel('Invite links', skeleton(2));
  root.append(
    h('div', { class: 'page-head' }, h('h1', { class: 'page-title', text: 'Users' })),
    h('p', { class: 'page-intro muted', text: 'Each account sees and manages only its own images, upload keys and statistics. Admins see everything and manage accounts.' }),
    h('div', { class: 'stack' }, accounts, invites));

  let users = [];

  async function loadUsers() {
    const data = await getOrReport('/api/users', signal, (why) => accounts.setBody(emptyState('alert', 'Could not load the accounts', why)));
    if (data === undefined) return;
    users = data?.users || [];
    accounts.setBody(h('div', { class: 'table-wrap' }, h('table', { class: 'table table-stack users-table' },
      h('thead', null, h('tr', null, ['Account', 'Images', 'Storage', 'Last seen', ''].map((t, i) =>
        h('th', { scope: 'col', text: t }, i === 4 ? h('span', { class: 'visually-hidden', text: 'Actions' }) : null)))),
      h('tbody', null, users.map(userRow)))));
  }

  function userRow(u) {
    const badges = h('span', { class: 'user-badges' },
      u.name === me && h('span', { class: 'badge badge-current', text: 'You' }),
      h('span', { class: ['badge', u.role === 'admin' ? 'badge-admin' : 'badge-role'], text: u.role === 'admin' ? 'Admin' : 'User' }),
      u.disabled && h('span', { class: 'badge badge-disabled' }, icon('ban'), h('span', { text: 'Disabled' })));
    const act = (label, ic, fn, variant = 'ghost') => button(label, { icon: ic, variant, cls: 'btn-sm', onClick: (e) => fn(u, e.currentTarget) });
    return h('tr', { class: u.disabled && 'is-disabled', dataset: { user: u.name } },
      h('th', { scope: 'row', dataset: { label: 'Account' } }, h('span', { class: 'user-name', text: u.name }), badges),
      h('td', { dataset: { label: 'Images' } }, quotaLine('Images', u.usage?.images ?? 0, u.quota?.images)),
      h('td', { dataset: { label: 'Storage' } }, quotaLine('Storage', u.usage?.bytes ?? 0, u.quota?.bytes, { bytes: true })),
      h('td', { dataset: { label: 'Last seen' } }, timeEl(u.lastSeenAt)),
      h('td', { class: 'cell-actions' }, h('div', { class: 'user-actions' },
        act('Quotas', 'database', editQuotas),
        act(u.role === 'admin' ? 'Make user' : 'Make admin', 'shield', changeRole),
        act(u.disabled ? 'Enable' : 'Disable', u.disabled ? 'check' : 'ban', toggleDisabled),
        act('Reset password', 'rotate', resetPassword),
        act('Delete', 'trash', deleteUser, 'danger-ghost'))));
  }

  /** PATCHes `u`; on success reloads the list, on a refusal says why. Resolves true on success. */
  function edit(u, btn, body, done) {
    return runAction(btn, async () => {
      await api.api('PATCH', `/api/users/${encodeURIComponent(u.name)}`, { body });
      toast(done, 'success');
      if (u.name !== me || body.role !== 'user') await loadUsers();
    });
  }

  async function editQuotas(u, btn) {
    const q = await quotaDialog(u);
    if (q) await edit(u, btn, q, `Quotas of ${u.name} saved`);
  }

  async function changeRole(u, btn) {
    const role = u.role === 'admin' ? 'user' : 'admin';
    const ok = await confirmDialog({
      title: role === 'admin' ? `Make ${u.name} an admin?` : `Make ${u.name} a user?`,
      body: role === 'admin'
        ? 'Admins see every image, key and statistic, and manage accounts and settings.'
        : 'They keep their images and keys but see only their own, and can no longer manage accounts or settings.',
      confirmText: role === 'admin' ? 'Make admin' : 'Make user',
    });
    if (!ok) return;
    const changed = await edit(u, btn, { role }, `${u.name} is now ${role === 'admin' ? 'an admin' : 'a user'}`);
    // Demoting oneself (another admin remains): this page and the admin
    // navigation are no longer one's own; start over as a user.
    if (changed && u.name === me && role === 'user') location.assign('/admin/');
  }

  async function toggleDisabled(u, btn) {
    if (u.disabled) {
      await edit(u, btn, { disabled: false }, `${u.name} is enabled`);
      return;
    }
    const ok = await confirmDialog({
      title: `Disable ${u.name}?`,
      body: 'Their sessions and upload keys stop working at once. Their images stay online; enable the account to let them back in.',
      confirmText: 'Disable',
      danger: true,
    });
    if (ok) await edit(u, btn, { disabled: true }, `${u.name} is disabled`);
  }

  async function resetPassword(u, btn) {
    const ok = await confirmDialog({
      title: `Reset the password of ${u.name}?`,
      body: 'You get a link that sets a new password once. Their current password keeps working until the link is used; then every session of theirs ends.',
      confirmText: 'Create link',
    });
    if (!ok) return;
    await runAction(btn, async () => {
      const r = await api.api('POST', `/api/users/${encodeURIComponent(u.name)}/password-reset`, { body: {} });
      linkDialog(`Password link for ${u.name}`, pageLink(r.url), `Works once, until ${fmtDate(r.expiresAt)}. Send it to ${u.name} privately.`);
    });
  }

  async function deleteUser(u, btn) {
    const heirs = users.filter((o) => o.name !== u.name).map((o) => o.name);
    const choice = await deleteDialog(u, heirs);
    if (!choice) return;
    const q = choice.to ? `images=transfer&to=${encodeURIComponent(choice.to)}` : 'images=delete';
    await runAction(btn, async () => {
      const r = await api.api('DELETE', `/api/users/${encodeURIComponent(u.name)}?${q}`);
      const n = r?.images ?? 0;
      toast(choice.to
        ? `${u.name} deleted; ${fmtNumber(n)} ${n === 1 ? 'image now belongs' : 'images now belong'} to ${choice.to}`
        : `${u.name} deleted with ${fmtNumber(n)} ${n === 1 ? 'image' : 'images'}`, 'success');
      await loadUsers();
    });
  }

  // ---------- invites ----------

  const slot = h('div', { class: 'link-slot' });
  const listHost = h('div', { class: 'invite-list' });

  async function loadInvites() {
    const data = await getOrReport('/api/invites', signal, (why) => invites.setBody(emptyState('alert', 'Could not load the invites', why)));
    if (data === undefined) return;
    const mode = data?.registration || 'closed';
    if (!invites.contains(slot)) {
      invites.setBody(
        h('p', { class: 'muted', text: registrationText(mode) }),
        mode === 'closed' ? null : inviteForm(),
        slot, listHost);
    }
    const list = data?.invites || [];
    listHost.replaceChildren(list.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table table-stack invites-table' },
      h('caption', { class: 'visually-hidden', text: 'Invite links still usable' }),
      h('thead', null, h('tr', null, ['Role', 'Used', 'Expires', 'Created by', ''].map((t, i) =>
        h('th', { scope: 'col', text: t }, i === 4 ? h('span', { class: 'visually-hidden', text: 'Actions' }) : null)))),
      h('tbody', null, list.map((i) => h('tr', { dataset: { invite: String(i.id) } },
        h('td', { dataset: { label: 'Role' }, text: i.role === 'admin' ? 'Admin' : 'User' }),
        h('td', { dataset: { label: 'Used' }, text: `${fmtNumber(i.uses)} of ${fmtNumber(i.maxUses)}` }),
        h('td', { dataset: { label: 'Expires' } }, timeEl(i.expiresAt)),
        h('td', { dataset: { label: 'Created by' }, text: i.createdBy }),
        h('td', { class: 'cell-actions' }, button('Revoke', {
          icon: 'x', variant: 'danger-ghost', cls: 'btn-sm', onClick: (e) => revoke(i, e.currentTarget),
        }))))))) : h('p', { class: 'muted', text: 'No invite links are open.' }));
  }

  function inviteForm() {
    const usesId = uid('uses');
    const expId = uid('exp');
    const roleId = uid('role');
    const uses = h('input', { id: usesId, class: 'input input-sm', type: 'number', min: 1, max: MAX_USES, value: '1', inputmode: 'numeric' });
    const expires = h('select', { id: expId, class: 'input input-sm' }, EXPIRIES.map(([v, t]) => h('option', { value: v, text: t, selected: v === '7d' })));
    const role = h('select', { id: roleId, class: 'input input-sm' }, h('option', { value: 'user', text: 'User' }), h('option', { value: 'admin', text: 'Admin' }));
    const create = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('link'), h('span', { text: 'Create invite link' }));
    return h('form', {
      class: 'invite-form',
      novalidate: true,
      onSubmit: async (e) => {
        e.preventDefault();
        const n = Number(uses.value);
        if (!Number.isInteger(n) || n < 1 || n > MAX_USES) {
          toast(`Uses must be a whole number from 1 to ${fmtNumber(MAX_USES)}.`, 'error');
          uses.focus();
          return;
        }
        await runAction(create, async () => {
          const inv = await api.api('POST', '/api/invites', { body: { maxUses: n, expiresIn: expires.value, role: role.value } });
          const url = pageLink(inv.url);
          const field = linkField('Invite link', url);
          slot.replaceChildren(h('div', { class: 'link-reveal', role: 'region', 'aria-label': 'New invite link' },
            h('p', { text: `Anyone with this link can create ${n === 1 ? 'one account' : `up to ${fmtNumber(n)} accounts`} until ${fmtDate(inv.expiresAt)}. It is shown only now.` }),
            field));
          field.querySelector('button').focus();
          await loadInvites();
        });
      },
    },
    h('div', { class: 'field' }, h('label', { for: usesId, class: 'label', text: 'Uses' }), uses),
    h('div', { class: 'field' }, h('label', { for: expId, class: 'label', text: 'Expires after' }), expires),
    h('div', { class: 'field' }, h('label', { for: roleId, class: 'label', text: 'Role' }), role),
    create);
  }

  async function revoke(i, btn) {
    const ok = await confirmDialog({
      title: 'Revoke this invite link?',
      body: 'Nobody can create an account with it any more. Accounts already created stay.',
      confirmText: 'Revoke',
      danger: true,
    });
    if (!ok) return;
    await runAction(btn, async () => {
      await api.api('DELETE', `/api/invites/${encodeURIComponent(i.id)}`);
      toast('Invite revoked', 'success');
      await loadInvites();
    });
  }

  await Promise.all([loadUsers(), loadInvites()]);
  return undefined;
}

function registrationText(mode) {
  if (mode === 'open') return 'Registration is open: anyone can create an account on the sign-in page’s address. Invite links also give a role.';
  if (mode === 'invite') return 'Only people with an invite link can create an account.';
  return 'Registration is closed, so invite links cannot be made. Start pixbin with --registration invite to hand them out; pixbin user add still creates accounts.';
}

/**
 * The server's link, opened on the admin UI's page of the same name (styled
 * like sign-in, with errors next to the fields) rather than the server's
 * script-free fallback page. Same origin, same token.
 */
export function pageLink(url) {
  try {
    const u = new URL(url, location.origin);
    if (u.pathname === '/invite' || u.pathname === '/reset-password') u.pathname = `/admin${u.pathname}`;
    return u.href;
  } catch {
    return url;
  }
}

/** A read-only field with the link and a Copy button. */
function linkField(label, url) {
  const id = uid('link');
  const field = h('input', { id, class: 'input mono', readOnly: true, value: url });
  field.addEventListener('focus', () => field.select());
  return h('div', { class: 'field' }, h('label', { for: id, class: 'label', text: label }),
    h('div', { class: 'input-group' }, field, button('Copy link', { icon: 'copy', variant: 'primary', onClick: () => copyWithToast(url) })));
}

/** A dialog that shows a one-time link to copy. */
function linkDialog(title, url, note) {
  const titleId = uid('dlg');
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'dialog-title', text: title }),
    h('p', { class: 'dialog-body', text: note }),
    linkField('Link', url),
    h('div', { class: 'dialog-actions' }, button('Close', { onClick: () => dialog.close() })));
  document.body.append(dialog);
  dialog.showModal();
  dialog.addEventListener('close', () => dialog.remove(), { once: true });
  dialog.querySelector('.input-group button').focus();
}

/**
 * Asks for an account's quotas: storage in MB and a number of images, empty
 * for no limit. Resolves the PATCH body, or null when cancelled.
 */
function quotaDialog(u) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const mbId = uid('qmb');
    const nId = uid('qn');
    const mb = h('input', { id: mbId, class: 'input input-sm', type: 'number', min: 0, step: 'any', inputmode: 'decimal',
      value: typeof u.quota?.bytes === 'number' ? String(u.quota.bytes / 1e6) : '' });
    const n = h('input', { id: nId, class: 'input input-sm', type: 'number', min: 0, step: 1, inputmode: 'numeric',
      value: typeof u.quota?.images === 'number' ? String(u.quota.images) : '' });
    const error = h('div', { class: 'form-error', role: 'alert', hidden: true });
    let result = null;
    const save = button('Save quotas', { variant: 'primary', type: 'submit' });
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('form', {
        method: 'dialog',
        novalidate: true,
        onSubmit: (e) => {
          e.preventDefault();
          const bytes = mb.value.trim() === '' ? null : Math.round(Number(mb.value) * 1e6);
          const images = n.value.trim() === '' ? null : Number(n.value);
          const bad = (bytes !== null && !(Number.isSafeInteger(bytes) && bytes >= 0)) ? mb
            : (images !== null && !(Number.isSafeInteger(images) && images >= 0)) ? n : null;
          if (bad) {
            error.replaceChildren(icon('alert'), h('span', { text: 'Enter a number of 0 or more, or leave it empty for no limit.' }));
            error.hidden = false;
            bad.setAttribute('aria-invalid', 'true');
            bad.focus();
            return;
          }
          result = { quotaBytes: bytes, quotaImages: images };
          dialog.close();
        },
      },
      h('h2', { id: titleId, class: 'dialog-title', text: `Quotas of ${u.name}` }),
      h('p', { class: 'dialog-body', text: 'Uploads past a quota are refused; nothing already stored is removed. Leave a field empty for no limit.' }),
      h('div', { class: 'field' }, h('label', { for: mbId, class: 'label', text: 'Storage (MB)' }), mb),
      h('div', { class: 'field' }, h('label', { for: nId, class: 'label', text: 'Images' }), n),
      error,
      h('div', { class: 'dialog-actions' }, button('Cancel', { onClick: () => dialog.close() }), save)));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); }, { once: true });
    document.body.append(dialog);
    dialog.showModal();
    mb.focus();
  });
}

/**
 * Asks what becomes of an account's images, then to confirm. Resolves
 * `{ to }` (a transfer), `{ to: null }` (delete them) or null (cancelled).
 * Neither choice is preselected: the server needs one, and so does the admin.
 */
function deleteDialog(u, heirs) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const name = uid('fate');
    const count = u.usage?.images ?? 0;
    const radio = (value, id) => h('input', { type: 'radio', name, id, value, class: 'checkbox' });
    const delId = uid('fate-del');
    const moveId = uid('fate-move');
    const toId = uid('fate-to');
    const del = radio('delete', delId);
    const move = radio('transfer', moveId);
    const to = h('select', { id: toId, class: 'input input-sm', disabled: !heirs.length },
      heirs.map((n) => h('option', { value: n, text: n })));
    move.disabled = !heirs.length;
    const error = h('div', { class: 'form-error', role: 'alert', hidden: true });
    const ok = button('Delete account', { variant: 'danger' });
    const cancel = button('Cancel', { onClick: () => dialog.close() });
    let result = null;
    ok.addEventListener('click', () => {
      if (!del.checked && !move.checked) {
        error.replaceChildren(icon('alert'), h('span', { text: 'Choose what happens to their images.' }));
        error.hidden = false;
        return;
      }
      result = { to: move.checked ? to.value : null };
      dialog.close();
    });
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId, class: 'dialog-title', text: `Delete ${u.name}?` }),
      h('p', { class: 'dialog-body', text: `Their sessions and upload keys end at once. They have ${fmtNumber(count)} ${count === 1 ? 'image' : 'images'}.` }),
      h('fieldset', { class: 'choice-group' },
        h('legend', { class: 'label', text: 'Their images' }),
        h('div', { class: 'choice' }, del, h('label', { for: delId, text: 'Delete their images, with their links' })),
        h('div', { class: 'choice' }, move, h('div', null,
          h('label', { for: moveId, text: 'Give them to another account (links keep working)' }),
          h('label', { for: toId, class: 'visually-hidden', text: 'Account to receive the images' }), to))),
      error,
      h('div', { class: 'dialog-actions' }, cancel, ok));
    to.addEventListener('change', () => { move.checked = true; });
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); }, { once: true });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
