// The agency's inbox and outbox of offers: what the person consented to share, for what
// purpose, and when the offer expires; accept, or decline with a reason (sealed). An accepted
// offer leads to the case, as far as the grants allow.

import * as api from '../api.js';
import { h, clear, field, textarea, select, button, submit, notice, showProblem, problemText } from '../dom.js';
import { t, word, formatDateTime } from '../i18n.js';
import { go, flash } from '../app.js';

const STATUSES = ['offered', 'accepted', 'declined', 'withdrawn', 'expired'];

function answerForm(r, verb) {
  const reason = textarea({ name: 'reason', rows: 2 });
  const form = h('form', { novalidate: true, class: 'answer' },
    field(verb === 'accept' ? t('inbox.accept_note') : t('inbox.decline_reason'), reason, { pointer: '/reason', hint: t('inbox.reason_hint') }),
    submit(verb === 'accept' ? t('inbox.accept') : t('inbox.decline'), verb === 'accept' ? 'primary' : 'danger'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
    try {
      await api.post(`/v1/referrals/${r.id}/${verb}`, body);
      flash(verb === 'accept' ? t('inbox.accepted') : t('inbox.declined'));
      go(verb === 'accept' ? `#/cases/${r.case_id}` : location.hash);
    } catch (err) { showProblem(form, err); }
  });
  return form;
}

function offerCard(r, incoming) {
  const expires = new Date(r.expires_at);
  const card = h('article', { class: 'card', 'aria-labelledby': `ref-${r.id}` },
    h('h3', { id: `ref-${r.id}` }, incoming ? t('inbox.from', { agency: r.from_agency_name, country: r.from_country }) : t('inbox.to', { agency: r.to_agency_name, country: r.to_country })),
    h('dl', { class: 'facts' },
      h('dt', {}, t('referrals.kind')), h('dd', {}, word('referral_kind', r.kind)),
      h('dt', {}, t('referrals.purpose')), h('dd', {}, word('purpose', r.purpose)),
      h('dt', {}, t('inbox.consented')), h('dd', {}, r.categories.map((x) => h('span', { class: 'tag' }, word('category', x)))),
      h('dt', {}, t('inbox.person')), h('dd', {}, [word('sex', (r.summary || {}).sex), word('age_band', (r.summary || {}).age_band), (r.summary || {}).citizenship].filter(Boolean).join(', ')),
      h('dt', {}, t('refer.urgency')), h('dd', {}, word('urgency', r.urgency)),
      h('dt', {}, t('refer.handling')), h('dd', {}, `${r.handling_code} — ${word('handling', r.handling_code)}`),
      h('dt', {}, t('refer.legal_basis')), h('dd', {}, word('legal_basis', r.legal_basis) + (r.flagged ? ` (${t('inbox.flagged')})` : '')),
      h('dt', {}, t('inbox.offered_at')), h('dd', {}, formatDateTime(r.created_at)),
      h('dt', {}, t('referrals.expires')), h('dd', {}, r.status === 'offered' ? t('inbox.expires_in', { date: formatDateTime(r.expires_at), hours: Math.max(0, Math.round((expires - new Date()) / 3600000)) }) : formatDateTime(r.expires_at)),
      h('dt', {}, t('referrals.status')), h('dd', {}, word('status', r.status) + (r.end_code ? ` (${word('end_code', r.end_code)})` : '')),
      r.note ? [h('dt', {}, t('refer.note')), h('dd', {}, r.note)] : null));
  if (incoming && r.status === 'offered') {
    const box = h('div', { class: 'actions' });
    box.append(button(t('inbox.accept'), () => { clear(box).append(answerForm(r, 'accept')); box.querySelector('textarea').focus(); }, 'primary'),
      button(t('inbox.decline'), () => { clear(box).append(answerForm(r, 'decline')); box.querySelector('textarea').focus(); }, 'secondary'));
    card.append(box);
  }
  if (r.status === 'accepted' && !r.end_code) card.append(h('p', {}, h('a', { href: `#/cases/${r.case_id}` }, t('inbox.open_case'))));
  return card;
}

export async function render(view, { query }) {
  const outgoing = query.get('dir') === 'out';
  const title = outgoing ? t('inbox.title_out') : t('inbox.title_in');
  const status = select(STATUSES.map((s) => [s, word('status', s)]), { name: 'status', value: query.get('status') || (outgoing ? '' : 'offered') }, t('inbox.any_status'));
  const results = h('div', { 'aria-live': 'polite' });
  let cursor = null;
  const stack = [];
  async function load() {
    clear(results).append(h('p', {}, t('app.loading')));
    try {
      const page = await api.get('/v1/referrals', { direction: outgoing ? 'outgoing' : 'incoming', status: status.value || undefined, limit: 20, cursor: cursor || undefined });
      clear(results);
      if (!page.items.length) results.append(h('p', {}, t('inbox.none')));
      results.append(h('div', { class: 'cards' }, page.items.map((r) => offerCard(r, !outgoing))));
      const pager = h('div', { class: 'pager' });
      if (stack.length) pager.append(button(t('app.previous_page'), () => { cursor = stack.pop(); load(); }));
      if (page.next_cursor) pager.append(button(t('app.next_page'), () => { stack.push(cursor); cursor = page.next_cursor; load(); }));
      results.append(pager);
    } catch (e) {
      clear(results).append(notice(problemText(e), 'error'));
    }
  }
  status.addEventListener('change', () => { cursor = null; stack.length = 0; load(); });
  view.append(h('h1', {}, title),
    h('ul', { class: 'tabs' },
      h('li', {}, h('a', { href: '#/referrals', 'aria-current': outgoing ? null : 'page' }, t('inbox.tab_in'))),
      h('li', {}, h('a', { href: '#/referrals?dir=out', 'aria-current': outgoing ? 'page' : null }, t('inbox.tab_out')))),
    h('div', { class: 'filters' }, field(t('referrals.status'), status, { inline: true })),
    results);
  await load();
  return title;
}
