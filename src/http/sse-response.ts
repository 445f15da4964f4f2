/**
 * An SSE response written straight to Node's ServerResponse: the connection of one session stream
 * (EventSink). Events of one event-loop turn leave in one socket write; a POST's head waits a few ms for its
 * first events, so that a quick call's whole answer (head, priming, result, end) is one write with a
 * Content-Length, as cheap as a plain JSON answer; keep-alive comments and SSE polling run on a shared clock.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { EventSink, SinkListener } from '../session/stream.js';

export const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** How long a POST stream's head may wait for its first events. */
export const HEAD_WINDOW_MS = 5;
/** Bytes of events held with the head; past this the head leaves at once. */
const HEAD_HOLD_MAX_BYTES = 64 * 1024;

export interface SseTiming {
  keepAliveMs: number;
  /** SSE polling: a primed stream quiet this long is ended (the client resumes it); undefined: never. */
  pollMs: number | undefined;
  /** How long an ended response may wait for its client to take what is left before it is dropped. */
  lingerMs: number;
}

/** Every open SSE response of the bridge, ticked for keep-alives and polling. */
export class SseClock {
  readonly open = new Set<SseResponse>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly timing: SseTiming) {
    const every = Math.max(50, Math.min(1000, timing.keepAliveMs / 2, (timing.pollMs ?? Infinity) / 4));
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const response of this.open) response.tick(now);
    }, every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export class SseResponse implements EventSink {
  /**
   * Events written before the head left, during the head window: owner this response; bound
   * HEAD_HOLD_MAX_BYTES (past it the head and they leave at once).
   */
  private held: string[] | undefined;
  private heldBytes = 0;
  private headTimer: NodeJS.Timeout | undefined;
  private corked = false;
  private primed = false;
  private lastWriteAt = performance.now();
  private lastEventAt = performance.now();
  private listener: SinkListener | undefined;
  private ended = false;
  private goneBeforeOpen = false;
  private endedAt = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: OutgoingHttpHeaders,
    private readonly clock: SseClock,
    /** `holdMs`: how long the head may wait (HEAD_WINDOW_MS unless said); `release` sends it earlier. */
    { holdHead, holdMs = HEAD_WINDOW_MS }: { holdHead: boolean; holdMs?: number },
  ) {
    // A client gone before its stream was made: nothing to write, nothing to tick, and its listener is told.
    if (res.destroyed) {
      this.ended = this.goneBeforeOpen = true;
      return;
    }
    clock.open.add(this);
    res.on('drain', () => this.listener?.drained());
    res.once('close', () => {
      clock.open.delete(this);
      clearTimeout(this.headTimer);
      this.listener?.closed(res.writableFinished);
    });
    if (holdHead) {
      this.held = [];
      this.headTimer = setTimeout(() => this.sendHead(), holdMs);
    } else {
      this.sendHead();
    }
  }

  get backlog(): number {
    return this.heldBytes + this.res.writableLength;
  }

  listen(listener: SinkListener): void {
    this.listener = listener;
    if (this.goneBeforeOpen) queueMicrotask(() => listener.closed(false));
  }

  prime(eventId: string, retryMs: number | undefined): void {
    this.primed = true;
    this.send(retryMs === undefined ? `id: ${eventId}\ndata: \n\n` : `id: ${eventId}\nretry: ${retryMs}\ndata: \n\n`);
  }

  write(eventId: string | undefined, data: string): void {
    this.send(eventId === undefined ? `event: message\ndata: ${data}\n\n` : `event: message\nid: ${eventId}\ndata: ${data}\n\n`);
  }

  end(): void {
    if (this.ended || this.res.destroyed) return;
    this.ended = true;
    this.endedAt = performance.now();
    if (this.held) {
      // The whole stream is here: one write, head and body, with its length.
      clearTimeout(this.headTimer);
      const body = this.held.join('');
      this.held = undefined;
      this.heldBytes = 0;
      this.res.writeHead(200, { ...this.headers, 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    this.res.end();
  }

  /** Sends the head, and what was held with it, now. */
  release(): void {
    this.sendHead();
  }

  /**
   * Answers with another status and a JSON body instead of the stream, while its head has not left (false
   * once it has): what was held is dropped.
   */
  refuse(status: number, body: string): boolean {
    if (this.res.headersSent || this.res.destroyed || this.ended) return false;
    clearTimeout(this.headTimer);
    this.held = undefined;
    this.heldBytes = 0;
    this.ended = true;
    this.endedAt = performance.now();
    this.res.writeHead(status, { ...this.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    return true;
  }

  cut(): void {
    this.ended = true;
    this.res.destroy();
  }

  /**
   * Keep-alive comments on a quiet connection (proxies drop idle ones); SSE polling ends a primed, quiet
   * one; an ended one whose client has not taken the rest within `lingerMs` is dropped, so that a client
   * that never reads cannot hold its last bytes (and their memory) after its stream is over.
   */
  tick(now: number): void {
    if (this.ended) {
      if (now - this.endedAt >= this.clock.timing.lingerMs) this.res.destroy();
      return;
    }
    if (this.held) return;
    const { keepAliveMs, pollMs } = this.clock.timing;
    if (this.primed && pollMs !== undefined && now - this.lastEventAt >= pollMs) return this.end();
    if (now - this.lastWriteAt >= keepAliveMs) this.send(': keepalive\n\n', false);
  }

  private send(text: string, isEvent = true): void {
    if (this.ended || this.res.destroyed) return;
    const now = performance.now();
    this.lastWriteAt = now;
    if (isEvent) this.lastEventAt = now;
    if (this.held) {
      this.held.push(text);
      this.heldBytes += text.length;
      if (this.heldBytes > HEAD_HOLD_MAX_BYTES) this.sendHead();
      return;
    }
    this.corkForThisTurn();
    this.res.write(text);
  }

  /** Writes the head (with whatever was held) now. */
  private sendHead(): void {
    clearTimeout(this.headTimer);
    if (this.res.headersSent || this.res.destroyed) return;
    this.corkForThisTurn();
    this.res.writeHead(200, this.headers);
    const held = this.held;
    this.held = undefined;
    this.heldBytes = 0;
    if (held && held.length > 0) this.res.write(held.join(''));
    else this.res.flushHeaders();
  }

  /**
   * Rule: writes of one event-loop turn leave together. Why: a socket write costs a system call here and a
   * wake-up at the client, so a message and the end of its stream should share one.
   */
  private corkForThisTurn(): void {
    if (this.corked) return;
    this.corked = true;
    this.res.cork();
    process.nextTick(() => {
      this.corked = false;
      this.res.uncork();
    });
  }
}
