// What the console keeps in memory while signed in: who is signed in, and the directory
// (agencies, SOPs) it shows names and words from. Nothing here is ever written to storage;
// reset() forgets it all (sign-out, ended session).

import { get, getAll } from './api.js';

export const session = { me: null };

let agencyList = null;
const sopDocs = new Map();
let sopRows = null;

export function reset() {
  session.me = null;
  agencyList = null;
  sopDocs.clear();
  sopRows = null;
}

export async function agencies(fresh = false) {
  if (!agencyList || fresh) agencyList = await getAll('/v1/agencies');
  return agencyList;
}

export async function agencyById(id) {
  const list = await agencies();
  return list.find((a) => a.id === id) || null;
}

/** "Name (SE)" of an agency id, or the id when unknown. */
export async function agencyName(id) {
  if (!id) return '';
  const a = await agencyById(id);
  return a ? `${a.name} (${a.country})` : id;
}

export async function sops(fresh = false) {
  if (!sopRows || fresh) sopRows = await getAll('/v1/sops');
  return sopRows;
}

/** A SOP version's document (with its labels), by id. */
export async function sopDoc(id) {
  if (!id) return null;
  if (!sopDocs.has(id)) {
    const sop = await get(`/v1/sops/${encodeURIComponent(id)}`);
    sopDocs.set(id, sop.document || {});
  }
  return sopDocs.get(id);
}

/** The SOP a new case of this country would be bound to: its newest, else the newest generic. */
export async function sopForCountry(country) {
  const rows = await sops();
  const newest = (list) => list.sort((a, b) => (a.loaded_at < b.loaded_at ? 1 : -1))[0];
  const row = newest(rows.filter((r) => r.country === country)) || newest(rows.filter((r) => !r.country));
  return row ? { row, doc: await sopDoc(row.id) } : null;
}

export function role() {
  return session.me ? session.me.role : null;
}

export function isCaseRole() {
  return role() === 'caseworker' || role() === 'coordinator';
}
