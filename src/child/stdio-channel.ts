/**
 * JSON-RPC over a child's stdin and stdout, framed by the SDK's own helpers (newline-delimited, strict
 * schema). Lines that are not JSON-RPC are skipped and reported.
 */
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ChildProcess } from './child-process.js';

export interface StdioChannelEvents {
  message(message: JSONRPCMessage): void;
  /** A stdout line that is not a JSON-RPC message; it was skipped. */
  invalidLine(error: Error): void;
  /** stdout grew past the line limit without a newline: the channel stops reading. */
  overflow(error: Error): void;
  /** Bytes read from stdout and written to stdin, for the metrics. */
  traffic(direction: 'in' | 'out', bytes: number): void;
}

export class StdioChannel {
  private readonly buffer: ReadBuffer;
  private stopped = false;

  constructor(
    private readonly child: ChildProcess,
    maxLineBytes: number,
    private readonly events: StdioChannelEvents,
  ) {
    this.buffer = new ReadBuffer({ maxBufferSize: maxLineBytes });
    child.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    child.stdout.on('error', () => undefined);
    // A pooled child's stdout was paused after its warm-up (see warm-up.ts).
    child.stdout.resume();
  }

  /** Writes one message to the child's stdin; false when the child can no longer take input. */
  send(message: JSONRPCMessage): boolean {
    if (this.stopped || !this.child.stdin.writable) return false;
    const line = serializeMessage(message);
    this.child.stdin.write(line);
    this.events.traffic('out', Buffer.byteLength(line));
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.buffer.clear();
  }

  private onStdout(chunk: Buffer): void {
    if (this.stopped) return;
    this.events.traffic('in', chunk.length);
    try {
      this.buffer.append(chunk);
    } catch (error) {
      this.stop();
      this.events.overflow(error as Error);
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (error) {
        // The line has been consumed; carry on with the next one.
        this.events.invalidLine(error as Error);
        continue;
      }
      if (message === null) return;
      this.events.message(message);
      if (this.stopped) return;
    }
  }
}
