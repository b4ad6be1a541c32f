import { ConfigError } from '../config/load.js';
import { redact } from '../log/logger.js';

/** Print one clear line (config errors may list several fields) and exit non-zero. */
export function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  const prefix = error instanceof ConfigError ? 'configuration error' : 'error';
  process.stderr.write(`${prefix}: ${redact(message)}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
