/**
 * The built-in authorization server end to end, offline: the SDK's own client and OAuth provider against
 * the bridge in front of server-everything, by DCR and by Claude's metadata document (its pinned copy).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { stopAllBridges } from '../helpers/bridge.js';
import { MCP_HEADERS, INIT_BODY, rawRequest, textOf } from '../helpers/client.js';
import { CLAUDE_CALLBACK, CLAUDE_CIMD, LoggingInProvider, makeOwner, startOAuthBridge } from '../helpers/oauth.js';

afterEach(stopAllBridges);

/** Connects as the SDK client does: the first connect ends in UnauthorizedError after the login, finishAuth, then again. */
async function connectWithOAuth(url: string, provider: LoggingInProvider): Promise<Client> {
  const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await expect(new Client({ name: 'oauth-test', version: '1' }).connect(first)).rejects.toThrow(UnauthorizedError);
  expect(provider.code).toMatch(/^mcpb_code_/);
  await first.finishAuth(provider.code as string);
  const client = new Client({ name: 'oauth-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
  return client;
}

describe('discovery', () => {
  it('answers every unauthenticated MCP request, GET included, with 401 and where the metadata is', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const expected = `Bearer resource_metadata="${server.origin}/.well-known/oauth-protected-resource/mcp", scope="mcp"`;
    const post = await rawRequest(server.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(post.status).toBe(401);
    expect(post.headers['www-authenticate']).toBe(expected);
    const get = await rawRequest(server.url, { method: 'GET', headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(401);
    expect(get.headers['www-authenticate']).toBe(expected);
    const wrong = await rawRequest(server.url, { headers: { ...MCP_HEADERS, authorization: 'Bearer mcpb_at_nope' }, body: JSON.stringify(INIT_BODY) });
    expect(wrong.headers['www-authenticate']).toBe(`${expected}, error="invalid_token"`);

    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const prm = await (await fetch(`${server.origin}${path}`)).json();
      expect(prm, path).toEqual({ resource: server.url, authorization_servers: [server.origin], scopes_supported: ['mcp'], bearer_methods_supported: ['header'] });
    }
    const as = await fetch(`${server.origin}/.well-known/oauth-authorization-server`);
    expect(as.headers.get('cache-control')).toBe('no-store');
    expect(await as.json()).toMatchObject({
      issuer: server.origin,
      authorization_endpoint: `${server.origin}/authorize`,
      token_endpoint: `${server.origin}/token`,
      registration_endpoint: `${server.origin}/register`,
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
      token_endpoint_auth_methods_supported: expect.arrayContaining(['none']),
    });
  });
});

describe('the SDK client', () => {
  it('registers (DCR), logs in, exchanges the code with PKCE, and calls a tool through the bridge', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const provider = new LoggingInProvider(owner.passphrase, 'http://127.0.0.1:8765/callback');
    const client = await connectWithOAuth(server.url, provider);
    expect(provider.iss).toBe(server.origin);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'private' } }))).toBe('Echo: private');
    await client.close();
    await server.bridge.waitForLog((l) => l.msg === 'an OAuth access token reached the MCP endpoint');
  });

  it("connects as claude.ai does: Claude's metadata document as client id, its callback as redirect", async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const provider = new LoggingInProvider(owner.passphrase, CLAUDE_CALLBACK, CLAUDE_CIMD);
    const client = await connectWithOAuth(server.url, provider);
    expect(provider.clientInformation()?.client_id).toBe(CLAUDE_CIMD);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'from claude' } }))).toBe('Echo: from claude');
    await client.close();
  });
});
