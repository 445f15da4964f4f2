/**
 * A single-owner OAuth 2.1 authorization server, on the same origin as the MCP endpoint, for clients that
 * cannot send a static token (claude.ai and the Claude apps, Claude Code, mcp-remote, the Inspector):
 * metadata (RFC 9728, RFC 8414), /authorize with the owner's login page, /token, /register (RFC 7591),
 * /revoke (RFC 7009). Every URL it advertises comes from --public-url, never from a request.
 */
import { readFileSync } from 'node:fs';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { OAuthConfig } from '../config.js';
import type { ClientIdentityResolver } from '../http/client-address.js';
import { isHostAllowed, type GuardPolicy } from '../http/guards.js';
import { ClientRateLimit } from '../http/rate-limits.js';
import type { Logger } from '../log.js';
import { metadataFetcher } from './client-metadata.js';
import { ClientRegistry, redirectAllowed, type Client } from './clients.js';
import { Grants, sameResource, type Pending } from './grants.js';
import { errorPage, loginPage, PAGE_CSP } from './login-page.js';
import { checkOwnerLine, passphraseMatches, totpMatch } from './owner.js';
import type { AccessTokens } from '../http/authentication.js';
import { LEASE_REFRESH_MS, OAuthState } from './state.js';

/** The one scope: access to this MCP server. */
export const SCOPE = 'mcp';
/** Failed logins: per client address 5 in 15 minutes (then blocked 15), and 20 in an hour in all (then locked an hour). */
const LOGIN_LIMITS = { perClient: { points: 5, duration: 900, blockDuration: 900 }, overall: { points: 20, duration: 3600, blockDuration: 3600 } };
const REGISTRATIONS_PER_MINUTE = 10;
const FORM_LIMIT_BYTES = 64 * 1024;
/** How soon a change queued by `mcp-bridge oauth` (a revocation) takes effect. */
const REQUEST_POLL_MS = 1_000;

type Env = { Bindings: HttpBindings };

interface OAuthDeps {
  config: OAuthConfig;
  identify: ClientIdentityResolver;
  policy: GuardPolicy;
  log: Logger;
}

function readLine(path: string, what: string): string {
  const line = readFileSync(path, 'utf8').trim();
  if (line === '') throw new Error(`${what} ${path} is empty`);
  return line;
}

export class AuthorizationServer {
  readonly issuer: string;
  /** Each served path and its public URL, the resource its tokens are for. */
  private readonly resources: Array<{ path: string; url: string }>;
  private ownerLine: string;
  private totpSecret: string | undefined;
  private lastTotpStep = 0;
  private readonly state: OAuthState;
  private readonly clients: ClientRegistry;
  private grants: Grants;
  private readonly perClientFailures = new RateLimiterMemory(LOGIN_LIMITS.perClient);
  private readonly overallFailures = new RateLimiterMemory(LOGIN_LIMITS.overall);
  private readonly registrations = new ClientRateLimit(REGISTRATIONS_PER_MINUTE);
  /** Passphrase checks run one at a time: each takes 128 MiB and ~0.4 s of scrypt. */
  private checking: Promise<unknown> = Promise.resolve();
  /** Grants whose token has reached the MCP endpoint since start (their first use is logged). */
  private readonly seen = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private leaseWrittenAt = 0;
  private stateTrouble = false;

  constructor(private readonly deps: OAuthDeps) {
    const { config, log } = deps;
    this.issuer = new URL(config.publicUrl).origin;
    this.resources = config.resources;
    this.totpSecret = this.readTotp();
    this.ownerLine = this.readOwner();
    this.state = new OAuthState(config.stateDir, this.ownerLine);
    this.state.open();
    this.state.applyRequests();
    this.state.save();
    this.state.writeLease();
    this.leaseWrittenAt = Date.now();
    const persist = () => this.state.save();
    const fetcher = metadataFetcher((id, reason) => log.warn({ clientId: id, reason }, 'client metadata document not fetched; using the pinned copy if there is one'));
    this.clients = new ClientRegistry(this.state, fetcher, config.redirectAllow, persist);
    this.grants = this.newGrants();
    this.timer = setInterval(() => this.tick(), REQUEST_POLL_MS).unref();
  }

  private newGrants(): Grants {
    const { config } = this.deps;
    return new Grants(this.state, { accessMs: config.accessTtlMs, refreshIdleMs: config.refreshIdleMs, refreshMaxMs: config.refreshMaxMs }, () => this.state.save());
  }

  /** Every second: the owner's queued changes applied; every few, the lease rewritten. */
  private tick(): void {
    try {
      const now = Date.now();
      if (now - this.leaseWrittenAt >= LEASE_REFRESH_MS) {
        this.state.writeLease();
        this.leaseWrittenAt = now;
      }
      this.applyQueued();
      this.stateTrouble = false;
    } catch (error) {
      if (!this.stateTrouble) this.deps.log.error({ err: (error as Error).message, stateDir: this.deps.config.stateDir }, 'cannot use the OAuth state directory');
      this.stateTrouble = true;
    }
  }

  private applyQueued(): void {
    const applied = this.state.applyRequests();
    if (applied === 0) return;
    this.grants.reindex();
    this.state.save();
    this.deps.log.info({ applied, grants: this.state.grants.size, clients: this.state.clients.size }, 'changes from `mcp-bridge oauth` applied');
  }

  /** SIGHUP: the owner and TOTP files again. A new passphrase revokes every grant, and the logins and codes under way. */
  reload(): void {
    this.ownerLine = this.readOwner();
    this.totpSecret = this.readTotp();
    if (this.state.setOwner(this.ownerLine)) {
      this.grants = this.newGrants();
      this.state.save();
      this.deps.log.warn('the owner file changed: every grant is revoked');
    }
    this.applyQueued();
  }

  close(): void {
    clearInterval(this.timer);
    this.state.removeLease();
  }

  /**
   * What the MCP endpoint at `path` needs: the check of an access token, which must be for one of
   * `serverPaths`' resources (the URLs of the same server), and its 401 challenge.
   */
  forPath(path: string, serverPaths: string[]): AccessTokens {
    const urls = this.resources.filter((resource) => serverPaths.includes(resource.path)).map((resource) => resource.url);
    const metadata = `${this.issuer}/.well-known/oauth-protected-resource${new URL(this.urlOf(path)).pathname.replace(/\/$/, '')}`;
    return {
      verify: (accessToken) => this.verify(accessToken, urls),
      challenge: (tokenGiven) => `Bearer resource_metadata="${metadata}", scope="${SCOPE}"${tokenGiven ? ', error="invalid_token"' : ''}`,
    };
  }

  /** The grant an access token belongs to, if valid now for one of `urls`; its first use since start is logged. */
  private verify(accessToken: string, urls: string[]): string | undefined {
    const grant = this.grants.verifyAccess(accessToken, urls);
    if (grant !== undefined && !this.seen.has(grant)) {
      this.seen.add(grant);
      this.deps.log.info({ grant }, 'an OAuth access token reached the MCP endpoint');
    }
    return grant;
  }

  private urlOf(path: string): string {
    return this.resources.find((resource) => resource.path === path)?.url ?? this.deps.config.publicUrl;
  }

  /** Declares the authorization server's routes (and both forms of the protected resource metadata) on the app. */
  mount(app: Hono<Env>): void {
    const forms = new Map<string, string>();
    const urls = new Set(this.resources.map((resource) => resource.url));
    // The root form names a resource only when there is one; path forms (RFC 9728 §3.1) name each, by its public path and the path served here.
    if (urls.size === 1) forms.set('', [...urls][0]);
    for (const { path, url } of this.resources) {
      forms.set(new URL(url).pathname.replace(/\/$/, ''), url);
      forms.set(path === '/' ? '' : path, url);
    }
    const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'Content-Type, Authorization, MCP-Protocol-Version', 'access-control-allow-methods': 'GET, POST, OPTIONS' };
    const hostOk = (c: Context<Env>) => isHostAllowed(c.req.header('host'), this.deps.policy);
    const refuseHost = (c: Context<Env>) => c.json({ error: 'invalid_request', error_description: 'Host not allowed' }, 403, noStore);
    const api = (path: string) => app.options(path, (c) => c.body(null, 204, cors));

    for (const [form, resource] of forms) {
      const path = `/.well-known/oauth-protected-resource${form}`;
      api(path);
      app.get(path, (c) =>
        hostOk(c)
          ? c.json({ resource, authorization_servers: [this.issuer], scopes_supported: [SCOPE], bearer_methods_supported: ['header'] }, 200, { ...cors, ...noStore })
          : refuseHost(c),
      );
    }
    api('/.well-known/oauth-authorization-server');
    app.get('/.well-known/oauth-authorization-server', (c) => (hostOk(c) ? c.json(this.metadata(), 200, { ...cors, ...noStore }) : refuseHost(c)));

    const limit = bodyLimit({ maxSize: FORM_LIMIT_BYTES, onError: (c) => c.json({ error: 'invalid_request', error_description: 'body too large' }, 413) });
    app.get('/authorize', (c) => (hostOk(c) ? this.authorizeForm(c) : refuseHost(c)));
    app.post('/authorize', limit, (c) => (hostOk(c) ? this.authorizeLogin(c) : refuseHost(c)));
    api('/token');
    app.post('/token', limit, (c) => (hostOk(c) ? this.token(c, { ...cors, ...noStore }) : refuseHost(c)));
    api('/register');
    app.post('/register', limit, (c) => (hostOk(c) ? this.register(c, { ...cors, ...noStore }) : refuseHost(c)));
    api('/revoke');
    app.post('/revoke', limit, async (c) => {
      if (!hostOk(c)) return refuseHost(c);
      const form = await c.req.parseBody();
      if (typeof form.token === 'string') this.grants.revokeToken(form.token);
      return c.body(null, 200, { ...cors, ...noStore });
    });
  }

  private metadata() {
    const methods = ['none', 'client_secret_post', 'client_secret_basic'];
    return {
      issuer: this.issuer,
      authorization_endpoint: `${this.issuer}/authorize`,
      token_endpoint: `${this.issuer}/token`,
      registration_endpoint: `${this.issuer}/register`,
      revocation_endpoint: `${this.issuer}/revoke`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: methods,
      revocation_endpoint_auth_methods_supported: methods,
      scopes_supported: [SCOPE],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    };
  }

  private readOwner(): string {
    const line = readLine(this.deps.config.ownerFile, 'the owner file');
    checkOwnerLine(line);
    return line;
  }

  private readTotp(): string | undefined {
    const file = this.deps.config.totpFile;
    return file === undefined ? undefined : readLine(file, 'the TOTP file');
  }

  private clientAddress(c: Context<Env>): string {
    return this.deps.identify(c.env.incoming.socket.remoteAddress, c.env.incoming.headers).key;
  }

  private html(c: Context<Env>, body: string, status: 200 | 400 | 401 | 403 | 429 | 503) {
    return c.html(body, status, { 'content-security-policy': PAGE_CSP, 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
  }

  /**
   * GET /authorize: everything is checked before the owner sees a form (client, redirect, response type,
   * S256, resource), and a bad request is shown as a page, never redirected: a redirect to an unchecked URI
   * is what an attacker wants.
   */
  private async authorizeForm(c: Context<Env>) {
    const q = (name: string) => c.req.query(name);
    const clientId = q('client_id');
    const client = clientId === undefined ? undefined : await this.clients.find(clientId);
    if (!client) return this.html(c, errorPage('This application is not known to this server.'), 400);
    const redirectUri = q('redirect_uri') ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
    if (redirectUri === undefined || !redirectAllowed(client, redirectUri, this.deps.config.redirectAllow)) {
      return this.html(c, errorPage('This application asked to be sent somewhere this server does not allow.'), 400);
    }
    if (q('response_type') !== 'code') return this.html(c, errorPage('Only the authorization code flow is supported.'), 400);
    const challenge = q('code_challenge');
    if (q('code_challenge_method') !== 'S256' || !challenge || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      return this.html(c, errorPage('The request lacks a PKCE S256 challenge.'), 400);
    }
    const resource = this.resourceAsked(q('resource'));
    if (resource === undefined) return this.html(c, errorPage('The request is for another server, or does not say which.'), 400);
    const pending = this.grants.addPending({ client, redirectUri, state: q('state'), codeChallenge: challenge, resource, scope: SCOPE });
    if (!pending) return this.html(c, errorPage('Too many sign-ins are waiting; try again in a few minutes.'), 503);
    return this.html(c, this.loginView(pending), 200);
  }

  /** The served URL a request's `resource` names (a trailing slash aside); without one, the only URL there is. */
  private resourceAsked(asked: string | undefined): string | undefined {
    const urls = [...new Set(this.resources.map((resource) => resource.url))];
    if (asked === undefined) return urls.length === 1 ? urls[0] : undefined;
    return urls.find((url) => sameResource(url, asked));
  }

  private loginView(pending: Pending, error?: string): string {
    return loginPage({
      requestId: pending.id,
      clientName: pending.client.name,
      redirectHost: new URL(pending.redirectUri).host,
      resource: pending.resource,
      totp: this.totpSecret !== undefined,
      error,
    });
  }

  /** POST /authorize: the owner's passphrase (and code), limited per client and overall; success redirects with the code. */
  private async authorizeLogin(c: Context<Env>) {
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== this.issuer && origin !== 'null') return this.html(c, errorPage('This form can only be sent from its own page.'), 403);
    const form = await c.req.parseBody();
    const pending = typeof form.request_id === 'string' ? this.grants.getPending(form.request_id) : undefined;
    if (!pending) return this.html(c, errorPage('This sign-in has expired.'), 400);
    const from = this.clientAddress(c);
    const [mine, all] = await Promise.all([this.perClientFailures.get(from), this.overallFailures.get('all')]);
    if ((mine?.consumedPoints ?? 0) >= LOGIN_LIMITS.perClient.points || (all?.consumedPoints ?? 0) >= LOGIN_LIMITS.overall.points) {
      return this.html(c, this.loginView(pending, 'Too many failed attempts. Try again later.'), 429);
    }
    const passphrase = typeof form.passphrase === 'string' ? form.passphrase : '';
    const run = this.checking.then(() => passphraseMatches(this.ownerLine, passphrase));
    this.checking = run.catch(() => undefined);
    let ok = await run.catch(() => false);
    if (ok && this.totpSecret !== undefined) {
      const step = totpMatch(this.totpSecret, typeof form.totp === 'string' ? form.totp : '', Date.now(), this.lastTotpStep);
      ok = step !== undefined;
      if (step !== undefined) this.lastTotpStep = step;
    }
    if (!ok) {
      const fromHere = await this.perClientFailures.penalty(from);
      if (fromHere.consumedPoints >= LOGIN_LIMITS.perClient.points) await this.perClientFailures.block(from, LOGIN_LIMITS.perClient.blockDuration);
      const overall = await this.overallFailures.penalty('all');
      this.deps.log.warn({ client: from, client_id: pending.client.id }, 'failed owner login');
      if (overall.consumedPoints >= LOGIN_LIMITS.overall.points) {
        await this.overallFailures.block('all', LOGIN_LIMITS.overall.blockDuration);
        this.deps.log.warn({ failures: overall.consumedPoints }, 'too many failed owner logins: logins locked for an hour');
      }
      return this.html(c, this.loginView(pending, 'That did not work.'), 401);
    }
    const code = this.grants.issueCode(pending, from);
    this.deps.log.info({ client: from, client_id: pending.client.id, client_name: pending.client.name, redirect: new URL(pending.redirectUri).host }, 'owner logged in; code issued');
    const target = new URL(pending.redirectUri);
    target.searchParams.set('code', code);
    if (pending.state !== undefined) target.searchParams.set('state', pending.state);
    target.searchParams.set('iss', this.issuer);
    return c.redirect(target.href, 302);
  }

  /** The client of a token request and its secret: client_secret_basic, else the form's client_id and client_secret. */
  private clientCredentials(c: Context<Env>, form: Record<string, unknown>): { id: string | undefined; secret: string | undefined } {
    const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':').map(decodeURIComponent);
      return { id, secret };
    }
    return { id: typeof form.client_id === 'string' ? form.client_id : undefined, secret: typeof form.client_secret === 'string' ? form.client_secret : undefined };
  }

  private async token(c: Context<Env>, headers: Record<string, string>) {
    const form = await c.req.parseBody();
    const text = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : undefined);
    const { id, secret } = this.clientCredentials(c, form);
    const client: Client | undefined = id === undefined ? undefined : await this.clients.find(id);
    // 401 invalid_client, not 400: that is what makes Claude register again.
    if (!client || !this.clients.authenticated(client, secret)) return c.json({ error: 'invalid_client' }, 401, headers);
    this.clients.touch(client.id);
    let result;
    if (text('grant_type') === 'authorization_code') {
      result = this.grants.exchangeCode({ code: text('code') ?? '', clientId: client.id, redirectUri: text('redirect_uri'), verifier: text('code_verifier') ?? '', resource: text('resource') });
    } else if (text('grant_type') === 'refresh_token') {
      result = this.grants.refresh({ refreshToken: text('refresh_token') ?? '', clientId: client.id, resource: text('resource') });
    } else {
      return c.json({ error: 'unsupported_grant_type' }, 400, headers);
    }
    if (typeof result === 'string') return c.json({ error: result }, 400, headers);
    this.deps.log.info({ client_id: client.id, grant_type: text('grant_type') }, 'tokens issued');
    return c.json(result, 200, headers);
  }

  private async register(c: Context<Env>, headers: Record<string, string>) {
    const wait = await this.registrations.take(this.clientAddress(c));
    if (wait !== undefined) return c.json({ error: 'too_many_requests' }, 429, { ...headers, 'retry-after': String(wait) });
    let body: { redirect_uris?: unknown; client_name?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'invalid_client_metadata', error_description: 'not JSON' }, 400, headers);
    }
    const uris = body.redirect_uris;
    if (!Array.isArray(uris) || !uris.every((u) => typeof u === 'string')) {
      return c.json({ error: 'invalid_redirect_uri', error_description: 'redirect_uris must be a list of URIs' }, 400, headers);
    }
    const name = typeof body.client_name === 'string' && body.client_name.trim() !== '' ? body.client_name.slice(0, 100) : 'an unnamed application';
    const record = this.clients.register(name, uris as string[]);
    if ('refused' in record) {
      return c.json({ error: 'invalid_redirect_uri', error_description: `redirect not allowed: ${record.refused}` }, 400, headers);
    }
    this.deps.log.info({ client_id: record.id, client_name: name }, 'client registered');
    return c.json(
      {
        client_id: record.id,
        client_id_issued_at: Math.floor(record.createdAt / 1000),
        client_name: name,
        redirect_uris: record.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      },
      201,
      headers,
    );
  }
}
