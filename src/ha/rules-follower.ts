// Rows of the rule table (rules.ts) for a member while another holds the leader key: demote if it
// runs read-write, rejoin a former master (pg_rewind, or a clone when that fails), start and restart
// as a replica, follow the leader, rewind when diverged.

import { CAUSE_DESCRIPTIONS } from '../postgres/start-failure.js';
import { diverged, divergedAfterMs, startFailures, withParameters, type Rule } from './facts.js';
import { MAX_START_FAILURES, say } from './types.js';

export const followerRules: Rule[] = [
  {
    name: 'demote',
    if: 'another member holds the key and PostgreSQL runs read-write here',
    logs: 'leader key is held by …, not this member: demoting (immediate stop) so there is one writer',
    when: (s, f) => f.leader !== null && f.primary,
    then: (s, f) =>
      say(`leader key is held by ${f.leader!.name}, not this member: demoting (immediate stop) so there is one writer`, [
        { type: 'stop', mode: 'immediate' },
      ], 'error'),
  },
  {
    name: 'rewind-failed',
    if: 'another member holds the key, PostgreSQL is stopped, and pg_rewind from the master failed',
    logs: 'pg_rewind from … failed: the data directory makes way for a clone from … (moved aside if there is room)',
    when: (s, f) => f.leader !== null && f.stopped && typeof s.memory.rewindFailedFrom === 'string',
    then: (s, f) =>
      f.leaderReady
        ? say(`pg_rewind from ${s.memory.rewindFailedFrom} failed: the data directory makes way for a clone from ${f.leader!.name} (moved aside if there is room)`, [
            { type: 'recloneData', source: f.leaderMember!, reason: 'rewind-failed' },
          ], 'warn')
        : say(`pg_rewind from ${s.memory.rewindFailedFrom} failed: waiting for ${f.leader!.name} to run as master to clone from it`, [], 'warn'),
  },
  {
    name: 'former-master-rewind',
    if: 'another member holds the key, PostgreSQL is stopped, it last ran as master, and it did not hand the key over cleanly',
    logs: 'former master rejoining: pg_rewind from …, then following it | former master: waiting for … to finish its promotion before pg_rewind',
    when: (s, f) =>
      f.leader !== null && f.stopped && s.local.control?.wasPrimary === true && s.memory.cleanHandoffTo !== f.leader.name,
    then: (s, f) =>
      f.leaderReady
        ? say(`former master rejoining: pg_rewind from ${f.leader!.name}, then following it`, [
            { type: 'rewind', source: f.leaderMember! },
            { type: 'startReplica', leader: f.leaderMember! },
          ], 'warn')
        : say(`former master: waiting for ${f.leader!.name} to finish its promotion before pg_rewind`),
  },
  {
    name: 'replica-start-failed-data',
    if: 'PostgreSQL failed to start 3 times in a row for a data fault, the master runs, and no re-clone was tried yet',
    logs: 'PostgreSQL failed to start … times in a row for a data fault (…): the data directory makes way … and is cloned again from …, once',
    when: (s, f) =>
      f.leaderReady && f.stopped && startFailures(s) >= MAX_START_FAILURES && s.memory.startFailures!.diagnosis.cause === 'data' && s.memory.reclonedAfterStartFailures !== true,
    then: (s, f) =>
      say(
        `PostgreSQL failed to start ${startFailures(s)} times in a row for a data fault (${s.memory.startFailures!.diagnosis.evidence}): the data directory makes way (moved aside if there is room) and is cloned again from ${f.leader!.name}, once`,
        [{ type: 'recloneData', source: f.leaderMember!, reason: 'start-failed' }],
        'error',
      ),
  },
  {
    name: 'replica-start-failing',
    if: 'PostgreSQL failed to start 3 times in a row otherwise',
    logs: 'PostgreSQL failed to start … times in a row (…): the data directory is not touched (…); retrying as a replica of …',
    when: (s, f) => f.leader !== null && f.stopped && startFailures(s) >= MAX_START_FAILURES,
    then: (s, f) => {
      const { cause, evidence } = s.memory.startFailures!.diagnosis;
      const why = cause !== 'data' ? 'not a data fault' : s.memory.reclonedAfterStartFailures ? 'it was cloned again once already' : 'no running master to clone from';
      return say(
        `PostgreSQL failed to start ${startFailures(s)} times in a row (${CAUSE_DESCRIPTIONS[cause]}${evidence ? `: ${evidence}` : ''}): the data directory is not touched (${why}); retrying as a replica of ${f.leader!.name}`,
        [{ type: 'startReplica', leader: f.leaderMember }],
        'error',
      );
    },
  },
  {
    name: 'replica-start',
    if: 'another member holds the key and PostgreSQL is stopped',
    logs: 'PostgreSQL is stopped: starting it as a replica of …',
    when: (s, f) => f.leader !== null && f.stopped,
    then: (s, f) =>
      say(`PostgreSQL is stopped: starting it as a replica of ${f.leader!.name}`, [{ type: 'startReplica', leader: f.leaderMember }]),
  },
  {
    name: 'replica-restart',
    if: 'this member runs as a replica and an operator asked for a restart',
    logs: 'restart requested: restarting PostgreSQL as replica',
    when: (s, f) => f.leader !== null && f.replica && s.requests.restart,
    then: () => say('restart requested: restarting PostgreSQL as replica', [{ type: 'clearRequests' }, { type: 'restart', role: 'replica' }]),
  },
  {
    name: 'replica-follow',
    if: 'this member runs as a replica and streams from another member than the one holding the key',
    logs: 'following the new leader …',
    when: (s, f) => f.replica && f.leaderMember !== null && s.memory.followTarget !== f.leaderMember.name,
    then: (s, f) => say(`following the new leader ${f.leaderMember!.name}`, [{ type: 'followLeader', leader: f.leaderMember! }]),
  },
  {
    name: 'replica-diverged',
    if: `this replica has not streamed from the master for ttl + 5 s and its WAL goes past the master's timeline fork`,
    logs: 'not streaming from … for … s and our WAL goes past its timeline fork: rewinding',
    when: (s, f) =>
      f.replica &&
      f.leaderReady &&
      s.local.pg.walReceiver?.status !== 'streaming' &&
      s.memory.notStreamingSince !== null &&
      s.now - s.memory.notStreamingSince > divergedAfterMs(s) &&
      diverged(s, f.leaderMember!),
    then: (s, f) =>
      say(
        `not streaming from ${f.leader!.name} for ${((s.now - s.memory.notStreamingSince!) / 1000).toFixed(1)} s and our WAL goes past its timeline fork: rewinding`,
        [{ type: 'rewind', source: f.leaderMember! }, { type: 'startReplica', leader: f.leaderMember! }],
        'warn',
      ),
  },
  {
    name: 'replica-steady',
    if: 'another member holds the key (otherwise)',
    logs: 'replica of … | waiting for PostgreSQL to accept connections (leader …)',
    when: (s, f) => f.leader !== null,
    then: (s, f) =>
      withParameters(f, say(f.replica ? `replica of ${f.leader!.name}` : `waiting for PostgreSQL to accept connections (leader ${f.leader!.name})`)),
  },
];
