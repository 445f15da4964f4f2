/**
 * Children started ahead of need (process running, warmed up by a ping, not initialized): an `initialize`
 * takes one instead of waiting for a spawn, and a replacement starts in the background.
 */
import type { Logger } from '../log.js';
import { restartDelayMs } from './backoff.js';
import type { ChildProcess, ExitStatus } from './child-process.js';
import { warmUp } from './first-exchange.js';

/** Spawning blocks the event loop for milliseconds (fork): refill after the taker's initialize round trip. */
const REFILL_DELAY_MS = 100;

export class WarmPool {
  private ready: ChildProcess[] = [];
  /** Children still being warmed up, with the way to stop that when one is needed right now. */
  private warming = new Map<ChildProcess, AbortController>();
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

  /**
   * A started child, or undefined when there is none; a replacement starts in the background.
   * Rule: with none warmed up, the oldest still warming is taken as it is. Why: it costs less than a spawn, and a
   * spawn next to it would overshoot the cap that counted it.
   */
  take(): ChildProcess | undefined {
    let child = this.ready.shift();
    if (!child) {
      const [warming] = this.warming;
      if (warming) {
        child = warming[0];
        this.warming.delete(child);
        warming[1].abort();
      }
    }
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
    const children = [...this.ready.splice(0), ...this.warming.keys()];
    await Promise.all(children.map((child) => child.terminate(this.killGraceMs)));
  }

  private async spawnOne(): Promise<void> {
    this.spawning++;
    const child = await this.spawn().catch((error: Error) => error);
    if (child instanceof Error) {
      this.spawning--;
      this.failed({ err: child.message });
      return;
    }
    if (this.closed) {
      this.spawning--;
      void child.terminate(this.killGraceMs);
      return;
    }
    child.onStderrLine = (line) => this.log.debug({ childPid: child.pid, stderr: line }, 'pooled child stderr');
    const startedAt = performance.now();
    const abort = new AbortController();
    this.warming.set(child, abort);
    const warmUpResult = await warmUp(child, abort.signal);
    this.warming.delete(child);
    this.spawning--;
    if (warmUpResult === 'aborted') return; // taken by a session
    if (this.closed) {
      void child.terminate(this.killGraceMs);
      return;
    }
    if (warmUpResult === 'exited') {
      this.died(child, await child.exited);
      return;
    }
    this.log.debug({ childPid: child.pid, warmUp: warmUpResult, ms: Math.round(performance.now() - startedAt) }, 'pooled child ready');
    this.ready.push(child);
    void child.exited.then((status) => {
      const index = this.ready.indexOf(child);
      if (index === -1) return; // taken by a session, which owns its exit now
      this.ready.splice(index, 1);
      this.died(child, status);
    });
  }

  private died(child: ChildProcess, status: ExitStatus): void {
    void child.terminate(this.killGraceMs);
    this.failed({ childPid: child.pid, exitCode: status.code, signal: status.signal });
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
