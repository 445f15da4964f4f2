/**
 * JSON-RPC over a child's stdin and stdout, with backpressure both ways: stdout is read line by line
 * (ours, linear), and can be paused while the client side is full; what is queued for stdin is counted,
 * per sender when several share the child, so that senders can be refused before it grows past a bound.
 */
import type { Readable, Writable } from 'node:stream';
import { parseMessage, type WireMessage } from '../protocol/jsonrpc.js';
import { LineReader } from './line-reader.js';

export interface StdioChannelEvents {
  message(message: WireMessage): void;
  /** A stdout line that is not a JSON-RPC message; it was skipped. */
  invalidLine(line: string): void;
  /** stdout grew past the line limit without a newline: the channel stops reading. */
  overflow(bytes: number): void;
  /** stdout ended: the child can answer nothing more, even if the process lives on. */
  outputEnded(): void;
  /** stdin took nothing for the stall timeout while the bridge had bytes waiting for it: the child is hung. */
  hung(): void;
  /** Bytes read from stdout and written to stdin, for the metrics. */
  traffic(direction: 'in' | 'out', bytes: number): void;
}

export interface StdioChannelLimits {
  maxLineBytes: number;
  /** How long stdin may leave the bridge's bytes waiting before the child counts as hung. */
  stallTimeoutMs: number;
}

export class StdioChannel {
  private readonly reader: LineReader;
  /**
   * Bytes written to stdin that the pipe has not taken yet: owner this channel (Node's stream buffer holds
   * them); bound: the upstream refuses senders once it passes its limit (see `queuedBy`); a child that
   * takes none of it for `stallTimeoutMs` is reported hung.
   */
  private queued = 0;
  private readonly queuedPerSender = new Map<object, number>();
  private stallTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly stdin: Writable,
    private readonly stdout: Readable,
    private readonly limits: StdioChannelLimits,
    private readonly events: StdioChannelEvents,
  ) {
    this.reader = new LineReader(limits.maxLineBytes, {
      line: (line) => this.onLine(line),
      overflow: (bytes) => {
        this.stop();
        events.overflow(bytes);
      },
    });
    stdout.on('data', (chunk: Buffer) => {
      if (this.stopped) return;
      events.traffic('in', chunk.length);
      this.reader.push(chunk);
    });
    stdout.on('end', () => {
      if (!this.stopped) events.outputEnded();
    });
    stdout.on('error', () => undefined);
    stdin.on('drain', () => this.clearStall());
    // A pooled child's stdout was paused after its warm-up (see warm-up.ts).
    stdout.resume();
  }

  /** Writes one message to the child's stdin; false when the child can no longer take input. */
  send(message: WireMessage, sender?: object): boolean {
    if (this.stopped || !this.stdin.writable) return false;
    const line = `${message.text}\n`;
    const bytes = Buffer.byteLength(line);
    this.queued += bytes;
    if (sender) this.queuedPerSender.set(sender, (this.queuedPerSender.get(sender) ?? 0) + bytes);
    const taken = this.stdin.write(line, () => this.taken(bytes, sender));
    if (!taken) this.armStall();
    this.events.traffic('out', bytes);
    return true;
  }

  /** Bytes waiting for stdin: all of them, or one sender's. */
  queuedBy(sender?: object): number {
    return sender ? (this.queuedPerSender.get(sender) ?? 0) : this.queued;
  }

  /** Stops reading stdout (the pipe fills and a well-behaved child waits), until resumed. */
  pause(): void {
    this.stdout.pause();
  }

  resume(): void {
    if (!this.stopped) this.stdout.resume();
  }

  stop(): void {
    this.stopped = true;
    this.reader.stop();
    this.clearStall();
    // Whatever the child still writes is drained and dropped, so that it never blocks on a full pipe.
    this.stdout.resume();
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    const message = parseMessage(line);
    if (message) this.events.message(message);
    else this.events.invalidLine(line);
  }

  private taken(bytes: number, sender: object | undefined): void {
    this.queued -= bytes;
    if (!sender) return;
    const left = (this.queuedPerSender.get(sender) ?? bytes) - bytes;
    if (left > 0) this.queuedPerSender.set(sender, left);
    else this.queuedPerSender.delete(sender);
  }

  /** Rule: stdin that takes nothing of what waits for it for `stallTimeoutMs` is a hung child. Why: its senders would wait forever. */
  private armStall(): void {
    if (this.stallTimer !== undefined) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (!this.stopped && this.queued > 0) this.events.hung();
    }, this.limits.stallTimeoutMs);
    this.stallTimer.unref();
  }

  private clearStall(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }
}
