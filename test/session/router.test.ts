import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { InflightRequest } from '../../src/session/inflight.js';
import { routeChildMessage } from '../../src/session/router.js';
import { Stream, type EventSink } from '../../src/session/stream.js';

/** A stream in the state a test wants: open (a connection), waiting (resumable, none) or gone. */
function streamIn(state: 'open' | 'waiting' | 'gone'): Stream {
  const stream = new Stream('s', [1], state !== 'gone');
  if (state === 'open') stream.sink = {} as EventSink;
  return stream;
}
const request = (id: number, progressToken?: string, state: 'open' | 'waiting' | 'gone' = 'open'): InflightRequest => ({
  id,
  method: 'tools/call',
  progressToken,
  stream: streamIn(state),
  startedAt: id,
});
const progress = (token: string): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: token, progress: 1 },
});
const sampling: JSONRPCMessage = { jsonrpc: '2.0', id: 'srv-1', method: 'sampling/createMessage', params: {} };
const idOf = (request: InflightRequest | undefined) => request?.id;

describe('routeChildMessage', () => {
  it('sends progress to the request that owns its token', () => {
    expect(idOf(routeChildMessage(progress('b'), [request(1, 'a'), request(2, 'b')], true))).toBe(2);
  });
  it('sends other messages to the oldest request in flight', () => {
    expect(idOf(routeChildMessage(sampling, [request(1, 'a'), request(2, 'b')], true))).toBe(1);
  });
  it('skips requests whose stream is gone', () => {
    expect(idOf(routeChildMessage(progress('a'), [request(1, 'a', 'gone'), request(2, 'b')], true))).toBe(2);
    expect(routeChildMessage(sampling, [request(1, undefined, 'gone')], true)).toBeUndefined();
  });
  it('keeps progress with its owner while the owner can resume, but prefers live streams for the rest', () => {
    const inflight = [request(1, 'a', 'waiting'), request(2, 'b')];
    expect(idOf(routeChildMessage(progress('a'), inflight, true))).toBe(1);
    expect(idOf(routeChildMessage(sampling, inflight, true))).toBe(2);
    expect(routeChildMessage(sampling, [request(1, 'a', 'waiting')], true)).toBeUndefined();
    expect(idOf(routeChildMessage(sampling, [request(1, 'a', 'waiting')], false))).toBe(1);
  });
  it('uses the standalone stream when nothing is in flight, open or not', () => {
    expect(routeChildMessage(sampling, [], true)).toBeUndefined();
    expect(routeChildMessage(sampling, [], false)).toBeUndefined();
  });
});
