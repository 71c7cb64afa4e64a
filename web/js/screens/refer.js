// Refer or transfer a case: pick the recipient (country, kind, and the trm instance it is
// served by), the data-sharing consent the handover rests on, and only the categories that
// consent covers; then the purpose, handling code and legal basis.

import * as api from '../api.js';
import { h, clear, field, input, textarea, select, checkboxes, checked, submit, notice,
  showProblem, section, nextId } from '../dom.js';
import { t, word, formatDate } from '../i18n.js';
import { session, agencies } from '../state.js';
import { go, flash } from '../app.js';
import { CATEGORIES } from './case_new.js';

const PURPOSES = ['accommodation', 'medical', 'psychological', 'legal', 'interpretation', 'return_reception', 'investigation', 'other'];
const KINDS = ['police', 'prosecution', 'migration_authority', 'social_services', 'labour_inspectorate', 'ngo', 'embassy', 'international_org', 'national_coordinator', 'other'];

function inForce(k) {
  return k.kind === 'data_sharing' && !k.withdrawn_at && !(k.expires_at && new Date(k.expires_at) < new Date());
}

function covers(consent, agency) {
  if (!consent || !agency) return true;
  const r = consent.recipients || {};
  return (r.agency_ids || []).includes(agency.id) || (r.countries || []).includes(agency.country);
}

export async function render(view, { params }) {
  const [id] = params;
  const c = await api.get(`/v1/cases/${id}/summary`);
  const consents = (await api.get(`/v1/cases/${id}/consents`)).items.filter(inForce);
  const all = (await agencies()).filter((a) => a.active && a.id !== session.me.agency_id);
  const title = t('refer.title', { reference: c.reference });
  view.append(h('h1', {}, title), h('p', {}, h('a', { href: `#/cases/${id}` }, t('refer.back'))));
  if (!consents.length) {
    view.append(notice(t('refer.no_consent'), 'warn'), h('p', {}, h('a', { href: `#/cases/${id}` }, t('refer.record_consent'))));
  }

  const consentSel = select(consents.map((k) => [k.id, `${formatDate(k.given_at)}: ${k.categories.map((x) => word('category', x)).join(', ')}`]),
    { name: 'consent_id' }, consents.length ? undefined : t('refer.no_consent_short'));
  const countryFilter = select([...new Set(all.map((a) => a.country))].sort().map((cc) => [cc, cc]), { name: 'country_filter' }, t('refer.any_country'));
  const kindFilter = select(KINDS.map((k) => [k, word('kind', k)]), { name: 'kind_filter' }, t('refer.any_kind'));
  const picker = h('ul', { class: 'radio-list' });
  const pickerBox = h('fieldset', { class: 'recipients' }, h('legend', {}, t('refer.recipient')), picker, h('p', { class: 'field-error', hidden: true }));
  pickerBox.dataset.pointer = '/to_agency_id';
  const catsBox = h('div');
  const currentConsent = () => consents.find((k) => k.id === consentSel.value) || null;

  function drawPicker() {
    const chosen = (picker.querySelector('input:checked') || {}).value;
    clear(picker);
    const consent = currentConsent();
    const shown = all.filter((a) => (!countryFilter.value || a.country === countryFilter.value) && (!kindFilter.value || a.kind === kindFilter.value));
    for (const a of shown) {
      const rid = nextId('to');
      const ok = covers(consent, a);
      picker.append(h('li', {},
        h('input', { type: 'radio', name: 'to_agency_id', id: rid, value: a.id, checked: a.id === chosen }),
        h('label', { for: rid }, h('strong', {}, a.name), ` — ${a.country}, ${word('kind', a.kind)}, `,
          a.instance_id ? t('refer.instance_peer', { instance: a.instance_id }) : t('refer.instance_local'),
          ok ? '' : h('span', { class: 'muted' }, ` (${t('refer.not_in_consent')})`))));
    }
    if (!shown.length) picker.append(h('li', {}, t('refer.no_agencies')));
  }
  function drawCategories() {
    const consent = currentConsent();
    const allowed = consent ? consent.categories : [];
    clear(catsBox).append(checkboxes(t('refer.categories'), 'categories', CATEGORIES.map((x) => [x, word('category', x),
      { disabled: !allowed.includes(x), note: allowed.includes(x) ? '' : t('refer.not_consented') }]),
    { pointer: '/categories', hint: t('refer.categories_hint') }));
  }
  consentSel.addEventListener('change', () => { drawPicker(); drawCategories(); });
  countryFilter.addEventListener('change', drawPicker);
  kindFilter.addEventListener('change', drawPicker);
  drawPicker();
  drawCategories();

  const kind = select([['referral', word('referral_kind', 'referral')], ['transfer', word('referral_kind', 'transfer')]], { name: 'kind' });
  const purpose = select(PURPOSES.map((p) => [p, word('purpose', p)]), { name: 'purpose' }, t('app.choose'));
  const handling = select(['H0', 'H1', 'H2', 'H3'].map((x) => [x, `${x} — ${word('handling', x)}`]), { name: 'handling_code', value: 'H2' });
  const basis = select(['consent', 'vital_interest', 'legal_obligation'].map((x) => [x, word('legal_basis', x)]), { name: 'legal_basis', value: 'consent' });
  const urgency = select(['routine', 'urgent', 'emergency'].map((x) => [x, word('urgency', x)]), { name: 'urgency', value: 'routine' });
  const note = textarea({ name: 'note' });
  const hours = input({ type: 'number', name: 'expires_in_hours', min: 1, max: 720, inputmode: 'numeric' });
  const reason = textarea({ name: 'reason', rows: 2 });

  const form = h('form', { novalidate: true },
    field(t('refer.kind'), kind, { pointer: '/kind', hint: t('refer.kind_hint') }),
    field(t('refer.consent'), consentSel, { pointer: '/consent_id' }),
    h('div', { class: 'filters' }, field(t('refer.filter_country'), countryFilter, { inline: true }), field(t('refer.filter_kind'), kindFilter, { inline: true })),
    pickerBox, catsBox,
    field(t('referrals.purpose'), purpose, { pointer: '/purpose' }),
    field(t('refer.handling'), handling, { pointer: '/handling_code', hint: t('refer.handling_hint') }),
    field(t('refer.legal_basis'), basis, { pointer: '/legal_basis' }),
    field(t('refer.urgency'), urgency, { pointer: '/urgency' }),
    field(t('refer.reason'), reason, { pointer: '/reason', hint: t('refer.reason_hint') }),
    field(t('refer.note'), note, { pointer: '/note', hint: t('refer.note_hint') }),
    field(t('refer.expires_in_hours'), hours, { pointer: '/expires_in_hours', hint: t('refer.expires_hint') }),
    submit(t('refer.submit')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const to = (picker.querySelector('input:checked') || {}).value;
    const body = {
      to_agency_id: to || '', kind: kind.value, purpose: purpose.value, categories: checked(form, 'categories'),
      legal_basis: basis.value, handling_code: handling.value, urgency: urgency.value,
    };
    if (consentSel.value) body.consent_id = consentSel.value;
    if (note.value.trim()) body.note = note.value.trim();
    if (reason.value.trim()) body.reason = reason.value.trim();
    if (hours.value) body.expires_in_hours = Number(hours.value);
    try {
      await api.post(`/v1/cases/${id}/referrals`, body);
      flash(t('refer.sent'));
      go(`#/cases/${id}`);
    } catch (err) { showProblem(form, err); }
  });
  view.append(section(t('refer.form'), form));
  return title;
}
