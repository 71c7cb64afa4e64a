// The browser tests' harness: a real trmd (the sanitizer build scripts/test made) on the
// PostgreSQL database scripts/test prepared for this stage, people and agencies made through
// trmctl and the API, and Debian's chromium driven by playwright-core. Every page records its
// console, its requests and its screenshots, so the tests can look for personal data where it
// must never be.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
const buildDir = process.env.TRM_BUILD_DIR || path.join(root, 'build/test');
export const outDir = process.env.TRM_BROWSER_OUT || path.join(root, 'build/browser');
const trmctlBin = path.join(buildDir, 'trmctl');
const trmdBin = path.join(buildDir, 'trmd');

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests through scripts/test`);
  return v;
}

/** Runs trmctl as the owner role with the test key file; returns its stdout, trimmed. */
export function trmctl(keyFile, ...args) {
  return execFileSync(trmctlBin, args, {
    env: { ...process.env, TRM_DATABASE_URL: env('TRM_TEST_BROWSER_OWNER_URL'), TRM_KEY_FILE: keyFile },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export class Server {
  async start() {
    fs.mkdirSync(outDir, { recursive: true });
    this.tmp = fs.mkdtempSync(path.join(process.env.TRM_TEST_TMPDIR || '/tmp', 'browser-'));
    this.keyFile = path.join(this.tmp, 'master.key');
    trmctl(this.keyFile, 'keys', 'init', this.keyFile);
    trmctl(this.keyFile, 'migrate', '--dir', path.join(root, 'sql/migrations'));
    const sops = fs.readdirSync(path.join(root, 'config/sops')).filter((f) => f.endsWith('.json'));
    trmctl(this.keyFile, 'sop', 'load', ...sops.map((f) => path.join(root, 'config/sops', f)));
    this.logPath = path.join(outDir, 'trmd.log');
    const log = fs.openSync(this.logPath, 'w');
    this.proc = spawn(trmdBin, ['--config', path.join(root, 'config/trmd.conf')], {
      env: {
        ...process.env,
        TRM_DATABASE_URL: env('TRM_TEST_BROWSER_APP_URL'),
        TRM_KEY_FILE: this.keyFile,
        TRM_LISTEN: '127.0.0.1:0',
        TRM_METRICS_LISTEN: '127.0.0.1:0',
        TRM_WEB_DIR: path.join(root, 'web'),
        TRM_CODES_DIR: path.join(root, 'config/codes'),
        TRM_LOG_LEVEL: 'info',
        TRM_AUTH_FAILURE_LIMIT: '100000',
      },
      stdio: ['ignore', log, log],
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 30000;
    while (!this.port) {
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error('trmd did not start: ' + fs.readFileSync(this.logPath, 'utf8').slice(-2000));
      const m = /"event":"started".*?"port":(\d+)/.exec(fs.readFileSync(this.logPath, 'utf8'));
      if (m) this.port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 100));
    }
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.exited;
    this.proc.kill('SIGTERM');
    return this.exited;
  }

  /** An API call with a bearer token (the scripts' way in); resolves to {status, body, headers}. */
  async api(token, method, p, body, headers = {}) {
    const res = await fetch(this.url + p, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { json = null; }
    return { status: res.status, body: json, text, headers: res.headers };
  }

  async must(token, method, p, body, status) {
    const r = await this.api(token, method, p, body);
    if (r.status !== status) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
    return r.body;
  }
}

/** The people of the journeys: an admin made with trmctl, the rest through the API. */
export async function seed(server) {
  const k = server.keyFile;
  const adminAgency = trmctl(k, 'agency', 'add', '--name', 'Sweden trm administration', '--country', 'SE', '--kind', 'national_coordinator');
  const adminUser = trmctl(k, 'user', 'add', '--agency', adminAgency, '--role', 'admin', '--name', 'Alva Admin').split(/\s+/)[0];
  const adminToken = /trm_[A-Za-z0-9_-]+/.exec(trmctl(k, 'token', 'issue', '--user', adminUser))[0];
  const agency = async (name, country, kind) => (await server.must(adminToken, 'POST', '/v1/agencies', { name, country, kind }, 201)).id;
  const user = async (agency_id, role, display_name, cross_border) => {
    const u = await server.must(adminToken, 'POST', '/v1/users', { agency_id, role, display_name, ...(cross_border ? { cross_border } : {}) }, 201);
    const t = await server.must(adminToken, 'POST', `/v1/users/${u.id}/tokens`, {}, 201);
    return { id: u.id, token: t.token, tokenId: t.id, name: display_name };
  };
  const social = await agency('Stockholm social services', 'SE', 'social_services');
  const shelter = await agency('Stockholm shelter', 'SE', 'ngo');
  const coordinatorAgency = await agency('Swedish national coordinator', 'SE', 'national_coordinator');
  // A stored field with markup: it must show as text and run nothing.
  const hostile = await agency('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>', 'SE', 'other');
  await agency('Manila reintegration NGO', 'PH', 'ngo');
  const caseworker = await user(social, 'caseworker', 'Cecilia Caseworker');
  // Synthetic cases, so lists page and statistics publish counts.
  trmctl(k, 'seed', 'cases', '--count', '60', '--agency', social, '--user', caseworker.id, '--country', 'SE');
  return {
    admin: { id: adminUser, token: adminToken, name: 'Alva Admin' },
    agencies: { social, shelter, coordinatorAgency, hostile },
    caseworker,
    coordinator: await user(social, 'coordinator', 'Conrad Coordinator'),
    shelterWorker: await user(shelter, 'caseworker', 'Sara Shelter'),
    auditor: await user(coordinatorAgency, 'auditor', 'Aud Auditor'),
  };
}

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** Debian's chromium; playwright gives each launch a fresh, empty profile directory. */
export async function launch() {
  return chromium.launch({ executablePath: process.env.TRM_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

const axeSource = fs.readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');

/**
 * One person's browser: its own context (cookies, storage), one page, and everything the page
 * showed in its console, every URL it requested or went to, and every dialog.
 */
export class Person {
  constructor(browser, server, who, label) {
    this.browser = browser;
    this.server = server;
    this.who = who;
    this.label = label;
    this.console = [];
    this.urls = [];
    this.pageErrors = [];
    this.axe = [];
  }

  async open(lang = 'en-GB') {
    this.context = await this.browser.newContext({ locale: lang, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    this.page = await this.context.newPage();
    this.page.on('console', (m) => this.console.push(m.text()));
    this.page.on('pageerror', (e) => this.pageErrors.push(String(e)));
    this.page.on('request', (r) => this.urls.push(r.url()));
    this.page.on('framenavigated', (f) => this.urls.push(f.url()));
    this.page.on('dialog', (d) => { this.pageErrors.push('dialog: ' + d.message()); d.dismiss(); });
    this.firstResponse = await this.page.goto(this.server.url + '/');
    await this.page.waitForSelector('main h1');
    return this;
  }

  async signIn(token = this.who.token) {
    await this.page.getByLabel('Access token').fill(token);
    await this.rendered(() => this.page.getByRole('button', { name: 'Sign in' }).click());
  }

  /** Goes to a screen by its address and waits until it is drawn. */
  async go(hash) {
    const same = (await this.page.evaluate(() => location.hash)) === hash;
    await this.rendered(() => (same ? this.page.reload() : this.page.evaluate((h) => { location.hash = h; }, hash)));
  }

  /** Does something that draws a screen anew (a route, a form that reloads the page), and
   * waits for the new screen, its heading focused, and the network quiet. */
  async rendered(action) {
    const before = await this.page.evaluate(() => document.body.dataset.render || '');
    await action();
    await this.page.waitForFunction((b) => (document.body.dataset.render || '') !== b &&
      document.activeElement && document.activeElement.tagName === 'H1', before);
    await this.page.waitForLoadState('networkidle');
  }

  /** axe-core on the page as it is now; the violations of serious or critical impact. */
  async checkAxe(name) {
    await this.page.evaluate(axeSource);
    const result = await this.page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    if (!result.passes || result.passes.length === 0) throw new Error(`axe checked nothing on ${name}`);
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    this.axe.push({ name, violations: bad.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })) });
    return bad;
  }

  /**
   * A full-page screenshot under build/browser/screens (CI keeps them), one of the window
   * under build/browser/docs (scrolled to the heading named by anchor: docs/console.md
   * shows these), and the axe check.
   */
  async screen(name, anchor) {
    for (const d of ['screens', 'docs']) fs.mkdirSync(path.join(outDir, d), { recursive: true });
    await this.page.screenshot({ path: path.join(outDir, 'screens', `${name}.png`), fullPage: true });
    await this.page.evaluate((text) => {
      const h = text && [...document.querySelectorAll('main h2, main h3')].find((x) => x.textContent === text);
      if (h) h.scrollIntoView({ block: 'start' }); else window.scrollTo(0, 0);
    }, anchor || null);
    await this.page.screenshot({ path: path.join(outDir, 'docs', `${name}.png`) });
    await this.page.evaluate(() => window.scrollTo(0, 0));
    return this.checkAxe(name);
  }

  async storage() {
    return this.page.evaluate(() => {
      const all = (s) => Object.keys(s).map((k) => `${k}=${s.getItem(k)}`);
      return [...all(localStorage), ...all(sessionStorage)];
    });
  }

  async close() {
    if (this.context) await this.context.close();
  }
}
