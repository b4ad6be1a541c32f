// Pure parsing and serialization of the values stored under a cluster's prefix.
// Parsing is defensive: any malformed value yields { ok: false, reason } instead of throwing.

import { createHash } from 'node:crypto';
import { ConfigError } from '../config/errors.js';
import { validateDcsDynamicConfig } from '../config/dynamic-document.js';
import type { DynamicConfig } from '../config/types.js';
import type {
  ClusterView,
  FailoverRequest,
  HistoryEntry,
  Member,
  MemberData,
  MemberRole,
  SyncState,
  FailsafeMembers,
} from './types.js';
import { KEY, memberNameOf } from './keys.js';
import { apiUrlProblem, connUrlProblem } from './member-urls.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

type Obj = Record<string, unknown>;

function parseJsonObject(raw: string): Parsed<Obj> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return bad('invalid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('not a JSON object');
  return ok(value as Obj);
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** A member name as governor's configuration allows it (name: 1-63 of A-Z a-z 0-9 . _ -). */
const memberName = /^[A-Za-z0-9._-]{1,63}$/;

/** moved_aside in a member key: absolute paths without control characters, a bounded list. */
const MAX_MOVED_ASIDE = 64;
// eslint-disable-next-line no-control-regex
const movedAsidePath = /^\/[^\x00-\x1f\x7f]{0,4095}$/;

/** `leader`: the plain name of the member holding it (a member name as the configuration allows). */
export function parseLeader(raw: string): Parsed<string> {
  return memberName.test(raw) ? ok(raw) : bad('not a member name (1-63 of A-Z a-z 0-9 . _ -)');
}

/** `initialize`: a decimal system identifier, or "" while the bootstrapping member runs initdb. */
export function parseInitialize(raw: string): Parsed<string> {
  return /^\d*$/.test(raw) ? ok(raw) : bad('not a system identifier');
}

/** `optime/leader`: a decimal WAL position in bytes. */
export function parseOptime(raw: string): Parsed<number> {
  if (!/^\d{1,16}$/.test(raw)) return bad('not a non-negative integer');
  const n = Number(raw);
  return Number.isSafeInteger(n) ? ok(n) : bad('out of range');
}

const roles: Record<string, MemberRole> = {
  master: 'master',
  primary: 'master', // Patroni >= 3 spelling
  replica: 'replica',
  uninitialized: 'uninitialized',
};

/** `members/<name>`: JSON MemberData. Unknown fields are dropped. */
export function parseMember(raw: string): Parsed<MemberData> {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  for (const field of ['conn_url', 'api_url', 'state'] as const) {
    if (typeof o[field] !== 'string') return bad(`${field} must be a string`);
  }
  const urlProblem = connUrlProblem(o.conn_url as string) ?? apiUrlProblem(o.api_url as string);
  if (urlProblem) return bad(urlProblem);
  const role = typeof o.role === 'string' ? roles[o.role] : undefined;
  if (!role) return bad('role must be master, replica or uninitialized');
  const data: MemberData = {
    conn_url: o.conn_url as string,
    api_url: o.api_url as string,
    state: o.state as string,
    role,
  };
  if (o.xlog_location !== undefined && o.xlog_location !== null) {
    if (!isNonNegInt(o.xlog_location)) return bad('xlog_location must be a non-negative integer');
    data.xlog_location = o.xlog_location;
  }
  if (o.timeline !== undefined && o.timeline !== null) {
    if (!isNonNegInt(o.timeline)) return bad('timeline must be a non-negative integer');
    data.timeline = o.timeline;
  }
  if (o.tags !== undefined && o.tags !== null) {
    if (!isObj(o.tags)) return bad('tags must be an object');
    const t = o.tags;
    for (const flag of ['nofailover', 'noloadbalance'] as const) {
      if (t[flag] !== undefined && typeof t[flag] !== 'boolean') return bad(`tags.${flag} must be a boolean`);
    }
    if (t.failover_priority !== undefined && !isNum(t.failover_priority)) {
      return bad('tags.failover_priority must be a number');
    }
    data.tags = { ...t };
  }
  if (o.version !== undefined && o.version !== null) {
    if (typeof o.version !== 'string') return bad('version must be a string');
    data.version = o.version;
  }
  for (const flag of ['pause', 'pending_restart'] as const) {
    if (o[flag] === undefined || o[flag] === null) continue;
    if (typeof o[flag] !== 'boolean') return bad(`${flag} must be a boolean`);
    if (o[flag]) data[flag] = true;
  }
  if (o.moved_aside !== undefined && o.moved_aside !== null) {
    const paths = o.moved_aside;
    if (!Array.isArray(paths) || paths.length > MAX_MOVED_ASIDE || !paths.every((p) => typeof p === 'string' && movedAsidePath.test(p))) {
      return bad(`moved_aside must be a list of at most ${MAX_MOVED_ASIDE} absolute paths`);
    }
    if (paths.length > 0) data.moved_aside = [...paths] as string[];
  }
  return ok(data);
}

/** `config`: JSON DynamicConfig, checked exactly as the file's bootstrap.dcs is (unknown fields,
 *  bounds, parameters that may be set only locally) and carrying at least the timing settings. */
export function parseConfig(raw: string): Parsed<DynamicConfig> {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  try {
    return ok(validateDcsDynamicConfig(parsed.value, 'config'));
  } catch (error) {
    if (error instanceof ConfigError) return bad(error.errors.join('; '));
    throw error;
  }
}

/** `history`: JSON array of [timeline, lsn, reason, timestamp?, newLeader?]. One bad row spoils the value. */
export function parseHistory(raw: string): Parsed<HistoryEntry[]> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return bad('invalid JSON');
  }
  if (!Array.isArray(value)) return bad('not a JSON array');
  const rows: HistoryEntry[] = [];
  for (const [i, row] of value.entries()) {
    if (!Array.isArray(row) || row.length < 3) return bad(`row ${i} is not an array of at least 3 elements`);
    const [timeline, lsn, reason, timestamp, leader] = row as unknown[];
    if (!isNonNegInt(timeline) || !isNonNegInt(lsn)) return bad(`row ${i}: timeline and lsn must be integers`);
    if (typeof reason !== 'string') return bad(`row ${i}: reason must be a string`);
    if (timestamp !== undefined && timestamp !== null && typeof timestamp !== 'string') {
      return bad(`row ${i}: timestamp must be a string`);
    }
    if (leader !== undefined && leader !== null && typeof leader !== 'string') {
      return bad(`row ${i}: new leader must be a string`);
    }
    const entry: HistoryEntry = [timeline, lsn, reason];
    if (typeof timestamp === 'string' || typeof leader === 'string') entry.push(timestamp ?? undefined);
    if (typeof leader === 'string') entry.push(leader);
    rows.push(entry);
  }
  return ok(rows);
}

/** `failover`: JSON {leader?, member?, scheduled_at?}; at least one of leader/member. */
export function parseFailover(raw: string): Parsed<FailoverRequest> {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  const request: FailoverRequest = {};
  for (const field of ['leader', 'member', 'scheduled_at'] as const) {
    const v = o[field];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') return bad(`${field} must be a string`);
    if (field !== 'scheduled_at' && !memberName.test(v)) return bad(`${field} is not a member name`);
    if (field === 'scheduled_at' && v.length > 64) return bad('scheduled_at is not a timestamp');
    request[field] = v;
  }
  if (request.leader === undefined && request.member === undefined) return bad('neither leader nor member set');
  if (request.scheduled_at !== undefined && Number.isNaN(Date.parse(request.scheduled_at))) {
    return bad('scheduled_at is not a timestamp');
  }
  return ok(request);
}

/** `sync`: JSON {leader, sync_standby}, each a string or null. */
export function parseSync(raw: string): Parsed<SyncState> {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  const state: SyncState = { leader: null, sync_standby: null };
  for (const field of ['leader', 'sync_standby'] as const) {
    const v = o[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return bad(`${field} must be a string or null`);
    if (!memberName.test(v)) return bad(`${field} is not a member name`);
    state[field] = v;
  }
  return ok(state);
}

/** `failsafe`: JSON object of member name -> api_url (http or https URL). One bad entry spoils it. */
export function parseFailsafe(raw: string): Parsed<FailsafeMembers> {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  const members: FailsafeMembers = {};
  const entries = Object.entries(parsed.value);
  if (entries.length > 1000) return bad('more than 1000 members');
  for (const [name, url] of entries) {
    if (!memberName.test(name)) return bad(`member name ${JSON.stringify(name.slice(0, 64))} is not a member name`);
    if (typeof url !== 'string') return bad(`api_url of ${name} must be a string`);
    const problem = apiUrlProblem(url);
    if (problem !== null) return bad(`member ${name}: ${problem}`);
    members[name] = url;
  }
  return ok(members);
}

export function serializeFailsafe(members: FailsafeMembers): string {
  return JSON.stringify(members);
}

export function serializeMember(data: MemberData): string {
  return JSON.stringify(data);
}
export function serializeConfig(config: DynamicConfig): string {
  return JSON.stringify(config);
}
export function serializeHistory(history: HistoryEntry[]): string {
  return JSON.stringify(history);
}
export function serializeFailover(request: FailoverRequest): string {
  return JSON.stringify(request);
}
export function serializeSync(state: SyncState): string {
  return JSON.stringify({ leader: state.leader, sync_standby: state.sync_standby });
}
export function serializeOptime(walPosition: number): string {
  if (!Number.isFinite(walPosition) || walPosition < 0) {
    throw new RangeError(`WAL position must be a non-negative number, got ${walPosition}`);
  }
  return String(Math.trunc(walPosition));
}

/** One key under the cluster prefix, as read from etcd. */
export interface RawEntry {
  key: string; // relative to the cluster prefix
  value: string;
  modRevision: string;
  lease: string; // decimal, "0" when none
}

export interface Garbage {
  key: string;
  value: string;
  reason: string;
}

export function emptyClusterView(): ClusterView {
  return {
    initialize: null,
    config: null,
    configRevision: null,
    leader: null,
    members: [],
    failover: null,
    sync: null,
    failsafe: null,
    history: [],
    leaderOptime: null,
  };
}

/** Larger values are garbage before they are parsed: nothing governor writes comes near (a history
 *  of thousands of failovers stays under the first), and each read would parse them again. */
export const MAX_VALUE_BYTES = { history: 512 * 1024, other: 64 * 1024 } as const;

/** What /metrics counts a garbage value under: the key, or "members" for any member key (a label
 *  per member name would let whoever writes etcd grow the metrics without bound). */
export function garbageKind(key: string): string {
  if (memberNameOf(key) !== null) return 'members';
  return (Object.values(KEY) as string[]).includes(key) ? key : 'other';
}

/** The cluster view of one consistent read; each unusable value is reported and read as absent
 *  (an unusable `config` keeps its revision, so a PUT /config can replace it). */
export function buildClusterView(entries: RawEntry[], onGarbage: (garbage: Garbage) => void): ClusterView {
  const view = emptyClusterView();
  const take = <T>(entry: RawEntry, parsed: Parsed<T>): T | null => {
    if (parsed.ok) return parsed.value;
    onGarbage({ key: entry.key, value: entry.value, reason: parsed.reason });
    return null;
  };
  for (const entry of entries) {
    const raw = entry.value;
    const limit = entry.key === KEY.history ? MAX_VALUE_BYTES.history : MAX_VALUE_BYTES.other;
    const oversized = raw.length > limit ? bad<never>(`${raw.length} characters, more than the ${limit} a ${entry.key} value may have`) : null;
    switch (entry.key) {
      case KEY.leader: {
        const name = take(entry, oversized ?? parseLeader(raw));
        if (name !== null) view.leader = { name, revision: entry.modRevision, lease: entry.lease };
        break;
      }
      case KEY.initialize:
        // Unreadable is not absent: the key exists, so nobody may race to bootstrap (the master's
        // loop would otherwise take the bootstrap rule instead of keeping its key). Read it as ""
        // (set, system identifier not known), as while the bootstrapping member runs initdb.
        view.initialize = take(entry, oversized ?? parseInitialize(raw)) ?? '';
        break;
      case KEY.config: {
        const parsed = oversized ?? parseConfig(raw);
        view.config = take(entry, parsed);
        view.configRevision = entry.modRevision;
        if (!parsed.ok) view.configError = parsed.reason;
        break;
      }
      case KEY.history:
        view.history = take(entry, oversized ?? parseHistory(raw)) ?? [];
        break;
      case KEY.failover:
        view.failover = take(entry, oversized ?? parseFailover(raw));
        break;
      case KEY.sync:
        view.sync = take(entry, oversized ?? parseSync(raw));
        break;
      case KEY.failsafe:
        view.failsafe = take(entry, parseFailsafe(raw));
        break;
      case KEY.leaderOptime:
        view.leaderOptime = take(entry, oversized ?? parseOptime(raw));
        break;
      default: {
        const name = memberNameOf(entry.key);
        if (name === null) break; // a key we do not use (status, failsafe, ...)
        const named = memberName.test(name) ? null : bad<never>('member name is not 1-63 of A-Z a-z 0-9 . _ -');
        const data = take(entry, named ?? oversized ?? parseMember(raw));
        if (data) view.members.push({ ...data, name } satisfies Member);
      }
    }
  }
  view.members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return view;
}

/** A short fingerprint of a value, so "already reported" can be remembered without keeping it. */
export function valueFingerprint(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}
