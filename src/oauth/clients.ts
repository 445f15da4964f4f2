/**
 * Who may ask for a code, and where it may go: clients registered by DCR, the owner's static clients, and
 * clients whose id is a metadata document URL (CIMD); the redirect policy that applies to all of them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientMetadata, MetadataFetcher } from './client-metadata.js';
import { isMetadataUrl } from './client-metadata.js';
import { sha256, type ClientRecord, type OAuthState } from './state.js';

export interface Client {
  id: string;
  name: string;
  kind: 'cimd' | 'dcr' | 'static';
  redirectUris: string[];
  secretHash?: string;
}

/** Claude's hosted callbacks (claude.com is where the help pages say it may move). */
export const CLAUDE_CALLBACKS = ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'];
/** Dynamically registered clients kept at most: Claude registers on every fresh connection, sometimes twice. */
const MAX_DCR_CLIENTS = 200;

function loopbackOf(uri: string): URL | undefined {
  try {
    const url = new URL(uri);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return (url.protocol === 'http:' || url.protocol === 'https:') && ['localhost', '127.0.0.1', '::1'].includes(host) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A requested redirect matches a registered one exactly, or, on loopback, but for the port (RFC 8252 §7.3). */
function matches(registered: string, requested: string): boolean {
  if (registered === requested) return true;
  const a = loopbackOf(registered);
  const b = loopbackOf(requested);
  return !!a && !!b && a.protocol === b.protocol && a.hostname === b.hostname && a.pathname === b.pathname && a.search === b.search;
}

/**
 * Rule: a code only ever goes to a redirect the client registered that is also Claude's callback, loopback
 * (any port), or one the owner listed with --oauth-redirect-allow. Why: it is the main defence against
 * phishing the owner: whatever link they are sent, a code can reach only Claude or their own machine.
 */
export function redirectAllowed(client: Client, uri: string, ownerAllowed: string[]): boolean {
  if (!client.redirectUris.some((registered) => matches(registered, uri))) return false;
  return CLAUDE_CALLBACKS.includes(uri) || loopbackOf(uri) !== undefined || ownerAllowed.includes(uri);
}

export class ClientRegistry {
  constructor(
    private readonly state: OAuthState,
    private readonly fetchMetadata: MetadataFetcher,
    private readonly ownerAllowed: string[],
    /** Persists the state after a change. */
    private readonly changed: () => void,
  ) {}

  async find(clientId: string): Promise<Client | undefined> {
    const record = this.state.clients.get(clientId);
    if (record) return { id: record.id, name: record.name, kind: record.kind, redirectUris: record.redirectUris, secretHash: record.secretHash };
    if (!isMetadataUrl(clientId)) return undefined;
    const metadata: ClientMetadata | undefined = await this.fetchMetadata(clientId);
    return metadata && { id: metadata.clientId, name: metadata.name, kind: 'cimd', redirectUris: metadata.redirectUris };
  }

  /** Marks a registered client used (for eviction). */
  touch(clientId: string): void {
    const record = this.state.clients.get(clientId);
    if (record) record.lastUsedAt = Date.now();
  }

  /** Whether the client authenticated as its kind requires: public clients need nothing, a static one with a secret needs it. */
  authenticated(client: Client, secret: string | undefined): boolean {
    if (!client.secretHash) return true;
    if (secret === undefined) return false;
    const given = Buffer.from(sha256(secret));
    const expected = Buffer.from(client.secretHash);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** DCR: a public client; every redirect must pass the policy. Returns the record, or the redirect refused. */
  register(name: string, redirectUris: string[]): ClientRecord | { refused: string } {
    const probe: Client = { id: '', name, kind: 'dcr', redirectUris };
    const refused = redirectUris.find((uri) => !redirectAllowed(probe, uri, this.ownerAllowed));
    if (refused !== undefined || redirectUris.length === 0) return { refused: refused ?? '(none)' };
    const now = Date.now();
    const record: ClientRecord = { id: `mcpb_client_${randomBytes(16).toString('base64url')}`, kind: 'dcr', name, redirectUris, createdAt: now, lastUsedAt: now };
    this.evictOverCap();
    this.state.clients.set(record.id, record);
    this.changed();
    return record;
  }

  /** Rule: past MAX_DCR_CLIENTS registered clients, the least recently used goes. Why: a client registers on every connect. */
  private evictOverCap(): void {
    const registered = [...this.state.clients.values()].filter((c) => c.kind === 'dcr');
    if (registered.length < MAX_DCR_CLIENTS) return;
    registered.sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const client of registered.slice(0, registered.length - MAX_DCR_CLIENTS + 1)) this.state.clients.delete(client.id);
  }
}
