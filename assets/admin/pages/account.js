// Account, for every role: what the account is (role, usage against its
// quotas), change the password (the current one is required; every other
// session ends), see and end sessions, sign out everywhere.

import * as api from '../api.js';
import { h, icon, button, busy, setTitle, confirmDialog, toast, timeEl, emptyState, uid, formErrors } from '../ui.js';
import { panel, skeleton, quotaLine } from '../widgets.js';
import { explain } from '../errors.js';

/** The UI asks for more than the server's minimum: a password here guards every image. */
export const MIN_PASSWORD = 12;

export async function mount(root, { signal, navigate }) {
  setTitle('Account');
  const sessions = panel('Sessions', skeleton(2), { cls: 'panel-flush' });
  const usage = panel('Usage', skeleton(2));
  root.append(
    h('div', { class: 'page-head' }, h('h1', { class: 'page-title', text: 'Account' })),
    h('p', { class: 'page-intro muted' }, 'Signed in as ', h('strong', { text: api.session.username || '' }),
      api.isAdmin() ? ', an admin.' : ', a user.'),
    h('div', { class: 'stack' }, usage, passwordPanel(() => loadSessions()), sessions, everywherePanel(navigate)));

  async function loadUsage() {
    let me;
    try {
      me = await api.getOptional('/api/me', { signal });
    } catch (e) {
      if (e.name === 'AbortError' || e.status === 401) return;
      usage.setBody(emptyState('alert', 'Could not load your usage', explain(e)));
      return;
    }
    if (!me) {
      usage.remove(); // a server without accounts' usage
      return;
    }
    usage.setBody(
      h('div', { class: 'account-facts' },
        h('span', null, h('span', { class: 'muted', text: 'Role: ' }), h('strong', { dataset: { role: me.role }, text: me.role === 'admin' ? 'Admin' : 'User' })),
        h('span', null, h('span', { class: 'muted', text: 'Account since ' }), timeEl(me.createdAt))),
      h('div', { class: 'quotas' },
        quotaLine('Images', me.usage?.images ?? 0, me.quota?.images),
        quotaLine('Storage', me.usage?.bytes ?? 0, me.quota?.bytes, { bytes: true })),
      (typeof me.quota?.images === 'number' || typeof me.quota?.bytes === 'number')
        && h('p', { class: 'hint muted', text: 'An admin sets your quotas. Deleting images frees room at once.' }));
  }

  async function loadSessions() {
    let data;
    try {
      data = await api.api('GET', '/api/sessions', { signal });
    } catch (e) {
      if (e.name === 'AbortError' || e.status === 401) return;
      sessions.setBody(e.status === 404
        ? emptyState('info', 'This server does not list sessions yet.')
        : emptyState('alert', 'Could not load sessions', explain(e)));
      return;
    }
    const list = (data?.sessions || []).slice().sort((a, b) => (b.current - a.current) || String(b.lastSeenAt).localeCompare(String(a.lastSeenAt)));
    if (!list.length) {
      sessions.setBody(emptyState('user', 'No sessions'));
      return;
    }
    sessions.setBody(h('div', { class: 'table-wrap' }, h('table', { class: 'table table-stack sessions-table' },
      h('thead', null, h('tr', null, ['Device', 'Signed in', 'Last active', 'Address', ''].map((t, i) =>
        h('th', { scope: 'col', text: t }, i === 4 ? h('span', { class: 'visually-hidden', text: 'Actions' }) : null)))),
      h('tbody', null, list.map((s) => h('tr', { dataset: { sessionId: s.id } },
        h('td', { class: 'session-device', dataset: { label: 'Device' } },
          h('span', { text: describeAgent(s.userAgent) }),
          s.current && h('span', { class: 'badge badge-current' }, icon('check'), h('span', { text: 'This browser' }))),
        h('td', { dataset: { label: 'Signed in' } }, timeEl(s.createdAt)),
        h('td', { dataset: { label: 'Last active' } }, timeEl(s.lastSeenAt)),
        h('td', { class: 'mono-cell', dataset: { label: 'Address' }, text: s.ip || '—' }),
        h('td', { class: 'cell-actions' }, button(s.current ? 'Sign out' : 'End session', {
          icon: s.current ? 'logout' : 'x', variant: 'danger-ghost', cls: 'btn-sm',
          onClick: (e) => endSession(s, e.currentTarget),
        }))))))));
  }

  async function endSession(s, btn) {
    if (!s.current && !await confirmDialog({
      title: 'End this session?',
      body: `${describeAgent(s.userAgent)}${s.ip ? ` at ${s.ip}` : ''} will be signed out.`,
      confirmText: 'End session',
      danger: true,
    })) return;
    await busy(btn, async () => {
      try {
        await api.api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`, { auth: !s.current });
        if (s.current) {
          api.forget();
          navigate('/admin/login', { replace: true });
          return;
        }
        toast('Session ended', 'success');
        await loadSessions();
      } catch (e) {
        if (e.status !== 401) toast(explain(e), 'error');
      }
    });
  }

  await Promise.all([loadUsage(), loadSessions()]);
  return undefined;
}

function passwordPanel(onChanged) {
  const ids = { cur: uid('pw-cur'), next: uid('pw-new'), again: uid('pw-again'), err: uid('pw-err'), hint: uid('pw-hint') };
  const field = (id, label, autocomplete, describedBy) => h('input', {
    id, type: 'password', class: 'input', autocomplete, 'aria-describedby': describedBy || null,
  });
  const current = field(ids.cur, 'Current password', 'current-password');
  const next = field(ids.next, 'New password', 'new-password', ids.hint);
  const again = field(ids.again, 'New password again', 'new-password');
  const error = h('div', { id: ids.err, class: 'form-error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('check'), h('span', { text: 'Change password' }));
  const fields = [current, next, again];
  const { clear, show: fail } = formErrors(error, fields, { hints: new Map([[next, ids.hint]]) });
  const form = h('form', {
    class: 'form-narrow',
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      clear();
      if (!current.value) return fail('Enter your current password.', current);
      if (next.value.length < MIN_PASSWORD) return fail(`The new password needs at least ${MIN_PASSWORD} characters.`, next);
      if (next.value !== again.value) return fail('The two new passwords differ. Type the same password twice.', again);
      if (next.value === current.value) return fail('The new password is the same as the current one.', next);
      return busy(save, async () => {
        try {
          await api.api('POST', '/api/account/password', { body: { current: current.value, new: next.value } });
          for (const f of fields) f.value = '';
          toast('Password changed. Every other session was signed out.', 'success');
          onChanged();
        } catch (err) {
          if (err.status === 401) return;
          if (err.code === 'wrong_password') fail(explain(err), current);
          else if (err.code === 'weak_password') fail(explain(err), next);
          else fail(explain(err), null);
        }
      });
    },
  },
  // A hidden username lets password managers file the new password correctly.
  h('input', { type: 'text', class: 'visually-hidden', autocomplete: 'username', value: api.session.username || '', tabIndex: -1, 'aria-hidden': 'true', readOnly: true }),
  h('div', { class: 'field' }, h('label', { for: ids.cur, class: 'label', text: 'Current password' }), current),
  h('div', { class: 'field' }, h('label', { for: ids.next, class: 'label', text: 'New password' }), next,
    h('p', { id: ids.hint, class: 'hint muted', text: `At least ${MIN_PASSWORD} characters. A few unrelated words make a strong one.` })),
  h('div', { class: 'field' }, h('label', { for: ids.again, class: 'label', text: 'New password again' }), again),
  error,
  h('div', { class: 'form-actions' }, save));
  return panel('Change password', form);
}

function everywherePanel(navigate) {
  const btn = button('Sign out everywhere', {
    icon: 'logout', variant: 'danger',
    onClick: async () => {
      const ok = await confirmDialog({
        title: 'Sign out everywhere?',
        body: 'Every session ends, this one included. Upload keys keep working.',
        confirmText: 'Sign out everywhere',
        danger: true,
      });
      if (!ok) return;
      await busy(btn, async () => {
        try {
          await api.api('POST', '/api/logout-all', { auth: false });
          api.forget();
          toast('Signed out everywhere');
          navigate('/admin/login', { replace: true });
        } catch (e) {
          if (e.status === 401) {
            api.forget();
            navigate('/admin/login', { replace: true });
          } else toast(explain(e), 'error');
        }
      });
    },
  });
  return panel('Sign out everywhere', h('div', { class: 'row-between' },
    h('p', { class: 'muted', text: 'Lost a device, or signed in on a shared computer? End every session at once.' }), btn));
}

/** "Firefox on Linux" from a User-Agent string; the raw string is kept as the tooltip. */
export function describeAgent(ua) {
  if (!ua) return 'Unknown client';
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrome\/|Chromium\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : /curl\//.test(ua) ? 'curl' : null;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iOS/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS' : /Linux|X11/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || ua.slice(0, 60);
}
