// Unmet SOP guards in the person's language: the API explains each in English; the SOP
// document says which consent or assessment a guard asks for, so the console can say it in
// any catalogue's words (the server's sentence is the fallback).

import { t, word, has } from './i18n.js';

export function unmetWords(doc, transition, unmet) {
  const kind = unmet.guard;
  const step = doc && Array.isArray(doc.transitions) ? doc.transitions.find((x) => x.name === transition.name) : null;
  const guards = step && Array.isArray(step.guards) ? step.guards.filter((g) => g.kind === kind) : [];
  const key = 'guard.' + kind;
  if (!has(key)) return unmet.message;
  switch (kind) {
    case 'consent':
      return guards.length === 1 ? t(key, { consent: word('consent', guards[0].consent) }) : unmet.message;
    case 'assessment':
      return guards.length === 1 ? t(key, { assessment: word('assessment', guards[0].assessment) }) : unmet.message;
    case 'categories_filled':
      return guards.length === 1
        ? t(key, { categories: (guards[0].categories || []).map((c) => word('category', c)).join(', ') })
        : unmet.message;
    case 'min_time_in_state': {
      const m = /(\d+)/.exec(unmet.message || '');
      return m ? t(key, { days: m[1] }) : unmet.message;
    }
    case 'best_interests_if_child':
      return /against/.test(unmet.message || '') ? t('guard.best_interests_against') : t(key);
    default:
      return t(key);
  }
}
