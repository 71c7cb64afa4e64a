// Admin: users, by agency; adding one (role, display name, cross-border for auditors of
// national coordinators and international organisations). Each user's page has their tokens.

import * as api from '../api.js';
import { h, clear, field, input, select, submit, button, table, showProblem, section, notice, problemText } from '../dom.js';
import { t, word } from '../i18n.js';
import { agencies } from '../state.js';
import { go, flash } from '../app.js';

const ROLES = ['caseworker', 'coordinator', 'auditor', 'admin'];

export async function render(view) {
  const title = t('users.title');
  const all = await agencies(true);
  const names = new Map(all.map((a) => [a.id, `${a.name} (${a.country})`]));
  const filter = select(all.map((a) => [a.id, names.get(a.id)]), { name: 'agency_filter' }, t('users.any_agency'));
  const results = h('div', { 'aria-live': 'polite' });
  let cursor = null;
  const stack = [];
  async function load() {
    try {
      const page = await api.get('/v1/users', { agency_id: filter.value || undefined, limit: 50, cursor: cursor || undefined });
      clear(results).append(table(t('users.list'), [t('users.name'), t('users.agency'), t('users.role'), t('users.cross_border'), t('users.status')],
        page.items.map((u) => [h('a', { href: `#/admin/users/${u.id}` }, u.display_name), names.get(u.agency_id) || u.agency_id, word('role', u.role),
          u.cross_border ? t('app.yes') : t('app.no'), u.disabled ? t('users.disabled') : t('users.enabled')]), { rowHeader: true }));
      const pager = h('div', { class: 'pager' });
      if (stack.length) pager.append(button(t('app.previous_page'), () => { cursor = stack.pop(); load(); }));
      if (page.next_cursor) pager.append(button(t('app.next_page'), () => { stack.push(cursor); cursor = page.next_cursor; load(); }));
      results.append(pager);
    } catch (e) { clear(results).append(notice(problemText(e), 'error')); }
  }
  filter.addEventListener('change', () => { cursor = null; stack.length = 0; load(); });

  const agency = select(all.filter((a) => !a.instance_id).map((a) => [a.id, names.get(a.id)]), { name: 'agency_id' }, t('app.choose'));
  const role = select(ROLES.map((r) => [r, word('role', r)]), { name: 'role' }, t('app.choose'));
  const name = input({ name: 'display_name' });
  const cross = h('input', { type: 'checkbox', id: 'u-cross', name: 'cross_border' });
  let key = api.idempotencyKey();
  const form = h('form', { novalidate: true },
    field(t('users.agency'), agency, { pointer: '/agency_id' }),
    field(t('users.role'), role, { pointer: '/role' }),
    field(t('users.name'), name, { pointer: '/display_name' }),
    h('div', { class: 'field check' }, h('span', {}, cross, ' ', h('label', { for: 'u-cross' }, t('users.cross_border_label')))),
    submit(t('users.add')));
  cross.dataset.pointer = '/cross_border';
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { agency_id: agency.value, role: role.value, display_name: name.value.trim() };
    if (cross.checked) body.cross_border = true;
    try {
      const u = await api.post('/v1/users', body, { headers: { 'Idempotency-Key': key } });
      key = api.idempotencyKey();
      flash(t('users.added', { name: u.display_name }));
      go(`#/admin/users/${u.id}`);
    } catch (err) { showProblem(form, err); }
  });
  view.append(h('h1', {}, title),
    section(t('users.list'), h('div', { class: 'filters' }, field(t('users.agency'), filter, { inline: true })), results),
    section(t('users.add_title'), form));
  await load();
  return title;
}
