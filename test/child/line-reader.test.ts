import { describe, expect, it } from 'vitest';
import { LineReader } from '../../src/child/line-reader.js';

function reader(maxBytes: number) {
  const lines: string[] = [];
  const overflows: number[] = [];
  const r = new LineReader(maxBytes, { line: (l) => lines.push(l), overflow: (b) => overflows.push(b) });
  return { r, lines, overflows };
}

describe('LineReader', () => {
  it('splits lines across and within chunks, dropping CR before LF', () => {
    const { r, lines } = reader(100);
    r.push(Buffer.from('one\ntw'));
    r.push(Buffer.from('o\r\nthr'));
    r.push(Buffer.from('ee\nfour'));
    expect(lines).toEqual(['one', 'two', 'three']);
    r.push(Buffer.from('\n'));
    expect(lines).toEqual(['one', 'two', 'three', 'four']);
  });

  it('keeps multi-byte characters split across chunks whole', () => {
    const { r, lines } = reader(100);
    const bytes = Buffer.from('héllo\n');
    r.push(bytes.subarray(0, 2));
    r.push(bytes.subarray(2));
    expect(lines).toEqual(['héllo']);
  });

  it('refuses a line as soon as it passes the limit, before its newline, and reads nothing more', () => {
    const { r, lines, overflows } = reader(10);
    r.push(Buffer.from('12345'));
    r.push(Buffer.from('678901'));
    expect(overflows).toEqual([11]);
    r.push(Buffer.from('\nnext\n'));
    expect(lines).toEqual([]);
  });

  it('refuses a complete line over the limit inside one chunk', () => {
    const { r, lines, overflows } = reader(3);
    r.push(Buffer.from('ok\ntoo long\n'));
    expect(lines).toEqual(['ok']);
    expect(overflows).toEqual([8]);
  });
});

describe('LineReader cost', () => {
  /** The least time, of three runs, to read `chunks` chunks of 64 KiB that end in one newline. */
  function readTime(chunks: number): number {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let best = Infinity;
    for (let run = 0; run < 3; run++) {
      const { r, lines } = reader(1024 * 1024 * 1024);
      const started = performance.now();
      for (let i = 0; i < chunks; i++) r.push(chunk);
      r.push(Buffer.from('\n'));
      best = Math.min(best, performance.now() - started);
      expect(lines[0].length).toBe(chunks * chunk.length);
    }
    return best;
  }

  it('grows linearly with the line: 8 times the bytes cost well under 64 times the time', () => {
    const small = readTime(64);
    const large = readTime(512);
    // Linear is about 8×; joining the partial line again on every chunk (the SDK's ReadBuffer) is about 64×.
    expect(large / small, `${small.toFixed(1)} ms for 4 MiB, ${large.toFixed(1)} ms for 32 MiB`).toBeLessThan(24);
  });
});
