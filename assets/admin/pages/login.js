// Sign-in page, with a countdown while the server rate-limits attempts.

import * as api from '../api.js';
import { h, logo, setTitle, uid, icon } from '../ui.js';
import { explain } from '../errors.js';

export async function mount(root, { query, done }) {
  setTitle('Sign in');
  const userId = uid('user');
  const passId = uid('pass');
  const errorId = uid('err');
  const username = h('input', { id: userId, class: 'input', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: passId, class: 'input', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  // Always in place (hidden by visibility): an error appearing does not move the card.
  const error = h('div', { id: errorId, class: 'form-error is-empty', role: 'alert' });
  const hideError = () => {
    error.classList.add('is-empty');
    error.replaceChildren();
  };
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, h('span', { text: 'Sign in' }));
  let countdown = null;

  const showError = (text) => {
    error.replaceChildren(icon('alert'), h('span', { text }));
    error.classList.remove('is-empty');
    username.setAttribute('aria-describedby', errorId);
    password.setAttribute('aria-describedby', errorId);
  };

  const lockFor = (seconds) => {
    clearInterval(countdown);
    let left = Math.max(1, seconds);
    const tick = () => {
      if (left <= 0) {
        clearInterval(countdown);
        countdown = null;
        submit.disabled = false;
        hideError();
        return;
      }
      submit.disabled = true;
      showError(`Too many sign-in attempts. Try again in ${formatWait(left)}.`);
      left -= 1;
    };
    tick();
    countdown = setInterval(tick, 1000);
  };

  const form = h('form', {
    class: 'login-form',
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      if (!username.value.trim() || !password.value) {
        showError('Enter your username and password.');
        (username.value.trim() ? password : username).focus();
        return;
      }
      submit.disabled = true;
      submit.setAttribute('aria-busy', 'true');
      hideError();
      try {
        await api.login(username.value.trim(), password.value);
        done(query.get('next'));
        return;
      } catch (err) {
        if (err.code === 'rate_limited' || err.status === 429) {
          lockFor(err.retryAfter ?? 60);
        } else if (err.code === 'invalid_credentials' || err.status === 401) {
          showError('Wrong username or password.');
          password.value = '';
          password.focus();
        } else {
          showError(explain(err));
        }
      } finally {
        submit.removeAttribute('aria-busy');
        if (!countdown) submit.disabled = false;
      }
    },
  },
  h('div', { class: 'field' }, h('label', { for: userId, class: 'label', text: 'Username' }), username),
  h('div', { class: 'field' }, h('label', { for: passId, class: 'label', text: 'Password' }), password),
  error,
  submit);

  root.replaceChildren(h('div', { class: 'login' },
    h('main', { class: 'login-card' },
      h('div', { class: 'login-brand' }, logo(40), h('span', { class: 'brand-name', text: 'pixbin' })),
      h('h1', { class: 'login-title', text: 'Sign in' }),
      h('p', { class: 'login-sub muted', text: 'Manage your images, links and upload keys.' }),
      form)));
  username.focus();
  return () => clearInterval(countdown);
}

function formatWait(s) {
  const nb = '\u00a0'; // a number never wraps apart from its unit
  if (s < 60) return `${s}${nb}s`;
  const m = Math.floor(s / 60);
  const rest = s % 60;
  return rest ? `${m}${nb}min ${rest}${nb}s` : `${m}${nb}min`;
}
