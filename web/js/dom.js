// Building the page: elements with text set through textContent only (never innerHTML), so
// whatever a record holds is shown as text and never runs. Form helpers map the API's
// problem pointers to the fields that caused them, keeping what the person typed.

import { t, has } from './i18n.js';

let uid = 0;
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * h('button', {class: 'x', type: 'button', onclick: fn, dataset: {a: 1}}, 'text', child)
 * Strings become text nodes. Attributes are set with setAttribute; nothing is parsed as HTML.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'multiple' ||
             k === 'required' || k === 'hidden') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A labelled control: {label, control, hint, pointer}; the control gets an id if needed. */
export function field(label, control, opts = {}) {
  if (!control.id) control.id = nextId();
  const hintId = opts.hint ? control.id + '-hint' : null;
  const errId = control.id + '-err';
  const described = [hintId, errId].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  if (opts.pointer) control.dataset.pointer = opts.pointer;
  return h('div', { class: 'field' + (opts.inline ? ' inline' : '') },
    h('label', { for: control.id }, label),
    opts.hint ? h('p', { class: 'hint', id: hintId }, opts.hint) : null,
    control,
    h('p', { class: 'field-error', id: errId, hidden: true }));
}

export function input(props = {}) {
  return h('input', Object.assign({ type: 'text', autocomplete: 'off' }, props));
}

export function textarea(props = {}) {
  return h('textarea', Object.assign({ rows: 3 }, props));
}

/** A select of [value, words] pairs; blank: a first empty option with these words. */
export function select(options, props = {}, blank) {
  const el = h('select', props);
  if (blank !== undefined) el.append(h('option', { value: '' }, blank));
  for (const [value, words] of options) {
    el.append(h('option', { value, selected: props.value !== undefined && String(props.value) === String(value) }, words));
  }
  if (props.value !== undefined) el.value = props.value;
  return el;
}

/** A fieldset of checkboxes: [value, words, {disabled, checked, note}] */
export function checkboxes(legend, name, options, opts = {}) {
  const fs = h('fieldset', { class: 'checks' }, h('legend', {}, legend));
  if (opts.pointer) fs.dataset.pointer = opts.pointer;
  if (opts.hint) fs.append(h('p', { class: 'hint' }, opts.hint));
  for (const [value, words, o = {}] of options) {
    const id = nextId(name);
    fs.append(h('div', { class: 'check' },
      h('input', { type: 'checkbox', id, name, value, checked: o.checked, disabled: o.disabled }),
      h('label', { for: id }, words, o.note ? h('span', { class: 'muted' }, ' — ' + o.note) : null)));
  }
  fs.append(h('p', { class: 'field-error', hidden: true }));
  return fs;
}

export function checked(root, name) {
  return [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((c) => c.value);
}

/** A button; kind 'primary' | 'secondary' | 'danger'. */
export function button(words, onclick, kind = 'secondary', props = {}) {
  return h('button', Object.assign({ type: 'button', class: 'btn ' + kind, onclick }, props), words);
}

export function submit(words, kind = 'primary') {
  return h('button', { type: 'submit', class: 'btn ' + kind }, words);
}

/** The words for a problem: the catalogue's for its code, else the server's. */
export function problemText(err) {
  if (!err) return '';
  if (err.code && has('problem.' + err.code)) return t('problem.' + err.code);
  if (err.status === 0) return t('problem.network');
  return err.detail || err.title || t('problem.unknown');
}

/** Clears the error marks of a form. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) { el.textContent = ''; el.hidden = true; }
  const summary = form.querySelector('.form-problem');
  if (summary) { clear(summary); summary.hidden = true; }
}

/** The control a JSON pointer names: the longest data-pointer that is a prefix of it. */
function controlFor(form, pointer) {
  let best = null;
  let bestLen = -1;
  for (const el of form.querySelectorAll('[data-pointer]')) {
    const p = el.dataset.pointer;
    if ((pointer === p || pointer.startsWith(p + '/')) && p.length > bestLen) {
      best = el;
      bestLen = p.length;
    }
  }
  return best;
}

/**
 * Shows an API problem on a form: each errors[].pointer next to its field, the rest (and
 * unmet conditions) in the form's summary. Nothing the person typed is touched. Focus goes
 * to the first field in error, or to the summary.
 */
export function showProblem(form, err) {
  clearErrors(form);
  let summary = form.querySelector('.form-problem');
  if (!summary) {
    summary = h('div', { class: 'form-problem', role: 'alert', tabindex: '-1' });
    form.prepend(summary);
  }
  const loose = [];
  let first = null;
  for (const e of err.errors || []) {
    const control = controlFor(form, e.pointer || '');
    if (!control) { loose.push(e); continue; }
    const box = control.closest('.field, fieldset');
    const msg = box && box.querySelector('.field-error');
    if (msg) {
      msg.textContent = (msg.textContent ? msg.textContent + ' ' : '') + e.message;
      msg.hidden = false;
    }
    const target = control.matches('fieldset') ? control.querySelector('input') : control;
    if (target) target.setAttribute('aria-invalid', 'true');
    if (!first) first = target;
  }
  summary.append(h('p', {}, problemText(err)));
  if (loose.length) summary.append(h('ul', {}, loose.map((e) => h('li', {}, `${e.pointer}: ${e.message}`))));
  if (err.unmet && err.unmet.length) {
    summary.append(h('ul', {}, err.unmet.map((u) => h('li', {}, u.message))));
  }
  summary.hidden = false;
  (first || summary).focus();
}

/** A status line announced to screen readers (role=status); kind 'ok' | 'error'. */
export function notice(words, kind = 'ok') {
  return h('p', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' }, words);
}

/** A table from headers and rows of cells (strings or nodes); caption for screen readers. */
export function table(caption, headers, rows, opts = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: opts.class || '' },
      h('caption', { class: opts.showCaption ? '' : 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) =>
        i === 0 && opts.rowHeader ? h('th', { scope: 'row' }, c) : h('td', {}, c)))))));
}

/** A description list from [term, description] pairs (empty descriptions shown as –). */
export function dl(pairs, cls = 'facts') {
  return h('dl', { class: cls }, pairs.map(([term, desc]) => [
    h('dt', {}, term),
    h('dd', {}, desc === '' || desc === null || desc === undefined ? '–' : desc),
  ]));
}

/** A section with a heading (level 2 by default). */
export function section(title, ...children) {
  const id = nextId('s');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** Offers text as a file the browser saves (built in memory: nothing goes into a URL but a blob). */
export function download(filename, text, type) {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' }, filename);
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
}

/** Form data of named controls, empty strings left out. */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.type === 'checkbox' || el.type === 'radio' || el.disabled) continue;
    const v = el.value.trim();
    if (v !== '') out[el.name] = v;
  }
  return out;
}

/** Lines of a textarea as a list (empty lines left out). */
export function lines(text) {
  return String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
}
