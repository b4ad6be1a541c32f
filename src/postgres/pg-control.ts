// global/pg_control read directly (pure parsing; the caller reads the file). A switchover polls it
// every few milliseconds to learn the moment the shutdown checkpoint is written, and the HA loop
// reads it whenever PostgreSQL is down (a crashed master's restart waits on that read), which
// pg_controldata (a process per look) cannot do cheaply. PostgreSQL writes the file whole with a
// CRC-32C of its contents; a read that does not match its CRC (torn, or another layout) is
// rejected, never guessed at.

/** ControlFileData's leading fields (PostgreSQL 9.x-17, 64-bit): system_identifier u64 @0,
 *  pg_control_version u32 @8, catalog_version_no u32 @12, state (DBState enum) @16,
 *  time (pg_time_t) @24, checkPoint (XLogRecPtr) @32, then checkPointCopy (CheckPoint), which
 *  starts with redo (XLogRecPtr) @40 and ThisTimeLineID u32 @48. */
const SYSTEM_IDENTIFIER_OFFSET = 0;
const STATE_OFFSET = 16;
const CHECKPOINT_OFFSET = 32;
const CHECKPOINT_TIMELINE_OFFSET = 48;
/** The CRC sits right after the struct; the struct is well under this size in every version. */
const MAX_STRUCT_SIZE = 512;

export const DB_STATES = [
  'starting up',
  'shut down',
  'shut down in recovery',
  'shutting down',
  'in crash recovery',
  'in archive recovery',
  'in production',
] as const;
export type DbState = (typeof DB_STATES)[number];

export interface PgControlSnapshot {
  systemIdentifier: string;
  state: DbState;
  /** Latest checkpoint location (the shutdown checkpoint once state is 'shut down'). */
  checkpointLsn: number;
  /** The latest checkpoint's timeline (pg_controldata's "Latest checkpoint's TimeLineID"). */
  timeline: number;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as PostgreSQL's INIT_CRC32C / COMP_CRC32C / FIN_CRC32C compute it. */
export function crc32c(data: Uint8Array, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = 0; i < end; i++) crc = CRC32C_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The state and checkpoint location, or null when no CRC in the first MAX_STRUCT_SIZE bytes
 * matches the bytes before it (the struct's size differs between versions; its CRC is its last
 * field, so the offset where the CRC matches is the struct's end).
 */
export function parsePgControl(file: Buffer): PgControlSnapshot | null {
  if (file.length < CHECKPOINT_TIMELINE_OFFSET + 4) return null;
  let valid = false;
  for (let end = CHECKPOINT_TIMELINE_OFFSET + 4; end + 4 <= Math.min(file.length, MAX_STRUCT_SIZE); end += 4) {
    if (file.readUInt32LE(end) === crc32c(file, end)) {
      valid = true;
      break;
    }
  }
  if (!valid) return null;
  const state = DB_STATES[file.readInt32LE(STATE_OFFSET)];
  if (state === undefined) return null;
  const timeline = file.readUInt32LE(CHECKPOINT_TIMELINE_OFFSET);
  if (timeline < 1) return null;
  return {
    systemIdentifier: file.readBigUInt64LE(SYSTEM_IDENTIFIER_OFFSET).toString(),
    state,
    checkpointLsn: Number(file.readBigUInt64LE(CHECKPOINT_OFFSET)),
    timeline,
  };
}
