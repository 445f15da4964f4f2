/** Era classification and the 2026-07-28 envelope and header checks, cell by cell. */
import { describe, expect, it } from 'vitest';
import { classify, decodeHeaderValue } from '../../src/era/modern-request.js';
import { ParamHeaders } from '../../src/era/param-headers.js';
import { RequestStateCodec } from '../../src/era/request-state.js';
import { envelope, modernHeaders } from '../helpers/modern.js';

const request = (method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id: 1, method, params }) as never;
const modern = (params: Record<string, unknown> = {}) => ({ ...params, _meta: envelope() });

describe('classify', () => {
  it('reads an initialize as 2025-era whatever version it asks for', () => {
    expect(classify(request('initialize', { protocolVersion: '2026-07-28', capabilities: {} }), {})).toEqual({ era: 'legacy' });
    expect(classify(request('tools/list'), { 'mcp-protocol-version': '2025-11-25' })).toEqual({ era: 'legacy' });
    // A session's request is the session's to judge, whatever its header says.
    expect(classify(request('tools/list'), { 'mcp-protocol-version': '2099-01-01', 'mcp-session-id': 's' })).toEqual({ era: 'legacy' });
  });

  it('reads the envelope and checks the headers against it', () => {
    const params = modern({ name: 'echo' });
    const ok = classify(request('tools/call', params), modernHeaders('tools/call', params));
    expect(ok).toMatchObject({ era: 'modern', method: 'tools/call', version: '2026-07-28', clientCapabilities: {} });
    const cells: Array<[Record<string, string>, number, number]> = [
      [{ 'mcp-protocol-version': '2026-08-01' }, 400, -32020],
      [{ 'mcp-method': 'tools/list' }, 400, -32020],
      [{ 'mcp-name': 'other' }, 400, -32020],
      [{ 'mcp-name': '=?base64?not base64?=' }, 400, -32020],
    ];
    for (const [override, status, code] of cells) {
      expect(classify(request('tools/call', params), { ...modernHeaders('tools/call', params), ...override })).toMatchObject({ era: 'refused', status, code, id: 1 });
    }
    const { 'mcp-method': _method, ...withoutMethod } = modernHeaders('tools/call', params);
    expect(classify(request('tools/call', params), withoutMethod)).toMatchObject({ code: -32020, data: { mismatch: { header: '(missing)' } } });
  });

  it('refuses a modern header without an envelope, an unserved version and an unknown method', () => {
    expect(classify(request('tools/list'), { 'mcp-protocol-version': '2026-07-28' })).toMatchObject({ status: 400, code: -32602, data: { envelope: { missing: ['_meta'] } } });
    const later = { _meta: { ...envelope(), 'io.modelcontextprotocol/protocolVersion': '2027-01-01' } };
    expect(classify(request('tools/list', later), { ...modernHeaders('tools/list', later), 'mcp-protocol-version': '2027-01-01' })).toMatchObject({
      status: 400,
      code: -32022,
      data: { supported: ['2026-07-28'], requested: '2027-01-01' },
    });
    const ping = modern();
    expect(classify(request('ping', ping), modernHeaders('ping', ping))).toMatchObject({ status: 404, code: -32601 });
    const notification = { jsonrpc: '2.0', method: 'notifications/cancelled', params: modern() } as never;
    expect(classify(notification, {})).toEqual({ era: 'modern-notification' });
  });

  it('decodes Base64-sentinel header values and rejects malformed ones', () => {
    expect(decodeHeaderValue(`=?base64?${Buffer.from('héllo').toString('base64')}?=`)).toBe('héllo');
    expect(decodeHeaderValue('plain')).toBe('plain');
    expect(decodeHeaderValue('=?base64?abc?=')).toBeUndefined();
  });
});

describe('RequestStateCodec', () => {
  const state = { node: 'n1', call: 'c1', round: 1, expiresAt: Date.now() + 60_000 };

  it('opens what it sealed, and nothing altered, expired or sealed under another key', () => {
    const codec = new RequestStateCodec();
    const sealed = codec.seal(state);
    expect(codec.open(sealed)).toEqual(state);
    const [prefix, version, payload, tag] = sealed.split('.');
    expect(`${prefix}.${version}`).toBe('mcp-bridge.1');
    const forged = Buffer.from(JSON.stringify({ n: 'n1', c: 'c2', r: 1, e: state.expiresAt })).toString('base64url');
    expect(codec.open(`${prefix}.${version}.${forged}.${tag}`)).toBeUndefined();
    expect(codec.open(`${prefix}.${version}.${payload}.${tag.slice(1)}x`)).toBeUndefined();
    expect(codec.open(sealed, state.expiresAt + 1)).toBeUndefined();
    expect(new RequestStateCodec().open(sealed)).toBeUndefined();
    expect(codec.open('mcp-bridge.1.' + 'a'.repeat(5000) + '.b')).toBeUndefined();
    // A payload that is valid JSON but no object (null) is refused, not thrown over, by either reader.
    const nullPayload = `mcp-bridge.1.${Buffer.from('null').toString('base64url')}.${tag}`;
    expect(codec.open(nullPayload)).toBeUndefined();
    expect(codec.nodeOf(nullPayload)).toBeUndefined();
    expect(codec.nodeOf(sealed)).toBe('n1');
    // A 2026-07-28 server's own state (the v2 SDK codec's shape) is not the bridge's.
    expect(codec.isSealed('v1.abc.def')).toBe(false);
  });
});

describe('ParamHeaders', () => {
  it('checks a call against the x-mcp-header declarations of the listed tools', () => {
    const params = new ParamHeaders();
    params.listed([{ name: 'deploy', inputSchema: { properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, count: { type: 'integer', 'x-mcp-header': 'Count' } } } }]);
    expect(params.mismatch('deploy', { region: 'eu', count: 3 }, { 'mcp-param-region': 'eu', 'mcp-param-count': '3.0' })).toBeUndefined();
    expect(params.mismatch('deploy', { region: 'eu' }, { 'mcp-param-region': `=?base64?${Buffer.from('eu').toString('base64')}?=` })).toBeUndefined();
    expect(params.mismatch('deploy', { region: 'eu' }, {})).toMatchObject({ header: '(missing)' });
    expect(params.mismatch('deploy', { region: 'eu' }, { 'mcp-param-region': 'us' })).toMatchObject({ header: 'us' });
    expect(params.mismatch('deploy', { region: 'eu' }, { 'mcp-param-region': '=?base64?!!?=' })).toBeDefined();
    // A tool it has not seen listed, or an argument left out, is not checked.
    expect(params.mismatch('other', { region: 'eu' }, {})).toBeUndefined();
    expect(params.mismatch('deploy', {}, { 'mcp-param-region': 'anything' })).toBeUndefined();
  });
});
