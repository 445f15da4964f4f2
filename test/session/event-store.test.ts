import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { EventBudget, SessionEventStore, parseEventId } from '../../src/session/event-store.js';

const note = (n: number): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: n } });
const store = (maxEvents = 100, maxBytes = 1 << 20, budget = new EventBudget(1 << 30)) =>
  new SessionEventStore({ maxEvents, maxBytes, budget });

const dataOf = (m: JSONRPCMessage) => (m as unknown as { params: { data: number } }).params.data;

async function replay(s: SessionEventStore, after: string) {
  const sent: Array<[string, JSONRPCMessage]> = [];
  const stream = await s.replayEventsAfter(after, { send: async (id, m) => void sent.push([id, m]) });
  return { stream, sent };
}

describe('SessionEventStore', () => {
  it('gives ids that parse back to their stream, in order even within one millisecond', async () => {
    const s = store(1000);
    const ids = [];
    for (let i = 0; i < 200; i++) ids.push(await s.storeEvent('stream-a', note(i)));
    expect(ids.map((id) => parseEventId(id)?.streamId)).toEqual(Array(200).fill('stream-a'));
    const { sent } = await replay(s, ids[49]);
    expect(sent.map(([, m]) => dataOf(m))).toEqual(Array.from({ length: 150 }, (_, i) => i + 50));
    expect(await s.getStreamIdForEventId(ids[0])).toBe('stream-a');
  });

  it("replays only the cursor's own stream, and skips priming events", async () => {
    const s = store();
    const prime = await s.storeEvent('post-1', {} as JSONRPCMessage);
    await s.storeEvent('_GET_stream', note(100));
    await s.storeEvent('post-1', note(1));
    await s.storeEvent('post-2', note(200));
    await s.storeEvent('post-1', note(2));
    const { stream, sent } = await replay(s, prime);
    expect(stream).toBe('post-1');
    expect(sent.map(([, m]) => dataOf(m))).toEqual([1, 2]);
    expect(sent.every(([id]) => id.startsWith('post-1:'))).toBe(true);
  });

  it('rejects unknown and malformed event ids', async () => {
    const s = store();
    await s.storeEvent('post-1', note(1));
    for (const id of ['nope', 'post-9:1', 'post-1:x', ':1', 'post-1:0']) {
      expect(await s.getStreamIdForEventId(id), id).toBeUndefined();
      await expect(replay(s, id)).rejects.toThrow();
    }
  });

  it('drops the oldest events past the per-session count and byte bounds', async () => {
    const byCount = store(3);
    for (let i = 0; i < 10; i++) await byCount.storeEvent('s', note(i));
    expect(byCount.size.events).toBe(3);
    const bySize = store(1000, 500);
    for (let i = 0; i < 50; i++) await bySize.storeEvent('s', note(i));
    expect(bySize.size.bytes).toBeLessThanOrEqual(500);
    expect(bySize.size.events).toBeGreaterThan(0);
  });

  it('shares one byte budget across sessions and returns it when a session ends', async () => {
    const budget = new EventBudget(1000);
    const a = store(1000, 1 << 20, budget);
    const b = store(1000, 1 << 20, budget);
    for (let i = 0; i < 40; i++) await a.storeEvent('s', note(i));
    for (let i = 0; i < 40; i++) await b.storeEvent('s', note(i));
    expect(budget.used).toBeLessThanOrEqual(1000);
    expect(budget.used).toBe(a.size.bytes + b.size.bytes);
    a.clear();
    b.clear();
    expect(budget.used).toBe(0);
    expect(a.size).toEqual({ events: 0, bytes: 0 });
  });
});
