// A throw-away single-node etcd for tests: free ports, a temporary directory, control by PID.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdProcess, stopProcess } from '../../src/cli/demo/etcd-process.js';
import { freePorts } from '../../src/util/ports.js';

export interface TestEtcd {
  endpoint: string; // http://127.0.0.1:port
  host: string; // 127.0.0.1:port
  readonly pid: number;
  dir: string;
  /** SIGSTOP: etcd keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stop and start again on the same ports and data (a new pid). */
  restart(): Promise<void>;
  /** Stop etcd and remove its directory. */
  stop(): Promise<void>;
}

export async function startTestEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'governor-etcd-'));
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const options = { dataDir: join(dir, 'data'), clientPort, peerPort, logFile: join(dir, 'etcd.log'), name: 'test' };
  let started: { endpoint: string; pid: number };
  try {
    started = await startEtcdProcess(options);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const signal = (sig: NodeJS.Signals) => process.kill(started.pid, sig);
  return {
    endpoint: started.endpoint,
    host: `127.0.0.1:${clientPort}`,
    get pid() {
      return started.pid;
    },
    dir,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async restart() {
      await stopProcess(started.pid);
      started = await startEtcdProcess(options);
    },
    async stop() {
      await stopProcess(started.pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
