import { describe, expect, it } from 'vitest';
import { OutboundBudget, OutboundLog, type StoredEvent } from '../../src/session/outbound-log.js';
import { Stream, parseEventId } from '../../src/session/stream.js';

const text = (n: number) => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: n } });
const answer = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, result: {} });

function logWith({ maxEvents = 100, maxBytes = 1 << 20, budget = new OutboundBudget(1 << 30) } = {}) {
  const evicted: StoredEvent[] = [];
  const log = new OutboundLog({ maxEvents, maxBytes }, budget, (event) => evicted.push(event));
  return { log, evicted, budget };
}
const dataOf = (event: StoredEvent) => (JSON.parse(event.text) as { params: { data: number } }).params.data;

describe('OutboundLog', () => {
  it('numbers events across streams, and replays only one stream after a cursor', () => {
    const { log } = logWith();
    const a = new Stream('a', [1], true);
    const b = new Stream('b', [2], true);
    const seqs = [log.append(a, text(1), undefined), log.append(b, text(2), undefined), log.append(a, text(3), undefined)].map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(log.eventsAfter(a, 0).map(dataOf)).toEqual([1, 3]);
    expect(log.eventsAfter(a, 1).map(dataOf)).toEqual([3]);
    expect(log.eventsAfter(b, 0).map(dataOf)).toEqual([2]);
    expect(parseEventId(a.eventId(3))).toEqual({ streamId: 'a', seq: 3 });
    for (const bad of ['nope', 'a:x', ':1', 'a:-1']) expect(parseEventId(bad), bad).toBeUndefined();
  });

  it('lets go of a written event at once when its stream cannot be resumed', () => {
    const { log } = logWith();
    const stream = new Stream('s', [1], false);
    const event = log.append(stream, text(1), undefined);
    expect(log.count).toBe(1);
    log.written(event);
    expect(log.count).toBe(0);
    expect(log.bytes).toBe(0);
  });

  it('past its bounds evicts written messages first, then unwritten ones, answers last, never the newest', () => {
    const { log, evicted } = logWith({ maxEvents: 3 });
    const stream = new Stream('s', [1, 2], true);
    const firstAnswer = log.append(stream, answer(1), 1);
    const unwritten = log.append(stream, text(1), undefined);
    const written = log.append(stream, text(2), undefined);
    log.written(written);
    log.append(stream, text(3), undefined);
    expect(evicted).toEqual([written]);
    log.append(stream, text(4), undefined);
    expect(evicted).toEqual([written, unwritten]);
    const big = log.append(stream, answer(2), 2);
    expect(evicted.includes(big)).toBe(false);
    expect(evicted.includes(firstAnswer)).toBe(false);
    expect(log.count).toBe(3);
  });

  it('keeps a message larger than the whole byte bound, alone', () => {
    const { log, evicted } = logWith({ maxBytes: 100 });
    const stream = new Stream('s', [1], true);
    log.append(stream, text(1), undefined);
    const big = log.append(stream, `{"x":"${'y'.repeat(500)}"}`, undefined);
    expect(evicted.map(dataOf)).toEqual([1]);
    expect(big.dropped).toBe(false);
    expect(log.count).toBe(1);
  });

  it('over the shared budget, evicts from the largest log, and gives every byte back when logs close', () => {
    const budget = new OutboundBudget(1000);
    const small = logWith({ budget });
    const large = logWith({ budget });
    const s1 = new Stream('s1', [1], true);
    const s2 = new Stream('s2', [1], true);
    for (let i = 0; i < 3; i++) small.log.append(s1, text(i), undefined);
    for (let i = 0; i < 40; i++) large.log.append(s2, text(i), undefined);
    expect(budget.used).toBeLessThanOrEqual(1000);
    expect(budget.used).toBe(small.log.bytes + large.log.bytes);
    expect(small.evicted).toEqual([]);
    expect(large.evicted.length).toBeGreaterThan(0);
    small.log.close();
    large.log.close();
    expect(budget.used).toBe(0);
    expect(budget.logs.size).toBe(0);
  });
});
