// The codec transforms' work needs a wasm module instantiated on first use (xxhash for lz4, zstd):
// run it at once when the module is ready, else after loading it; either way the transform's
// callback learns the outcome exactly once.

import type { TransformCallback } from 'node:stream';

/** Call `work`, then `callback` with its error (mapped) or with nothing. */
export function settle(callback: TransformCallback, work: () => void, mapError: (error: Error) => Error = (error) => error): void {
  try {
    work();
  } catch (error) {
    callback(mapError(error as Error));
    return;
  }
  callback();
}

/** `run(module)` now when `loaded`, else once `load()` resolves; a failed load goes to `callback`. */
export function whenLoaded<T>(loaded: T | null, load: () => Promise<T>, callback: TransformCallback, run: (module: T) => void): void {
  if (loaded !== null) run(loaded);
  else load().then(run, (error: Error) => callback(error));
}
