// Polling until something holds, for tests and benchmarks.

import { logTail } from '../../src/util/process.js';
import { sleep } from '../../src/util/time.js';

/** Poll `probe` every 200 ms until it returns a value (not null, undefined or false); on timeout the
 *  error names what was awaited, the probe's last error, and the tails of the files `logs()` lists. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number, logs: () => string[] = () => []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  const tails = logs().map((file) => `\n--- ${file}\n${logTail(file, 15)}`).join('');
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}${tails}`);
}
