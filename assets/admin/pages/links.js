// The pages someone opens from a link an admin handed out, without a session:
// create an account with an invite (/admin/invite?token=), or set a new
// password with a one-time reset link (/admin/reset-password?token=). Both
// look like sign-in, say at once when a link cannot be used (unknown, expired,
// used up, registration closed), check what they can before asking the
// server, show its refusals next to the field they concern, and sign in on
// success.
// (The server also serves script-free pages at /invite and /reset-password;
// the links this UI shows open these instead.)

import * as api from '../api.js';
import { h, logo, setTitle, uid, formErrors } from '../ui.js';
import { explain, sentence } from '../errors.js';
import { MIN_PASSWORD } from './account.js';

const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/** `/admin/invite?token=…`: pick a name and a password. */
export function mountInvite(root, ctx) {
  return mountLinkPage(root, ctx, {
    title: 'Create your account',
    intro: 'You were invited to this pixbin. Choose a name and a password.',
    submit: 'Create account',
    withName: true,
    page: '/invite',
    send: (token, name, password) => api.api('POST', '/api/register', { body: { name, password, invite: token }, auth: false })
      .then(() => name),
  });
}

/** `/admin/reset-password?token=…`: choose a new password. */
export function mountReset(root, ctx) {
  return mountLinkPage(root, ctx, {
    title: 'Set your password',
    intro: 'Choose a new password. Every browser signed in to this account will be signed out.',
    submit: 'Set password',
    withName: false,
    page: '/reset-password',
    send: (token, _name, password) => api.api('POST', '/api/password-reset', { body: { token, password }, auth: false })
      .then((r) => r.name),
  });
}

/**
 * Why the link cannot be used, or null when it can. The server's own page for
 * the link answers 200 with its form for a usable link, 400 for an unknown,
 * expired or used-up one and 403 while registration is closed (OpenAPI
 * document); there is no JSON endpoint that only checks a link. If the
 * server cannot be asked, the form is shown and its answer will tell.
 */
async function linkRefusal(page, token, signal) {
  try {
    const res = await fetch(`${page}?token=${encodeURIComponent(token)}`, {
      headers: { Accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin', signal,
    });
    if (res.status === 400) return 'invalid_link';
    if (res.status === 403) return 'registration_closed';
  } catch { /* offline or aborted: the form's answer will tell */ }
  return null;
}

async function mountLinkPage(root, { query, done, signal }, spec) {
  setTitle(spec.title);
  const token = query.get('token') || '';
  const ids = { name: uid('name'), pw: uid('pw'), again: uid('again'), err: uid('err'), hint: uid('hint'), nameHint: uid('nhint') };
  const input = (id, props) => h('input', { id, class: 'input', ...props });
  const name = spec.withName ? input(ids.name, { name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', 'aria-describedby': ids.nameHint }) : null;
  const password = input(ids.pw, { type: 'password', autocomplete: 'new-password', 'aria-describedby': ids.hint });
  const again = input(ids.again, { type: 'password', autocomplete: 'new-password' });
  const fields = [name, password, again].filter(Boolean);
  // Always in place (hidden by visibility), as on sign-in: an error does not move the card.
  const error = h('div', { id: ids.err, class: 'form-error is-empty', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, h('span', { text: spec.submit }));
  const { clear, show: fail } = formErrors(error, fields, { hints: new Map([[name, ids.nameHint], [password, ids.hint]]), keepSpace: true });

  const form = h('form', {
    class: 'login-form',
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      clear();
      const n = name ? name.value.trim() : '';
      if (name && !NAME_RE.test(n)) return fail(n ? explain({ code: 'invalid_name' }) : 'Choose a name.', name);
      if (password.value.length < MIN_PASSWORD) return fail(`The password needs at least ${MIN_PASSWORD} characters.`, password);
      if (password.value !== again.value) return fail('The two passwords differ. Type the same password twice.', again);
      if (n && password.value.toLowerCase() === n.toLowerCase()) return fail('The password must not be the account name.', password);
      submit.disabled = true;
      submit.setAttribute('aria-busy', 'true');
      try {
        const account = await spec.send(token, n, password.value);
        // Done either way: signed in, or (rate-limited sign-in) sent to sign in.
        await api.login(account, password.value).catch(() => null);
        done();
        return;
      } catch (err) {
        if (err.code === 'name_taken' || err.code === 'invalid_name') fail(explain(err), name);
        else if (err.code === 'weak_password') fail(err.message ? sentence(err.message) : explain(err), password);
        else if (err.code === 'invalid_link') showDead();
        else fail(explain(err), null);
      } finally {
        submit.removeAttribute('aria-busy');
        submit.disabled = false;
      }
      return undefined;
    },
  },
  // Without a name field, a hidden one lets password managers file the new password.
  !name && h('input', { type: 'text', class: 'visually-hidden', autocomplete: 'username', tabIndex: -1, 'aria-hidden': 'true', readOnly: true }),
  name && h('div', { class: 'field' }, h('label', { for: ids.name, class: 'label', text: 'Account name' }), name,
    h('p', { id: ids.nameHint, class: 'hint muted', text: 'Letters, digits, dots, dashes or underscores; up to 64.' })),
  h('div', { class: 'field' }, h('label', { for: ids.pw, class: 'label', text: 'Password' }), password,
    h('p', { id: ids.hint, class: 'hint muted', text: `At least ${MIN_PASSWORD} characters. A few unrelated words make a strong one.` })),
  h('div', { class: 'field' }, h('label', { for: ids.again, class: 'label', text: 'Password again' }), again),
  error,
  submit);

  const card = h('main', { class: 'login-card' },
    h('div', { class: 'login-brand' }, logo(40), h('span', { class: 'brand-name', text: 'pixbin' })),
    h('h1', { class: 'login-title', text: spec.title }),
    h('p', { class: 'login-sub muted', text: spec.intro }),
    form);
  root.replaceChildren(h('div', { class: 'login' }, card));

  /** The link cannot be used: say so instead of showing a form that cannot work. */
  function showDead(code = 'invalid_link') {
    setTitle('Link not valid');
    card.replaceChildren(
      h('div', { class: 'login-brand' }, logo(40), h('span', { class: 'brand-name', text: 'pixbin' })),
      h('h1', { class: 'login-title', text: 'This link does not work' }),
      h('p', { class: 'login-sub muted', role: 'alert', text: explain({ code }) }),
      h('a', { href: '/admin/login', class: 'btn btn-block', text: 'Go to sign in' }));
  }

  const refusal = token ? await linkRefusal(spec.page, token, signal) : 'invalid_link';
  if (refusal) showDead(refusal);
  else (name || password).focus();
  return undefined;
}
