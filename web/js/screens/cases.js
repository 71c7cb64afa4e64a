// My agency's cases: summaries only (no personal data, nothing logged), filtered by state,
// overdue deadlines, citizenship and month, a page at a time. The filters live in memory,
// not in the address.

import * as api from '../api.js';
import { h, clear, field, input, select, button, table, notice, problemText } from '../dom.js';
import { t, word, formatDateTime, formatMonth, sopLabel } from '../i18n.js';
import { session, sopDoc, sopForCountry } from '../state.js';

const remembered = { filters: {} };

function monthRange(month) {
  if (!month) return {};
  const [y, m] = month.split('-').map(Number);
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return { from: `${month}-01`, to: `${next}-01` };
}

export async function caseRow(c) {
  const doc = await sopDoc(c.sop_id).catch(() => null);
  const overdue = c.due_at && new Date(c.due_at) < new Date();
  return [
    h('a', { href: `#/cases/${c.id}` }, c.reference),
    c.state ? sopLabel(doc, 'states', c.state, 'main') : '–',
    c.due_at ? h('span', { class: overdue ? 'overdue' : '' }, formatDateTime(c.due_at), overdue ? ` (${t('cases.overdue_mark')})` : '') : '–',
    c.citizenship,
    word('sex', c.sex),
    word('age_band', c.age_band),
    (c.exploitation_forms || []).map((f) => word('form', f)).join(', '),
    formatMonth(c.identified_month),
  ];
}

export const caseHeaders = () => [t('case.reference'), t('case.state'), t('case.due'), t('case.citizenship'),
  t('case.sex'), t('case.age_band'), t('case.forms'), t('case.identified_month')];

export async function render(view) {
  const title = t('cases.title');
  const f = remembered.filters;
  const sop = await sopForCountry(session.me.country).catch(() => null);
  const states = [];
  if (sop && sop.doc && sop.doc.tracks) {
    const main = sop.doc.tracks.find((tr) => tr.name === 'main');
    for (const s of (main ? main.states : [])) states.push([s.name, sopLabel(sop.doc, 'states', s.name, 'main')]);
  }
  const state = select(states, { name: 'state', value: f.state || '' }, t('cases.any_state'));
  const overdue = h('input', { type: 'checkbox', id: 'f-overdue', checked: f.overdue });
  const citizenship = input({ name: 'citizenship', value: f.citizenship || '', maxlength: 2, size: 4, autocapitalize: 'characters' });
  const month = input({ type: 'month', name: 'month', value: f.month || '' });
  const results = h('div', { 'aria-live': 'polite' });
  const stack = [];
  let cursor = null;

  async function load() {
    const q = {
      state: state.value || undefined,
      overdue: overdue.checked ? 'true' : undefined,
      citizenship: citizenship.value.trim().toUpperCase() || undefined,
      limit: 20,
      cursor: cursor || undefined,
      ...monthRange(month.value),
    };
    Object.assign(f, { state: state.value, overdue: overdue.checked, citizenship: citizenship.value, month: month.value });
    clear(results).append(h('p', {}, t('app.loading')));
    try {
      const page = await api.get('/v1/cases', q);
      const rows = [];
      for (const c of page.items) rows.push(await caseRow(c));
      clear(results);
      if (!rows.length) results.append(h('p', {}, t('cases.none')));
      else results.append(table(t('cases.table_caption'), caseHeaders(), rows));
      const pager = h('div', { class: 'pager' });
      if (stack.length) pager.append(button(t('app.previous_page'), () => { cursor = stack.pop(); load(); }));
      if (page.next_cursor) pager.append(button(t('app.next_page'), () => { stack.push(cursor); cursor = page.next_cursor; load(); }));
      results.append(pager);
    } catch (e) {
      clear(results).append(notice(problemText(e), 'error'));
    }
  }

  const form = h('form', { class: 'filters', role: 'search', 'aria-label': t('cases.filters') },
    field(t('case.state'), state, { inline: true }),
    field(t('cases.citizenship_filter'), citizenship, { inline: true, hint: t('cases.citizenship_hint') }),
    field(t('cases.month_filter'), month, { inline: true }),
    h('div', { class: 'field inline check' }, overdue, h('label', { for: 'f-overdue' }, t('cases.overdue_only'))),
    h('div', { class: 'field inline' }, h('button', { type: 'submit', class: 'btn primary' }, t('cases.apply'))));
  form.addEventListener('submit', (e) => { e.preventDefault(); stack.length = 0; cursor = null; load(); });

  view.append(h('h1', {}, title),
    h('p', { class: 'actions' }, h('a', { href: '#/cases/new', class: 'btn primary' }, t('nav.new_case'))),
    form, results);
  await load();
  return title;
}
