import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { PendingMessages, routeChildMessage, type InflightRequest, type StreamState } from '../../src/session/router.js';

const request = (id: number, progressToken?: string, stream: StreamState = 'open'): InflightRequest => ({
  id,
  method: 'tools/call',
  progressToken,
  stream,
  startedAt: id,
});
const progress = (token: string): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: token, progress: 1 },
});
const sampling: JSONRPCMessage = { jsonrpc: '2.0', id: 'srv-1', method: 'sampling/createMessage', params: {} };

describe('routeChildMessage', () => {
  it('sends progress to the request that owns its token', () => {
    expect(routeChildMessage(progress('b'), [request(1, 'a'), request(2, 'b')], true)).toEqual({ kind: 'request', id: 2 });
  });
  it('sends other messages to the oldest request in flight', () => {
    expect(routeChildMessage(sampling, [request(1, 'a'), request(2, 'b')], true)).toEqual({ kind: 'request', id: 1 });
  });
  it('skips requests whose stream is gone', () => {
    expect(routeChildMessage(progress('a'), [request(1, 'a', 'gone'), request(2, 'b')], true)).toEqual({ kind: 'request', id: 2 });
    expect(routeChildMessage(sampling, [request(1, undefined, 'gone')], true)).toEqual({ kind: 'standalone' });
  });
  it('keeps progress with its owner while the owner can resume, but prefers live streams for the rest', () => {
    const inflight = [request(1, 'a', 'resumable'), request(2, 'b')];
    expect(routeChildMessage(progress('a'), inflight, true)).toEqual({ kind: 'request', id: 1 });
    expect(routeChildMessage(sampling, inflight, true)).toEqual({ kind: 'request', id: 2 });
    expect(routeChildMessage(sampling, [request(1, 'a', 'resumable')], true)).toEqual({ kind: 'standalone' });
    expect(routeChildMessage(sampling, [request(1, 'a', 'resumable')], false)).toEqual({ kind: 'request', id: 1 });
  });
  it('uses the GET stream when nothing is in flight, and holds when that is closed too', () => {
    expect(routeChildMessage(sampling, [], true)).toEqual({ kind: 'standalone' });
    expect(routeChildMessage(sampling, [], false)).toEqual({ kind: 'hold' });
  });
});

describe('PendingMessages', () => {
  it('keeps the newest messages up to its limit and counts what it dropped', () => {
    const pending = new PendingMessages(2);
    expect(pending.push(progress('1'))).toBe(false);
    expect(pending.push(progress('2'))).toBe(false);
    expect(pending.push(progress('3'))).toBe(true);
    const { messages, dropped } = pending.take();
    expect(dropped).toBe(1);
    expect(messages.map((m) => (m as unknown as { params: { progressToken: string } }).params.progressToken)).toEqual(['2', '3']);
    expect(pending.take()).toEqual({ messages: [], dropped: 0 });
  });
});
