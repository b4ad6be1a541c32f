// PostgreSQL LSNs ("16/B374D848") as byte positions. Numbers stay exact up to 2^53 bytes (8 PiB of WAL).

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const TWO_32 = 0x1_0000_0000;

/** "0/3000060" -> 50331744. Throws on malformed input. */
export function parseLsn(text: string): number {
  const match = LSN_RE.exec(text.trim());
  if (!match) throw new Error(`malformed LSN ${JSON.stringify(text)}`);
  return parseInt(match[1]!, 16) * TWO_32 + parseInt(match[2]!, 16);
}

/** Like parseLsn, but null for null/undefined/empty input (as returned by SQL for "no LSN"). */
export function parseLsnOrNull(text: string | null | undefined): number | null {
  if (text === null || text === undefined || text === '') return null;
  return parseLsn(text);
}

/** 50331744 -> "0/3000060" (upper case, unpadded, as PostgreSQL prints it). */
export function formatLsn(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`invalid LSN byte position ${bytes}`);
  const hi = Math.floor(bytes / TWO_32);
  const lo = bytes % TWO_32;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** The timeline encoded in a WAL file name ("000000020000000000000003" -> 2). */
export function timelineFromWalFileName(name: string): number {
  if (!/^[0-9A-Fa-f]{24}$/.test(name)) throw new Error(`malformed WAL file name ${JSON.stringify(name)}`);
  return parseInt(name.slice(0, 8), 16);
}
