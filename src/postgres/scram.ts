// Client-side SCRAM-SHA-256 verifiers, so a role's plaintext password never reaches the server
// (and hence never a server log or pg_stat_statements), as psql's \password and libpq's PQencryptPasswordConn do.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores in pg_authid.rolpassword. Returns null for passwords outside
 * printable ASCII: PostgreSQL applies SASLprep to those, which this does not implement (send them in plaintext).
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string | null {
  if (!/^[\x20-\x7e]+$/.test(password)) return null;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
