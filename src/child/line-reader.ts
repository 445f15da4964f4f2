/**
 * Newline framing of a child's stdout, linear in the bytes read: each chunk is searched once, a partial
 * line is kept as a list of chunks and joined once when its newline arrives. (The SDK's ReadBuffer joins
 * the whole partial line again on every chunk: a 50 MB line cost seconds of CPU.)
 */

export interface LineEvents {
  /** One line, without its newline (nor a CR before it). */
  line(text: string): void;
  /** A line passed `maxBytes` before its newline: nothing more is read. */
  overflow(bytes: number): void;
}

export class LineReader {
  /**
   * The partial line: owner this reader; bound `maxBytes`; at the bound the line is refused at once
   * (overflow) and every held byte dropped, so a child that never ends a line holds at most the limit.
   */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private stopped = false;

  constructor(
    private readonly maxBytes: number,
    private readonly events: LineEvents,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (!this.stopped) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) break;
      const length = this.partialBytes + newline - start;
      if (length > this.maxBytes) return this.overflow(length);
      const line = this.partialBytes === 0 ? chunk.toString('utf8', start, newline) : this.join(chunk.subarray(start, newline));
      start = newline + 1;
      this.events.line(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    if (this.stopped || start === chunk.length) return;
    this.partial.push(start === 0 ? chunk : chunk.subarray(start));
    this.partialBytes += chunk.length - start;
    if (this.partialBytes > this.maxBytes) this.overflow(this.partialBytes);
  }

  /** Drops the partial line and ignores whatever comes next. */
  stop(): void {
    this.stopped = true;
    this.partial = [];
    this.partialBytes = 0;
  }

  private join(last: Buffer): string {
    this.partial.push(last);
    const text = Buffer.concat(this.partial, this.partialBytes + last.length).toString('utf8');
    this.partial = [];
    this.partialBytes = 0;
    return text;
  }

  private overflow(bytes: number): void {
    this.stop();
    this.events.overflow(bytes);
  }
}
