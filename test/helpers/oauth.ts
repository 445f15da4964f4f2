/**
 * For the OAuth tests: an owner file made by the real `mcp-bridge oauth init`, a bridge with --oauth on a
 * port chosen first (the public URL must name it), the owner's login done over HTTP as a browser would
 * post the form, PKCE by hand, and an SDK OAuthClientProvider that logs in instead of opening a browser.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { BRIDGE_BIN, EVERYTHING, freePort, startBridge, type Bridge } from './bridge.js';

const run = promisify(execFile);

export const CLAUDE_CALLBACK = 'https://claude.ai/api/mcp/auth_callback';
export const CLAUDE_CIMD = 'https://claude.ai/oauth/mcp-oauth-client-metadata';

export interface Owner {
  dir: string;
  file: string;
  passphrase: string;
}

/** A fresh directory with an owner file, made the way the README says. */
export async function makeOwner(): Promise<Owner> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-oauth-'));
  const file = join(dir, 'owner');
  const { stdout } = await run(process.execPath, [BRIDGE_BIN, 'oauth', 'init', file]);
  const passphrase = /^\s{4}(\S+)$/m.exec(stdout)?.[1];
  if (!passphrase) throw new Error(`no passphrase in: ${stdout}`);
  return { dir, file, passphrase };
}

export interface OAuthBridge {
  bridge: Bridge;
  url: string;
  origin: string;
  stateDir: string;
}

/** A bridge with --oauth; `port` to come back at the same URL (the resource its tokens are for). */
export async function startOAuthBridge(
  owner: Owner,
  args: string[] = [],
  command: string[] = EVERYTHING,
  stateDir = join(owner.dir, 'state'),
  port?: number,
): Promise<OAuthBridge> {
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const bridge = await startBridge(
    ['--port', String(port), '--oauth', '--public-url', url, '--oauth-owner-file', owner.file, '--state-dir', stateDir, ...args],
    command,
  );
  return { bridge, url, origin: `http://127.0.0.1:${port}`, stateDir };
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The login page's hidden request id. */
export const requestIdOf = (html: string) => /name="request_id" value="([^"]+)"/.exec(html)?.[1];

/** Opens the login page, posts the passphrase; resolves with the final response (a 302 to the client on success). */
export async function login(authorizeUrl: string, passphrase: string, extra: Record<string, string> = {}): Promise<Response> {
  const page = await fetch(authorizeUrl);
  const html = await page.text();
  const requestId = requestIdOf(html);
  if (!requestId) throw new Error(`no login form (HTTP ${page.status}): ${html.slice(0, 300)}`);
  const origin = new URL(authorizeUrl).origin;
  return fetch(`${origin}/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
    body: new URLSearchParams({ request_id: requestId, passphrase, ...extra }),
    redirect: 'manual',
  });
}

/** The code (and iss) of a successful login's redirect. */
export function codeOf(response: Response): { code: string; iss: string | null; state: string | null; location: URL } {
  const location = response.headers.get('location');
  if (response.status !== 302 || !location) throw new Error(`login did not redirect (HTTP ${response.status})`);
  const url = new URL(location);
  return { code: url.searchParams.get('code') as string, iss: url.searchParams.get('iss'), state: url.searchParams.get('state'), location: url };
}

export async function register(origin: string, redirectUris: string[], name = 'test client'): Promise<string> {
  const response = await fetch(`${origin}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: name, redirect_uris: redirectUris }),
  });
  const body = (await response.json()) as { client_id?: string };
  if (response.status !== 201 || !body.client_id) throw new Error(`registration failed: ${response.status} ${JSON.stringify(body)}`);
  return body.client_id;
}

export function authorizeUrl(origin: string, params: Record<string, string>): string {
  return `${origin}/authorize?${new URLSearchParams({ response_type: 'code', code_challenge_method: 'S256', scope: 'mcp', ...params })}`;
}

export async function token(origin: string, params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${origin}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The whole code flow by hand: a DCR client with a loopback redirect, the login, the exchange. */
export async function grantTokens(server: OAuthBridge, passphrase: string): Promise<{ clientId: string; access: string; refresh: string }> {
  const redirect = 'http://127.0.0.1:9/callback';
  const clientId = await register(server.origin, [redirect]);
  const { verifier, challenge } = pkce();
  const { code } = codeOf(await login(authorizeUrl(server.origin, { client_id: clientId, redirect_uri: redirect, code_challenge: challenge, resource: server.url, state: 's' }), passphrase));
  const { status, body } = await token(server.origin, { grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: redirect, code_verifier: verifier, resource: server.url });
  if (status !== 200) throw new Error(`exchange failed: ${JSON.stringify(body)}`);
  return { clientId, access: body.access_token as string, refresh: body.refresh_token as string };
}

/**
 * An OAuthClientProvider for the SDK client that keeps everything in memory and, where a real client
 * would open a browser, logs in over HTTP and keeps the code for finishAuth.
 */
export class LoggingInProvider implements OAuthClientProvider {
  code: string | undefined;
  iss: string | null = null;
  private information: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';

  constructor(
    private readonly passphrase: string,
    private readonly redirect: string,
    readonly clientMetadataUrl?: string,
  ) {}

  get redirectUrl(): string {
    return this.redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'bridge test', redirect_uris: [this.redirect], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }

  clientInformation() {
    return this.information;
  }

  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }

  async redirectToAuthorization(url: URL) {
    const { code, iss } = codeOf(await login(url.href, this.passphrase));
    this.code = code;
    this.iss = iss;
  }

  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }
}
