// The web console in a real Chromium, one test per journey of the people who use it, against
// a real trmd and PostgreSQL: the caseworker records a case, a consent and a referral; the
// shelter accepts and sees only what was consented; steps and their guards; the coordinator's
// override, access log and erasure; the auditor's log verification and statistics; the admin's
// tokens. Every screen is checked with axe-core and photographed. Then the browser's security
// (CSP, stored markup, CSRF, sign-out, HttpOnly) and a scan for personal values in storage,
// addresses, console output and trmd's log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Server, seed, launch, Person, outDir, trmctl } from './harness.js';

// Personal values of the journeys' person: none may ever reach storage, an address, a
// console message or a log.
const NAME = 'Rosa Sentinelvq Dalisay';
const PHONE = '+46 70 555 7319';
const HEALTH = 'Sentinelhx asthma, needs an inhaler';
const STATEMENT = 'Sentinelst was recruited for hotel work in Malmo';
const DOC = 'P7731Sentinel';
const SENTINELS = [NAME, 'Sentinelvq', PHONE, '555 7319', 'Sentinelhx', 'Sentinelst', DOC, 'Sentinelgd', 'Sentinelnt'];

let server;
let browser;
let people;
const everyone = [];
let caseId;
let caseUrl;

async function person(who, label, lang) {
  const p = new Person(browser, server, who, label);
  await p.open(lang);
  everyone.push(p);
  return p;
}

function noAxe(bad, name) {
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`), [], `axe on ${name}`);
}

before(async () => {
  server = await new Server().start();
  people = await seed(server);
  browser = await launch();
});

after(async () => {
  for (const p of everyone) await p.close().catch(() => {});
  if (browser) await browser.close();
  const exit = server ? await server.stop() : null;
  fs.writeFileSync(path.join(outDir, 'axe.json'), JSON.stringify(everyone.map((p) => ({ person: p.label, screens: p.axe })), null, 1));
  if (exit) assert.equal(exit.code, 0, `trmd stopped cleanly (${JSON.stringify(exit)}); see build/browser/trmd.log`);
});

let cw;

test('the Sweden caseworker creates a case, records consent and refers it to the shelter', async () => {
  cw = await person(people.caseworker, 'caseworker');
  const page = cw.page;
  noAxe(await cw.screen('signin'), 'signin');
  await cw.signIn();
  assert.equal(await page.locator('h1').textContent(), "My agency's cases");
  assert.equal(await page.locator('main tbody tr').count(), 20);
  noAxe(await cw.screen('cases'), 'cases');
  // Paging, and a filter (the filters stay in memory, never in the address).
  const firstRef = await page.locator('main tbody tr a').first().textContent();
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.waitForFunction((ref) => document.querySelector('main tbody tr a') && document.querySelector('main tbody tr a').textContent !== ref, firstRef);
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.waitForFunction((ref) => document.querySelector('main tbody tr a') && document.querySelector('main tbody tr a').textContent === ref, firstRef);
  await page.getByLabel('Only overdue', { exact: true }).check();
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await page.getByText('No cases match.').waitFor();
  assert.ok(page.url().endsWith('#/cases'));

  // The duplicate check comes first; nothing is found, the name carries over.
  await cw.go('#/cases/new');
  await page.getByLabel('Full name', { exact: true }).fill(NAME);
  await page.getByLabel('Year of birth', { exact: true }).fill('1994');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No existing case found.').waitFor();
  noAxe(await cw.screen('case-new-duplicates'), 'duplicate check');
  await page.getByRole('button', { name: 'None of these: record a new case' }).click();
  const create = page.locator('.create-step');
  assert.equal(await create.getByLabel('Full name', { exact: true }).inputValue(), NAME);

  // A mistake first: the API's answer shows next to the field, and nothing typed is lost.
  await create.getByLabel('Sex', { exact: true }).selectOption('female');
  await create.getByLabel('Age band', { exact: true }).selectOption('21-23');
  await create.getByLabel('Citizenship', { exact: true }).fill('PH');
  await create.getByLabel('Date of birth', { exact: true }).fill('1994-03-17');
  await create.getByLabel('Phone', { exact: true }).fill(PHONE);
  await create.getByLabel('Health notes', { exact: true }).fill(HEALTH);
  await create.getByLabel('Statement', { exact: true }).fill(STATEMENT);
  await create.getByLabel('Document type', { exact: true }).selectOption('passport');
  await create.getByLabel('Document number', { exact: true }).fill(DOC);
  await create.getByRole('button', { name: 'Record the case' }).click();
  const formsError = create.locator('fieldset.checks .field-error');
  await formsError.waitFor({ state: 'visible' });
  assert.match(await formsError.textContent(), /\S/);
  assert.equal(await create.getByLabel('Phone', { exact: true }).inputValue(), PHONE);
  noAxe(await cw.screen('case-new-error'), 'create with an error');

  await create.getByLabel('labour exploitation', { exact: true }).check();
  await cw.rendered(() => create.getByRole('button', { name: 'Record the case' }).click());
  caseUrl = page.url();
  caseId = /#\/cases\/([0-9a-f-]{36})$/.exec(caseUrl)[1];
  await page.getByText(/Case .* recorded\./).waitFor();

  // Consents: one to share identity and contact with the shelter, one to assistance.
  await page.getByText('Record a consent').click();
  const consentForm = page.locator('details.add form').first();
  await consentForm.getByLabel('Consent to', { exact: true }).selectOption('data_sharing');
  await consentForm.getByLabel('Identity', { exact: true }).check();
  await consentForm.getByLabel('Contact', { exact: true }).check();
  await consentForm.getByLabel('Recipient agencies', { exact: true }).selectOption({ label: 'Stockholm shelter (SE, NGO)' });
  await cw.rendered(() => consentForm.getByRole('button', { name: 'Record the consent' }).click());
  await page.getByText('Consent recorded.').waitFor();
  noAxe(await cw.screen('case', 'Consents'), 'case page');

  // Refer: only the consented categories can be chosen; the picker shows country, kind, instance.
  await cw.go(`#/cases/${caseId}/refer`);
  const picker = page.locator('fieldset.recipients');
  assert.match(await picker.textContent(), /Stockholm shelter — SE, NGO, on this trm/);
  assert.equal(await page.getByLabel('Health', { exact: false }).first().isDisabled(), true);
  await picker.getByLabel(/Stockholm shelter/).check();
  await page.getByLabel(/^Identity/).check();
  await page.getByLabel(/^Contact/).check();
  await page.getByLabel('Purpose', { exact: true }).selectOption('accommodation');
  await page.getByLabel('Note to the recipient', { exact: true }).fill('Sentinelnt arrives by train tonight');
  noAxe(await cw.screen('refer'), 'refer');
  await cw.rendered(() => page.getByRole('button', { name: 'Send the offer' }).click());
  await page.getByText(/Offer sent/).waitFor();
  const offers = page.locator('section', { has: page.getByRole('heading', { name: 'Referrals and transfers of this case' }) });
  assert.match(await offers.textContent(), /Stockholm shelter \(SE\).*offered/);
});

test('the shelter accepts in its own browser and sees only the consented categories', async () => {
  const sh = await person(people.shelterWorker, 'shelter', 'sv-SE');
  const page = sh.page;
  // A Swedish browser gets the Swedish console; the shelter switches to English.
  assert.equal(await page.locator('h1').textContent(), 'Logga in');
  await page.getByLabel('Språk', { exact: true }).selectOption('en');
  await page.locator('h1', { hasText: 'Sign in' }).waitFor();
  await sh.signIn();
  await sh.go('#/referrals');
  const card = page.locator('article.card').first();
  const text = await card.textContent();
  assert.match(text, /From Stockholm social services \(SE\)/);
  assert.match(text, /The person consented to share\s*IdentityContact/);
  assert.match(text, /accommodation/);
  assert.match(text, /Expires.*\(in about \d+ h\)/);
  assert.doesNotMatch(text, /Sentinel/);
  noAxe(await sh.screen('inbox'), 'inbox');
  await card.getByRole('button', { name: 'Accept' }).click();
  await sh.rendered(() => card.getByRole('button', { name: 'Accept' }).click());
  assert.ok(page.url().endsWith(`#/cases/${caseId}`));
  await page.getByText(/This case belongs to Stockholm social services/).waitFor();

  // Identity and contact open (each logged); health, narrative and exploitation do not.
  for (const cat of ['Health', 'Narrative', 'Exploitation details']) {
    const box = page.locator('.category-box', { has: page.getByRole('heading', { name: cat, exact: true }) });
    assert.match(await box.textContent(), /Not shared with your agency/);
  }
  await page.getByRole('button', { name: 'Open Identity' }).click();
  await page.getByText(NAME).waitFor();
  await page.getByRole('button', { name: 'Open Contact' }).click();
  await page.getByText(PHONE).waitFor();
  const body = await page.locator('main').textContent();
  assert.doesNotMatch(body, /Sentinelhx|Sentinelst/);
  noAxe(await sh.screen('case-recipient', 'Personal data'), 'case as the recipient');
  // The API agrees: what the shelter may open is what was consented.
  const full = await server.must(people.shelterWorker.token, 'GET', `/v1/cases/${caseId}`, null, 200);
  assert.deepEqual(Object.keys(full.person).sort(), ['contact', 'identity']);
});

test('the caseworker takes SOP steps and sees a guard explained', async () => {
  const page = cw.page;
  await cw.go(`#/cases/${caseId}`);
  const blocked = page.locator('.card.step.blocked', { has: page.getByRole('heading', { name: 'Start the reflection period' }) });
  const why = await blocked.textContent();
  assert.match(why, /informed consent to assistance must be recorded/);
  assert.match(why, /assessment of risk must be recorded first/);

  // Record what the guards ask for: a consent to assistance and a risk assessment.
  await page.getByText('Record a consent').click();
  const consentForm = page.locator('details.add form').first();
  await consentForm.getByLabel('Consent to', { exact: true }).selectOption('assistance');
  await cw.rendered(() => consentForm.getByRole('button', { name: 'Record the consent' }).click());
  await page.getByText('Record an assessment').click();
  const aForm = page.locator('details.add', { hasText: 'Record an assessment' }).locator('form');
  await aForm.getByLabel('Assessment', { exact: true }).selectOption('risk');
  await aForm.getByLabel('Outcome', { exact: true }).selectOption('medium');
  await aForm.getByLabel('Details', { exact: true }).fill('Sentinelgd trafficker knows her workplace');
  await cw.rendered(() => aForm.getByRole('button', { name: 'Record the assessment' }).click());

  const step = page.locator('.card.step:not(.blocked)', { has: page.getByRole('heading', { name: 'Start the reflection period' }) });
  await step.getByLabel('Note (optional)', { exact: true }).fill('Reflection permit applied for');
  await cw.rendered(() => step.getByRole('button', { name: /Take step/ }).click());
  await page.getByText('Step taken: Start the reflection period.').waitFor();
  const tracks = await page.locator('section', { has: page.getByRole('heading', { name: 'Where the case stands' }) }).textContent();
  assert.match(tracks, /Recovery and reflection period/);
  assert.match(tracks, /end of the 30-day reflection permit/);
  // The next step waits for the reflection period: the guard says so in plain words.
  const identify = page.locator('.card.step.blocked', { has: page.getByRole('heading', { name: 'Identify as a victim' }) });
  assert.match(await identify.textContent(), /must stay \d+ more day\(s\) in its current state/);
  const investigate = page.locator('.card.step:not(.blocked)', { has: page.getByRole('heading', { name: 'Open an investigation' }) });
  await cw.rendered(() => investigate.getByRole('button', { name: /Take step/ }).click());
  noAxe(await cw.screen('case-steps', 'Not yet possible'), 'case page after steps');

  // The timeline and the assessments open only when asked, and say the read is logged.
  await page.getByRole('button', { name: 'Show the timeline' }).click();
  await page.getByRole('heading', { name: 'What happened' }).waitFor();
  assert.match(await page.locator('main').textContent(), /Reflection permit applied for/);
  await page.getByRole('button', { name: 'Show assessments' }).click();
  await page.getByText('Sentinelgd trafficker knows her workplace').waitFor();

  // SOP words come from the SOP document, in the person's language.
  await cw.rendered(() => page.getByLabel('Language', { exact: true }).selectOption('sv'));
  assert.match(await page.locator('main').textContent(), /Återhämtnings- och betänketid/);
  noAxe(await cw.screen('case-sv', 'Var ärendet står'), 'case page in Swedish');
  await cw.rendered(() => page.getByLabel('Språk', { exact: true }).selectOption('tl'));
  assert.match(await page.locator('main').textContent(), /Panahon ng paggaling at pagninilay/);
  await cw.rendered(() => page.getByLabel('Wika', { exact: true }).selectOption('en'));
});

test('the coordinator overrides a waiting time with a reason, reads the access log, erases', async () => {
  const co = await person(people.coordinator, 'coordinator');
  const page = co.page;
  await co.signIn();
  await co.go(`#/cases/${caseId}`);
  const card = page.locator('.card.step', { has: page.getByRole('heading', { name: 'Identify as a victim' }) });
  assert.match(await card.textContent(), /must stay \d+ more day/);
  await card.getByLabel('Reason for overriding the waiting time', { exact: true }).fill('Court hearing brought forward');
  await co.rendered(() => card.getByRole('button', { name: /Override and take/ }).click());
  await page.getByText('Step taken: Identify as a victim.').waitFor();
  noAxe(await co.screen('case-coordinator', 'Coordinator'), 'case as the coordinator');

  await co.go(`#/cases/${caseId}/access-log`);
  const log = await page.locator('table').textContent();
  assert.match(log, /Stockholm shelter \(SE\)/);
  assert.match(log, /Identity/);
  noAxe(await co.screen('access-log'), 'access log');

  // Erasure, on a case of its own.
  const other = await server.must(people.coordinator.token, 'POST', '/v1/cases', {
    country: 'SE', sex: 'male', age_band: '30-38', citizenship: 'RO', exploitation_forms: ['begging'],
    identified_month: '2026-09', person: { identity: { full_name: 'Sentinelvq Erasable' } },
  }, 201);
  await co.go(`#/cases/${other.id}`);
  await page.getByLabel('Reason', { exact: true }).selectOption('requested_by_person');
  await page.getByRole('button', { name: 'Erase the personal data' }).click();
  await page.getByText('Confirm that this cannot be undone.').waitFor();
  await page.getByLabel('I understand that this cannot be undone.', { exact: true }).check();
  await co.rendered(() => page.getByRole('button', { name: 'Erase the personal data' }).click());
  await page.getByText('The personal data of this case has been erased.').first().waitFor();
});

test('the auditor verifies the handover log and downloads statistics as CSV', async () => {
  const au = await person(people.auditor, 'auditor');
  const page = au.page;
  await au.signIn();
  assert.equal(await page.locator('h1').textContent(), 'Handover log');
  const entries = await page.locator('table').textContent();
  assert.match(entries, /offer/);
  assert.match(entries, /acceptance/);
  await page.getByRole('button', { name: 'Verify now' }).click();
  await page.getByText('The log is intact: every entry and checkpoint verified.').waitFor();
  assert.match(await page.locator('dl').first().textContent(), /Last signed checkpoint/);
  const [exported] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export for offline verification' }).click()]);
  const ndjson = fs.readFileSync(await exported.path(), 'utf8');
  assert.match(ndjson.split('\n')[0], /^\{/);
  noAxe(await au.screen('handovers'), 'handover log');

  // Filters: only acceptances.
  await page.getByLabel('Action', { exact: true }).selectOption('accept');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await page.waitForLoadState('networkidle');
  assert.doesNotMatch(await page.locator('table').textContent(), /\boffer\b/);

  await au.go('#/stats');
  await page.getByRole('heading', { name: 'Registered victims (persons)' }).waitFor();
  assert.ok(await page.locator('svg.chart rect.bar').count() > 0, 'the chart is drawn');
  // By sex and age band: small cells are suppressed and marked, in the table and the CSV.
  await page.getByLabel('and by', { exact: true }).selectOption('age_band');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await page.getByRole('table', { name: 'Registered victims by sex × age band' }).waitFor();
  const victims = page.locator('section', { has: page.getByRole('heading', { name: 'Registered victims (persons)' }) });
  assert.ok(await victims.locator('td.suppressed').count() > 0, 'small counts are marked suppressed');
  const [download] = await Promise.all([page.waitForEvent('download'), victims.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.equal(download.suggestedFilename(), 'victims.csv');
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\r\n');
  assert.equal(lines[0], 'sex,age_band,count,suppressed');
  assert.ok(lines.some((l) => /^(female|male),[^,]+,,true$/.test(l)), 'a suppressed cell is empty and marked in the CSV');
  assert.ok(lines.some((l) => /^\(all\),\(all\),\d+,false$/.test(l)), 'the grand total');
  noAxe(await au.screen('stats'), 'statistics');

  await au.go(`#/cases/${caseId}/access-log`);
  assert.match(await page.locator('table').textContent(), /Stockholm social services/);
});

test('an admin issues a token, sees it once, and revokes it', async () => {
  const ad = await person(people.admin, 'admin');
  const page = ad.page;
  await ad.signIn();
  assert.equal(await page.locator('h1').textContent(), 'Agencies');
  noAxe(await ad.screen('agencies'), 'agencies');
  await ad.go('#/admin/users');
  noAxe(await ad.screen('users'), 'users');
  await ad.rendered(() => page.getByRole('link', { name: 'Sara Shelter' }).click());
  await page.getByRole('button', { name: 'Issue a token' }).click();
  const secret = page.locator('#issued-token');
  await secret.waitFor();
  const token = (await secret.textContent()).trim();
  assert.match(token, /^trm_/);
  const me = await server.must(token, 'GET', '/v1/me', null, 200);
  assert.equal(me.display_name, 'Sara Shelter');
  await page.locator('td', { hasText: 'works' }).first().waitFor();
  noAxe(await ad.screen('user-tokens'), 'user and tokens');
  // The list shows no secret.
  assert.doesNotMatch(await page.locator('table').textContent(), new RegExp(token.slice(-20)));
  const newest = page.locator('tbody tr').first();
  await ad.rendered(() => newest.getByRole('button', { name: /Revoke/ }).click());
  await page.getByText(/Token revoked/).waitFor();
  assert.equal((await server.api(token, 'GET', '/v1/me')).status, 401);
  await ad.go('#/admin/sops');
  assert.match(await page.locator('table').textContent(), /trm-se.*3.*en, sv, tl/s);
  noAxe(await ad.screen('sops'), 'SOPs');
});

test('a one-time sign-in link signs in once, and its code leaves the address at once', async () => {
  const link = trmctl(server.keyFile, 'signin-link', '--user', people.auditor.id, '--url', server.url);
  assert.match(link, /#\/signin\/trm_/);
  const p = new Person(browser, server, people.auditor, 'signin-link');
  everyone.push(p);
  p.context = await browser.newContext({ locale: 'en-GB' });
  p.page = await p.context.newPage();
  p.page.on('console', (m) => p.console.push(m.text()));
  p.page.on('pageerror', (e) => p.pageErrors.push(String(e)));
  await p.page.goto(link);
  await p.page.locator('h1', { hasText: 'Handover log' }).waitFor();
  assert.doesNotMatch(p.page.url(), /trm_/);
  assert.ok(p.page.url().endsWith('#/handovers'));
  // The code opened one session; a second use is refused, and says so.
  const again = await browser.newContext({ locale: 'en-GB' });
  const page2 = await again.newPage();
  await page2.goto(link);
  await page2.getByText('This token or sign-in link does not work').waitFor();
  assert.doesNotMatch(page2.url(), /trm_/);
  await again.close();
});

/** Presses Tab until the focused element matches (a CSS selector and optional text). */
async function tabTo(page, selector, text, max = 60, key = 'Tab') {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    const hit = await page.evaluate(([sel, txt]) => {
      const el = document.activeElement;
      return !!el && el.matches(sel) && (!txt || (el.textContent || '').includes(txt) || (el.labels && [...el.labels].some((l) => l.textContent.includes(txt))));
    }, [selector, text]);
    if (hit) return;
  }
  throw new Error(`Tab never reached ${selector} ${text || ''}`);
}

test('the console works with the keyboard alone, with the focus visible', async () => {
  const kb = await person(people.coordinator, 'keyboard');
  const page = kb.page;
  // A screen starts with its heading focused; the next stop is its first control.
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Sign in');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'token');
  // Back up to the skip link (the page's first stop): it leads to the heading.
  await tabTo(page, '#skip-link', null, 10, 'Shift+Tab');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  await tabTo(page, 'input[name=token]');
  await page.keyboard.type(people.coordinator.token);
  await kb.rendered(() => page.keyboard.press('Enter'));
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "My agency's cases");
  // A visible focus ring on every kind of control.
  await tabTo(page, 'a', 'New case');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await kb.rendered(() => page.keyboard.press('Enter'));
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'New case');
  await tabTo(page, 'input', 'Full name');
  await page.keyboard.type('Keyboard Sentinelvq');
  await page.keyboard.press('Enter');
  await page.getByText('No existing case found.').waitFor();
  await tabTo(page, 'button', 'None of these');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), '2. Record the case');
  // Into the journey's case from the list, and open a category, without the mouse.
  const { reference } = await server.must(people.coordinator.token, 'GET', `/v1/cases/${caseId}/summary`, null, 200);
  await kb.go('#/cases');
  await tabTo(page, 'main tbody a', reference);
  await kb.rendered(() => page.keyboard.press('Enter'));
  assert.match(await page.evaluate(() => document.activeElement.textContent), /^Case SE-/);
  await tabTo(page, 'button', 'Open Identity');
  await page.keyboard.press('Enter');
  await page.locator('.category-box dl').first().waitFor();
  noAxe(await kb.checkAxe('keyboard case'), 'case after opening by keyboard');
});

test('security in the browser: CSP, stored markup, CSRF, HttpOnly cookie, sign-out', async () => {
  const ad = everyone.find((p) => p.label === 'admin');
  const csp = ad.firstResponse.headers()['content-security-policy'];
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(ad.firstResponse.headers()['x-frame-options'], 'DENY');

  // The agency named with markup shows as text, in the admin's list and the caseworker's picker.
  await ad.go('#/admin/agencies');
  await ad.page.getByText('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>').waitFor();
  assert.equal(await ad.page.evaluate(() => window.__pwned), undefined);
  assert.equal(await ad.page.locator('main img, main script').count(), 0);
  await cw.go(`#/cases/${caseId}/refer`);
  await cw.page.getByText(/<img src=x onerror/).first().waitFor();
  assert.equal(await cw.page.evaluate(() => window.__pwned), undefined);
  assert.equal(await cw.page.locator('main img').count(), 0);

  // A change without the CSRF proof is refused, even from the console's own origin.
  const refused = await cw.page.evaluate(async () => {
    const r = await fetch('/v1/cases', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ country: 'SE', sex: 'female', age_band: '21-23', citizenship: 'PH', exploitation_forms: ['labour'], identified_month: '2026-10' }) });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'csrf_failed');

  // The session cookie is HttpOnly: the page cannot read it.
  const cookies = await cw.context.cookies();
  const session = cookies.find((c) => c.name === 'trm_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict');
  assert.doesNotMatch(await cw.page.evaluate(() => document.cookie), /trm_session/);

  // After sign-out the same cookie no longer works.
  await cw.rendered(() => cw.page.getByRole('button', { name: 'Sign out' }).click());
  await cw.page.getByText('You are signed out.').waitFor();
  const after = await fetch(server.url + '/v1/me', { headers: { Cookie: `trm_session=${session.value}` } });
  assert.equal(after.status, 401);
  assert.equal((await cw.context.cookies()).filter((c) => c.name === 'trm_session').length, 0);
  noAxe(await cw.screen('signed-out'), 'signed out');

  // An admin revokes the token the shelter signed in with: its session ends, and the next
  // request brings the sign-in screen, with nothing of the case left on the page.
  const sh = everyone.find((p) => p.label === 'shelter');
  await sh.go(`#/cases/${caseId}`);
  await sh.page.getByRole('button', { name: 'Open Identity' }).click();
  await sh.page.getByText(NAME).waitFor();
  await server.must(people.admin.token, 'DELETE', `/v1/tokens/${people.shelterWorker.tokenId}`, null, 204);
  await sh.rendered(() => sh.page.evaluate(() => { location.hash = '#/referrals'; }));
  await sh.page.getByText('Your session has ended. Please sign in again.').waitFor();
  assert.doesNotMatch(await sh.page.locator('body').textContent(), /Sentinel|Rosa/);
});

test('withdrawing the consent ends what the shelter may open', async () => {
  const co = everyone.find((p) => p.label === 'coordinator');
  const page = co.page;
  await co.go(`#/cases/${caseId}`);
  const consents = page.locator('section', { has: page.getByRole('heading', { name: 'Consents', exact: true }) });
  const row = consents.locator('tbody tr', { hasText: 'sharing data' });
  await row.getByRole('button', { name: 'Withdraw…' }).click();
  await row.getByLabel('Reason', { exact: true }).fill('Sentinelnt changed her mind');
  await co.rendered(() => row.getByRole('button', { name: 'Withdraw the consent' }).click());
  await page.getByText(/Consent withdrawn/).waitFor();
  assert.match(await consents.locator('tbody tr', { hasText: 'sharing data' }).textContent(), /Withdrawn/);
  // The shelter (with a fresh token: its own was revoked above) opens nothing any more.
  const fresh = await server.must(people.admin.token, 'POST', `/v1/users/${people.shelterWorker.id}/tokens`, {}, 201);
  const now = await server.must(fresh.token, 'GET', `/v1/cases/${caseId}`, null, 200);
  assert.deepEqual(Object.keys(now.person || {}), []);
});

test('no personal value reaches storage, an address, the console or a log', async () => {
  const found = [];
  for (const p of everyone) {
    const places = { storage: await p.storage().catch(() => []), url: p.urls, console: p.console, errors: p.pageErrors };
    for (const [where, list] of Object.entries(places)) {
      for (const item of list) {
        for (const s of SENTINELS) if (String(item).includes(s)) found.push(`${p.label} ${where}: ${s}`);
      }
    }
    assert.deepEqual(p.pageErrors, [], `${p.label}: no script errors`);
  }
  const log = fs.readFileSync(server.logPath, 'utf8');
  for (const s of SENTINELS) if (log.includes(s)) found.push(`trmd log: ${s}`);
  if (process.env.TRM_TEST_PGBIN && process.env.TRM_TEST_SUPER_URL) {
    const dump = execFileSync(path.join(process.env.TRM_TEST_PGBIN, 'pg_dump'),
      [process.env.TRM_TEST_SUPER_URL.replace('dbname=trm ', 'dbname=trm_browser ')], { encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const s of SENTINELS) if (dump.includes(s)) found.push(`database dump: ${s}`);
  }
  assert.deepEqual(found, []);
  // The only thing kept in storage is the choice of language.
  for (const p of everyone) for (const item of await p.storage().catch(() => [])) assert.match(item, /^trm\.language=(en|sv|tl)$/);
});
