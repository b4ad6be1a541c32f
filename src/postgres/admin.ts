// SQL administration on a running server: the replication role and physical replication slots.
import type pg from 'pg';
import type { Credentials } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { scramSha256Verifier } from './scram.js';

export const SLOT_NAME_RE = /^[a-z0-9_]{1,63}$/;

/** Create the replication role or reset its password (idempotent). The password never appears in a log. */
export async function ensureReplicationRole(client: pg.Client, replication: Credentials, logger: Logger): Promise<void> {
  if (replication.password === '') throw new Error('the replication password must not be empty');
  // Keep the statement out of the server log whatever the configured logging.
  await client.query("SET log_statement = 'none'; SET log_min_duration_statement = -1; SET log_min_error_statement = 'panic'");
  const found = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [replication.username]);
  // A SCRAM verifier computed here: the plaintext never reaches the server (nor pg_stat_statements).
  const secret = scramSha256Verifier(replication.password) ?? replication.password;
  const verb = found.rowCount ? 'ALTER' : 'CREATE';
  await client.query(
    `${verb} ROLE ${client.escapeIdentifier(replication.username)} WITH LOGIN REPLICATION PASSWORD ${client.escapeLiteral(secret)}`,
  );
  logger.info(found.rowCount ? 'updated replication role' : 'created replication role', { role: replication.username });
}

type Query = <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<R>>;

/** On a primary: create missing physical slots, drop inactive physical slots not listed. No-op in recovery. */
export async function syncPhysicalSlots(query: Query, slotNames: string[], logger: Logger): Promise<void> {
  for (const name of slotNames) if (!SLOT_NAME_RE.test(name)) throw new Error(`invalid slot name ${JSON.stringify(name)}`);
  const recovery = await query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
  if (recovery.rows[0]?.r) return;
  const { rows } = await query<{ slot_name: string; active: boolean }>(
    "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'",
  );
  const existing = new Map(rows.map((r) => [r.slot_name, r.active]));
  const wanted = new Set(slotNames);
  for (const name of wanted) {
    if (existing.has(name)) continue;
    try {
      await query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
      logger.info('created replication slot', { slot: name });
    } catch (err) {
      if ((err as { code?: string }).code !== '42710') throw err; // duplicate_object: created meanwhile
    }
  }
  for (const [name, active] of existing) {
    if (wanted.has(name) || active) continue;
    try {
      await query('SELECT pg_drop_replication_slot($1)', [name]);
      logger.info('dropped replication slot', { slot: name });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== '55006' && code !== '42704') throw err; // active again / already gone
    }
  }
}
