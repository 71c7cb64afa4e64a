// The case page: where the case stands on each SOP track and its deadlines, the steps
// allowed now (and, for blocked ones, why, in plain words), personal data opened one
// category at a time (each opening is logged, and says so), consents, assessments,
// guardians, the timeline with notes, the case's offers, and the coordinator's erasure.

import * as api from '../api.js';
import { h, clear, field, input, textarea, select, checkboxes, checked, submit, button, table,
  notice, showProblem, dl, section, problemText, nextId } from '../dom.js';
import { t, word, formatDateTime, formatDate, formatMonth, sopLabel, sopTitle } from '../i18n.js';
import { session, agencyName, agencies, sopDoc, sops } from '../state.js';
import { go, flash } from '../app.js';
import { CATEGORIES } from './case_new.js';
import { unmetWords } from '../guards.js';

const CONSENT_KINDS = ['assistance', 'data_sharing', 'return', 'proceedings'];
const ASSESSMENT_KINDS = ['risk', 'needs', 'return_risk', 'best_interests'];
const OUTCOMES = {
  risk: ['low', 'medium', 'high'],
  needs: ['urgent', 'standard', 'none'],
  return_risk: ['low', 'medium', 'high'],
  best_interests: ['return_in_best_interests', 'return_not_in_best_interests'],
};
const ERASURE_REASONS = ['requested_by_person', 'retention', 'court_order', 'other'];

function reload(message) {
  if (message) flash(message);
  go(location.hash);
}

function categorySelect(name, value) {
  return select(CATEGORIES.map((c) => [c, word('category', c)]), { name, value });
}

/** A button that reveals a part of the page only when asked, saying the read is logged. */
function opener(words, loggedWords, loadInto) {
  const box = h('div');
  const loggedId = nextId('logged');
  const btn = button(words, async () => {
    btn.disabled = true;
    clear(box).append(h('p', {}, t('app.loading')));
    try {
      await loadInto(clear(box));
      btn.remove();
      logged.remove();
      const focusable = box.querySelector('h3, h4, [tabindex="-1"]');
      if (focusable) { focusable.setAttribute('tabindex', '-1'); focusable.focus(); }
    } catch (e) {
      btn.disabled = false;
      clear(box).append(notice(problemText(e), 'error'));
    }
  }, 'secondary', { 'aria-describedby': loggedId });
  const logged = h('p', { class: 'logged', id: loggedId }, loggedWords);
  return h('div', { class: 'opener' }, logged, btn, box);
}

function summaryFacts(c, doc, sopRow, ownerName) {
  return dl([
    [t('case.reference'), c.reference],
    [t('case.country'), c.country],
    [t('case.owner'), ownerName],
    [t('case.sop'), sopRow ? `${sopTitle(doc, sopRow)} (v${sopRow.version})` : ''],
    [t('case.sex'), word('sex', c.sex)],
    [t('case.age_band'), word('age_band', c.age_band)],
    [t('case.citizenship'), c.citizenship],
    [t('case.forms'), (c.exploitation_forms || []).map((f) => word('form', f)).join(', ')],
    [t('case.identified_month'), formatMonth(c.identified_month)],
    [t('case.created'), formatDateTime(c.created_at)],
    [t('case.updated'), formatDateTime(c.updated_at)],
    [t('case.erased'), c.personal_data_erased_at ? formatDateTime(c.personal_data_erased_at) : t('app.no')],
  ]);
}

function tracksSection(c, doc) {
  const rows = [];
  for (const [track, st] of Object.entries(c.tracks || {})) {
    const stateDoc = doc && doc.tracks ? ((doc.tracks.find((x) => x.name === track) || {}).states || []).find((s) => s.name === st.state) : null;
    const dueWords = st.due_at ? sopLabel(doc, 'due_labels', st.state, track) : '';
    const dueLabel = dueWords !== st.state ? dueWords : ((stateDoc && stateDoc.due_label) || '');
    const overdue = st.due_at && new Date(st.due_at) < new Date();
    rows.push([
      sopLabel(doc, 'tracks', track),
      sopLabel(doc, 'states', st.state, track),
      word('phase', st.phase),
      formatDateTime(st.entered_at),
      st.due_at ? h('span', {}, h('span', { class: overdue ? 'overdue' : '' }, formatDateTime(st.due_at), overdue ? ` (${t('cases.overdue_mark')})` : ''), dueLabel ? h('br') : null, dueLabel ? h('span', { class: 'muted' }, dueLabel) : null) : '–',
    ]);
  }
  return section(t('case.tracks'), table(t('case.tracks'), [t('case.track'), t('case.state'), t('case.phase'), t('case.entered'), t('case.due')], rows, { rowHeader: true }));
}

function stepCard(c, doc, tr) {
  const label = sopLabel(doc, 'transitions', tr.name);
  const toWords = sopLabel(doc, 'states', tr.to, tr.track);
  const card = h('div', { class: 'card step' + (tr.allowed ? '' : ' blocked') },
    h('h3', {}, label),
    h('p', { class: 'muted' }, t('steps.to', { state: toWords, track: sopLabel(doc, 'tracks', tr.track) })));
  // A coordinator may override the waiting time and the screening guard, with a reason.
  const overridable = !tr.allowed && tr.unmet.length > 0 && tr.unmet.every((u) => u.guard === 'min_time_in_state' || u.guard === 'screening');
  const canOverride = overridable && session.me.role === 'coordinator';
  if (!tr.allowed) {
    card.append(h('p', {}, t('steps.blocked')), h('ul', { class: 'unmet' }, tr.unmet.map((u) => h('li', {}, unmetWords(doc, tr, u)))));
    if (!canOverride) return card;
  }
  const note = textarea({ name: 'note', rows: 2 });
  const noteCat = categorySelect('note_category', 'narrative');
  const reason = canOverride ? textarea({ name: 'override_reason', rows: 2, required: true }) : null;
  const form = h('form', { novalidate: true },
    field(t('steps.note'), note, { pointer: '/note', hint: t('steps.note_hint') }),
    field(t('steps.note_category'), noteCat, { pointer: '/note_category' }),
    reason ? field(t('steps.override_reason'), reason, { pointer: '/override_reason', hint: t('steps.override_hint') }) : null,
    submit(canOverride ? t('steps.override_take', { step: label }) : t('steps.take', { step: label }), canOverride ? 'danger' : 'primary'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { transition: tr.name };
    if (note.value.trim()) { body.note = note.value.trim(); body.note_category = noteCat.value; }
    if (reason) body.override_reason = reason.value.trim();
    try {
      await api.post(`/v1/cases/${c.id}/transitions`, body, { headers: { 'If-Match': `"${c.version}"` } });
      reload(t('steps.taken', { step: label }));
    } catch (err) {
      showProblem(form, err);
      if (err.unmet && err.unmet.length) {
        const summary = form.querySelector('.form-problem ul:last-child');
        if (summary) { clear(summary).append(err.unmet.map((u) => h('li', {}, unmetWords(doc, tr, u)))); }
      }
    }
  });
  card.append(form);
  return card;
}

async function stepsSection(c, doc) {
  const list = await api.get(`/v1/cases/${c.id}/transitions`);
  const items = list.items || [];
  const allowed = items.filter((x) => x.allowed);
  const blocked = items.filter((x) => !x.allowed && !x.unmet.some((u) => u.guard === 'state'));
  const s = section(t('steps.title'));
  if (!items.length) s.append(h('p', {}, t('steps.none')));
  if (allowed.length) s.append(h('h3', {}, t('steps.allowed')), h('div', { class: 'cards' }, allowed.map((tr) => stepCard(c, doc, tr))));
  if (blocked.length) s.append(h('h3', {}, t('steps.blocked_title')), h('div', { class: 'cards' }, blocked.map((tr) => stepCard(c, doc, tr))));
  return s;
}

/** Renders a category's fields (textContent only). */
function personBlock(cat, data) {
  const pairs = [];
  for (const [k, v] of Object.entries(data || {})) {
    let text;
    if (Array.isArray(v)) {
      text = v.map((x) => (typeof x === 'object' && x !== null ? Object.entries(x).map(([kk, vv]) => `${t('person.' + kk)}: ${vv}`).join(', ') : String(x))).join('; ');
    } else text = String(v);
    pairs.push([t('person.' + k), text]);
  }
  return pairs.length ? dl(pairs) : h('p', {}, t('person.empty_category'));
}

function personalSection(c, granted) {
  const s = section(t('person.title'), h('p', {}, t('person.intro')));
  if (c.personal_data_erased_at) {
    s.append(notice(t('person.erased'), 'warn'));
    return s;
  }
  for (const cat of CATEGORIES) {
    const box = h('div', { class: 'category-box' }, h('h3', {}, word('category', cat)));
    if (!granted.includes(cat)) {
      box.append(h('p', { class: 'muted' }, t('person.not_shared')));
    } else {
      box.append(opener(t('person.open', { category: word('category', cat) }), t('person.logged'), async (into) => {
        const full = await api.get(`/v1/cases/${c.id}`, { categories: cat });
        const data = (full.person || {})[cat];
        into.append(h('h4', { class: 'visually-hidden' }, word('category', cat)), data ? personBlock(cat, data) : h('p', {}, t('person.empty_category')));
      }));
    }
    s.append(box);
  }
  return s;
}

async function consentsSection(c) {
  const list = await api.get(`/v1/cases/${c.id}/consents`);
  const all = await agencies();
  const names = new Map(all.map((a) => [a.id, `${a.name} (${a.country})`]));
  const s = section(t('consents.title'));
  const rows = list.items.map((k) => {
    const status = k.withdrawn_at ? t('consents.withdrawn_on', { date: formatDateTime(k.withdrawn_at) })
      : (k.expires_at && new Date(k.expires_at) < new Date() ? t('consents.expired') : t('consents.in_force'));
    const recips = [...(k.recipients.agency_ids || []).map((id) => names.get(id) || id), ...(k.recipients.countries || [])].join(', ');
    const actions = h('div');
    if (!k.withdrawn_at) {
      actions.append(button(t('consents.withdraw'), () => {
        actions.firstChild.remove();
        const reason = textarea({ name: 'reason', rows: 2, required: true });
        const cat = categorySelect('reason_category', 'narrative');
        const f = h('form', { novalidate: true },
          field(t('consents.reason'), reason, { pointer: '/reason', hint: t('consents.reason_hint') }),
          field(t('consents.reason_category'), cat, { pointer: '/reason_category' }),
          submit(t('consents.withdraw_confirm'), 'danger'));
        f.addEventListener('submit', async (e) => {
          e.preventDefault();
          try {
            await api.post(`/v1/cases/${c.id}/consents/${k.id}/withdraw`, { reason: reason.value.trim(), reason_category: cat.value });
            reload(t('consents.withdrawn'));
          } catch (err) { showProblem(f, err); }
        });
        actions.append(f);
        reason.focus();
      }, 'secondary'));
    }
    return [word('consent', k.kind), (k.categories || []).map((x) => word('category', x)).join(', ') || '–', recips || '–',
      formatDate(k.given_at), k.expires_at ? formatDate(k.expires_at) : '–', status, actions];
  });
  if (rows.length) s.append(table(t('consents.title'), [t('consents.kind'), t('consents.categories'), t('consents.recipients'), t('consents.given'), t('consents.expires'), t('consents.status'), t('app.actions')], rows));
  else s.append(h('p', {}, t('consents.none')));
  s.append(consentForm(c, all));
  return s;
}

function consentForm(c, all) {
  const kind = select(CONSENT_KINDS.map((k) => [k, word('consent', k)]), { name: 'kind' });
  const cats = checkboxes(t('consents.categories'), 'consent_cat', CATEGORIES.map((x) => [x, word('category', x)]), { pointer: '/categories', hint: t('consents.categories_hint') });
  const recipients = h('select', { name: 'agency_ids', multiple: true, size: 6 },
    all.filter((a) => a.active && a.id !== session.me.agency_id).map((a) => h('option', { value: a.id }, `${a.name} (${a.country}, ${word('kind', a.kind)})`)));
  const countries = input({ name: 'countries', size: 12 });
  const today = new Date().toISOString().slice(0, 10);
  const given = input({ type: 'date', name: 'given_at', value: today });
  const expires = input({ type: 'date', name: 'expires_at' });
  const form = h('form', { novalidate: true },
    field(t('consents.kind'), kind, { pointer: '/kind' }), cats,
    field(t('consents.recipient_agencies'), recipients, { pointer: '/recipients/agency_ids', hint: t('consents.recipient_agencies_hint') }),
    field(t('consents.recipient_countries'), countries, { pointer: '/recipients/countries', hint: t('consents.countries_hint') }),
    field(t('consents.given'), given, { pointer: '/given_at' }),
    field(t('consents.expires'), expires, { pointer: '/expires_at' }),
    submit(t('consents.record')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { kind: kind.value, given_at: given.value ? `${given.value}T00:00:00Z` : '' };
    const categories = checked(form, 'consent_cat');
    if (categories.length) body.categories = categories;
    const ids = [...recipients.selectedOptions].map((o) => o.value);
    const cc = countries.value.split(/[\s,]+/).map((x) => x.trim().toUpperCase()).filter(Boolean);
    if (ids.length || cc.length) body.recipients = { agency_ids: ids, countries: cc };
    if (expires.value) body.expires_at = `${expires.value}T23:59:59Z`;
    try {
      await api.post(`/v1/cases/${c.id}/consents`, body);
      reload(t('consents.recorded'));
    } catch (err) { showProblem(form, err); }
  });
  return h('details', { class: 'add' }, h('summary', {}, t('consents.add')), form);
}

function visibleText(item, text) {
  if (item.content_visible === false) return h('span', { class: 'muted' }, t('app.not_visible'));
  return text || '–';
}

function assessmentsSection(c) {
  const s = section(t('assessments.title'));
  s.append(opener(t('assessments.open'), t('assessments.logged'), async (into) => {
    const list = await api.get(`/v1/cases/${c.id}/assessments`);
    into.append(h('h3', {}, t('assessments.recorded')));
    if (!list.items.length) into.append(h('p', {}, t('assessments.none')));
    else into.append(table(t('assessments.title'), [t('assessments.kind'), t('assessments.outcome'), t('assessments.details'), t('app.category'), t('app.recorded')],
      list.items.map((a) => [word('assessment', a.kind), word('outcome', a.outcome), visibleText(a, a.details), word('category', a.category), formatDateTime(a.recorded_at)])));
  }));
  const kind = select(ASSESSMENT_KINDS.map((k) => [k, word('assessment', k)]), { name: 'kind' });
  const outcome = select([], { name: 'outcome' });
  const fill = () => { clear(outcome); for (const o of OUTCOMES[kind.value]) outcome.append(h('option', { value: o }, word('outcome', o))); };
  kind.addEventListener('change', fill);
  fill();
  const details = textarea({ name: 'details' });
  const cat = select([['', t('assessments.default_category')], ...CATEGORIES.map((x) => [x, word('category', x)])], { name: 'category' });
  const form = h('form', { novalidate: true },
    field(t('assessments.kind'), kind, { pointer: '/kind' }),
    field(t('assessments.outcome'), outcome, { pointer: '/outcome' }),
    field(t('assessments.details'), details, { pointer: '/details', hint: t('assessments.details_hint') }),
    field(t('app.category'), cat, { pointer: '/category' }),
    submit(t('assessments.record')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { kind: kind.value, outcome: outcome.value };
    if (details.value.trim()) body.details = details.value.trim();
    if (cat.value) body.category = cat.value;
    try {
      await api.post(`/v1/cases/${c.id}/assessments`, body);
      reload(t('assessments.recorded_ok'));
    } catch (err) { showProblem(form, err); }
  });
  s.append(h('details', { class: 'add' }, h('summary', {}, t('assessments.add')), form));
  return s;
}

function guardiansSection(c) {
  const s = section(t('guardians.title'));
  s.append(opener(t('guardians.open'), t('guardians.logged'), async (into) => {
    const list = await api.get(`/v1/cases/${c.id}/guardians`);
    into.append(h('h3', {}, t('guardians.recorded')));
    if (!list.items.length) into.append(h('p', {}, t('guardians.none')));
    else into.append(table(t('guardians.title'), [t('guardians.name'), t('guardians.appointed_by'), t('guardians.appointed_on'), t('app.category')],
      list.items.map((g) => [visibleText(g, g.name), visibleText(g, g.appointed_by), visibleText(g, formatDate(g.appointed_on)), word('category', g.category)])));
  }));
  const name = input({ name: 'name' });
  const by = input({ name: 'appointed_by' });
  const on = input({ type: 'date', name: 'appointed_on' });
  const form = h('form', { novalidate: true },
    field(t('guardians.name'), name, { pointer: '/name' }),
    field(t('guardians.appointed_by'), by, { pointer: '/appointed_by' }),
    field(t('guardians.appointed_on'), on, { pointer: '/appointed_on' }),
    submit(t('guardians.record')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api.post(`/v1/cases/${c.id}/guardians`, { name: name.value.trim(), appointed_by: by.value.trim(), appointed_on: on.value });
      reload(t('guardians.recorded_ok'));
    } catch (err) { showProblem(form, err); }
  });
  s.append(h('details', { class: 'add' }, h('summary', {}, t('guardians.add')), form));
  return s;
}

function eventDetails(doc, ev) {
  const d = ev.details || {};
  if (d.to_state || d.from_state) {
    const track = d.track || 'main';
    const parts = [sopLabel(doc, 'transitions', d.transition || '')];
    parts.push(`${sopLabel(doc, 'states', d.from_state || '', track)} → ${sopLabel(doc, 'states', d.to_state || '', track)}`);
    return parts.filter(Boolean).join(': ');
  }
  return Object.entries(d).filter(([k, v]) => typeof v === 'string' && !k.endsWith('_id')).map(([k, v]) => `${k}: ${v}`).join(', ');
}

function timelineSection(c, doc) {
  const s = section(t('timeline.title'));
  s.append(opener(t('timeline.open'), t('timeline.logged'), async (into) => {
    const items = [];
    let cursor = null;
    do {
      const page = await api.get(`/v1/cases/${c.id}/events`, { limit: 100, cursor: cursor || undefined });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < 500);
    into.append(h('h3', {}, t('timeline.events')));
    const rows = [];
    for (const ev of items) {
      let note = '';
      if (ev.note_id) {
        note = ev.content_visible === false || !ev.note ? h('span', { class: 'muted' }, t('app.not_visible'))
          : h('span', {}, ev.note.note || '', ev.note.override_reason ? h('span', { class: 'muted' }, ` (${t('steps.override_reason')}: ${ev.note.override_reason})`) : null);
      }
      rows.push([formatDateTime(ev.at), word('event', ev.kind), eventDetails(doc, ev), await agencyName(ev.actor_agency_id), note]);
    }
    into.append(rows.length ? table(t('timeline.events'), [t('timeline.when'), t('timeline.what'), t('timeline.details'), t('timeline.agency'), t('timeline.note')], rows) : h('p', {}, t('timeline.none')));
  }));
  const kind = select(['note', 'contact', 'service_provided'].map((k) => [k, word('event', k)]), { name: 'kind' });
  const note = textarea({ name: 'note' });
  const cat = categorySelect('category', 'narrative');
  const form = h('form', { novalidate: true },
    field(t('timeline.kind'), kind, { pointer: '/kind' }),
    field(t('timeline.note'), note, { pointer: '/note' }),
    field(t('app.category'), cat, { pointer: '/category' }),
    submit(t('timeline.add')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { kind: kind.value, category: cat.value };
    if (note.value.trim()) body.note = note.value.trim();
    try {
      await api.post(`/v1/cases/${c.id}/events`, body);
      reload(t('timeline.added'));
    } catch (err) { showProblem(form, err); }
  });
  s.append(h('details', { class: 'add' }, h('summary', {}, t('timeline.add_title')), form));
  return s;
}

async function referralsOf(c, direction, status) {
  const out = [];
  let cursor = null;
  let pages = 0;
  do {
    const page = await api.get('/v1/referrals', { direction, status, limit: 100, cursor: cursor || undefined });
    out.push(...page.items.filter((r) => r.case_id === c.id));
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < 10);
  return out;
}

async function offersSection(c) {
  const s = section(t('offers.title'),
    h('p', { class: 'actions' }, h('a', { class: 'btn primary', href: `#/cases/${c.id}/refer` }, t('offers.refer'))));
  const list = await referralsOf(c, 'outgoing');
  if (!list.length) { s.append(h('p', {}, t('offers.none'))); return s; }
  s.append(table(t('offers.title'), [t('referrals.to'), t('referrals.kind'), t('referrals.purpose'), t('referrals.categories'), t('referrals.status'), t('referrals.expires'), t('app.actions')],
    list.map((r) => {
      const actions = h('div');
      if (r.status === 'offered') {
        actions.append(button(t('offers.withdraw'), async () => {
          try {
            await api.post(`/v1/referrals/${r.id}/withdraw`, {});
            reload(t('offers.withdrawn'));
          } catch (err) { actions.append(notice(problemText(err), 'error')); }
        }));
      }
      return [`${r.to_agency_name} (${r.to_country})`, word('referral_kind', r.kind), word('purpose', r.purpose), r.categories.map((x) => word('category', x)).join(', '),
        word('status', r.status) + (r.end_code ? ` (${word('end_code', r.end_code)})` : ''), formatDateTime(r.expires_at), actions];
    })));
  return s;
}

function coordinatorSection(c) {
  const s = section(t('coord.title'),
    h('p', {}, h('a', { href: `#/cases/${c.id}/access-log` }, t('coord.access_log'))));
  if (c.personal_data_erased_at) return s;
  const reason = select(ERASURE_REASONS.map((r) => [r, word('erasure', r)]), { name: 'reason' }, t('app.choose'));
  const confirm = h('input', { type: 'checkbox', id: 'erase-confirm', name: 'confirm' });
  const form = h('form', { novalidate: true },
    h('h3', {}, t('coord.erase_title')),
    h('p', {}, t('coord.erase_intro')),
    field(t('coord.erase_reason'), reason, { pointer: '/reason' }),
    h('div', { class: 'field check' }, h('span', {}, confirm, ' ', h('label', { for: 'erase-confirm' }, t('coord.erase_confirm')))),
    submit(t('coord.erase'), 'danger'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!confirm.checked) {
      showProblem(form, { code: 'confirm', errors: [{ pointer: '/reason', message: t('coord.erase_confirm_missing') }] });
      return;
    }
    try {
      await api.del(`/v1/cases/${c.id}/personal-data`, { reason: reason.value });
      reload(t('coord.erased'));
    } catch (err) { showProblem(form, err); }
  });
  s.append(form);
  return s;
}

export async function render(view, { params }) {
  const [id] = params;
  const me = session.me;
  const c = await api.get(`/v1/cases/${id}/summary`);
  const doc = await sopDoc(c.sop_id).catch(() => null);
  const rows = await sops().catch(() => []);
  const sopRow = rows.find((r) => r.id === c.sop_id);
  const owner = c.owner_agency_id === me.agency_id;
  const title = t('case.title', { reference: c.reference });
  view.append(h('h1', {}, title));
  if (!owner) view.append(notice(t('case.not_owner', { owner: await agencyName(c.owner_agency_id) }), 'warn'));
  view.append(section(t('case.summary'), summaryFacts(c, doc, sopRow, await agencyName(c.owner_agency_id))));
  view.append(tracksSection(c, doc));
  let granted = CATEGORIES;
  if (owner) {
    view.append(await stepsSection(c, doc));
  } else {
    const accepted = await referralsOf(c, 'incoming', 'accepted');
    const set = new Set();
    for (const r of accepted) if (!r.end_code) r.categories.forEach((x) => set.add(x));
    granted = CATEGORIES.filter((x) => set.has(x));
  }
  view.append(personalSection(c, granted));
  if (owner) {
    view.append(await consentsSection(c));
    view.append(assessmentsSection(c));
    view.append(guardiansSection(c));
  }
  view.append(timelineSection(c, doc));
  if (owner) view.append(await offersSection(c));
  if (owner && me.role === 'coordinator') view.append(coordinatorSection(c));
  return title;
}
