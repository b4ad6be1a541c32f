// Progress of a long transfer: one updating line on a terminal, a JSON log line every ~10 s otherwise.

import type { Logger } from '../log/logger.js';
import { monotonicMs } from '../util/time.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** Megabytes (10^6) per second, one decimal. */
export function mbPerSecond(bytes: number, ms: number): number {
  if (ms <= 0) return 0;
  return Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
}

export interface ProgressOptions {
  /** What is being transferred, e.g. "backup-push base_...". */
  label: string;
  logger: Logger;
  /** Expected total bytes, when known (shown as a percentage). */
  total?: number;
  /** Show an updating line on this stream when it is a TTY (default process.stderr). */
  tty?: NodeJS.WriteStream | null;
  /** Milliseconds between log lines when not on a TTY. */
  logIntervalMs?: number;
}

export class Progress {
  private bytes = 0;
  private readonly startedAt = monotonicMs();
  private lastDraw = 0;
  private lastLog: number;
  private readonly tty: NodeJS.WriteStream | null;
  private readonly interval: number;

  constructor(private readonly options: ProgressOptions) {
    const stream = options.tty === undefined ? process.stderr : options.tty;
    this.tty = stream && stream.isTTY ? stream : null;
    this.interval = options.logIntervalMs ?? 10_000;
    this.lastLog = this.startedAt;
  }

  get transferred(): number {
    return this.bytes;
  }

  get elapsedMs(): number {
    return monotonicMs() - this.startedAt;
  }

  add(n: number): void {
    this.bytes += n;
    const now = monotonicMs();
    if (this.tty) {
      if (now - this.lastDraw >= 200) {
        this.lastDraw = now;
        this.tty.write(`\r\x1b[K${this.line()}`);
      }
    } else if (now - this.lastLog >= this.interval) {
      this.lastLog = now;
      this.options.logger.info(`${this.options.label}: in progress`, this.fields());
    }
  }

  private fields(): Record<string, unknown> {
    const ms = this.elapsedMs;
    return {
      bytes: this.bytes,
      total: this.options.total,
      elapsed_s: Math.round(ms / 100) / 10,
      mb_per_s: mbPerSecond(this.bytes, ms),
    };
  }

  private line(): string {
    const ms = this.elapsedMs;
    const pct = this.options.total ? ` (${Math.min(100, Math.floor((this.bytes / this.options.total) * 100))}%)` : '';
    return `${this.options.label}: ${formatBytes(this.bytes)}${pct}, ${mbPerSecond(this.bytes, ms)} MB/s, ${(ms / 1000).toFixed(0)} s`;
  }

  /** Final line/log record; extra fields are added to the log record. */
  done(extra: Record<string, unknown> = {}, message = 'done'): void {
    if (this.tty) this.tty.write(`\r\x1b[K${this.line()}\n`);
    this.options.logger.info(`${this.options.label}: ${message}`, { ...this.fields(), ...extra });
  }

  /** Clear the terminal line after a failure. */
  abort(): void {
    if (this.tty) this.tty.write('\n');
  }
}
