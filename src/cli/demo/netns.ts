// `governor demo up --netns`: every member in its own Linux network namespace, so that a partition is
// real (packets dropped by the kernel), not simulated by the software under test.
//
// Each member's namespace has two links to the root namespace:
//   - the cluster link, a veth on one bridge with etcd's address: members reach etcd and each other
//     here, and a partition takes the root side of this link down;
//   - the client link, a point-to-point veth that stays up: the test process (the clients) reaches the
//     member's PostgreSQL, HAProxy and REST API here, so clients on the member's side of a partition
//     keep talking to it, as applications next to an isolated master would.
// Needs root and iproute2 (`ip`). Everything is named after a random id and removed by netnsDestroy.

import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

export interface NetnsNode {
  name: string;
  namespace: string;
  /** Where etcd and the other members reach this member (its connect addresses). */
  cluster_address: string;
  /** Where the clients (test process) reach this member. */
  client_address: string;
  /** Root-namespace ends of the two veth pairs. */
  cluster_link: string;
  client_link: string;
}

export interface NetnsLayout {
  id: string;
  bridge: string;
  /** The bridge's address in the root namespace: etcd listens here. */
  host_address: string;
  nodes: NetnsNode[];
}

const IP = 'ip';

/** Addresses and names of a layout: a /24 for the bridge (10.231.S.0) and one /30 per client link
 *  (10.232.S.4k). Pure, so the naming rules (interface names ≤ 15 bytes) are checked by unit tests. */
export function planNetns(id: string, subnet: number, names: string[]): NetnsLayout {
  if (!/^[0-9a-f]{4}$/.test(id)) throw new Error(`netns id: expected 4 hex digits, got ${JSON.stringify(id)}`);
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`netns subnet: expected 1-254, got ${subnet}`);
  if (names.length > 60) throw new Error(`netns: at most 60 members, got ${names.length}`);
  return {
    id,
    bridge: `gv${id}br`,
    host_address: `10.231.${subnet}.1`,
    nodes: names.map((name, k) => ({
      name,
      namespace: `gv${id}-${name}`,
      cluster_address: `10.231.${subnet}.${10 + k}`,
      client_address: `10.232.${subnet}.${4 * k + 2}`,
      cluster_link: `gv${id}c${k}`,
      client_link: `gv${id}l${k}`,
    })),
  };
}

/** The command that runs `argv` inside `namespace` (ip netns exec execs it: the PID stays the same). */
export function inNamespace(namespace: string, argv: string[]): string[] {
  return [IP, 'netns', 'exec', namespace, ...argv];
}

async function ip(args: string[]): Promise<void> {
  const result = await execa(IP, args, { reject: false, stdin: 'ignore' });
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${result.exitCode}): ${String(result.stderr).trim()}`);
}

/** Subnets already in use in the root namespace, so a new layout does not collide with another demo. */
async function usedSubnets(): Promise<Set<number>> {
  const result = await execa(IP, ['-o', '-4', 'addr', 'show'], { reject: false });
  const used = new Set<number>();
  for (const match of String(result.stdout).matchAll(/inet 10\.23[12]\.(\d+)\./g)) used.add(Number(match[1]));
  return used;
}

/** Create the bridge, one namespace per member and its two links. On failure, removes what it made. */
export async function netnsCreate(names: string[]): Promise<NetnsLayout> {
  if (process.getuid?.() !== 0) throw new Error('--netns: network namespaces need root');
  const used = await usedSubnets();
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((s) => !used.has(s));
  if (free.length === 0) throw new Error('--netns: no free subnet in 10.231.0.0/16');
  const subnet = free[randomBytes(1)[0]! % free.length]!;
  const layout = planNetns(randomBytes(2).toString('hex'), subnet, names);
  try {
    await ip(['link', 'add', layout.bridge, 'type', 'bridge']);
    await ip(['addr', 'add', `${layout.host_address}/24`, 'dev', layout.bridge]);
    await ip(['link', 'set', layout.bridge, 'up']);
    for (const node of layout.nodes) {
      const ns = node.namespace;
      await ip(['netns', 'add', ns]);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['link', 'add', node.cluster_link, 'type', 'veth', 'peer', 'name', 'cluster', 'netns', ns]);
      await ip(['link', 'set', node.cluster_link, 'master', layout.bridge]);
      await ip(['link', 'set', node.cluster_link, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${node.cluster_address}/24`, 'dev', 'cluster']);
      await ip(['-n', ns, 'link', 'set', 'cluster', 'up']);
      const hostSide = node.client_address.replace(/\.(\d+)$/, (_, last: string) => `.${Number(last) - 1}`);
      await ip(['link', 'add', node.client_link, 'type', 'veth', 'peer', 'name', 'client', 'netns', ns]);
      await ip(['addr', 'add', `${hostSide}/30`, 'dev', node.client_link]);
      await ip(['link', 'set', node.client_link, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${node.client_address}/30`, 'dev', 'client']);
      await ip(['-n', ns, 'link', 'set', 'client', 'up']);
    }
  } catch (error) {
    await netnsDestroy(layout);
    throw error;
  }
  return layout;
}

/** Remove namespaces (their veths go with them) and the bridge. Processes must be stopped first: a
 *  namespace with a live process in it outlives `ip netns del`. Missing pieces are not an error. */
export async function netnsDestroy(layout: NetnsLayout): Promise<void> {
  for (const node of layout.nodes) {
    await execa(IP, ['netns', 'del', node.namespace], { reject: false });
    // A veth whose namespace end is gone is gone too; one left by a half-made layout is not.
    await execa(IP, ['link', 'del', node.cluster_link], { reject: false });
    await execa(IP, ['link', 'del', node.client_link], { reject: false });
  }
  await execa(IP, ['link', 'del', layout.bridge], { reject: false });
}

function nodeOf(layout: NetnsLayout, name: string): NetnsNode {
  const node = layout.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`NAME: no node ${JSON.stringify(name)} in this demo's network namespaces`);
  return node;
}

/** Cut `name` off from etcd and from every other member: its cluster link goes down at the bridge, so
 *  packets are dropped (connections time out) rather than refused. Its client link stays up. */
export async function netnsPartition(layout: NetnsLayout, name: string): Promise<void> {
  await ip(['link', 'set', nodeOf(layout, name).cluster_link, 'down']);
}

export async function netnsHeal(layout: NetnsLayout, name: string): Promise<void> {
  await ip(['link', 'set', nodeOf(layout, name).cluster_link, 'up']);
}
