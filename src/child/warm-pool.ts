/**
 * Children started ahead of need (process running, stdin open, not initialized): an `initialize` takes one
 * instead of waiting for a spawn, and a replacement starts in the background.
 */
import type { Logger } from '../log.js';
import { restartDelayMs } from './backoff.js';
import type { ChildProcess } from './child-process.js';

/** Spawning blocks the event loop for milliseconds (fork): refill after the taker's initialize round trip. */
const REFILL_DELAY_MS = 100;

export class WarmPool {
  private ready: ChildProcess[] = [];
  private spawning = 0;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly target: number,
    private readonly spawn: () => Promise<ChildProcess>,
    /** Children the session cap leaves room for, besides the sessions' own. */
    private readonly room: () => number,
    private readonly log: Logger,
    private readonly killGraceMs: number,
  ) {}

  /** Children started or starting. */
  get size(): number {
    return this.ready.length + this.spawning;
  }

  /** A started child, or undefined when none is ready; a replacement starts in the background. */
  take(): ChildProcess | undefined {
    const child = this.ready.shift();
    if (child) this.failures = 0;
    setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
    return child;
  }

  /**
   * Rule: keep `target` children ready, but no more than the session cap leaves room for; after a pooled
   * child fails, wait before the next spawn, twice as long each time (1 s up to 60 s).
   * Why: pooled children cost memory like sessions do, and a broken command must not become a spawn loop.
   */
  refill(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    while (this.size < Math.min(this.target, this.room())) void this.spawnOne();
  }

  /** Ends every pooled child; nothing is spawned afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const children = this.ready.splice(0);
    await Promise.all(children.map((child) => child.terminate(this.killGraceMs)));
  }

  private async spawnOne(): Promise<void> {
    this.spawning++;
    let child: ChildProcess;
    try {
      child = await this.spawn();
    } catch (error) {
      this.spawning--;
      this.failed({ err: (error as Error).message });
      return;
    }
    this.spawning--;
    if (this.closed) {
      void child.terminate(this.killGraceMs);
      return;
    }
    this.ready.push(child);
    child.onStderrLine = (line) => this.log.debug({ pid: child.pid, stderr: line }, 'pooled child stderr');
    void child.exited.then((status) => {
      const index = this.ready.indexOf(child);
      if (index === -1) return; // taken by a session, which owns its exit now
      this.ready.splice(index, 1);
      void child.terminate(this.killGraceMs);
      this.failed({ pid: child.pid, exitCode: status.code, signal: status.signal });
    });
  }

  private failed(details: Record<string, unknown>): void {
    if (this.closed) return;
    this.failures++;
    const retryInMs = restartDelayMs(this.failures);
    this.log.warn({ ...details, retryInMs }, 'pooled child failed; spawning again later');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.refill();
    }, retryInMs);
    this.retryTimer.unref();
  }
}
