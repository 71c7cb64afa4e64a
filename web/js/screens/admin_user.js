// Admin: one user: enable or disable, their tokens (API tokens, console sessions, sign-in
// codes) with when each was made, used, expires or was revoked; issue a token (shown once,
// here, and kept nowhere) and revoke one.

import * as api from '../api.js';
import { h, clear, field, input, submit, button, table, showProblem, section, notice, dl, problemText } from '../dom.js';
import { t, word, formatDateTime } from '../i18n.js';
import { agencyName } from '../state.js';
import { go, flash } from '../app.js';

function tokenStatus(tk) {
  if (tk.revoked_at) return t('tokens.revoked_on', { date: formatDateTime(tk.revoked_at) });
  if (tk.usable) return t('tokens.usable');
  if (tk.expires_at && new Date(tk.expires_at) < new Date()) return t('tokens.expired');
  return t('tokens.not_usable');
}

export async function render(view, { params }) {
  const [id] = params;
  const u = await api.get(`/v1/users/${id}`);
  const title = t('user.title', { name: u.display_name });
  view.append(h('h1', {}, title), h('p', {}, h('a', { href: '#/admin/users' }, t('user.back'))));
  const toggle = button(u.disabled ? t('user.enable') : t('user.disable'), async () => {
    try {
      await api.patch(`/v1/users/${id}`, { disabled: !u.disabled });
      flash(u.disabled ? t('user.enabled') : t('user.disabled'));
      go(location.hash);
    } catch (e) { view.append(notice(problemText(e), 'error')); }
  }, u.disabled ? 'primary' : 'secondary');
  view.append(section(t('user.details'), dl([
    [t('users.name'), u.display_name], [t('users.agency'), await agencyName(u.agency_id)], [t('users.role'), word('role', u.role)],
    [t('users.cross_border'), u.cross_border ? t('app.yes') : t('app.no')], [t('users.status'), u.disabled ? t('users.disabled') : t('users.enabled')],
  ]), toggle));

  const issued = h('div', { 'aria-live': 'polite' });
  const days = input({ type: 'number', name: 'expires_days', min: 1, max: 3650, inputmode: 'numeric' });
  const form = h('form', { novalidate: true },
    field(t('tokens.expires_days'), days, { pointer: '/expires_days', hint: t('tokens.expires_hint') }),
    submit(t('tokens.issue')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = days.value ? { expires_days: Number(days.value) } : {};
    try {
      const tk = await api.post(`/v1/users/${id}/tokens`, body);
      const secret = h('output', { class: 'secret', id: 'issued-token', tabindex: '-1' }, tk.token);
      clear(issued).append(notice(t('tokens.issued_once'), 'warn'), h('p', {}, h('label', { for: 'issued-token' }, t('tokens.the_token'))), secret,
        h('p', { class: 'muted' }, tk.expires_at ? t('tokens.expires_on', { date: formatDateTime(tk.expires_at) }) : t('tokens.no_expiry')));
      secret.focus();
      await drawTokens();
    } catch (err) { showProblem(form, err); }
  });

  const listBox = h('div');
  async function drawTokens() {
    try {
      const items = [];
      let cursor = null;
      do {
        const page = await api.get(`/v1/users/${id}/tokens`, { limit: 100, cursor: cursor || undefined });
        items.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && items.length < 300);
      const rows = items.map((tk) => {
        const cell = h('div');
        if (!tk.revoked_at && tk.kind !== 'signin') {
          cell.append(button(t('tokens.revoke'), async () => {
            try {
              await api.del(`/v1/tokens/${tk.id}`);
              flash(t('tokens.revoked'));
              go(location.hash);
            } catch (e) { cell.append(notice(problemText(e), 'error')); }
          }, 'danger', { 'aria-label': `${t('tokens.revoke')}: ${word('token_kind', tk.kind)} ${formatDateTime(tk.created_at)}` }));
        }
        return [word('token_kind', tk.kind), formatDateTime(tk.created_at), tk.expires_at ? formatDateTime(tk.expires_at) : t('tokens.never'),
          tk.last_used_at ? formatDateTime(tk.last_used_at) : '–', word('issued_via', tk.issued_via), tokenStatus(tk), h('span', { class: 'mono' }, tk.id.slice(0, 8)), cell];
      });
      clear(listBox).append(rows.length ? table(t('tokens.list'), [t('tokens.kind'), t('tokens.created'), t('tokens.expires'), t('tokens.last_used'), t('tokens.issued_via'), t('tokens.status'), t('tokens.id'), t('app.actions')], rows) : h('p', {}, t('tokens.none')));
    } catch (e) { clear(listBox).append(notice(problemText(e), 'error')); }
  }
  await drawTokens();
  view.append(section(t('tokens.title'), h('p', {}, t('tokens.intro')), form, issued, h('h3', {}, t('tokens.list')), listBox));
  return title;
}
