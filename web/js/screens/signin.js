// Sign-in: a person pastes their API token once; trmd exchanges it for a session cookie the
// page cannot read. The token stays in the field only until it is sent.

import { h, field, input, submit, notice, showProblem } from '../dom.js';
import { t } from '../i18n.js';
import { signIn, go, home } from '../app.js';

export async function render(view, { query }) {
  const title = t('signin.title');
  const token = input({ type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', { class: 'signin', novalidate: true },
    field(t('signin.token'), token, { hint: t('signin.token_hint'), pointer: '/token' }),
    submit(t('signin.submit')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!token.value.trim()) {
      showProblem(form, { code: 'token_missing', errors: [{ pointer: '/token', message: t('signin.token_missing') }] });
      return;
    }
    try {
      await signIn(token.value.trim());
      token.value = '';
      go(home());
    } catch (err) {
      showProblem(form, err);
    }
  });
  view.append(h('h1', {}, title));
  if (query.get('ended')) view.append(notice(t('signin.session_ended'), 'ok'));
  if (query.get('out')) view.append(notice(t('signin.signed_out'), 'ok'));
  view.append(h('p', {}, t('signin.intro')), form, h('p', { class: 'muted' }, t('signin.link_hint')));
  return title;
}
