// Switchover and failover requests: validated here, written to the DCS `failover` key, and carried
// out by the HA loops of the leader and the candidate. The request waits for the outcome.

import type { ClusterView, FailoverRequest } from '../dcs/types.js';
import { bestSwitchoverCandidate, memberCanFailover } from '../ha/candidate.js';
import { sleep } from '../util/time.js';
import { HttpError } from './http-error.js';
import type { ApiBackend } from './backend.js';

export interface ControlContext {
  backend: ApiBackend;
  body: Record<string, unknown>;
}

const OUTCOME_TIMEOUT_MS = 30_000;

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `${field}: expected a string, got ${typeof value}`);
  return value;
}

async function freshCluster(backend: ApiBackend): Promise<ClusterView> {
  try {
    return await backend.dcs.readCluster();
  } catch (error) {
    throw new HttpError(503, `etcd unreachable: ${(error as Error).message}`);
  }
}

/** In maintenance mode members take no HA action at all, so a handover would never happen. */
function refuseWhilePaused(cluster: ClusterView, what: string): void {
  if (cluster.config?.pause) throw new HttpError(412, `the cluster is paused (maintenance mode), so no member would act on a ${what}: run "governorctl resume" first`);
}

function parseSchedule(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  if (!Number.isFinite(time)) throw new HttpError(400, `scheduled_at: expected an ISO 8601 time such as 2026-01-31T22:00:00Z, got ${JSON.stringify(text)}`);
  return time > Date.now() ? new Date(time).toISOString() : undefined;
}

function checkCandidate(cluster: ClusterView, candidate: string, leader: string | null): void {
  const member = cluster.members.find((m) => m.name === candidate);
  if (!member) throw new HttpError(412, `candidate: ${candidate} is not a member of the cluster (members: ${cluster.members.map((m) => m.name).join(', ')})`);
  if (candidate === leader) throw new HttpError(412, `candidate: ${candidate} is already the leader`);
  if (!memberCanFailover(member)) throw new HttpError(412, `candidate: ${candidate} is tagged nofailover or has failover_priority 0`);
  if (leader && (member.role !== 'replica' || member.state !== 'streaming'))
    throw new HttpError(412, `candidate: ${candidate} is not a streaming replica (state ${member.state})`);
}

/** Wait until `candidate` holds the key and runs as master, or the request was dropped. */
async function awaitOutcome(backend: ApiBackend, candidate: string, formerLeader: string | null): Promise<[number, unknown]> {
  const deadline = Date.now() + OUTCOME_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(50);
    let cluster: ClusterView;
    try {
      cluster = await backend.dcs.readCluster();
    } catch {
      continue;
    }
    const leaderMember = cluster.members.find((m) => m.name === cluster.leader?.name);
    if (cluster.leader?.name === candidate && leaderMember?.role === 'master') {
      return [200, `Successfully switched over to "${candidate}"`];
    }
    if (!cluster.failover && cluster.leader?.name === formerLeader && formerLeader !== null) {
      return [503, `switchover to ${candidate} was aborted by ${formerLeader}: see its log`];
    }
  }
  return [503, `switchover to ${candidate} did not complete within ${OUTCOME_TIMEOUT_MS / 1000} s: check "governorctl list"`];
}

export async function handleSwitchover({ backend, body }: ControlContext): Promise<[number, unknown]> {
  const requestedLeader = optionalString(body, 'leader');
  let candidate = optionalString(body, 'candidate');
  const scheduledAt = parseSchedule(optionalString(body, 'scheduled_at'));
  const cluster = await freshCluster(backend);
  const leader = cluster.leader?.name ?? null;
  if (!leader) throw new HttpError(412, 'the cluster has no leader: use failover with a candidate instead');
  if (requestedLeader && requestedLeader !== leader) throw new HttpError(412, `leader: ${requestedLeader} is not the current leader (${leader})`);
  refuseWhilePaused(cluster, 'switchover');
  if (cluster.failover) throw new HttpError(409, `a switchover or failover is already pending: ${JSON.stringify(cluster.failover)}`);
  const syncStandby = cluster.config?.synchronous_mode === true ? (cluster.sync?.sync_standby ?? null) : undefined;
  if (candidate) checkCandidate(cluster, candidate, leader);
  else {
    candidate = syncStandby ?? bestSwitchoverCandidate(cluster.members, leader)?.name;
    if (!candidate) throw new HttpError(412, 'no streaming replica is eligible to take over');
  }
  if (syncStandby !== undefined && candidate !== syncStandby) {
    throw new HttpError(412, `synchronous_mode: only the synchronous standby (${syncStandby ?? 'none confirmed yet'}) may take over, not ${candidate}`);
  }
  const request: FailoverRequest = { leader, member: candidate };
  if (scheduledAt) request.scheduled_at = scheduledAt;
  await backend.dcs.setFailover(request);
  if (scheduledAt) return [202, `Switchover to "${candidate}" scheduled at ${scheduledAt}`];
  backend.wake();
  return awaitOutcome(backend, candidate, leader);
}

export async function handleFailover({ backend, body }: ControlContext): Promise<[number, unknown]> {
  const candidate = optionalString(body, 'candidate');
  if (!candidate) throw new HttpError(400, 'candidate: required for a failover');
  const cluster = await freshCluster(backend);
  const leader = cluster.leader?.name ?? null;
  const requestedLeader = optionalString(body, 'leader');
  if (requestedLeader && leader && requestedLeader !== leader) throw new HttpError(412, `leader: ${requestedLeader} is not the current leader (${leader})`);
  refuseWhilePaused(cluster, 'failover');
  checkCandidate(cluster, candidate, leader);
  const request: FailoverRequest = { member: candidate };
  if (leader) request.leader = leader;
  await backend.dcs.setFailover(request);
  backend.wake();
  return awaitOutcome(backend, candidate, leader);
}

export async function handleCancelSwitchover({ backend }: ControlContext): Promise<[number, unknown]> {
  const cluster = await freshCluster(backend);
  if (!cluster.failover?.scheduled_at) throw new HttpError(404, 'no scheduled switchover to cancel');
  await backend.dcs.clearFailover();
  return [200, 'scheduled switchover cancelled'];
}
