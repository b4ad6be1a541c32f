// What governorctl's commands share: the configuration, the cluster read from etcd, calls to the
// members' REST APIs, and the confirmation prompt.

import { createInterface } from 'node:readline/promises';
import { type Command, Option } from 'commander';
import { loadConfigWithImds } from '../config/load.js';
import type { GovernorConfig } from '../config/types.js';
import type { EtcdDcs } from '../dcs/etcd.js';
import type { ClusterView, Member } from '../dcs/types.js';
import { peerAuthHeaders } from '../ha/peer-auth.js';
import { restApiTls } from '../ha/peers.js';
import { createLogger } from '../log/logger.js';
import { httpRequest, type TlsClientOptions } from '../util/http-client.js';

interface GlobalOptions {
  config?: string;
  insecure?: boolean;
}

/** How each loaded configuration verifies the members' REST certificates (ctl.cacert,
 *  restapi.cafile, or --insecure), kept beside it so every call site passes just the config. */
const tlsOf = new WeakMap<GovernorConfig, TlsClientOptions>();

function tlsFor(config: GovernorConfig): TlsClientOptions {
  return tlsOf.get(config) ?? restApiTls(config, { ctl: true });
}

export async function load(command: Command): Promise<GovernorConfig> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const { config } = await loadConfigWithImds({ file: options.config ?? process.env.GOVERNOR_CONFIG ?? '/etc/governor/governor.yml' });
  tlsOf.set(config, restApiTls(config, { ctl: true, insecure: options.insecure === true }));
  return config;
}

export async function readCluster(config: GovernorConfig): Promise<ClusterView> {
  return withDcs(config, (dcs) => dcs.readCluster());
}

export function apiBase(member: Member): string {
  const url = new URL(member.api_url);
  return url.origin;
}

/** A state-changing call to `member`'s REST API with the REST credential, which goes only where
 *  peerAuthHeaders allows (never over http to a cluster that serves https). */
export async function callApi(config: GovernorConfig, member: Member, method: string, path: string, body?: unknown): Promise<string> {
  const target = new URL(path, apiBase(member));
  const auth = peerAuthHeaders(config, target);
  if (auth.headers === null) throw new Error(`${member.name}: not sending ${method} ${path} with the REST credential: ${auth.refused}`);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...auth.headers };
  let response;
  try {
    response = await httpRequest(target, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: 60_000,
      tls: tlsFor(config),
    });
  } catch (error) {
    const hint = /certificate|self.signed/i.test((error as Error).message) ? ' (set ctl.cacert or restapi.cafile to the CA that signed it, or pass --insecure)' : '';
    throw new Error(`${member.name}'s REST API at ${apiBase(member)} did not answer: ${(error as Error).message}${hint}`);
  }
  const text = response.body.trim();
  if ((response.status < 200 || response.status >= 300) && response.status !== 202) throw new Error(`${member.name} refused ${method} ${path} (HTTP ${response.status}): ${text}`);
  return text;
}

/** GET `path` from `member` without credentials (what anyone may read, such as /metrics): the body
 *  of a 200 answer, or null when the member does not answer in time. */
export async function readMemberPublic(config: GovernorConfig, member: Member, path: string, timeoutMs: number): Promise<string | null> {
  try {
    const response = await httpRequest(`${apiBase(member)}${path}`, { timeoutMs, tls: tlsFor(config) });
    return response.status === 200 ? response.body : null;
  } catch {
    return null;
  }
}

export function memberNamed(cluster: ClusterView, name: string, field: string): Member {
  const member = cluster.members.find((m) => m.name === name);
  if (!member) throw new Error(`${field}: no member ${JSON.stringify(name)} (members: ${cluster.members.map((m) => m.name).join(', ') || 'none'})`);
  return member;
}

export async function confirm(question: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  if (!process.stdin.isTTY) throw new Error(`${question}: not asked because stdin is not a terminal; pass --force to confirm`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new Error('aborted');
}

export const formatOption = () => new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table');

/** Run `fn` with a DCS client (no lease: governorctl never holds keys of its own). */
export async function withDcs<T>(config: GovernorConfig, fn: (dcs: EtcdDcs) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: etcd3 and gRPC are most of governor's start-up time.
  const { createEtcdDcs } = await import('../dcs/etcd.js');
  const dcs = createEtcdDcs({ config, logger: createLogger({ level: 'error' }) });
  try {
    return await fn(dcs);
  } finally {
    await dcs.close().catch(() => undefined);
  }
}

/** The REST API to send cluster-wide requests to: the leader's if there is one. */
export function preferredMember(cluster: ClusterView): Member {
  const member = cluster.members.find((m) => m.name === cluster.leader?.name) ?? cluster.members[0];
  if (!member) throw new Error('the cluster has no members in etcd: is governor running?');
  return member;
}

async function postmasterStart(config: GovernorConfig, member: Member): Promise<{ state: string | null; start: string | null }> {
  try {
    const response = await httpRequest(`${apiBase(member)}/patroni`, { timeoutMs: 5000, tls: tlsFor(config) });
    const doc = JSON.parse(response.body) as { state?: string; postmaster_start_time?: string };
    return { state: doc.state ?? null, start: doc.postmaster_start_time ?? null };
  } catch {
    return { state: null, start: null };
  }
}

/** POST /restart and wait until the member runs a new postmaster, so restarts go one member at a time. */
export async function restartAndWait(config: GovernorConfig, member: Member, timeoutMs: number): Promise<string> {
  const before = await postmasterStart(config, member);
  const answer = await callApi(config, member, 'POST', '/restart', {});
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await postmasterStart(config, member);
    if (now.state === 'running' && now.start !== null && now.start !== before.start) return `restarted (postmaster started ${now.start})`;
  }
  throw new Error(`${member.name}: ${answer}, but PostgreSQL did not come back with a new postmaster within ${timeoutMs / 1000} s`);
}
