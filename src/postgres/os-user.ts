// Which OS user PostgreSQL runs as: PostgreSQL refuses to run as root, so a governor running as
// root runs every PostgreSQL program as postgresql.run_as_user (default "postgres").
import { execFile } from 'node:child_process';
import os from 'node:os';

export interface PgUser {
  name: string;
  /** Set only when governor is root and must switch user; undefined means "run as ourselves". */
  uid: number | undefined;
  gid: number | undefined;
  /** Effective ids of the PostgreSQL user (ours when not root), for permission checks. */
  effectiveUid: number;
  effectiveGid: number;
  home: string;
}

function execFileText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout.trim());
    });
  });
}

/** Who PostgreSQL binaries run as: run_as_user (default "postgres") when root, else the current user. */
export async function resolvePgUser(runAsUser: string | null | undefined): Promise<PgUser> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    const info = os.userInfo();
    return { name: info.username, uid: undefined, gid: undefined, effectiveUid: info.uid, effectiveGid: info.gid, home: info.homedir };
  }
  const name = runAsUser ?? 'postgres';
  let uid: number;
  let gid: number;
  try {
    uid = Number(await execFileText('id', ['-u', name]));
    gid = Number(await execFileText('id', ['-g', name]));
  } catch (err) {
    throw new Error(`governor runs as root, so PostgreSQL must run as another OS user, but user ${JSON.stringify(name)} was not found (set postgresql.run_as_user): ${(err as Error).message}`);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`could not determine uid/gid of OS user ${name}`);
  if (uid === 0) throw new Error(`postgresql.run_as_user ${JSON.stringify(name)} is root; PostgreSQL refuses to run as root`);
  let home = '/';
  try {
    const entry = await execFileText('getent', ['passwd', name]);
    home = entry.split(':')[5] || '/';
  } catch {
    // no home directory: "/" is fine for PostgreSQL binaries
  }
  return { name, uid, gid, effectiveUid: uid, effectiveGid: gid, home };
}
