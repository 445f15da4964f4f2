/** Tokens, codes, clients and the owner's login: every rule, and what breaks it. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { totpCode, totpStep } from '../../src/oauth/owner.js';
import { BRIDGE_BIN, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, rawRequest, textOf } from '../helpers/client.js';
import {
  CLAUDE_CALLBACK,
  CLAUDE_CIMD,
  authorizeUrl,
  codeOf,
  grantTokens,
  login,
  makeOwner,
  pkce,
  register,
  startOAuthBridge,
  token,
  type OAuthBridge,
} from '../helpers/oauth.js';

afterEach(stopAllBridges);
const run = promisify(execFile);

/** An MCP initialize with this bearer token: 200 once authenticated, 401 otherwise. */
const initializeWith = (server: OAuthBridge, bearer: string) =>
  rawRequest(server.url, { headers: { ...MCP_HEADERS, authorization: `Bearer ${bearer}` }, body: JSON.stringify(INIT_BODY) });

describe('refresh tokens', () => {
  it('rotate; the previous one works until its successor is used; an older one revokes the grant', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const first = await grantTokens(server, owner.passphrase);
    const refresh = (rt: string) => token(server.origin, { grant_type: 'refresh_token', refresh_token: rt, client_id: first.clientId });
    const second = await refresh(first.refresh);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh);
    // The answer was lost: the client retries with the previous token, which still works once more.
    const retried = await refresh(first.refresh);
    expect(retried.status).toBe(200);
    expect((await initializeWith(server, retried.body.access_token as string)).status).toBe(200);
    // The token it superseded is now spent: presenting it means a copy is out there, so the grant goes.
    const replayed = await refresh(second.body.refresh_token as string);
    expect(replayed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await initializeWith(server, retried.body.access_token as string)).status).toBe(401);
    expect((await refresh(retried.body.refresh_token as string)).status).toBe(400);
  });

  it('are used by the SDK client by itself once its access token expires (--oauth-access-ttl 1)', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner, ['--oauth-access-ttl', '1']);
    const { LoggingInProvider } = await import('../helpers/oauth.js');
    const provider = new LoggingInProvider(owner.passphrase, 'http://127.0.0.1:8766/callback');
    const first = new StreamableHTTPClientTransport(new URL(server.url), { authProvider: provider });
    await new Client({ name: 't', version: '1' }).connect(first).catch(() => undefined);
    await first.finishAuth(provider.code as string);
    const access = provider.tokens()?.access_token as string;
    await waitFor(async () => (await initializeWith(server, access)).status === 401 || undefined, { what: 'the access token to expire' });
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { authProvider: provider }));
    expect(provider.tokens()?.access_token).not.toBe(access);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'refreshed' } }))).toBe('Echo: refreshed');
    await client.close();
  });
});

describe('codes', () => {
  it('need the verifier of their challenge, the same client and redirect, and work once (a second use revokes the grant)', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const redirect = 'http://localhost:7777/cb';
    const clientId = await register(server.origin, [redirect]);
    const other = await register(server.origin, [redirect]);
    const { verifier, challenge } = pkce();
    const issue = async () => codeOf(await login(authorizeUrl(server.origin, { client_id: clientId, redirect_uri: redirect, code_challenge: challenge }), owner.passphrase)).code;
    const exchange = (code: string, overrides: Record<string, string> = {}) =>
      token(server.origin, { grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: redirect, code_verifier: verifier, ...overrides });

    expect((await exchange(await issue(), { code_verifier: pkce().verifier })).body).toEqual({ error: 'invalid_grant' });
    expect((await exchange(await issue(), { client_id: other })).body).toEqual({ error: 'invalid_grant' });
    expect((await exchange(await issue(), { redirect_uri: 'http://localhost:7778/cb' })).body).toEqual({ error: 'invalid_grant' });
    expect((await exchange(await issue(), { resource: 'http://127.0.0.1:1/other' })).body).toEqual({ error: 'invalid_target' });

    const code = await issue();
    const granted = await exchange(code);
    expect(granted.status).toBe(200);
    expect((await initializeWith(server, granted.body.access_token as string)).status).toBe(200);
    expect((await exchange(code)).body).toEqual({ error: 'invalid_grant' });
    expect((await initializeWith(server, granted.body.access_token as string)).status).toBe(401);
  });
});

describe('clients and redirects', () => {
  it('never lets a code go anywhere but Claude, loopback, or an owner-listed URI; an unknown client gets 401 invalid_client', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner, ['--oauth-redirect-allow', 'https://app.example/cb']);
    const register = (uris: string[]) =>
      fetch(`${server.origin}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: uris }) });
    const refused = await register(['https://attacker.example/cb']);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_redirect_uri' });
    for (const ok of [[CLAUDE_CALLBACK], ['http://127.0.0.1:5555/cb'], ['https://app.example/cb']]) expect((await register(ok)).status, ok[0]).toBe(201);

    const { challenge } = pkce();
    // Claude's metadata document names only its callback: any other redirect is refused, with a page, not a redirect.
    const page = await fetch(authorizeUrl(server.origin, { client_id: CLAUDE_CIMD, redirect_uri: 'https://attacker.example/cb', code_challenge: challenge }), { redirect: 'manual' });
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).toMatch(/does not allow/);
    const wrongResource = await fetch(authorizeUrl(server.origin, { client_id: CLAUDE_CIMD, redirect_uri: CLAUDE_CALLBACK, code_challenge: challenge, resource: 'https://elsewhere.example/mcp' }));
    expect(wrongResource.status).toBe(400);
    const noPkce = await fetch(`${server.origin}/authorize?${new URLSearchParams({ response_type: 'code', client_id: CLAUDE_CIMD, redirect_uri: CLAUDE_CALLBACK })}`);
    expect(noPkce.status).toBe(400);
    // A trailing slash on the resource is the same resource.
    const slash = await fetch(authorizeUrl(server.origin, { client_id: CLAUDE_CIMD, redirect_uri: CLAUDE_CALLBACK, code_challenge: challenge, resource: `${server.url}/` }));
    expect(slash.status).toBe(200);

    const unknown = await token(server.origin, { grant_type: 'authorization_code', code: 'x', client_id: 'mcpb_client_nobody', code_verifier: 'x' });
    expect(unknown).toEqual({ status: 401, body: { error: 'invalid_client' } });
  });

  it('a static client from `mcp-bridge oauth client` needs its secret (client_secret_basic or _post)', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const { stdout } = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'client', '--name', 'My Claude', '--state-dir', server.stateDir]);
    const id = /client_id:\s+(\S+)/.exec(stdout)?.[1] as string;
    const secret = /client_secret:\s+(\S+)/.exec(stdout)?.[1] as string;
    expect(stdout).toMatch(/the running bridge has applied it/);
    expect(readFileSync(join(server.stateDir, 'oauth.json'), 'utf8')).not.toContain(secret);
    const { verifier, challenge } = pkce();
    const loginPage = await (await fetch(authorizeUrl(server.origin, { client_id: id, redirect_uri: CLAUDE_CALLBACK, code_challenge: challenge }))).text();
    expect(loginPage).toContain('My Claude');
    expect(loginPage).toContain('claude.ai');
    const { code } = codeOf(await login(authorizeUrl(server.origin, { client_id: id, redirect_uri: CLAUDE_CALLBACK, code_challenge: challenge }), owner.passphrase));
    const exchange = (headers: Record<string, string>, extra: Record<string, string>) =>
      fetch(`${server.origin}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CLAUDE_CALLBACK, code_verifier: verifier, ...extra }),
      });
    expect((await exchange({}, { client_id: id })).status).toBe(401);
    expect((await exchange({}, { client_id: id, client_secret: 'wrong' })).status).toBe(401);
    const basic = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    expect((await exchange({ authorization: basic }, {})).status).toBe(200);
  });
});

describe("the owner's login", () => {
  it('refuses a wrong passphrase, and after five failures refuses even the right one for a while', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const { challenge } = pkce();
    const url = authorizeUrl(server.origin, { client_id: CLAUDE_CIMD, redirect_uri: CLAUDE_CALLBACK, code_challenge: challenge });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await login(url, `guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const locked = await login(url, owner.passphrase);
    expect(locked.status).toBe(429);
    expect(await locked.text()).toMatch(/Too many failed attempts/);
    await server.bridge.waitForLog((l) => l.msg === 'failed owner login');
  });

  it('asks for the TOTP code too when --oauth-totp-file is set, and takes each code once', async () => {
    const owner = await makeOwner();
    const totpFile = join(owner.dir, 'totp');
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    writeFileSync(totpFile, `${secret}\n`, { mode: 0o600 });
    const server = await startOAuthBridge(owner, ['--oauth-totp-file', totpFile]);
    const { challenge } = pkce();
    const url = () => authorizeUrl(server.origin, { client_id: CLAUDE_CIMD, redirect_uri: CLAUDE_CALLBACK, code_challenge: challenge });
    expect((await login(url(), owner.passphrase, { totp: '000000' === totpCode(secret, totpStep(Date.now())) ? '111111' : '000000' })).status).toBe(401);
    const code = totpCode(secret, totpStep(Date.now()));
    expect((await login(url(), owner.passphrase, { totp: code })).status).toBe(302);
    expect((await login(url(), owner.passphrase, { totp: code })).status).toBe(401);
  });
});

describe('composition and persistence', () => {
  it('keeps static tokens working beside OAuth, and binds a session to the principal that opened it', async () => {
    const owner = await makeOwner();
    const tokens = join(owner.dir, 'tokens');
    writeFileSync(tokens, 'static-one\nstatic-two\n');
    const server = await startOAuthBridge(owner, ['--auth-token-file', tokens]);
    const opened = await initializeWith(server, 'static-one');
    expect(opened.status).toBe(200);
    const session = opened.headers['mcp-session-id'] as string;
    const ping = (bearer: string) =>
      rawRequest(server.url, { headers: { ...MCP_HEADERS, authorization: `Bearer ${bearer}`, 'mcp-session-id': session }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
    expect((await ping('static-one')).status).toBe(200);
    expect((await ping('static-two')).status).toBe(404);
    const { access } = await grantTokens(server, owner.passphrase);
    expect((await ping(access)).status).toBe(404);
    // A static token is no OAuth grant: it gets nothing at /token.
    expect((await token(server.origin, { grant_type: 'refresh_token', refresh_token: 'static-one', client_id: CLAUDE_CIMD })).status).toBe(400);
  });

  it('survives a restart on the same state directory, which never holds a token', async () => {
    const owner = await makeOwner();
    const first = await startOAuthBridge(owner);
    const granted = await grantTokens(first, owner.passphrase);
    const state = readFileSync(join(first.stateDir, 'oauth.json'), 'utf8');
    for (const secret of [granted.access, granted.refresh]) expect(state).not.toContain(secret);
    expect(state).toContain(granted.clientId);
    await first.bridge.stop();
    const second = await startOAuthBridge(owner, [], undefined, first.stateDir, Number(new URL(first.url).port));
    expect((await initializeWith(second, granted.access)).status).toBe(200);
    const refreshed = await token(second.origin, { grant_type: 'refresh_token', refresh_token: granted.refresh, client_id: granted.clientId });
    expect(refreshed.status).toBe(200);
  });

  it('`mcp-bridge oauth revoke` ends a grant at once in the running bridge; a new passphrase revokes them all', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner);
    const a = await grantTokens(server, owner.passphrase);
    const b = await grantTokens(server, owner.passphrase);
    const { stdout } = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'list', '--state-dir', server.stateDir]);
    const grants = [...stdout.matchAll(/^\s+(grant_\S+)/gm)].map((m) => m[1]);
    expect(grants).toHaveLength(2);
    const revoked = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'revoke', grants[0], '--state-dir', server.stateDir]);
    expect(revoked.stdout).toMatch(/the running bridge has applied it/);
    // The command returns once the bridge has taken the change: no wait here.
    const statuses = [(await initializeWith(server, a.access)).status, (await initializeWith(server, b.access)).status];
    expect(statuses.sort()).toEqual([200, 401]);
    // A new owner file (a new passphrase) revokes every grant.
    await run(process.execPath, [BRIDGE_BIN, 'oauth', 'init', owner.file, '--force']);
    server.bridge.process.kill('SIGHUP');
    await server.bridge.waitForLog((l) => l.msg === 'the owner file changed: every grant is revoked');
    // The log line comes after the revocation.
    expect([(await initializeWith(server, a.access)).status, (await initializeWith(server, b.access)).status]).toEqual([401, 401]);
  });

  it('queues a revocation while no bridge runs: `oauth list` shows it done, and the next start applies it', async () => {
    const owner = await makeOwner();
    const first = await startOAuthBridge(owner);
    const granted = await grantTokens(first, owner.passphrase);
    await first.bridge.stop();
    const { stdout: listed } = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'list', '--state-dir', first.stateDir]);
    const grant = /^\s+(grant_\S+)/m.exec(listed)?.[1] as string;
    const revoked = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'revoke', grant, '--state-dir', first.stateDir]);
    expect(revoked.stdout).toMatch(/no bridge runs on this state now/);
    const { stdout: after } = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'list', '--state-dir', first.stateDir]);
    expect(after).not.toContain(grant);
    // Not yet applied to the file: only the bridge writes it.
    expect(readFileSync(join(first.stateDir, 'oauth.json'), 'utf8')).toContain(grant);
    const second = await startOAuthBridge(owner, [], undefined, first.stateDir, Number(new URL(first.url).port));
    expect((await initializeWith(second, granted.access)).status).toBe(401);
    expect(readFileSync(join(first.stateDir, 'oauth.json'), 'utf8')).not.toContain(grant);
    // An unknown grant, or a directory no bridge has made, is an error.
    await expect(run(process.execPath, [BRIDGE_BIN, 'oauth', 'revoke', 'grant_nonesuch', '--state-dir', first.stateDir])).rejects.toMatchObject({ stderr: expect.stringMatching(/no grant grant_nonesuch/) });
    await expect(run(process.execPath, [BRIDGE_BIN, 'oauth', 'list', '--state-dir', join(owner.dir, 'nowhere')])).rejects.toMatchObject({ stderr: expect.stringMatching(/no OAuth state in/) });
  });
});
