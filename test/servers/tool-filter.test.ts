/** Tool filters: which names a glob list shows, and what a tools/list answer looks like after them. */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/protocol/jsonrpc.js';
import { ToolFilter } from '../../src/session/tool-filter.js';

describe('a tool filter', () => {
  it('shows what an allow glob matches and no deny glob does; deny wins; * crosses any character', () => {
    const filter = new ToolFilter({ allow: ['read_*', 'search', 'fs/*'], deny: ['read_secret*'] });
    expect(['read_file', 'search', 'fs/a/b'].filter((name) => filter.shows(name))).toEqual(['read_file', 'search', 'fs/a/b']);
    expect(['read_secrets', 'write_file', 'searching'].some((name) => filter.shows(name))).toBe(false);
    const denyOnly = new ToolFilter({ allow: undefined, deny: ['delete_*', 'exec'] });
    expect(denyOnly.shows('list')).toBe(true);
    expect(denyOnly.shows('delete_all')).toBe(false);
  });

  it('takes the hidden tools out of a tools/list answer, keeps the rest of it, and leaves an answer with none hidden as it came', () => {
    const filter = new ToolFilter({ allow: undefined, deny: ['rm'] });
    const text = JSON.stringify({ jsonrpc: '2.0', id: 3, result: { tools: [{ name: 'ls' }, { name: 'rm' }], nextCursor: 'p2' } });
    const listed = filter.listed(parseMessage(text)!);
    expect(JSON.parse(listed.text)).toEqual({ jsonrpc: '2.0', id: 3, result: { tools: [{ name: 'ls' }], nextCursor: 'p2' } });
    const clean = parseMessage(JSON.stringify({ jsonrpc: '2.0', id: 4, result: { tools: [{ name: 'ls' }] } }))!;
    expect(filter.listed(clean)).toBe(clean);
    const error = parseMessage(JSON.stringify({ jsonrpc: '2.0', id: 5, error: { code: -1, message: 'no' } }))!;
    expect(filter.listed(error)).toBe(error);
  });

  it('names the tool of a call it hides', () => {
    const filter = new ToolFilter({ allow: ['ok'], deny: [] });
    const call = (name: unknown) => parseMessage(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name } }))!;
    expect(filter.hiddenCall(call('ok'))).toBeUndefined();
    expect(filter.hiddenCall(call('other'))).toBe('other');
  });
});
