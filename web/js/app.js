// The console's shell: who is signed in, the navigation for their role, the language
// selector, and the hash router (#/cases/<id>) that loads one module per screen. After each
// route change the screen's heading takes the focus, so keyboard and screen-reader users
// start at the top of what changed.

import * as api from './api.js';
import { h, clear, button, notice, problemText } from './dom.js';
import { t, setLanguage, initialLanguage, language, LANGUAGES } from './i18n.js';
import { session, reset, role } from './state.js';

const ROUTES = [
  { path: /^\/signin$/, screen: 'signin', public: true },
  { path: /^\/cases$/, screen: 'cases', roles: ['caseworker', 'coordinator'] },
  { path: /^\/cases\/new$/, screen: 'case_new', roles: ['caseworker', 'coordinator'] },
  { path: /^\/cases\/([0-9a-f-]{36})$/, screen: 'case', roles: ['caseworker', 'coordinator'] },
  { path: /^\/cases\/([0-9a-f-]{36})\/refer$/, screen: 'refer', roles: ['caseworker', 'coordinator'] },
  { path: /^\/cases\/([0-9a-f-]{36})\/access-log$/, screen: 'access_log', roles: ['coordinator', 'auditor'] },
  { path: /^\/access-log$/, screen: 'access_log', roles: ['coordinator', 'auditor'] },
  { path: /^\/referrals$/, screen: 'referrals', roles: ['caseworker', 'coordinator'] },
  { path: /^\/handovers$/, screen: 'handovers', roles: ['coordinator', 'auditor'] },
  { path: /^\/stats$/, screen: 'stats', roles: ['coordinator', 'auditor'] },
  { path: /^\/admin\/agencies$/, screen: 'admin_agencies', roles: ['admin'] },
  { path: /^\/admin\/users$/, screen: 'admin_users', roles: ['admin'] },
  { path: /^\/admin\/users\/([0-9a-f-]{36})$/, screen: 'admin_user', roles: ['admin'] },
  { path: /^\/admin\/sops$/, screen: 'admin_sops', roles: ['admin'] },
];

const NAV = {
  caseworker: [['#/cases', 'nav.cases'], ['#/cases/new', 'nav.new_case'], ['#/referrals', 'nav.referrals']],
  coordinator: [['#/cases', 'nav.cases'], ['#/cases/new', 'nav.new_case'], ['#/referrals', 'nav.referrals'],
    ['#/handovers', 'nav.handovers'], ['#/stats', 'nav.stats'], ['#/access-log', 'nav.access_log']],
  auditor: [['#/handovers', 'nav.handovers'], ['#/stats', 'nav.stats'], ['#/access-log', 'nav.access_log']],
  admin: [['#/admin/agencies', 'nav.agencies'], ['#/admin/users', 'nav.users'], ['#/admin/sops', 'nav.sops']],
};

const HOME = { caseworker: '#/cases', coordinator: '#/cases', auditor: '#/handovers', admin: '#/admin/agencies' };

let pendingNotice = null;
let renderCount = 0;

/** A message shown at the top of the next screen (after a redirect). */
export function flash(words, kind = 'ok') {
  pendingNotice = { words, kind };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export function home() {
  return HOME[role()] || '#/signin';
}

function parseHash() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, q] = raw.split('?');
  return { path, query: new URLSearchParams(q || '') };
}

function renderHeader() {
  const nav = clear(document.getElementById('nav'));
  const who = clear(document.getElementById('who'));
  const { path } = parseHash();
  const me = session.me;
  if (me) {
    nav.append(h('ul', {}, (NAV[me.role] || []).map(([href, key]) => h('li', {},
      h('a', { href, 'aria-current': ('#' + path) === href ? 'page' : null }, t(key))))));
    who.append(h('span', { class: 'me' }, t('app.signed_in_as', {
      name: me.display_name, role: t('enum.role.' + me.role), agency: me.agency_name,
    })));
  }
  const sel = h('select', { id: 'language', onchange: async (e) => {
    await setLanguage(e.target.value, true);
    route();
  } }, LANGUAGES.map((l) => h('option', { value: l.code, lang: l.code === 'tl' ? 'fil' : l.code, selected: l.code === language() }, l.name)));
  who.append(h('label', { for: 'language' }, t('app.language')), sel);
  if (me) who.append(button(t('app.sign_out'), signOut, 'secondary'));
  document.getElementById('skip-link').textContent = t('app.skip');
  document.getElementById('nav').setAttribute('aria-label', t('app.nav'));
  clear(document.getElementById('foot')).append(t('app.footer'));
}

async function signOut() {
  try {
    await api.del('/v1/sessions/current');
  } catch (e) {
    // Ended already, or the server is away: forget everything here either way.
  }
  endLocally('signin.signed_out');
}

/** Forgets everything personal this page holds by loading it anew on the sign-in screen. */
export function endLocally(messageKey) {
  api.setSession(null);
  reset();
  const target = '/#/signin' + (messageKey === 'signin.session_ended' ? '?ended=1' : '?out=1');
  history.replaceState(null, '', target);
  location.reload();
}

async function loadScreen(name) {
  return import(`./screens/${name}.js`);
}

export async function route() {
  const { path, query } = parseHash();
  const main = document.getElementById('main');
  const mine = ++renderCount;
  let match = null;
  let params = [];
  for (const r of ROUTES) {
    const m = path.match(r.path);
    if (m) { match = r; params = m.slice(1); break; }
  }
  if (!session.me && !(match && match.public)) {
    history.replaceState(null, '', '/#/signin');
    return route();
  }
  if (session.me && (path === '/' || path === '' || (match && match.public))) {
    history.replaceState(null, '', '/' + home());
    return route();
  }
  renderHeader();
  const view = h('div', { class: 'screen' });
  if (pendingNotice) {
    view.append(notice(pendingNotice.words, pendingNotice.kind));
    pendingNotice = null;
  }
  let title = t('app.not_found');
  try {
    if (!match) {
      view.append(h('h1', { tabindex: '-1' }, title), h('p', {}, h('a', { href: home() }, t('app.go_home'))));
    } else if (match.roles && !match.roles.includes(role())) {
      title = t('app.not_for_role');
      view.append(h('h1', { tabindex: '-1' }, title), h('p', {}, h('a', { href: home() }, t('app.go_home'))));
    } else {
      const mod = await loadScreen(match.screen);
      if (mine !== renderCount) return;
      title = await mod.render(view, { params, query });
    }
  } catch (e) {
    if (e instanceof api.ApiError && e.status === 401) return;
    view.append(h('h1', { tabindex: '-1' }, t('app.error_title')), notice(problemText(e), 'error'));
    title = t('app.error_title');
  }
  if (mine !== renderCount) return;
  clear(main).append(view);
  document.title = `${title || 'trm'} – trm`;
  const heading = main.querySelector('h1');
  if (heading) {
    if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
  // Which render of which page load is on screen (nothing else): tests wait for it to change.
  document.body.dataset.render = `${Math.round(performance.timeOrigin)}.${mine}`;
}

/** Signs in with a token or a one-time code; true on success. Throws ApiError. */
export async function signIn(token) {
  const s = await api.post('/v1/sessions', { token }, { noCsrf: true, quiet401: true });
  api.setSession(s);
  session.me = s;
  return s;
}

/**
 * A one-time sign-in link (#/signin/trm_...): the code leaves the address bar and history
 * before it is used. True when the address was such a link.
 */
async function signInFromLink() {
  const m = location.hash.match(/^#\/signin\/(trm_[A-Za-z0-9_-]+)$/);
  if (!m) return false;
  history.replaceState(null, '', '/#/signin');
  try {
    await signIn(m[1]);
    history.replaceState(null, '', '/' + home());
  } catch (e) {
    flash(problemText(e), 'error');
  }
  return true;
}

async function start() {
  await setLanguage(initialLanguage());
  document.getElementById('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    const heading = document.querySelector('main h1');
    (heading || document.getElementById('main')).focus();
  });
  api.onSessionEnded(() => {
    if (session.me) endLocally('signin.session_ended');
  });
  if (!(await signInFromLink())) {
    try {
      const s = await api.get('/v1/sessions/current', undefined, { quiet401: true });
      api.setSession(s);
      session.me = s;
    } catch (e) {
      session.me = null;
    }
  }
  window.addEventListener('hashchange', async () => {
    if (await signInFromLink()) renderHeader();
    route();
  });
  await route();
}

start();
