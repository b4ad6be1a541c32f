// A throw-away certificate authority for tests, made with openssl: one CA, a server certificate
// for 127.0.0.1/localhost (etcd, the REST APIs, PostgreSQL) and a client certificate (governor
// towards etcd), in the file names `governor demo up --tls-dir` expects.

import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface TestCertificates {
  dir: string;
  ca: string;
  cleanup(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await execa('openssl', args, { cwd: dir });
}

/** Sign `name`.csr with the CA, with the given X.509 v3 extensions. */
async function sign(dir: string, name: string, subject: string, extensions: string): Promise<void> {
  await openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  await writeFile(path.join(dir, `${name}.ext`), extensions);
  await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
}

export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(tmpdir(), 'governor-tls-'));
  // PostgreSQL (user postgres) reads the certificates and the CA from here.
  await chmod(dir, 0o755);
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-sha256', '-subj', '/CN=governor test CA']);
  await sign(dir, 'server', '/CN=localhost', 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth, clientAuth\n');
  await sign(dir, 'client', '/CN=governor', 'extendedKeyUsage = clientAuth\n');
  for (const file of ['ca.crt', 'server.crt', 'client.crt']) await chmod(path.join(dir, file), 0o644);
  for (const file of ['ca.key', 'server.key', 'client.key']) await chmod(path.join(dir, file), 0o600);
  return { dir, ca: path.join(dir, 'ca.crt'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
