// The handover log for auditors and coordinators: entries filtered by case, agency,
// country, action and time; a verification of the whole chain that shows the result and the
// newest signed checkpoint; an export (NDJSON) for offline verification with trmctl.

import * as api from '../api.js';
import { h, clear, field, input, select, submit, button, table, notice, dl, section, download,
  problemText } from '../dom.js';
import { t, word, formatDateTime, formatNumber } from '../i18n.js';
import { agencies, agencyName } from '../state.js';

const ACTIONS = ['offer', 'accept', 'decline', 'withdraw', 'expire', 'consent_withdrawal', 'consent_expiry', 'send', 'receipt'];

function short(hash) {
  return hash ? hash.slice(0, 12) + '…' : '';
}

function verifySection() {
  const out = h('div', { 'aria-live': 'polite' });
  const run = button(t('log.verify'), async () => {
    run.disabled = true;
    clear(out).append(h('p', {}, t('log.verifying')));
    try {
      const v = await api.get('/v1/handovers/verify');
      const cp = v.last_checkpoint;
      clear(out).append(
        notice(v.ok ? t('log.verify_ok') : t('log.verify_bad', { seq: v.first_bad_seq, reason: v.reason || '' }), v.ok ? 'ok' : 'error'),
        dl([
          [t('log.entries'), formatNumber(v.entries || 0)],
          [t('log.links'), formatNumber(v.links || 0)],
          [t('log.checkpoints'), v.checkpoints !== undefined ? formatNumber(v.checkpoints) : '–'],
          [t('log.unsigned_tail'), v.unsigned_tail !== undefined ? formatNumber(v.unsigned_tail) : '–'],
          [t('log.peer_signatures'), v.peer_signatures !== undefined ? formatNumber(v.peer_signatures) : '–'],
          [t('log.last_checkpoint'), cp ? t('log.checkpoint_words', { seq: cp.seq, age: formatNumber(Math.round(cp.age_s / 60)), key: cp.key_id }) : t('log.no_checkpoint')],
        ]));
    } catch (e) {
      clear(out).append(notice(problemText(e), 'error'));
    }
    run.disabled = false;
  }, 'primary');
  const exp = button(t('log.export'), async () => {
    exp.disabled = true;
    try {
      const text = await api.get('/v1/handovers/export', undefined, { accept: 'application/x-ndjson' });
      download('handover-log.ndjson', text, 'application/x-ndjson');
      out.append(notice(t('log.exported'), 'ok'));
    } catch (e) {
      out.append(notice(problemText(e), 'error'));
    }
    exp.disabled = false;
  });
  return section(t('log.verify_title'), h('p', {}, t('log.verify_intro')), h('div', { class: 'actions' }, run, exp), out);
}

export async function render(view) {
  const title = t('log.title');
  const all = await agencies();
  const caseId = input({ name: 'case_id', size: 38, spellcheck: 'false' });
  const agency = select(all.map((a) => [a.id, `${a.name} (${a.country})`]), { name: 'agency_id' }, t('log.any_agency'));
  const country = input({ name: 'country', maxlength: 2, size: 4 });
  const action = select(ACTIONS.map((a) => [a, word('action', a)]), { name: 'action' }, t('log.any_action'));
  const from = input({ type: 'date', name: 'from' });
  const to = input({ type: 'date', name: 'to' });
  const results = h('div', { 'aria-live': 'polite' });
  let cursor = null;
  const stack = [];
  async function load() {
    clear(results).append(h('p', {}, t('app.loading')));
    try {
      const page = await api.get('/v1/handovers', {
        case_id: caseId.value.trim() || undefined, agency_id: agency.value || undefined,
        country: country.value.trim().toUpperCase() || undefined, action: action.value || undefined,
        from: from.value || undefined, to: to.value || undefined, limit: 25, cursor: cursor || undefined,
      });
      const rows = [];
      for (const e of page.items) {
        rows.push([String(e.seq), formatDateTime(e.at), word('action', e.action),
          e.case_id ? h('span', { class: 'mono' }, e.case_id) : '–',
          `${await agencyName(e.from_agency_id)} → ${await agencyName(e.to_agency_id)}`,
          `${e.from_country || ''} → ${e.to_country || ''}`,
          (e.categories || []).map((c) => word('category', c)).join(', '),
          [e.legal_basis ? word('legal_basis', e.legal_basis) : '', e.handling_code || ''].filter(Boolean).join(', '),
          e.reason ? word('end_code', e.reason) : '',
          h('span', { class: 'mono', title: e.hash }, short(e.hash))]);
      }
      clear(results).append(rows.length ? table(t('log.caption'), [t('log.seq'), t('log.at'), t('log.action'), t('log.case'), t('log.agencies'), t('log.countries'), t('log.categories'), t('log.basis'), t('log.reason'), t('log.hash')], rows) : h('p', {}, t('log.none')));
      const pager = h('div', { class: 'pager' });
      if (stack.length) pager.append(button(t('app.previous_page'), () => { cursor = stack.pop(); load(); }));
      if (page.next_cursor) pager.append(button(t('app.next_page'), () => { stack.push(cursor); cursor = page.next_cursor; load(); }));
      results.append(pager);
    } catch (e) {
      clear(results).append(notice(problemText(e), 'error'));
    }
  }
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': t('log.filters'), novalidate: true },
    field(t('log.case'), caseId, { inline: true }), field(t('log.agency'), agency, { inline: true }),
    field(t('log.country'), country, { inline: true }), field(t('log.action'), action, { inline: true }),
    field(t('log.from'), from, { inline: true }), field(t('log.to'), to, { inline: true }),
    h('div', { class: 'field inline' }, submit(t('log.apply'))));
  form.addEventListener('submit', (e) => { e.preventDefault(); cursor = null; stack.length = 0; load(); });
  view.append(h('h1', {}, title), verifySection(), section(t('log.entries_title'), form, results));
  await load();
  return title;
}
