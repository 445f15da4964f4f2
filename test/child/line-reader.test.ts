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
