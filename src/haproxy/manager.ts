// HaproxyManager: keeps HAProxy's routing equal to the cluster view. The caller invokes apply() on
// every etcd watch event; an unchanged view costs one render and a string comparison.
//
// A change that keeps the file's shape (a new leader, the leader key freed, replicas in or out of
// rotation: render.ts) is applied over the runtime API in one batch of commands to the current
// worker (runtime-plan.ts), sessions to the former leader are cut in old workers too, and then the
// file is rewritten to match, so a restarted HAProxy comes back with the same routing. That takes
// about a millisecond.
//
// Any other change (a member joined) is a reload, in this order:
//   1. sessions to any `listen master` server not pointing at the new leader are cut over the
//      runtime API, in every worker (also when the later steps fail: no client keeps writing to a
//      member that lost the leader key);
//   2. the new file is written next to config_file, checked with `haproxy -c`, renamed over it
//      (an invalid file is logged with HAProxy's message and kept as <config_file>.rejected);
//   3. HAProxy reloads (master CLI `reload`, or SIGUSR2) and we wait until the new worker serves.
// Calls are serialized; a call that waits behind another applies the newest view.

import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import type { HaproxyConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { monotonicMs } from '../util/time.js';
import { HaproxyConfigInvalid, readIfExists, writeConfig, writeValidatedConfig } from './files.js';
import { type HaproxyUser, prepareRuntimeDirs, spawnHaproxy, staleMaster, stopHaproxy, waitReady } from './process.js';
import { isAlive } from '../util/process.js';
import { cutFormerLeaders, HaproxyNotRunning, reloadHaproxy } from './reload.js';
import { EMPTY_VIEW, layoutMembers, sameAddresses, layoutShape, renderHaproxyConfig, routingLayout, type RoutingLayout, type RoutingView } from './render.js';
import { runtimeCommands, runtimeErrors } from './runtime-plan.js';
import { cliCommand, HaproxySocketError, showProc, type ProcInfo } from './runtime.js';

export { HaproxyConfigInvalid } from './files.js';
export { HaproxyNotRunning, HaproxyReloadFailed } from './reload.js';
export type { RoutingLayout, RoutingMember, RoutingView } from './render.js';

/** A runtime command batch the current worker refused; the manager falls back to a reload. */
export class HaproxyRuntimeRefused extends Error {
  override name = 'HaproxyRuntimeRefused';
}

export interface HaproxyManagerOptions {
  /** Replaces renderHaproxyConfig (tests use it to produce a configuration HAProxy rejects). */
  render?: (layout: RoutingLayout, settings: HaproxyConfig, scope: string) => string;
  /** How long a reload or a start may take, ms. Default 10000. */
  timeoutMs?: number;
  /** Restart delay after an unexpected exit: first and largest, ms. Default 200 and 10000. */
  restartBackoffMs?: { initial: number; max: number };
  /** The unprivileged user a HAProxy started by a root governor runs as (and checks its
   *  configuration as); null: governor's own user. */
  runAs?: HaproxyUser | null;
}

export class HaproxyManager {
  private readonly log: Logger;
  private readonly render: NonNullable<HaproxyManagerOptions['render']>;
  private readonly timeoutMs: number;
  private readonly backoff: { initial: number; max: number };
  private readonly runAs: HaproxyUser | null;
  private queue: Promise<unknown> = Promise.resolve();
  private wanted: RoutingView | null = null;
  /** Text HAProxy runs with; null when unknown or when sessions were cut since (so re-apply). */
  private appliedText: string | null = null;
  /** The layout the current worker runs (file plus runtime commands), when known. */
  private running: RoutingLayout | null = null;
  /** Text of config_file as we last wrote it (restored when a reload fails), and its layout. */
  private fileText: string | null = null;
  private fileLayout: RoutingLayout | null = null;
  private child: ChildProcess | null = null;
  private startedAt = 0;
  private nextDelay: number;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(
    private readonly settings: HaproxyConfig,
    private readonly scope: string,
    logger: Logger,
    options: HaproxyManagerOptions = {},
  ) {
    this.log = logger.child('haproxy');
    this.render = options.render ?? renderHaproxyConfig;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.backoff = options.restartBackoffMs ?? { initial: 200, max: 10_000 };
    this.runAs = options.runAs ?? null;
    this.nextDelay = this.backoff.initial;
  }

  /** PID of the HAProxy master governor runs (manage: true), else null. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Master and worker PIDs from the master CLI, or null when it does not answer. */
  async processes(): Promise<ProcInfo | null> {
    try {
      return await showProc(this.settings.master_socket, 1000);
    } catch {
      return null;
    }
  }

  async start(): Promise<void> {
    this.stopping = false;
    if (!this.settings.manage) {
      for (const socket of [this.settings.master_socket, this.settings.stats_socket]) {
        const stat = await fs.stat(socket).catch(() => null);
        if (!stat?.isSocket()) this.log.warn('HAProxy socket missing; is haproxy.service running with systemd/haproxy-governor.conf?', { socket });
      }
      return;
    }
    await this.enqueue(async () => {
      const stale = staleMaster(this.settings);
      if (stale !== null) {
        this.log.warn('stopping a HAProxy left running by an earlier governor', { pid: stale });
        await stopHaproxy(stale, (await this.processes())?.workers ?? []);
      }
      await prepareRuntimeDirs(this.settings, this.runAs);
      const layout = routingLayout(this.wanted ?? EMPTY_VIEW);
      const text = this.render(layout, this.settings, this.scope);
      await this.writeChecked(text, layout);
      try {
        await this.spawn();
      } catch (error) {
        // Keep trying with backoff (a port still held by a dying process, say).
        this.scheduleRestart(this.takeDelay());
        throw error;
      }
      this.appliedText = text;
      this.running = layout;
    });
  }

  apply(view: RoutingView): Promise<void> {
    this.wanted = view;
    return this.enqueue(() => this.applyWanted());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    await this.queue.catch(() => undefined);
    const child = this.child;
    if (!child?.pid) return;
    const info = await this.processes();
    this.child = null;
    await stopHaproxy(child.pid, [...(info?.workers ?? []), ...(info?.oldWorkers ?? [])]);
    this.log.info('haproxy stopped', { pid: child.pid });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeChecked(text: string, layout: RoutingLayout): Promise<void> {
    try {
      await writeValidatedConfig(this.settings.bin, this.settings.config_file, text, this.runAs);
      this.fileText = text;
      this.fileLayout = layout;
    } catch (error) {
      if (error instanceof HaproxyConfigInvalid) {
        this.log.error('HAProxy rejected the rendered configuration; keeping the previous file and process', {
          file: error.configFile,
          rejected_file: error.rejectedFile,
          haproxy: error.haproxyMessage,
        });
      }
      throw error;
    }
  }

  private async applyWanted(): Promise<void> {
    const view = this.wanted ?? EMPTY_VIEW;
    const t0 = monotonicMs();
    const managedDown = this.settings.manage && this.child === null;
    const running = managedDown ? null : this.running;
    if (running !== null) {
      // Members that left keep their (disabled) servers, so a dead node's expiring key does not
      // turn a failover into a reload.
      const layout = routingLayout(view, layoutMembers(running));
      if (layoutShape(layout) === layoutShape(running)) {
        const text = this.render(layout, this.settings, this.scope);
        if (text === this.appliedText) {
          if (text !== this.fileText) await this.writeRuntimeFile(text, layout);
          return;
        }
        try {
          await this.applyAtRuntime(running, layout, text, t0, view);
          return;
        } catch (error) {
          this.log.warn('could not apply the routing change over the runtime API; reloading instead', { error });
          this.running = null;
          this.appliedText = null;
        }
      }
    }
    await this.applyWithReload(routingLayout(view), t0, managedDown);
  }

  /** Same shape: runtime commands to the current worker, old workers' sessions cut, file rewritten. */
  private async applyAtRuntime(running: RoutingLayout, layout: RoutingLayout, text: string, t0: number, view: RoutingView): Promise<void> {
    const fields = this.fields(layout);
    const commands = runtimeCommands(running, layout, this.settings.replicas_fallback_to_master);
    if (commands.length > 0) {
      const answer = await cliCommand(this.settings.stats_socket, commands.join('; '), 1000);
      const errors = runtimeErrors(answer);
      if (errors !== '') throw new HaproxyRuntimeRefused(`HAProxy refused runtime commands: ${errors}`);
    }
    this.running = layout;
    const t1 = monotonicMs();
    let oldCut: string[] = [];
    if (!sameAddresses(running.leader, layout.leader)) {
      oldCut = await cutFormerLeaders(this.settings, layout.leader, true).catch((error: unknown) => {
        this.log.error('could not cut sessions to the former leader in old HAProxy workers', { error });
        return [];
      });
    }
    this.appliedText = text;
    // A newer view already waits (a freed key and its new holder arrive together): it goes to
    // HAProxy first and the file is written once, for it. Written here, the file's fsync held the
    // next routing change up to 0.3 s on a loaded master stopping for a switchover.
    const superseded = this.wanted !== view;
    if (!superseded) await this.writeRuntimeFile(text, layout);
    this.log.info('haproxy routing applied over the runtime API', {
      ...fields,
      ms: monotonicMs() - t0,
      runtime_ms: t1 - t0,
      commands: commands.length,
      ...(oldCut.length > 0 ? { old_worker_cuts: oldCut } : {}),
      ...(superseded ? { file: 'left for the newer view queued behind this one' } : {}),
    });
  }

  /** The file for a layout applied over the runtime API, so that a restarted HAProxy routes the same. */
  private async writeRuntimeFile(text: string, layout: RoutingLayout): Promise<void> {
    // Same shape as a file that passed `haproxy -c`; only addresses (IP literals) and `disabled`
    // differ, so the check (tens to hundreds of ms) is not repeated here.
    await writeConfig(this.settings.config_file, text);
    this.fileText = text;
    this.fileLayout = layout;
  }

  private fields(layout: RoutingLayout): Record<string, unknown> {
    return { leader: layout.leader?.name ?? null, replicas: layout.replicas.filter((r) => r.enabled).map((r) => r.member.name) };
  }

  private async applyWithReload(layout: RoutingLayout, t0: number, managedDown: boolean): Promise<void> {
    const text = this.render(layout, this.settings, this.scope);
    if (text === this.appliedText) return;
    const fields = this.fields(layout);

    // 1. Cut sessions to former leaders first, whatever happens next.
    let cut: string[] = [];
    if (!managedDown) {
      try {
        cut = await cutFormerLeaders(this.settings, layout.leader);
      } catch (error) {
        const code = error instanceof HaproxySocketError ? error.code : undefined;
        const down = code === 'ENOENT' || code === 'ECONNREFUSED';
        if (down) this.log.warn('HAProxy runtime API not reachable, no sessions to cut', { socket: this.settings.stats_socket });
        else this.log.error('could not cut sessions to former leaders over the runtime API', { error });
      }
      if (cut.length > 0) {
        this.appliedText = null; // servers are in maintenance now: the running state is no longer `appliedText`
        this.running = null;
        this.log.warn('cut sessions to members that lost the leader key', { servers: cut, ms: monotonicMs() - t0, ...fields });
      }
    }

    // 2. Write and validate.
    const t1 = monotonicMs();
    const previous = this.fileText ?? (await readIfExists(this.settings.config_file));
    const previousLayout = this.fileLayout;
    await this.writeChecked(text, layout);
    const t2 = monotonicMs();

    // 3. Reload (a managed HAProxy that is down reads the new file when it is restarted).
    let reload: { via: string; worker: number } = { via: 'none (haproxy not running, it reads the file at start)', worker: 0 };
    if (!managedDown) {
      try {
        reload = await reloadHaproxy(this.settings, this.pid, this.timeoutMs);
      } catch (error) {
        if (error instanceof HaproxyNotRunning && !this.settings.manage) {
          this.log.warn('HAProxy is not running; it reads the new file when it starts', { file: this.settings.config_file, error });
          reload = { via: 'none (haproxy not running)', worker: 0 };
        } else {
          if (previous !== null) await writeConfig(this.settings.config_file, previous).catch(() => undefined);
          this.fileText = previous;
          this.fileLayout = previousLayout;
          this.log.error('HAProxy reload failed; previous configuration restored', { file: this.settings.config_file, error });
          throw error;
        }
      }
    }
    this.appliedText = text;
    // An unmanaged HAProxy that is not running starts from the file: its state is then unknown.
    this.running = reload.worker !== 0 || (this.settings.manage && !managedDown) ? layout : null;
    const t3 = monotonicMs();
    this.log.info('haproxy routing applied with a reload', {
      ...fields,
      ms: t3 - t0,
      cut_ms: t1 - t0,
      check_ms: t2 - t1,
      reload_ms: t3 - t2,
      reload: reload.via,
      worker: reload.worker,
    });
  }

  private async spawn(): Promise<void> {
    const child = spawnHaproxy(this.settings, this.runAs);
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    child.on('error', () => undefined); // reported by waitReady / exit
    try {
      const worker = await waitReady(this.settings, child, this.timeoutMs);
      this.child = child;
      this.startedAt = monotonicMs();
      this.log.info('haproxy started', { pid: child.pid, worker, config_file: this.settings.config_file, user: this.runAs?.name ?? os.userInfo().username });
    } catch (error) {
      if (child.pid !== undefined && isAlive(child.pid)) await stopHaproxy(child.pid, []);
      throw error;
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child || this.stopping) return;
    this.child = null;
    if (monotonicMs() - this.startedAt > 30_000) this.nextDelay = this.backoff.initial;
    const delay = this.takeDelay();
    this.log.error('haproxy exited unexpectedly; restarting', { pid: child.pid, code, signal, restart_in_ms: delay });
    this.scheduleRestart(delay);
  }

  /** The current restart delay; the next one doubles, up to the maximum. */
  private takeDelay(): number {
    const delay = this.nextDelay;
    this.nextDelay = Math.min(this.nextDelay * 2, this.backoff.max);
    return delay;
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.enqueue(async () => {
        if (this.stopping || this.child !== null) return;
        // The file holds the newest applied view (written even while HAProxy was down).
        try {
          await this.spawn();
          this.appliedText = this.fileText;
          this.running = this.fileLayout;
        } catch (error) {
          const next = this.takeDelay();
          this.log.error('haproxy restart failed', { error, restart_in_ms: next });
          if (!this.stopping) this.scheduleRestart(next);
        }
      }).catch(() => undefined);
    }, delay);
  }
}
