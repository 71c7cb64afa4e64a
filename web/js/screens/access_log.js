// Who read a case's personal data: every opening, at the owner and at recipients, with the
// categories, the purpose and whether the token used was issued by someone else. For
// coordinators (their agency's cases) and auditors (their country's).

import * as api from '../api.js';
import { h, clear, field, input, submit, table, notice, showProblem, problemText } from '../dom.js';
import { t, word, formatDateTime } from '../i18n.js';
import { agencyName } from '../state.js';
import { go } from '../app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function render(view, { params }) {
  const [id] = params;
  const title = t('access.title');
  view.append(h('h1', {}, title));
  const caseId = input({ name: 'case_id', value: id || '', size: 40, spellcheck: 'false' });
  const form = h('form', { novalidate: true, class: 'filters', role: 'search', 'aria-label': t('access.title') },
    field(t('access.case_id'), caseId, { pointer: '/case_id', inline: true, hint: t('access.case_id_hint') }),
    h('div', { class: 'field inline' }, submit(t('access.show'))));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = caseId.value.trim().toLowerCase();
    if (!UUID.test(v)) {
      showProblem(form, { code: 'bad_id', errors: [{ pointer: '/case_id', message: t('access.bad_id') }] });
      return;
    }
    go(`#/cases/${v}/access-log`);
  });
  view.append(form);
  if (!id) return title;
  const results = h('div');
  view.append(results);
  try {
    const log = await api.get(`/v1/cases/${id}/access-log`);
    const rows = [];
    for (const e of log.items) {
      rows.push([formatDateTime(e.at), h('span', { class: 'mono' }, e.user_id), await agencyName(e.agency_id), e.country,
        (e.categories || []).map((c) => word('category', c)).join(', '), word('purpose_read', e.purpose),
        e.token_issued_by_other === true ? h('span', { class: 'tag bad' }, t('access.other_token')) : (e.token_issued_by_other === false ? t('app.no') : '–'),
        h('span', { class: 'mono' }, e.request_id)]);
    }
    results.append(h('p', {}, h('a', { href: `#/cases/${id}` }, t('access.back'))));
    results.append(rows.length ? table(t('access.caption'), [t('access.at'), t('access.user'), t('access.agency'), t('access.country'), t('access.categories'), t('access.purpose'), t('access.other_token_col'), t('access.request')], rows)
      : h('p', {}, t('access.none')));
  } catch (e) {
    clear(results).append(notice(problemText(e), 'error'));
  }
  return title;
}
