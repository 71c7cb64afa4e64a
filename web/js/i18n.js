// Messages: every word the console shows comes from a catalogue (messages/<lang>.json),
// chosen from the browser's languages or by the person (the choice of language, and nothing
// else, is remembered in localStorage). Dates and numbers are formatted for the locale.
// SOP words (tracks, states, steps, deadlines) come from the SOP document's labels.

export const LANGUAGES = [
  { code: 'en', locale: 'en-GB', name: 'English' },
  { code: 'sv', locale: 'sv-SE', name: 'Svenska' },
  { code: 'tl', locale: 'fil-PH', name: 'Filipino' },
];
const STORE_KEY = 'trm.language';

let lang = 'en';
let catalogue = {};
let fallback = {};

async function load(code) {
  const url = new URL(`../messages/${code}.json`, import.meta.url);
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error('catalogue ' + code);
  return res.json();
}

/** The language to start with: the person's choice, else the browser's, else English. */
export function initialLanguage() {
  let saved = null;
  try { saved = localStorage.getItem(STORE_KEY); } catch (e) { saved = null; }
  if (saved && LANGUAGES.some((l) => l.code === saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const primary = String(tag).toLowerCase().split('-')[0];
    const code = primary === 'fil' ? 'tl' : primary;
    if (LANGUAGES.some((l) => l.code === code)) return code;
  }
  return 'en';
}

export async function setLanguage(code, remember = false) {
  if (!LANGUAGES.some((l) => l.code === code)) code = 'en';
  if (!Object.keys(fallback).length) fallback = await load('en');
  catalogue = code === 'en' ? fallback : await load(code);
  lang = code;
  document.documentElement.lang = code === 'tl' ? 'fil' : code;
  if (remember) {
    try { localStorage.setItem(STORE_KEY, code); } catch (e) { /* private mode: fine */ }
  }
}

export function language() {
  return lang;
}

export function locale() {
  return (LANGUAGES.find((l) => l.code === lang) || LANGUAGES[0]).locale;
}

/** The message for key with {name} placeholders filled; English, then the key, if missing. */
export function t(key, params) {
  let s = catalogue[key];
  if (s === undefined) s = fallback[key];
  if (s === undefined) return key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] !== undefined ? String(params[name]) : m));
  }
  return s;
}

/** Whether the catalogue has key (for optional words such as problem codes). */
export function has(key) {
  return catalogue[key] !== undefined || fallback[key] !== undefined;
}

/** An enum value's words: enum.<kind>.<value>, else the raw value. */
export function word(kind, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = `enum.${kind}.${value}`;
  return has(key) ? t(key) : String(value);
}

const dateFmt = {};
function fmt(kind, options) {
  const k = locale() + kind;
  if (!dateFmt[k]) dateFmt[k] = new Intl.DateTimeFormat(locale(), options);
  return dateFmt[k];
}

export function formatDateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return fmt('dt', { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function formatDate(iso) {
  if (!iso) return '';
  const d = new Date(iso.length === 10 ? iso + 'T00:00:00Z' : iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return fmt('d', { dateStyle: 'medium', timeZone: iso.length === 10 ? 'UTC' : undefined }).format(d);
}

export function formatMonth(ym) {
  if (!ym) return '';
  const d = new Date(ym + '-01T00:00:00Z');
  if (Number.isNaN(d.getTime())) return String(ym);
  return fmt('m', { year: 'numeric', month: 'long', timeZone: 'UTC' }).format(d);
}

export function formatNumber(n, options) {
  return new Intl.NumberFormat(locale(), options).format(n);
}

/** A SOP document's word: labels[lang], else labels.en, else the raw name. */
export function sopLabel(doc, kind, name, track) {
  const pick = (set) => {
    if (!set || !set[kind]) return undefined;
    const m = track !== undefined ? set[kind][track] : set[kind];
    return m && typeof m === 'object' ? m[name] : undefined;
  };
  const labels = (doc && doc.labels) || {};
  return pick(labels[lang]) || pick(labels.en) || name;
}

export function sopTitle(doc, row) {
  const labels = (doc && doc.labels) || {};
  return (labels[lang] && labels[lang].title) || (labels.en && labels.en.title) ||
    (row && row.title) || (doc && doc.title) || '';
}
