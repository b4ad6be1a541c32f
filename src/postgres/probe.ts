// Can another member's PostgreSQL be reached as superuser right now? Asked before anything
// destructive (pg_rewind, re-cloning) so an unreachable source never costs us our data.

import pg from 'pg';
import type { Credentials } from '../config/types.js';
import type { HostPort } from './types.js';

export interface ProbeResult {
  reachable: boolean;
  inRecovery: boolean | null;
  error: string | null;
}

export async function probeServer(source: HostPort, superuser: Credentials, timeoutMs = 2000): Promise<ProbeResult> {
  const client = new pg.Client({
    host: source.host,
    port: source.port,
    user: superuser.username,
    password: superuser.password,
    database: 'postgres',
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'governor-probe',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
    return { reachable: true, inRecovery: result.rows[0]?.in_recovery ?? null, error: null };
  } catch (error) {
    return { reachable: false, inRecovery: null, error: (error as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
