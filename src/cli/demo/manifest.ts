// DIR/demo.json: the contract other tools (tests, benchmarks, people) read to find a demo cluster.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NetnsLayout } from './netns.js';

export interface DemoNode {
  name: string;
  governor_pid: number;
  api_url: string;
  pg_host: string;
  pg_port: number;
  data_dir: string;
  config_file: string;
  api_port: number;
  log_file: string;
  /** HAProxy on this node: writes to the master, reads to the replicas. */
  haproxy_rw_port: number;
  haproxy_ro_port: number;
  haproxy_pid: number | null;
}

export interface DemoManifest {
  scope: string;
  ttl: number;
  etcd: { endpoints: string[]; pid: number; data_dir: string };
  postgres: { user: string; password: string; dbname: string };
  api: { username: string; password: string };
  /** Storage URL of WAL archive and base backups (null: archiving off). */
  archive: { storage: string | null };
  /** With --tls-dir: the CA that signed every certificate (REST API, etcd, PostgreSQL). */
  tls?: { ca_file: string };
  /** With --netns: the namespaces, links and addresses (pg_host and api_url use the client links). */
  netns?: NetnsLayout;
  nodes: DemoNode[];
}

export function manifestPath(dir: string): string {
  return path.join(dir, 'demo.json');
}

export function readManifest(dir: string): DemoManifest {
  let text: string;
  try {
    text = readFileSync(manifestPath(dir), 'utf8');
  } catch {
    throw new Error(`--dir ${dir}: no demo.json there; start a demo with "governor demo up --dir ${dir}"`);
  }
  try {
    return JSON.parse(text) as DemoManifest;
  } catch (error) {
    throw new Error(`${manifestPath(dir)}: not valid JSON (${(error as Error).message})`);
  }
}

export function writeManifest(dir: string, manifest: DemoManifest): void {
  const file = manifestPath(dir);
  const temp = `${file}.tmp`;
  // It holds the demo's passwords: readable by the user who ran the demo only.
  writeFileSync(temp, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  renameSync(temp, file);
}

export function findNode(manifest: DemoManifest, name: string): DemoNode {
  const node = manifest.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`NAME: no node ${JSON.stringify(name)} in this demo (nodes: ${manifest.nodes.map((n) => n.name).join(', ')})`);
  return node;
}
