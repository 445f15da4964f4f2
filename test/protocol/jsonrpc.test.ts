import { describe, expect, it } from 'vitest';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { kindOf, parseMessage } from '../../src/protocol/jsonrpc.js';

/** Messages the SDK's schema accepts or refuses: the envelope check must agree on every one. */
const CASES: unknown[] = [
  { jsonrpc: '2.0', id: 1, method: 'ping' },
  { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'x', _meta: { progressToken: 3 } } },
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '2.0', id: 1, result: {} },
  { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'no', data: [1] } },
  { jsonrpc: '2.0', id: 1.5, method: 'ping' },
  { jsonrpc: '2.0', id: null, method: 'ping' },
  { jsonrpc: '1.0', id: 1, method: 'ping' },
  { jsonrpc: '2.0', id: 1, method: 'ping', extra: true },
  { jsonrpc: '2.0', id: 1, method: 'x', params: [1, 2] },
  { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: 'no' } },
  { jsonrpc: '2.0', id: 1, result: [] },
  { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'both' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1 } },
  { jsonrpc: '2.0', method: 7 },
  [],
  null,
  'text',
];

describe('the JSON-RPC envelope check', () => {
  it('accepts exactly what the SDK schema accepts (ids required on answers)', () => {
    for (const value of CASES) {
      const sdk = JSONRPCMessageSchema.safeParse(value).success;
      expect(kindOf(value) !== undefined, JSON.stringify(value)).toBe(sdk);
    }
  });

  it('keeps the text of a one-line message and makes one line of a message with line breaks', () => {
    expect(parseMessage('{"jsonrpc":"2.0","id":1,"method":"ping"}')?.text).toBe('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    expect(parseMessage('{"jsonrpc":"2.0",\r\n"id":1,"method":"ping"}')?.text).toBe('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    expect(parseMessage('not json')).toBeUndefined();
  });
});
