// The cluster-wide settings: bootstrap.dcs in the file, or the DCS `config` key.

import { type Checker } from './checker.js';
import { DEFAULT_DYNAMIC_CONFIG, DYNAMIC_LIMITS } from './defaults.js';
import { parameters } from './parameters.js';
import type { DynamicConfig } from './types.js';

/** Cluster-wide settings (bootstrap.dcs, or the DCS `config` key). */
export function checkDynamic(ch: Checker, p: string, value: unknown): DynamicConfig {
  const m = ch.mapping(p, value, ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'postgresql', 'pause', 'failsafe_mode', 'synchronous_mode', 'synchronous_mode_strict']);
  const d = DEFAULT_DYNAMIC_CONFIG;
  const ttl = ch.number(`${p}.ttl`, m.ttl, { default: d.ttl, min: DYNAMIC_LIMITS.ttl, integer: true });
  const loop_wait = ch.number(`${p}.loop_wait`, m.loop_wait, { default: d.loop_wait, min: DYNAMIC_LIMITS.loop_wait });
  const retry_timeout = ch.number(`${p}.retry_timeout`, m.retry_timeout, {
    default: d.retry_timeout,
    min: DYNAMIC_LIMITS.retry_timeout,
  });
  const maximum_lag_on_failover = ch.number(`${p}.maximum_lag_on_failover`, m.maximum_lag_on_failover, {
    default: d.maximum_lag_on_failover,
    min: 0,
    integer: true,
  });
  const pg = ch.mapping(`${p}.postgresql`, m.postgresql, ['parameters']);
  const params = parameters(ch, `${p}.postgresql.parameters`, pg.parameters, true);
  const pause = ch.boolean(`${p}.pause`, m.pause, d.pause ?? false);
  const failsafe_mode = ch.boolean(`${p}.failsafe_mode`, m.failsafe_mode, d.failsafe_mode ?? true);
  const synchronous_mode = ch.boolean(`${p}.synchronous_mode`, m.synchronous_mode, d.synchronous_mode ?? false);
  const synchronous_mode_strict = ch.boolean(`${p}.synchronous_mode_strict`, m.synchronous_mode_strict, d.synchronous_mode_strict ?? false);

  if (![ttl, loop_wait, retry_timeout].some(Number.isNaN) && ttl < loop_wait + 2 * retry_timeout) {
    ch.fail(
      `${p}.ttl`,
      `must be >= loop_wait + 2 * retry_timeout (${loop_wait} + 2 * ${retry_timeout} = ${loop_wait + 2 * retry_timeout}), got ${ttl}: ` +
        'the master renews its leader key every loop_wait and each etcd call may take up to retry_timeout, ' +
        'so a shorter ttl lets the key expire under a healthy master; raise ttl or lower loop_wait/retry_timeout',
    );
  }
  return { ttl, loop_wait, retry_timeout, maximum_lag_on_failover, postgresql: { parameters: params }, pause, failsafe_mode, synchronous_mode, synchronous_mode_strict };
}
