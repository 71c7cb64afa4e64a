// Monitoring statistics: registered victims (persons) by one or two dimensions, assistance,
// and handovers. Suppressed cells (small counts, and those that would give one away) are
// marked as such; the CSV is built here from the table shown, and the chart is drawn as SVG
// by the console itself.

import * as api from '../api.js';
import { h, clear, field, input, select, submit, button, notice, section, download, problemText } from '../dom.js';
import { t, word, formatNumber } from '../i18n.js';
import { session } from '../state.js';

const DIMENSIONS = ['country', 'sex', 'age_band', 'child_adult', 'citizenship', 'exploitation_form', 'month', 'year', 'phase', 'state', 'status'];
const SVG = 'http://www.w3.org/2000/svg';

function valueWords(dim, v) {
  if (v === undefined || v === null) return t('stats.all');
  const kinds = { sex: 'sex', age_band: 'age_band', exploitation_form: 'form', phase: 'phase', child_adult: 'child_adult', status: 'victim_status' };
  return kinds[dim] ? word(kinds[dim], v) : String(v);
}

/** A count cell: the number, or a marked "suppressed" cell. */
function countCell(entry, key = 'count') {
  if (entry && entry.suppressed && (entry[key] === null || entry[key] === undefined)) {
    return h('td', { class: 'num suppressed' }, h('span', { 'aria-hidden': 'true' }, '◼ '), t('stats.suppressed'));
  }
  const v = entry ? entry[key] : null;
  return h('td', { class: 'num' }, v === null || v === undefined ? '–' : formatNumber(v));
}

function csvCell(v) {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@]/.test(s)) s = "'" + s;
  return /[",\n;]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

export function toCsv(rows) {
  return rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** The victims table as a grid (rows: first dimension; columns: second) with its margins. */
function victimsGrid(data) {
  const [d0, d1] = data.group_by;
  const rowsKeys = [...new Set(data.cells.map((c) => c[d0]))];
  const colKeys = d1 ? [...new Set(data.cells.map((c) => c[d1]))] : [null];
  const find = (r, c) => data.cells.find((x) => x[d0] === r && (!d1 || x[d1] === c));
  return { d0, d1, rowsKeys, colKeys, find };
}

function victimsTable(data) {
  const g = victimsGrid(data);
  const head = h('tr', {}, h('th', { scope: 'col' }, word('dimension', g.d0)),
    g.d1 ? g.colKeys.map((c) => h('th', { scope: 'col', class: 'num' }, valueWords(g.d1, c))) : h('th', { scope: 'col', class: 'num' }, t('stats.persons')),
    g.d1 ? h('th', { scope: 'col', class: 'num' }, t('stats.total')) : null);
  const body = g.rowsKeys.map((r) => h('tr', {}, h('th', { scope: 'row' }, valueWords(g.d0, r)),
    g.colKeys.map((c) => countCell(g.find(r, c))),
    g.d1 ? countCell(data.row_totals.find((x) => x[g.d0] === r)) : null));
  const foot = h('tr', {}, h('th', { scope: 'row' }, t('stats.total')),
    g.d1 ? g.colKeys.map((c) => countCell(data.column_totals.find((x) => x[g.d1] === c))) : null,
    countCell(data.total));
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, t('stats.victims_caption', { dims: data.group_by.filter(Boolean).map((d) => word('dimension', d)).join(' × ') })),
    h('thead', {}, head), h('tbody', {}, body), h('tfoot', {}, foot)));
}

function victimsCsv(data) {
  const g = victimsGrid(data);
  const rows = [[...data.group_by.filter(Boolean), 'count', 'suppressed']];
  for (const c of data.cells) rows.push([c[g.d0], ...(g.d1 ? [c[g.d1]] : []), c.count, c.suppressed]);
  if (g.d1) for (const c of data.row_totals) rows.push([c[g.d0], '(all)', c.count, c.suppressed]);
  if (g.d1) for (const c of data.column_totals) rows.push(['(all)', c[g.d1], c.count, c.suppressed]);
  rows.push(['(all)', ...(g.d1 ? ['(all)'] : []), data.total.count, data.total.suppressed]);
  return toCsv(rows);
}

/** A horizontal bar chart of the first dimension's totals; suppressed bars drawn grey. */
function chart(data) {
  const g = victimsGrid(data);
  const bars = g.rowsKeys.map((r) => {
    const e = g.d1 ? data.row_totals.find((x) => x[g.d0] === r) : g.find(r, null);
    return { label: valueWords(g.d0, r), value: e && e.count !== null ? e.count : null, suppressed: e ? e.suppressed : false };
  });
  const max = Math.max(1, ...bars.map((b) => b.value || 0));
  const rowH = 26;
  const left = 170;
  const width = 640;
  const height = bars.length * rowH + 10;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const titleId = 'chart-title';
  svg.setAttribute('aria-labelledby', titleId);
  const title = document.createElementNS(SVG, 'title');
  title.id = titleId;
  title.textContent = t('stats.chart_title', { dim: word('dimension', g.d0) });
  svg.append(title);
  bars.forEach((b, i) => {
    const y = i * rowH + 5;
    const label = document.createElementNS(SVG, 'text');
    label.setAttribute('x', String(left - 8));
    label.setAttribute('y', String(y + 15));
    label.setAttribute('text-anchor', 'end');
    label.textContent = b.label;
    const rect = document.createElementNS(SVG, 'rect');
    const w = b.value === null ? (width - left - 60) * 0.15 : ((width - left - 60) * b.value) / max;
    rect.setAttribute('x', String(left));
    rect.setAttribute('y', String(y));
    rect.setAttribute('height', String(rowH - 8));
    rect.setAttribute('width', String(Math.max(1, w)));
    rect.setAttribute('class', b.value === null ? 'bar-suppressed' : 'bar');
    const value = document.createElementNS(SVG, 'text');
    value.setAttribute('x', String(left + w + 6));
    value.setAttribute('y', String(y + 15));
    value.textContent = b.value === null ? t('stats.suppressed') : formatNumber(b.value);
    svg.append(label, rect, value);
  });
  return svg;
}

function simpleTable(caption, headers, items, cells) {
  return h('div', { class: 'table-wrap' }, h('table', {}, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { scope: 'col', class: i ? 'num' : '' }, x)))),
    h('tbody', {}, items.map((it) => h('tr', {}, cells(it))))));
}

function rate(v) {
  return h('td', { class: 'num' }, v === null || v === undefined ? '–' : formatNumber(v, { style: 'percent', maximumFractionDigits: 1 }));
}

export async function render(view) {
  const title = t('stats.title');
  const me = session.me;
  const g0 = select(DIMENSIONS.map((d) => [d, word('dimension', d)]), { name: 'group_by', value: 'sex' });
  const g1 = select(DIMENSIONS.map((d) => [d, word('dimension', d)]), { name: 'group_by2' }, t('stats.no_second'));
  const country = input({ name: 'country', maxlength: 2, size: 4, value: me.cross_border ? '' : me.country, disabled: !me.cross_border });
  const from = input({ type: 'month', name: 'from' });
  const to = input({ type: 'month', name: 'to' });
  const out = h('div', { 'aria-live': 'polite' });
  async function load() {
    clear(out).append(h('p', {}, t('app.loading')));
    const q = { country: (me.cross_border && country.value.trim().toUpperCase()) || undefined, from: from.value || undefined, to: to.value || undefined };
    try {
      const groups = [g0.value, g1.value].filter(Boolean).filter((v, i, a) => a.indexOf(v) === i);
      const victims = await api.get('/v1/stats/victims', { ...q, group_by: groups.join(',') });
      const assistance = await api.get('/v1/stats/assistance', q);
      const referrals = await api.get('/v1/stats/referrals', q);
      clear(out);
      const sup = victims.suppressed || { primary: 0, secondary: 0 };
      out.append(section(t('stats.victims'),
        h('p', { class: 'muted' }, t('stats.disclosure', { k: victims.k, primary: sup.primary, secondary: sup.secondary, merged: victims.cases_merged })),
        victimsTable(victims),
        h('div', { class: 'actions' }, button(t('stats.csv'), () => download('victims.csv', victimsCsv(victims), 'text/csv'), 'primary')),
        h('h3', {}, t('stats.chart')), chart(victims)));
      out.append(section(t('stats.assistance'),
        simpleTable(t('stats.assistance'), [t('stats.indicator'), t('stats.persons'), t('stats.median_days')], assistance.items,
          (it) => [h('th', { scope: 'row' }, word('indicator', it.indicator)), countCell(it, 'persons'), h('td', { class: 'num' }, it.median_days === null ? '–' : formatNumber(it.median_days))]),
        h('div', { class: 'actions' }, button(t('stats.csv'), () => download('assistance.csv', toCsv([['indicator', 'persons', 'median_days', 'suppressed'], ...assistance.items.map((i) => [i.indicator, i.persons, i.median_days, i.suppressed])]), 'text/csv')))));
      out.append(section(t('stats.referrals'),
        referrals.items.length ? simpleTable(t('stats.referrals'), [t('stats.route'), t('stats.offered'), t('stats.accepted'), t('stats.declined'), t('stats.acceptance_rate'), t('stats.median_hours')], referrals.items,
          (it) => [h('th', { scope: 'row' }, `${it.from_country} ${word('kind', it.from_kind)} → ${it.to_country} ${word('kind', it.to_kind)}`), countCell(it, 'offered'), countCell(it, 'accepted'), countCell(it, 'declined'), rate(it.acceptance_rate),
            h('td', { class: 'num' }, it.median_hours_to_answer === null || it.median_hours_to_answer === undefined ? '–' : formatNumber(it.median_hours_to_answer))])
          : h('p', {}, t('stats.no_referrals')),
        h('div', { class: 'actions' }, button(t('stats.csv'), () => download('referrals.csv', toCsv([['from_country', 'from_kind', 'to_country', 'to_kind', 'offered', 'accepted', 'declined', 'withdrawn', 'expired', 'acceptance_rate', 'decline_rate', 'median_hours_to_answer', 'suppressed'],
          ...referrals.items.map((i) => [i.from_country, i.from_kind, i.to_country, i.to_kind, i.offered, i.accepted, i.declined, i.withdrawn, i.expired, i.acceptance_rate, i.decline_rate, i.median_hours_to_answer, i.suppressed])]), 'text/csv')))));
    } catch (e) {
      clear(out).append(notice(problemText(e), 'error'));
    }
  }
  const form = h('form', { class: 'filters', novalidate: true, 'aria-label': t('stats.filters') },
    field(t('stats.group_by'), g0, { inline: true }), field(t('stats.group_by2'), g1, { inline: true }),
    field(t('stats.country'), country, { inline: true, hint: me.cross_border ? t('stats.country_any') : t('stats.country_own') }),
    field(t('stats.from'), from, { inline: true }), field(t('stats.to'), to, { inline: true }),
    h('div', { class: 'field inline' }, submit(t('stats.show'))));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  view.append(h('h1', {}, title), h('p', {}, t('stats.intro')), form, out);
  await load();
  return title;
}
