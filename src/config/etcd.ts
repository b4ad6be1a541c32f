// The etcd section: hosts, protocol, credentials and TLS files.

import { describe, type Checker } from './checker.js';
import { DEFAULT_ETCD } from './defaults.js';
import { hostPort } from './fields.js';
import { tlsFile } from './tls.js';
import type { EtcdConfig } from './types.js';

export function checkEtcd(ch: Checker, value: unknown): EtcdConfig {
  const m = ch.mapping('etcd', value, ['hosts', 'protocol', 'username', 'password', 'cacert', 'cert', 'key']);

  let hosts: string[] = [...DEFAULT_ETCD.hosts];
  ch.source('etcd.hosts', m.hosts !== undefined);
  if (m.hosts !== undefined) {
    let list: unknown[] | null = null;
    if (typeof m.hosts === 'string') list = m.hosts.split(',').map((s) => s.trim()).filter((s) => s !== '');
    else if (Array.isArray(m.hosts)) list = m.hosts;
    else ch.fail('etcd.hosts', `expected a list of host:port (or a comma-separated string), got ${describe(m.hosts)}`);
    if (list) {
      hosts = [];
      if (list.length === 0) ch.fail('etcd.hosts', 'must list at least one host:port');
      list.forEach((item, i) => {
        const ip = `etcd.hosts[${i}]`;
        if (typeof item !== 'string') {
          ch.fail(ip, `expected host:port, got ${describe(item)}`);
          return;
        }
        const h = item.trim();
        if (hostPort(ch, ip, h)) hosts.push(h);
      });
    }
  }

  const protocol = ch.choice('etcd.protocol', m.protocol, ['http', 'https'] as const, DEFAULT_ETCD.protocol);
  const username = ch.nullableString('etcd.username', m.username);
  const password = ch.nullableString('etcd.password', m.password, { secret: true });
  const cacert = tlsFile(ch, 'etcd.cacert', m.cacert);
  const cert = tlsFile(ch, 'etcd.cert', m.cert);
  const key = tlsFile(ch, 'etcd.key', m.key);

  if (username !== null && password === null) ch.fail('etcd.password', `required when ${ch.label('etcd.username')} is set (or ETCD_PASSWORD)`);
  if (password !== null && username === null) ch.fail('etcd.username', `required when ${ch.label('etcd.password')} is set (or ETCD_USERNAME)`);
  if (cert !== null && key === null) ch.fail('etcd.key', `required when ${ch.label('etcd.cert')} is set (or ETCD_KEY)`);
  if (key !== null && cert === null) ch.fail('etcd.cert', `required when ${ch.label('etcd.key')} is set (or ETCD_CERT)`);
  if (protocol === 'http' && (cacert !== null || cert !== null || key !== null)) {
    const tls = (['etcd.cacert', 'etcd.cert', 'etcd.key'] as const).filter((_, i) => [cacert, cert, key][i] !== null);
    ch.fail('etcd.protocol', `is "http" but TLS files are set (${tls.map((f) => ch.label(f)).join(', ')}); use "https" (or ETCD_PROTOCOL=https)`);
  }
  return { hosts, protocol, username, password, cacert, cert, key };
}
