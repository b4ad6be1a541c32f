// A prefix watch that outlives etcd restarts and watch cancellations, mapping key changes to DcsEvents.

import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../log/logger.js';
import { classifyKey } from './keys.js';
import { DcsUnavailableError, type DcsEvent } from './types.js';

export interface WatchPrefixOptions {
  etcd: Etcd3;
  prefix: string;
  timeoutMs: () => number;
  log: Logger;
  onChange: (event: DcsEvent) => void;
}

/**
 * Resolves once etcd confirmed the watch (rejects with DcsUnavailableError after timeoutMs).
 * The library reconnects a broken stream by itself and replays the changes it missed (it resumes
 * from the last revision seen); a watch that etcd cancels (e.g. its revision was compacted) is
 * re-created here from the current revision, with an 'other' event so the caller re-reads.
 */
export async function watchPrefix(opts: WatchPrefixOptions): Promise<() => Promise<void>> {
  const { etcd, prefix, log } = opts;
  let stopped = false;
  let established = false;
  let disconnected = false;
  let recreated = 0; // consecutive re-creations, for their backoff
  let current: Watcher | null = null;
  let retry: NodeJS.Timeout | undefined;

  const emit = (event: DcsEvent) => {
    if (stopped) return;
    try {
      opts.onChange(event);
    } catch (error) {
      log.error('watch callback threw', { error });
    }
  };
  const onKey = (kv: IKeyValue) => emit(classifyKey(kv.key.toString('utf8').slice(prefix.length)));

  const attach = (): Watcher => {
    const watcher = etcd.watch().prefix(prefix).watcher();
    watcher.on('put', onKey);
    watcher.on('delete', onKey);
    // The library retries every 100 ms - 1 s while etcd is down: warn once per outage.
    watcher.on('disconnected', (error) => {
      if (stopped || !established) return;
      if (disconnected) log.debug('etcd watch still disconnected', { error });
      else log.warn('etcd watch disconnected; reconnecting', { error });
      disconnected = true;
    });
    watcher.on('connected', () => {
      if (!stopped && established && disconnected) log.info('etcd watch reconnected');
      disconnected = false;
      recreated = 0;
    });
    watcher.on('error', (error) => {
      if (stopped || !established || watcher !== current) return;
      const delay = Math.min(200 * 2 ** recreated++, 5000);
      log.warn('etcd canceled the watch; re-creating it', { error, delay_ms: delay });
      current = null;
      retry = setTimeout(() => {
        if (stopped) return;
        current = attach();
        emit('other');
      }, delay);
    });
    return watcher;
  };

  /** Stop delivering events; wait (bounded) until etcd confirmed the cancellation. */
  const cancel = async (waitMs: number) => {
    stopped = true;
    clearTimeout(retry);
    const watcher = current;
    current = null;
    // An unconfirmed watcher is only detached once it connects, so this may finish later.
    const detached = watcher ? watcher.cancel().catch(() => undefined) : Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    await Promise.race([detached, timeout]);
    clearTimeout(timer);
  };

  const first = attach();
  current = first;
  const timeoutMs = opts.timeoutMs();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await new Promise<Error | null>((resolve) => {
    first.once('connected', () => resolve(null));
    first.once('error', (error) => resolve(error));
    timer = setTimeout(() => resolve(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  clearTimeout(timer);
  if (outcome) {
    void cancel(0);
    throw new DcsUnavailableError(`etcd watch of ${prefix} failed: ${outcome.message}`, { cause: outcome });
  }
  established = true;
  return () => cancel(opts.timeoutMs());
}
