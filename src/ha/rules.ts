// The HA decision as an ordered table of rules, in the manner of pg_auto_failover's FSM table:
// each row is a name, a condition over the snapshot, and the actions plus the sentence the log prints.
// The first row whose condition holds decides. Read top to bottom, this is the life cycle of a member.


import { dataDirRules } from './rules-data-dir.js';
import { followerRules } from './rules-follower.js';
import { leaderRules } from './rules-leader.js';
import { raceRules } from './rules-race.js';
import { leaseExpiring, withParameters, type Rule } from './facts.js';
import { say } from './types.js';

export { changedParameters, deriveFacts, failoverInForce, scheduledFailoverAt, type Facts, type Rule } from './facts.js';

export const rules: Rule[] = [
  // --- the DCS cannot be read: keep PostgreSQL as it is, except a master whose lease may expire.
  {
    name: 'dcs-unreachable-demote',
    if: 'etcd cannot be read, PostgreSQL runs read-write here, and the write deadline has passed (or was never set)',
    logs: 'etcd unreachable and the write deadline passed … s ago (ttl … s, members did not all confirm this master): demoting to protect against split brain',
    when: (s, f) => s.cluster === null && f.primary && leaseExpiring(s),
    then: (s) =>
      say(
        `etcd unreachable and ${s.writeDeadline === null ? 'the lease was never renewed' : `the write deadline passed ${((s.now - s.writeDeadline) / 1000).toFixed(1)} s ago`} (ttl ${s.dynamic.ttl} s, members did not all confirm this master): demoting to protect against split brain`,
        [{ type: 'stop', mode: 'immediate' }],
        'error',
      ),
  },
  {
    name: 'dcs-unreachable',
    if: 'etcd cannot be read (any other member)',
    logs: 'etcd unreachable: leaving PostgreSQL as it is and retrying',
    when: (s) => s.cluster === null,
    then: () => say('etcd unreachable: leaving PostgreSQL as it is and retrying', [], 'warn'),
  },
  // --- maintenance mode: keep the keys, no automatic action; what an operator asks for still runs.
  {
    name: 'paused-restart',
    if: 'maintenance mode, and an operator asked for a restart of a running PostgreSQL',
    logs: 'paused, but a restart was requested: restarting PostgreSQL in its current role',
    when: (s, f) => s.dynamic.pause === true && s.requests.restart && (f.primary || f.replica),
    then: (s, f) => say('paused, but a restart was requested: restarting PostgreSQL in its current role', [{ type: 'clearRequests' }, { type: 'restart', role: f.primary ? 'primary' : 'replica' }]),
  },
  {
    name: 'paused',
    if: 'maintenance mode (pause in the dynamic config)',
    logs: 'paused: renewing the leader key, no automatic actions | paused: no automatic actions',
    when: (s) => s.dynamic.pause === true,
    then: (s, f) =>
      withParameters(
        f,
        f.iAmLeader && f.primary
          ? say('paused: renewing the leader key, no automatic actions', [{ type: 'confirmLeader' }, { type: 'publishOptime' }])
          : say(`paused: no automatic actions${f.stopped ? ' (PostgreSQL is stopped and stays so until resume)' : ''}`),
      ),
  },
  // --- joining the cluster: the data directory and the initialize key (rules-data-dir.ts).
  ...dataDirRules,
  // --- this member holds the leader key (rules-leader.ts).
  ...leaderRules,
  // --- another member holds the leader key (rules-follower.ts).
  ...followerRules,
  // --- nobody holds the leader key (rules-race.ts).
  ...raceRules,
];
