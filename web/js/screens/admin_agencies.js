// Admin: the directory of agencies (this instance's and its peers'), adding one, and
// deactivating or activating it (its users cannot sign in while it is inactive).

import * as api from '../api.js';
import { h, field, input, select, submit, button, table, showProblem, section, notice, problemText } from '../dom.js';
import { t, word } from '../i18n.js';
import { agencies } from '../state.js';
import { go, flash } from '../app.js';

export const KINDS = ['police', 'prosecution', 'migration_authority', 'social_services', 'labour_inspectorate', 'ngo', 'embassy', 'international_org', 'national_coordinator', 'other'];

export async function render(view) {
  const title = t('agencies.title');
  const list = await agencies(true);
  const rows = list.map((a) => {
    const cell = h('div');
    if (!a.instance_id) {
      cell.append(button(a.active ? t('agencies.deactivate') : t('agencies.activate'), async () => {
        try {
          await api.patch(`/v1/agencies/${a.id}`, { active: !a.active });
          flash(a.active ? t('agencies.deactivated', { name: a.name }) : t('agencies.activated', { name: a.name }));
          go(location.hash);
        } catch (e) { cell.append(notice(problemText(e), 'error')); }
      }, a.active ? 'secondary' : 'primary', { 'aria-label': `${a.active ? t('agencies.deactivate') : t('agencies.activate')}: ${a.name}` }));
    }
    return [a.name, a.country, word('kind', a.kind), a.active ? t('app.yes') : t('app.no'),
      a.instance_id ? t('refer.instance_peer', { instance: a.instance_id }) : t('refer.instance_local'), cell];
  });
  const name = input({ name: 'name' });
  const country = input({ name: 'country', maxlength: 2, size: 4 });
  const kind = select(KINDS.map((k) => [k, word('kind', k)]), { name: 'kind' }, t('app.choose'));
  let key = api.idempotencyKey();
  const form = h('form', { novalidate: true },
    field(t('agencies.name'), name, { pointer: '/name' }),
    field(t('agencies.country'), country, { pointer: '/country', hint: t('app.country_hint') }),
    field(t('agencies.kind'), kind, { pointer: '/kind' }),
    submit(t('agencies.add')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const a = await api.post('/v1/agencies', { name: name.value.trim(), country: country.value.trim().toUpperCase(), kind: kind.value }, { headers: { 'Idempotency-Key': key } });
      key = api.idempotencyKey();
      flash(t('agencies.added', { name: a.name }));
      go(location.hash);
    } catch (err) { showProblem(form, err); }
  });
  view.append(h('h1', {}, title),
    section(t('agencies.list'), table(t('agencies.list'), [t('agencies.name'), t('agencies.country'), t('agencies.kind'), t('agencies.active'), t('agencies.instance'), t('app.actions')], rows, { rowHeader: true })),
    section(t('agencies.add_title'), form));
  return title;
}
