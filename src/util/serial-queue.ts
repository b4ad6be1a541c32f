// One task at a time, in order, with an express lane. node-postgres runs one query at a time per
// connection and queues the rest itself, a queue that pg 9 removes ("Calling client.query() when
// the client is already executing a query"); governor's PostgreSQL session is shared by the HA
// loop, the promotion, the member key and /metrics, so its queries go through one of these.

interface Waiting {
  start: () => void;
}

export class SerialQueue {
  private busy = false;
  private readonly urgent: Waiting[] = [];
  private readonly normal: Waiting[] = [];

  /** Tasks waiting (not counting the one running). */
  get waiting(): number {
    return this.urgent.length + this.normal.length;
  }

  /** Run `task` once every earlier task has finished. An urgent task (a promotion's) waits only for
   *  the task running now and earlier urgent ones, never for the normal ones queued before it. */
  run<T>(task: () => Promise<T>, options: { urgent?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.busy = true;
        let result: Promise<T>;
        try {
          result = task();
        } catch (error) {
          result = Promise.reject(error);
        }
        result.then(resolve, reject).finally(() => this.next());
      };
      if (!this.busy) start();
      else (options.urgent ? this.urgent : this.normal).push({ start });
    });
  }

  private next(): void {
    const following = this.urgent.shift() ?? this.normal.shift();
    if (following) following.start();
    else this.busy = false;
  }
}
