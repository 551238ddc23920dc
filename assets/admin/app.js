// Boot, the app shell (navigation by role), path-based routing under /admin/,
// the pages a stranger opens from a link (invite, password reset), and keeping
// the session alive while the tab is open.

import * as api from './api.js';
import { safeNext } from './safe-next.js';
import { explain } from './errors.js';
import { h, icon, logo, toast, setTitle, emptyState } from './ui.js';
import * as loginPage from './pages/login.js';
import * as dashboardPage from './pages/dashboard.js';
import * as libraryPage from './pages/library.js';
import * as imagePage from './pages/image.js';
import * as uploadPage from './pages/upload.js';
import * as keysPage from './pages/keys.js';
import * as accountPage from './pages/account.js';
import * as settingsPage from './pages/settings.js';
import * as usersPage from './pages/users.js';
import * as linkPages from './pages/links.js';
import * as albumsPage from './pages/albums.js';

const REFRESH_EVERY_MS = 10 * 60 * 1000;

const NAV = [
  { path: '/admin/', label: 'Dashboard', icon: 'dashboard' },
  { path: '/admin/library', label: 'Library', icon: 'library' },
  { path: '/admin/albums', label: 'Albums', icon: 'image' },
  { path: '/admin/upload', label: 'Upload', icon: 'upload' },
  { path: '/admin/keys', label: 'Upload keys', short: 'Keys', icon: 'key' },
  { path: '/admin/users', label: 'Users', icon: 'users', admin: true },
  { path: '/admin/settings', label: 'Settings', icon: 'settings', admin: true },
  { path: '/admin/account', label: 'Account', icon: 'user' },
];

const ROUTES = [
  { re: /^\/admin\/?$/, page: dashboardPage, nav: '/admin/' },
  { re: /^\/admin\/library\/?$/, page: libraryPage, nav: '/admin/library' },
  { re: /^\/admin\/images\/([^/]+)\/?$/, page: imagePage, nav: '/admin/library' },
  { re: /^\/admin\/albums\/?$/, page: albumsPage, nav: '/admin/albums' },
  { re: /^\/admin\/albums\/([^/]+)\/?$/, page: albumsPage, nav: '/admin/albums' },
  { re: /^\/admin\/upload\/?$/, page: uploadPage, nav: '/admin/upload' },
  { re: /^\/admin\/keys\/?$/, page: keysPage, nav: '/admin/keys' },
  { re: /^\/admin\/users\/?$/, page: usersPage, nav: '/admin/users', admin: true },
  { re: /^\/admin\/settings\/?$/, page: settingsPage, nav: '/admin/settings', admin: true },
  { re: /^\/admin\/account\/?$/, page: accountPage, nav: '/admin/account' },
];

// Pages for someone without a session, opened from a link an admin handed out.
const LINK_PAGES = [
  { re: /^\/admin\/invite\/?$/, mount: linkPages.mountInvite },
  { re: /^\/admin\/reset-password\/?$/, mount: linkPages.mountReset },
];

const root = document.getElementById('app');
let shell = null; // { main, links } while signed in
let current = null; // { cleanup, controller }
let lastRefresh = 0;
let refreshTimer = null;
let rendered = 0; // page renders so far; the first one leaves focus at the document start
/** Files dropped on another page, handed to the upload page. */
export const pendingFiles = [];

/** A `next` target is followed only if it is a same-origin admin path. */
export { safeNext };

/** Client-side navigation. */
export function navigate(path, { replace = false } = {}) {
  if (!path.startsWith('/admin')) {
    location.assign(path);
    return;
  }
  if (replace) history.replaceState(null, '', path);
  else if (path !== location.pathname + location.search) history.pushState(null, '', path);
  render();
}

function loginPath() {
  const here = location.pathname + location.search;
  return here.startsWith('/admin/login') || here === '/admin/' || here === '/admin'
    ? '/admin/login'
    : `/admin/login?next=${encodeURIComponent(here)}`;
}

function teardownPage() {
  if (!current) return;
  current.controller.abort();
  try { current.cleanup?.(); } catch (e) { console.warn(e); }
  current = null;
}

function buildShell() {
  const links = new Map();
  // The server refuses an account's requests for admin pages anyway; hiding
  // them keeps a user's navigation to what they can use.
  const navItems = NAV.filter((item) => !item.admin || api.isAdmin()).map((item) => {
    const a = h('a', { href: item.path, class: 'nav-link', 'aria-label': item.label }, icon(item.icon),
      h('span', { class: 'nav-label', text: item.label }),
      h('span', { class: 'nav-label-short', text: item.short || item.label }));
    links.set(item.path, a);
    return h('li', null, a);
  });
  const logoutBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-icon', title: 'Sign out', 'aria-label': 'Sign out', onClick: signOut }, icon('logout'));
  const user = h('div', { class: 'sidebar-user' },
    h('div', { class: 'avatar', 'aria-hidden': 'true', text: (api.session.username || '?').slice(0, 1).toUpperCase() }),
    h('div', { class: 'sidebar-user-text' },
      h('span', { class: 'sidebar-username', text: api.session.username || '' }),
      api.session.version && h('span', { class: 'sidebar-version', text: `pixbin ${api.session.version}` })),
    logoutBtn);
  const main = h('main', { id: 'main', class: 'main', tabIndex: -1 });
  const skip = h('a', { href: '#main', class: 'skip-link', text: 'Skip to content', onClick: (e) => { e.preventDefault(); main.focus(); } });
  const sidebar = h('header', { class: 'sidebar' },
    h('a', { href: '/admin/', class: 'brand', 'aria-label': 'pixbin dashboard' }, logo(28), h('span', { class: 'brand-name', text: 'pixbin' })),
    h('nav', { class: 'nav', 'aria-label': 'Main' }, h('ul', { class: 'nav-list' }, navItems)),
    user);
  root.replaceChildren(skip, h('div', { class: 'layout' }, sidebar, main));
  root.classList.remove('boot');
  shell = { main, links };
}

function setActiveNav(path) {
  for (const [p, a] of shell.links) {
    if (p === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render() {
  const path = location.pathname;
  teardownPage();
  const linkPage = LINK_PAGES.find((p) => p.re.test(path));
  if (linkPage || /^\/admin\/login\/?$/.test(path)) {
    shell = null;
    stopRefresh();
    const controller = new AbortController();
    current = { controller, cleanup: null };
    root.classList.remove('boot');
    if (linkPage) {
      current.cleanup = await linkPage.mount(root, {
        signal: controller.signal,
        query: new URLSearchParams(location.search),
        done: () => { startRefresh(); navigate('/admin/', { replace: true }); },
      });
      return;
    }
    current.cleanup = await loginPage.mount(root, {
      signal: controller.signal,
      query: new URLSearchParams(location.search),
      done: (next) => { startRefresh(); navigate(safeNext(next) || '/admin/', { replace: true }); },
    });
    return;
  }
  if (!api.session.csrfToken && !api.session.username) {
    navigate(loginPath(), { replace: true });
    return;
  }
  if (!shell) buildShell();
  const route = ROUTES.find((r) => r.re.test(path));
  const controller = new AbortController();
  current = { controller, cleanup: null };
  setActiveNav(route?.nav);
  const container = h('div', { class: 'page' });
  shell.main.replaceChildren(container);
  window.scrollTo(0, 0);
  if (!route || (route.admin && !api.isAdmin())) {
    setTitle('Not found');
    container.append(h('h1', { class: 'page-title', text: 'Page not found' }),
      emptyState('alert', 'Nothing lives at this address.', null, h('a', { href: '/admin/', class: 'btn btn-primary', text: 'Go to the dashboard' })));
    return;
  }
  try {
    const cleanup = await route.page.mount(container, {
      params: path.match(route.re).slice(1).map(decodeURIComponent),
      query: new URLSearchParams(location.search),
      signal: controller.signal,
      navigate,
      pendingFiles,
    });
    if (current?.controller === controller) current.cleanup = cleanup;
    else cleanup?.();
  } catch (e) {
    if (e.name === 'AbortError' || e.status === 401) return;
    console.warn(e);
    container.replaceChildren(h('h1', { class: 'page-title', text: 'Something went wrong' }),
      emptyState('alert', e.status !== undefined ? explain(e) : 'This page failed to load.', null,
        h('button', { type: 'button', class: 'btn', text: 'Try again', onClick: () => render() })));
  }
  // After a client-side navigation, move focus to the new page's heading so
  // keyboard and screen reader users land there (a full load starts at the top).
  rendered += 1;
  if (rendered > 1 && (document.activeElement === document.body || document.activeElement?.closest('.sidebar'))) {
    const heading = container.querySelector('h1');
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

async function signOut() {
  try { await api.logout(); } catch { /* already signed out */ }
  stopRefresh();
  toast('Signed out');
  navigate('/admin/login', { replace: true });
}

async function refreshNow() {
  lastRefresh = Date.now();
  try {
    await api.refresh();
  } catch (e) {
    if (e.status !== 401) console.warn('session refresh failed', e.message);
  }
}

function startRefresh() {
  stopRefresh();
  lastRefresh = Date.now();
  refreshTimer = setInterval(() => {
    if (document.visibilityState === 'visible') refreshNow();
  }, REFRESH_EVERY_MS);
}

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && refreshTimer && Date.now() - lastRefresh > REFRESH_EVERY_MS) refreshNow();
});

// Same-origin links inside the app navigate without a page load.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest?.('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/admin') || url.hash) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => render());

// Dropping images anywhere in the app sends them to the upload page instead of
// letting the browser navigate away to the file.
document.addEventListener('dragover', (e) => {
  if (shell && e.dataTransfer?.types.includes('Files')) e.preventDefault();
});
document.addEventListener('drop', (e) => {
  // The upload page handles its own drops.
  if (!shell || location.pathname.startsWith('/admin/upload') || !e.dataTransfer?.files.length) return;
  e.preventDefault();
  pendingFiles.push(...e.dataTransfer.files);
  navigate('/admin/upload');
});

api.onUnauthorized(() => {
  if (!shell) return;
  stopRefresh();
  toast('Your session has ended. Please sign in again.', 'error');
  navigate(loginPath(), { replace: true });
});

async function boot() {
  const onLogin = /^\/admin\/login\/?$/.test(location.pathname);
  const onLink = LINK_PAGES.some((p) => p.re.test(location.pathname));
  if (api.maybeSignedIn() && !onLink) {
    try {
      await api.loadSession();
      startRefresh();
      if (onLogin) {
        const next = safeNext(new URLSearchParams(location.search).get('next'));
        navigate(next || '/admin/', { replace: true });
        return;
      }
    } catch (e) {
      api.forget();
      if (e.status && e.status !== 401) toast(explain(e), 'error');
    }
  }
  render();
}

boot();
