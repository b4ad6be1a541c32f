// The runtime API commands that move the current HAProxy worker from one routing layout to another
// of the same shape (pure). A reload costs hundreds of milliseconds of `haproxy -c` and a new
// worker; these commands take effect in well under one, which is what keeps routing within a few
// milliseconds of the leader key.

import { FALLBACK_SERVER, LEADER_SERVER, sameAddresses, type RoutingLayout } from './render.js';

const MASTER = `master/${LEADER_SERVER}`;
const FALLBACK = `replicas/${FALLBACK_SERVER}`;

/** Commands that take the leader server out of rotation and cut every session through it. */
export function cutLeaderCommands(fallback: boolean): string[] {
  return [`set server ${MASTER} state maint`, `shutdown sessions server ${MASTER}`, ...(fallback ? [`shutdown sessions server ${FALLBACK}`] : [])];
}

/**
 * Commands for `from` → `to`; the caller has checked that both have the same shape
 * (layoutShape), so every server named here exists. Order matters: the old leader is in
 * maintenance and its sessions are cut before the server points anywhere else, and the new
 * address is set before the server leaves maintenance.
 */
export function runtimeCommands(from: RoutingLayout, to: RoutingLayout, fallback: boolean): string[] {
  const commands: string[] = [];
  if (!sameAddresses(from.leader, to.leader)) {
    if (from.leader !== null) commands.push(...cutLeaderCommands(fallback));
    const leader = to.leader;
    if (leader !== null) {
      commands.push(`set server ${MASTER} addr ${leader.host} port ${leader.port}`);
      commands.push(`set server ${MASTER} check-addr ${leader.apiHost} port ${leader.apiPort}`);
      if (fallback) commands.push(`set server ${FALLBACK} addr ${leader.host} port ${leader.port}`);
      commands.push(`set server ${MASTER} state ready`);
      // The key holder is the only member allowed to take writes: route to it now rather than
      // after the next check. Until it has promoted it refuses writes itself; the /primary check
      // stays the second guard.
      commands.push(`set server ${MASTER} health up`);
    }
  }
  const before = new Map(from.replicas.map((r) => [r.server, r.enabled]));
  for (const { server, enabled } of to.replicas) {
    if (before.get(server) === enabled) continue;
    commands.push(`set server replicas/${server} state ${enabled ? 'ready' : 'maint'}`);
  }
  return commands;
}

/** Answer lines of a successful command batch that are information, not errors. */
const INFORMATIONAL = [/^no need to change/i, /changed from/i];

/** The error lines in the answer to a batch of runtime commands ('' when all succeeded). */
export function runtimeErrors(answer: string): string {
  return answer
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !INFORMATIONAL.some((re) => re.test(line)))
    .join('; ');
}
