// Rows of the rule table (rules.ts) for joining the cluster: what may happen to the data directory
// and to the `initialize` key. Governor never deletes a directory it cannot prove is a PostgreSQL
// cluster of this scope, and never bootstraps a new cluster while one may exist (etcd that lost its
// keys is not an empty cluster).

import type { Member } from '../dcs/types.js';
import type { Rule } from './facts.js';
import { say, type Snapshot } from './types.js';

export function localSystemId(s: Snapshot): string | null {
  return s.local.pg.systemIdentifier ?? s.local.control?.systemIdentifier ?? null;
}

const hold = (s: Snapshot) => s.local.pg.dataDirectory?.hold ?? null;

/** The data directory holds a cluster, but not the one the DCS records. */
function foreignSystem(s: Snapshot): boolean {
  const initialized = s.cluster!.initialize;
  const mine = localSystemId(s);
  return Boolean(initialized) && mine !== null && mine !== initialized;
}

/** Other members whose key says their data directory holds a cluster (running or not). */
function membersWithData(s: Snapshot): Member[] {
  return (s.cluster?.members ?? []).filter((m) => m.name !== s.self.name && m.role !== 'uninitialized');
}

/** Other members whose key says their PostgreSQL runs. */
function membersRunning(s: Snapshot): Member[] {
  return membersWithData(s).filter((m) => ['running', 'streaming', 'starting'].includes(m.state));
}

/** A member whose PostgreSQL is stopped records its cluster only after the `initialize` key has been
 *  missing for ttl: members whose PostgreSQL runs (the master first of all) record theirs first, so a
 *  stale data directory of another system never claims the scope. Untracked: at once, as before. */
function adoptGraceLeftMs(s: Snapshot): number {
  const since = s.memory.initializeMissingSince;
  if (since === undefined) return 0;
  if (since === null) return s.dynamic.ttl * 1000;
  return Math.max(0, since + s.dynamic.ttl * 1000 - s.now);
}

export const dataDirRules: Rule[] = [
  {
    name: 'reinitialize-leader-refused',
    if: 'an operator asked to reinitialize this member, which holds the leader key',
    logs: 'refusing to reinitialize the leader',
    when: (s, f) => s.requests.reinitialize && f.iAmLeader,
    then: () => say('refusing to reinitialize the leader', [{ type: 'clearRequests' }], 'error'),
  },
  {
    // Before the refusals below: governorctl reinit is how an operator clears them.
    name: 'reinitialize',
    if: 'an operator asked to reinitialize this member and the master runs',
    logs: 'reinitialize requested: moving the data directory aside … and re-cloning from …',
    when: (s, f) => s.requests.reinitialize && f.leaderReady,
    then: (s, f) =>
      say(`reinitialize requested: moving the data directory aside (removing it at the operator's request if there is no room) and re-cloning from ${f.leaderMember!.name}`, [
        { type: 'clearRequests' },
        { type: 'reinitialize', source: f.leaderMember! },
      ], 'warn'),
  },
  {
    name: 'data-dir-foreign',
    if: 'the data directory holds content that is not a PostgreSQL cluster',
    logs: 'data directory … is not empty and holds no PostgreSQL cluster: governor leaves it untouched; …',
    when: (s) => s.local.dataDir === 'foreign',
    then: (s) =>
      say(
        s.local.pg.dataDirectory?.problem ??
          `data directory ${s.local.pg.dataDirectory?.path ?? ''} is not empty and holds no PostgreSQL cluster: governor leaves it untouched; fix postgresql.data_dir, move the content away, or run "governorctl reinit ${s.self.name}"`,
        [],
        'error',
      ),
  },
  {
    name: 'foreign-data',
    if: 'the data directory holds a cluster with another system identifier than the initialize key',
    logs: 'data directory belongs to database system … but cluster …: refusing to join, nothing in it is touched; …',
    when: foreignSystem,
    then: (s) => {
      const reason = `data directory belongs to database system ${localSystemId(s)} but cluster ${s.cluster!.initialize}: refusing to join, nothing in it is touched; run "governorctl reinit ${s.self.name}" to move it aside and clone`;
      return say(reason, hold(s)?.reason === reason ? [] : [{ type: 'holdDataDir', hold: { state: 'data directory refused', reason } }], 'error');
    },
  },
  {
    name: 'data-dir-held',
    if: 'the data directory is held for the operator (refused, or no room to move it aside)',
    logs: 'waiting for "governorctl reinit …": … | the data directory matches the cluster now: the refusal ends',
    when: (s) => hold(s) !== null,
    then: (s) => {
      const held = hold(s)!;
      if (held.state === 'waiting for reinit') return say(`waiting for "governorctl reinit ${s.self.name}": ${held.reason}`, [], 'error');
      if (!s.cluster!.initialize) return say(`the initialize key is missing and this data directory was refused (${held.reason}): not recording its cluster`, [], 'warn');
      return say('the data directory matches the cluster now: the refusal ends', [{ type: 'holdDataDir', hold: null }]);
    },
  },
  {
    name: 'bootstrap-abandoned',
    if: 'the initialize key says a bootstrap is in progress, but no member key has said "bootstrapping" for ttl',
    logs: 'the initialize key says a bootstrap is in progress, but no member has reported bootstrapping for … s (its governor died?): removing the placeholder so the cluster can be bootstrapped or recorded',
    when: (s) => s.cluster!.initialize === '' && typeof s.memory.bootstrapQuietSince === 'number' && s.now - s.memory.bootstrapQuietSince >= s.dynamic.ttl * 1000,
    then: (s) =>
      say(
        `the initialize key says a bootstrap is in progress, but no member has reported bootstrapping for ${((s.now - s.memory.bootstrapQuietSince!) / 1000).toFixed(1)} s (its governor died?): removing the placeholder so the cluster can be bootstrapped or recorded`,
        [{ type: 'cancelBootstrap' }],
        'warn',
      ),
  },
  {
    name: 'adopt-cluster',
    if: 'the initialize key is missing, this member has a cluster, and it runs (or nobody runs one and the grace of ttl is over)',
    logs: `the initialize key is missing (etcd lost its data?): recording this member's database system …; nothing is re-initialized`,
    when: (s, f) =>
      s.cluster!.initialize === null &&
      s.local.dataDir === 'initialized' &&
      localSystemId(s) !== null &&
      (f.primary || f.replica || (membersRunning(s).length === 0 && adoptGraceLeftMs(s) === 0)),
    then: (s, f) =>
      say(
        `the initialize key is missing (etcd lost its data?): recording this member's database system ${localSystemId(s)} (from ${f.primary || f.replica ? 'the running PostgreSQL' : 'pg_control'}); nothing is re-initialized${f.primary && !f.leader ? '; this master takes back the leader key it lost with it' : ''}`,
        // A master lost its leader key with the rest: it takes it back at once (as 'reacquire' would
        // on the next iteration), so its write window is not spent on an extra loop.
        [{ type: 'adoptCluster', systemIdentifier: localSystemId(s)! }, ...(f.primary && !f.leader ? [{ type: 'acquireLeader' } as const] : [])],
        'warn',
      ),
  },
  {
    name: 'adopt-wait',
    if: `the initialize key is missing and this member's cluster is stopped`,
    logs: 'the initialize key is missing: … run PostgreSQL and record the cluster first …; waiting',
    when: (s) => s.cluster!.initialize === null && s.local.dataDir === 'initialized',
    then: (s) => {
      const running = membersRunning(s).map((m) => m.name);
      return say(
        running.length > 0
          ? `the initialize key is missing: ${running.join(', ')} run PostgreSQL and record the cluster first (this member's is stopped); waiting`
          : `the initialize key is missing: waiting ${(adoptGraceLeftMs(s) / 1000).toFixed(1)} s for members whose PostgreSQL runs to record the cluster before recording this member's`,
        [],
        'warn',
      );
    },
  },
  {
    name: 'bootstrap',
    if: 'the initialize key is missing, this member never saw it, and no member has data',
    logs: 'cluster is not initialized: racing to bootstrap it',
    when: (s) => s.cluster!.initialize === null && s.memory.initializeSeen !== true && membersWithData(s).length === 0,
    then: () => say('cluster is not initialized: racing to bootstrap it', [{ type: 'bootstrap' }]),
  },
  {
    name: 'bootstrap-refused',
    if: 'the initialize key is missing but this member saw it once or others have data',
    logs: 'the initialize key is missing, but …: not bootstrapping a new cluster; waiting for a member with data to record it again',
    when: (s) => s.cluster!.initialize === null,
    then: (s) => {
      const withData = membersWithData(s).map((m) => m.name);
      const why = s.memory.initializeSeen === true ? 'this member saw the cluster initialized' : `${withData.join(', ')} have data`;
      return say(`the initialize key is missing, but ${why}: not bootstrapping a new cluster; waiting for a member with data to record it again`, [], 'warn');
    },
  },
  {
    name: 'clone-from-leader',
    if: 'no cluster in the data directory and the master runs',
    logs: 'no data directory: cloning from the master …',
    when: (s, f) => s.local.dataDir !== 'initialized' && f.leaderReady,
    then: (s, f) => say(`no data directory: cloning from the master ${f.leaderMember!.name}`, [{ type: 'clone', source: f.leaderMember! }]),
  },
  {
    name: 'wait-for-data-source',
    if: 'no cluster in the data directory and no running master',
    logs: 'waiting for another member to finish bootstrap | no data directory and no running master to clone from: waiting',
    when: (s) => s.local.dataDir !== 'initialized',
    then: (s) =>
      say(
        s.cluster!.initialize === '' ? 'waiting for another member to finish bootstrap' : 'no data directory and no running master to clone from: waiting',
      ),
  },
];
