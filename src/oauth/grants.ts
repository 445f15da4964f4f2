/**
 * The authorization server's bookkeeping: pending authorization requests and codes (in memory, short
 * lived), grants with their access and refresh tokens (persisted, as hashes only), refresh-token rotation
 * with one step of grace, and the check of an access token presented to the MCP endpoint.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Client } from './clients.js';
import { sha256, type GrantRecord, type OAuthState } from './state.js';

export interface Lifetimes {
  accessMs: number;
  refreshIdleMs: number;
  refreshMaxMs: number;
}

export const CODE_LIFETIME_MS = 5 * 60_000;
export const PENDING_LIFETIME_MS = 10 * 60_000;
/** Authorization requests waiting for the owner's login at most: past it new ones are refused. */
export const MAX_PENDING = 100;
const MAX_RETIRED = 20;
const MAX_ACCESS_PER_GRANT = 20;

export interface Pending {
  id: string;
  client: Client;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  resource: string;
  scope: string;
  expiresAt: number;
}

interface Code {
  clientId: string;
  clientName: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  scope: string;
  from: string;
  expiresAt: number;
  /** Set once exchanged: a second exchange revokes the grant it made. */
  grantId?: string;
}

export interface Tokens {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** Why a token request is refused, as RFC 6749 names it. */
export type TokenRefusal = 'invalid_grant' | 'invalid_target';

const token = (prefix: string) => `${prefix}${randomBytes(32).toString('base64url')}`;

/** The S256 check of PKCE: BASE64URL(SHA256(verifier)) equals the challenge, compared in constant time. */
export function pkceMatches(verifier: string, challenge: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/** Resources compare without a trailing slash: clients and Claude's UI add or strip one. */
export const sameResource = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

export class Grants {
  private readonly pending = new Map<string, Pending>();
  private readonly codes = new Map<string, Code>();
  /** Access-token hash → grant, rebuilt from the state on load. */
  private accessIndex = new Map<string, { grantId: string; expiresAt: number }>();

  constructor(
    private readonly state: OAuthState,
    private readonly lifetimes: Lifetimes,
    /** Persists the state after a change. */
    private readonly changed: () => void,
  ) {
    this.reindex();
  }

  /** After the state was (re)loaded. */
  reindex(): void {
    this.accessIndex = new Map();
    for (const grant of this.state.grants.values()) {
      for (const access of grant.access) this.accessIndex.set(access.hash, { grantId: grant.id, expiresAt: access.expiresAt });
    }
  }

  /** Keeps an authorization request for the owner's login; undefined when too many wait already. */
  addPending(request: Omit<Pending, 'id' | 'expiresAt'>): Pending | undefined {
    this.prune();
    if (this.pending.size >= MAX_PENDING) return undefined;
    const pending: Pending = { ...request, id: randomBytes(18).toString('base64url'), expiresAt: Date.now() + PENDING_LIFETIME_MS };
    this.pending.set(pending.id, pending);
    return pending;
  }

  getPending(id: string): Pending | undefined {
    const pending = this.pending.get(id);
    return pending && pending.expiresAt > Date.now() ? pending : undefined;
  }

  /** The owner logged in: the request becomes a single-use code. */
  issueCode(pending: Pending, from: string): string {
    this.pending.delete(pending.id);
    const code = token('mcpb_code_');
    this.codes.set(sha256(code), {
      clientId: pending.client.id,
      clientName: pending.client.name,
      redirectUri: pending.redirectUri,
      codeChallenge: pending.codeChallenge,
      resource: pending.resource,
      scope: pending.scope,
      from,
      expiresAt: Date.now() + CODE_LIFETIME_MS,
    });
    return code;
  }

  /**
   * Rule: a code is exchanged once, by the client it was issued to, with the same redirect, the verifier
   * of its challenge and the same resource, within 5 minutes; a second exchange revokes the grant the
   * first one made. Why: RFC 6749 §4.1.2 and OAuth 2.1; a replayed code means it leaked.
   */
  exchangeCode(request: { code: string; clientId: string; redirectUri: string | undefined; verifier: string; resource: string | undefined }): Tokens | TokenRefusal {
    this.prune();
    const code = this.codes.get(sha256(request.code));
    if (!code) return 'invalid_grant';
    if (code.grantId !== undefined) {
      this.revoke(code.grantId);
      return 'invalid_grant';
    }
    const bound =
      code.clientId === request.clientId && code.redirectUri === request.redirectUri && pkceMatches(request.verifier, code.codeChallenge);
    if (!bound) return 'invalid_grant';
    if (request.resource !== undefined && !sameResource(request.resource, code.resource)) return 'invalid_target';
    const now = Date.now();
    const refreshToken = token('mcpb_rt_');
    const grant: GrantRecord = {
      id: `grant_${randomBytes(9).toString('base64url')}`,
      clientId: code.clientId,
      clientName: code.clientName,
      resource: code.resource,
      scope: code.scope,
      createdAt: now,
      from: code.from,
      refresh: { hash: sha256(refreshToken), retired: [], idleExpiresAt: now + this.lifetimes.refreshIdleMs, absoluteExpiresAt: now + this.lifetimes.refreshMaxMs },
      access: [],
    };
    code.grantId = grant.id;
    this.state.grants.set(grant.id, grant);
    return this.issueAccess(grant, refreshToken);
  }

  /**
   * Rule: refresh tokens rotate on every use; the one before stays good until its successor is first
   * used (one step of grace, for a client that lost an answer); presenting an older one revokes the grant;
   * a missing resource is inherited, another one refused. Why: OAuth 2.1 §4.3.1 for public clients, and
   * clients (Claude Code among them) that retry with the previous token.
   */
  refresh(request: { refreshToken: string; clientId: string; resource: string | undefined }): Tokens | TokenRefusal {
    const hash = sha256(request.refreshToken);
    const now = Date.now();
    for (const grant of this.state.grants.values()) {
      const refresh = grant.refresh;
      if (refresh.retired.includes(hash)) {
        this.revoke(grant.id);
        return 'invalid_grant';
      }
      const isCurrent = refresh.hash === hash;
      if (!isCurrent && refresh.prevHash !== hash) continue;
      if (grant.clientId !== request.clientId) return 'invalid_grant';
      if (now > refresh.idleExpiresAt || now > refresh.absoluteExpiresAt) {
        this.revoke(grant.id);
        return 'invalid_grant';
      }
      if (request.resource !== undefined && !sameResource(request.resource, grant.resource)) return 'invalid_target';
      const next = token('mcpb_rt_');
      if (isCurrent) {
        if (refresh.prevHash) refresh.retired.push(refresh.prevHash);
        refresh.prevHash = refresh.hash;
      } else {
        // The previous token again: the current one was never used, and is now spent.
        refresh.retired.push(refresh.hash);
      }
      refresh.hash = sha256(next);
      refresh.retired = refresh.retired.slice(-MAX_RETIRED);
      refresh.idleExpiresAt = Math.min(now + this.lifetimes.refreshIdleMs, refresh.absoluteExpiresAt);
      return this.issueAccess(grant, next);
    }
    return 'invalid_grant';
  }

  /** The grant an access token belongs to, if it is valid now and for one of `resources` (the URLs of the server asked). */
  verifyAccess(accessToken: string, resources: string[]): string | undefined {
    if (!accessToken.startsWith('mcpb_at_')) return undefined;
    const entry = this.accessIndex.get(sha256(accessToken));
    const grant = entry && this.state.grants.get(entry.grantId);
    if (!entry || !grant || entry.expiresAt <= Date.now()) return undefined;
    return resources.some((resource) => sameResource(resource, grant.resource)) ? grant.id : undefined;
  }

  /** RFC 7009: a refresh or access token of a grant revokes the grant. */
  revokeToken(presented: string): void {
    const hash = sha256(presented);
    const byAccess = this.accessIndex.get(hash)?.grantId;
    const byRefresh = [...this.state.grants.values()].find((g) => g.refresh.hash === hash || g.refresh.prevHash === hash)?.id;
    const grant = byAccess ?? byRefresh;
    if (grant) this.revoke(grant);
  }

  revoke(grantId: string): void {
    const grant = this.state.grants.get(grantId);
    if (!grant) return;
    for (const access of grant.access) this.accessIndex.delete(access.hash);
    this.state.grants.delete(grantId);
    this.changed();
  }

  private issueAccess(grant: GrantRecord, refreshToken: string): Tokens {
    const now = Date.now();
    const accessToken = token('mcpb_at_');
    const access = { hash: sha256(accessToken), expiresAt: now + this.lifetimes.accessMs };
    const all = [...grant.access.filter((a) => a.expiresAt > now), access];
    const kept = all.slice(-MAX_ACCESS_PER_GRANT);
    for (const old of grant.access) if (!kept.includes(old)) this.accessIndex.delete(old.hash);
    grant.access = kept;
    this.accessIndex.set(access.hash, { grantId: grant.id, expiresAt: access.expiresAt });
    this.changed();
    return { access_token: accessToken, token_type: 'Bearer', expires_in: Math.round(this.lifetimes.accessMs / 1000), refresh_token: refreshToken, scope: grant.scope };
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, pending] of this.pending) if (pending.expiresAt <= now) this.pending.delete(id);
    for (const [hash, code] of this.codes) if (code.expiresAt <= now) this.codes.delete(hash);
  }
}
