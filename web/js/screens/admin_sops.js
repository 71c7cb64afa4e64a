// Admin: the SOP versions loaded (a version never changes once loaded), and loading a new
// one from a JSON document; every problem is listed with its place in the document.

import * as api from '../api.js';
import { h, field, textarea, submit, table, showProblem, section } from '../dom.js';
import { t, formatDateTime, sopTitle } from '../i18n.js';
import { sops, sopDoc } from '../state.js';
import { go, flash } from '../app.js';

export async function render(view) {
  const title = t('sops.title');
  const rows = (await sops(true)).slice().sort((a, b) => (a.code === b.code ? b.version - a.version : a.code < b.code ? -1 : 1));
  const out = [];
  for (const r of rows) {
    const doc = await sopDoc(r.id).catch(() => null);
    const langs = doc && doc.labels ? Object.keys(doc.labels).join(', ') : '–';
    out.push([r.code, String(r.version), r.country || t('sops.generic'), sopTitle(doc, r), langs, formatDateTime(r.loaded_at)]);
  }
  const text = textarea({ name: 'document', rows: 12, spellcheck: 'false', class: 'mono' });
  const file = h('input', { type: 'file', accept: '.json,application/json', id: 'sop-file' });
  file.addEventListener('change', async () => { if (file.files[0]) text.value = await file.files[0].text(); });
  const form = h('form', { novalidate: true },
    field(t('sops.file'), file, { hint: t('sops.file_hint') }),
    field(t('sops.document'), text, { hint: t('sops.document_hint') }),
    submit(t('sops.load')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let doc;
    try { doc = JSON.parse(text.value); } catch (err) {
      showProblem(form, { code: 'invalid_json', errors: [{ pointer: '', message: t('sops.not_json') }] });
      return;
    }
    try {
      const r = await api.post('/v1/sops', doc);
      flash(t('sops.loaded', { code: r.code, version: r.version }));
      go(location.hash);
    } catch (err) { showProblem(form, err); }
  });
  view.append(h('h1', {}, title),
    section(t('sops.list'), table(t('sops.list'), [t('sops.code'), t('sops.version'), t('sops.country'), t('sops.sop_title'), t('sops.languages'), t('sops.loaded_at')], out, { rowHeader: true })),
    section(t('sops.load_title'), h('p', {}, t('sops.load_intro')), form));
  return title;
}
