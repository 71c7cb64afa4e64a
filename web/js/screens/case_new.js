// A new case: first a duplicate check (blind indexes: the server never decrypts to compare),
// then the statistical fields, then the personal data by category. An error is shown next
// to the field it names; what was typed stays.

import * as api from '../api.js';
import { h, clear, field, input, textarea, select, checkboxes, checked, submit, button, table,
  notice, showProblem, clearErrors, lines, problemText, section } from '../dom.js';
import { t, word } from '../i18n.js';
import { session } from '../state.js';
import { caseRow, caseHeaders } from './cases.js';
import { go, flash } from '../app.js';

export const SEXES = ['female', 'male', 'other', 'unknown'];
export const AGE_BANDS = ['0-8', '9-17', '18-20', '21-23', '24-26', '27-29', '30-38', '39-47', '48+', 'unknown'];
export const FORMS = ['sexual', 'labour', 'forced_criminality', 'begging', 'domestic_servitude', 'forced_marriage', 'organ_removal', 'other'];
export const CATEGORIES = ['identity', 'contact', 'health', 'narrative', 'exploitation_details'];
const DOC_TYPES = ['passport', 'id_card', 'residence_permit', 'travel_document', 'birth_certificate', 'other'];

function thisMonth() {
  const d = new Date();
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The personal-data fieldsets (one per category); pointers match the API's. */
export function personFields() {
  const P = '/person';
  const ctl = {
    full_name: input({ name: 'full_name' }),
    aliases: textarea({ name: 'aliases', rows: 2 }),
    date_of_birth: input({ type: 'date', name: 'date_of_birth' }),
    doc_type: select(DOC_TYPES.map((d) => [d, word('document', d)]), { name: 'doc_type' }, t('new.no_document')),
    doc_number: input({ name: 'doc_number' }),
    doc_country: input({ name: 'doc_country', maxlength: 2, size: 4 }),
    phone: input({ name: 'phone', type: 'text', inputmode: 'tel' }),
    address: textarea({ name: 'address', rows: 2 }),
    current_location: input({ name: 'current_location' }),
    health_notes: textarea({ name: 'health_notes' }),
    vulnerabilities: textarea({ name: 'vulnerabilities', rows: 2 }),
    statement: textarea({ name: 'statement', rows: 5 }),
    recruitment: textarea({ name: 'recruitment' }),
    means_of_control: textarea({ name: 'means_of_control', rows: 2 }),
    places: textarea({ name: 'places', rows: 2 }),
  };
  const oneLine = t('new.one_per_line');
  const fs = (cat, ...children) => h('fieldset', { class: 'category' }, h('legend', {}, word('category', cat)), ...children);
  const nodes = [
    fs('identity',
      field(t('person.full_name'), ctl.full_name, { pointer: `${P}/identity/full_name` }),
      field(t('person.aliases'), ctl.aliases, { pointer: `${P}/identity/aliases`, hint: oneLine }),
      field(t('person.date_of_birth'), ctl.date_of_birth, { pointer: `${P}/identity/date_of_birth` }),
      field(t('person.document_type'), ctl.doc_type, { pointer: `${P}/identity/documents/0/type` }),
      field(t('person.document_number'), ctl.doc_number, { pointer: `${P}/identity/documents/0/number` }),
      field(t('person.document_country'), ctl.doc_country, { pointer: `${P}/identity/documents/0/country`, hint: t('app.country_hint') })),
    fs('contact',
      field(t('person.phone'), ctl.phone, { pointer: `${P}/contact/phone` }),
      field(t('person.address'), ctl.address, { pointer: `${P}/contact/address` }),
      field(t('person.current_location'), ctl.current_location, { pointer: `${P}/contact/current_location` })),
    fs('health',
      field(t('person.health_notes'), ctl.health_notes, { pointer: `${P}/health/notes` }),
      field(t('person.vulnerabilities'), ctl.vulnerabilities, { pointer: `${P}/health/vulnerabilities`, hint: oneLine })),
    fs('narrative',
      field(t('person.statement'), ctl.statement, { pointer: `${P}/narrative/statement` })),
    fs('exploitation_details',
      field(t('person.recruitment'), ctl.recruitment, { pointer: `${P}/exploitation_details/recruitment` }),
      field(t('person.means_of_control'), ctl.means_of_control, { pointer: `${P}/exploitation_details/means_of_control`, hint: oneLine }),
      field(t('person.places'), ctl.places, { pointer: `${P}/exploitation_details/places`, hint: oneLine })),
  ];
  return { ctl, nodes };
}

/** The person object from the fields: empty categories and fields left out. */
export function personValue(ctl) {
  const v = (el) => el.value.trim();
  const person = {};
  const put = (cat, key, value) => {
    if (value === '' || (Array.isArray(value) && !value.length)) return;
    (person[cat] = person[cat] || {})[key] = value;
  };
  put('identity', 'full_name', v(ctl.full_name));
  put('identity', 'aliases', lines(ctl.aliases.value));
  put('identity', 'date_of_birth', v(ctl.date_of_birth));
  if (v(ctl.doc_type) || v(ctl.doc_number)) {
    const d = { type: v(ctl.doc_type) || 'other', number: v(ctl.doc_number) };
    if (v(ctl.doc_country)) d.country = v(ctl.doc_country).toUpperCase();
    put('identity', 'documents', [d]);
  }
  put('contact', 'phone', v(ctl.phone));
  put('contact', 'address', v(ctl.address));
  put('contact', 'current_location', v(ctl.current_location));
  put('health', 'notes', v(ctl.health_notes));
  put('health', 'vulnerabilities', lines(ctl.vulnerabilities.value));
  put('narrative', 'statement', v(ctl.statement));
  put('exploitation_details', 'recruitment', v(ctl.recruitment));
  put('exploitation_details', 'means_of_control', lines(ctl.means_of_control.value));
  put('exploitation_details', 'places', lines(ctl.places.value));
  return person;
}

function duplicateStep(onContinue) {
  const name = input({ name: 'dup_name' });
  const year = input({ type: 'number', name: 'dup_year', min: 1900, max: 2100, inputmode: 'numeric' });
  const docno = input({ name: 'dup_doc' });
  const results = h('div', { 'aria-live': 'polite' });
  const form = h('form', { novalidate: true },
    h('p', {}, t('new.duplicate_intro')),
    field(t('person.full_name'), name, { pointer: '/full_name' }),
    field(t('new.birth_year'), year, { pointer: '/birth_year' }),
    field(t('person.document_number'), docno, { pointer: '/document_number' }),
    submit(t('new.search')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = {};
    if (name.value.trim()) body.full_name = name.value.trim();
    if (year.value) body.birth_year = Number(year.value);
    if (docno.value.trim()) body.document_number = docno.value.trim();
    if (!Object.keys(body).length) {
      showProblem(form, { code: 'search_empty', errors: [{ pointer: '/full_name', message: t('new.search_empty') }] });
      return;
    }
    try {
      const found = await api.post('/v1/cases/search', body);
      clear(results);
      if (!found.items.length) {
        results.append(notice(t('new.no_duplicates'), 'ok'));
      } else {
        const rows = [];
        for (const c of found.items) rows.push([...(await caseRow(c)), String(c.matched_indexes)]);
        results.append(notice(t('new.possible_duplicates', { n: found.items.length }), 'warn'),
          table(t('new.duplicates_caption'), [...caseHeaders(), t('new.matched')], rows));
      }
      results.append(button(t('new.continue'), () => onContinue({ name: name.value.trim(), doc: docno.value.trim() }), 'primary'));
      results.querySelector('.notice').setAttribute('tabindex', '-1');
      results.querySelector('.notice').focus();
    } catch (err) {
      showProblem(form, err);
    }
  });
  return section(t('new.step_duplicates'), form, results);
}

function createStep(carried) {
  const me = session.me;
  const country = input({ name: 'country', value: me.country, maxlength: 2, size: 4, required: true });
  const sex = select(SEXES.map((s) => [s, word('sex', s)]), { name: 'sex', required: true }, t('app.choose'));
  const age = select(AGE_BANDS.map((a) => [a, word('age_band', a)]), { name: 'age_band', required: true }, t('app.choose'));
  const citizenship = input({ name: 'citizenship', maxlength: 7, size: 8, required: true });
  const month = input({ type: 'month', name: 'identified_month', value: thisMonth(), required: true });
  const forms = checkboxes(t('case.forms'), 'forms', FORMS.map((f) => [f, word('form', f)]), { pointer: '/exploitation_forms' });
  const { ctl, nodes } = personFields();
  if (carried.name) ctl.full_name.value = carried.name;
  if (carried.doc) ctl.doc_number.value = carried.doc;
  let key = api.idempotencyKey();
  const form = h('form', { novalidate: true },
    h('fieldset', {}, h('legend', {}, t('new.statistical')),
      h('p', { class: 'hint' }, t('new.statistical_hint')),
      field(t('case.country'), country, { pointer: '/country', hint: t('app.country_hint') }),
      field(t('case.sex'), sex, { pointer: '/sex' }),
      field(t('case.age_band'), age, { pointer: '/age_band' }),
      field(t('case.citizenship'), citizenship, { pointer: '/citizenship', hint: t('new.citizenship_hint') }),
      forms,
      field(t('case.identified_month'), month, { pointer: '/identified_month' })),
    h('h3', {}, t('new.personal')),
    h('p', { class: 'hint' }, t('new.personal_hint')),
    ...nodes,
    submit(t('new.create')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {
      country: country.value.trim().toUpperCase(),
      sex: sex.value,
      age_band: age.value,
      citizenship: citizenship.value.trim().toUpperCase(),
      exploitation_forms: checked(form, 'forms'),
      identified_month: month.value,
    };
    const person = personValue(ctl);
    if (Object.keys(person).length) body.person = person;
    try {
      const c = await api.post('/v1/cases', body, { headers: { 'Idempotency-Key': key } });
      key = api.idempotencyKey();
      flash(t('new.created', { reference: c.reference }));
      go(`#/cases/${c.id}`);
    } catch (err) {
      showProblem(form, err);
    }
  });
  return section(t('new.step_create'), form);
}

export async function render(view) {
  const title = t('new.title');
  const steps = h('div');
  steps.append(duplicateStep((carried) => {
    const next = createStep(carried);
    const old = steps.querySelector('.create-step');
    if (old) old.remove();
    next.classList.add('create-step');
    steps.append(next);
    next.querySelector('h2').setAttribute('tabindex', '-1');
    next.querySelector('h2').focus();
  }));
  view.append(h('h1', {}, title), steps);
  return title;
}

export { problemText };
