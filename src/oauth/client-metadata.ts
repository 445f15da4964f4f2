/**
 * Client ID Metadata Documents (CIMD): a client whose id is an https URL is described by the JSON document
 * at that URL. Fetched with a guard against server-side request forgery (https only, every address the name
 * resolves to public, connected to the address checked, no redirects, 5 KB, 5 s), cached, and for Claude's
 * two documents, which Cloudflare often refuses to datacenter addresses, backed by pinned copies.
 */
import { lookup } from 'node:dns/promises';
import { request } from 'node:https';
import { BlockList, isIP } from 'node:net';

export interface ClientMetadata {
  clientId: string;
  name: string;
  redirectUris: string[];
}

/** Claude's documents as they were served on 2026-09-29 (claude.ai) and as Claude Code publishes it. */
export const PINNED_DOCUMENTS: Record<string, ClientMetadata> = {
  'https://claude.ai/oauth/mcp-oauth-client-metadata': {
    clientId: 'https://claude.ai/oauth/mcp-oauth-client-metadata',
    name: 'Claude',
    redirectUris: ['https://claude.ai/api/mcp/auth_callback'],
  },
  'https://claude.ai/oauth/claude-code-client-metadata': {
    clientId: 'https://claude.ai/oauth/claude-code-client-metadata',
    name: 'Claude Code',
    redirectUris: ['http://localhost/callback', 'http://127.0.0.1/callback'],
  },
};

const MAX_BYTES = 5 * 1024;
const TIMEOUT_MS = 5000;
const MIN_CACHE_MS = 5 * 60_000;
const MAX_CACHE_MS = 24 * 3600_000;

/** Addresses no client metadata may be fetched from: private, loopback, link-local, shared, reserved. */
const NOT_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3],
] as const) NOT_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 127], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['::ffff:0:0', 96], ['64:ff9b::', 96], ['2001:db8::', 32]] as const) {
  NOT_PUBLIC.addSubnet(net, bits, 'ipv6');
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && !NOT_PUBLIC.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** Whether a client id is a metadata document URL: https, a name (no IP literal), no credentials, query or fragment, a path. */
export function isMetadataUrl(clientId: string): boolean {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return false;
  }
  const literal = isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0;
  return url.protocol === 'https:' && !literal && !url.username && !url.password && !url.search && !url.hash && url.pathname !== '/' && url.href === clientId;
}

function parseDocument(clientId: string, text: string): ClientMetadata | undefined {
  const document = JSON.parse(text) as { client_id?: unknown; client_name?: unknown; redirect_uris?: unknown };
  const uris = document.redirect_uris;
  if (document.client_id !== clientId || !Array.isArray(uris) || uris.length === 0 || !uris.every((u) => typeof u === 'string')) return undefined;
  return { clientId, name: typeof document.client_name === 'string' ? document.client_name.slice(0, 100) : new URL(clientId).hostname, redirectUris: uris };
}

/** GET over https to the one address checked public; resolves with the body and its cache lifetime. */
async function fetchGuarded(url: URL): Promise<{ text: string; maxAgeMs: number }> {
  const addresses = await lookup(url.hostname, { all: true, verbatim: true });
  if (addresses.length === 0 || !addresses.every(({ address }) => isPublicAddress(address))) throw new Error('resolves to an address that is not public');
  const { address, family } = addresses[0];
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        timeout: TIMEOUT_MS,
        // Connect to the address just checked, not to whatever a second lookup returns.
        lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
          options.all ? callback(null, [{ address, family }]) : callback(null, address, family)) as never,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`answered ${res.statusCode}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BYTES) req.destroy(new Error('document larger than 5 KB'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const maxAge = Number(/max-age=(\d+)/.exec(String(res.headers['cache-control'] ?? ''))?.[1] ?? 0) * 1000;
          resolve({ text: Buffer.concat(chunks).toString('utf8'), maxAgeMs: Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, maxAge)) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

export type MetadataFetcher = (clientId: string) => Promise<ClientMetadata | undefined>;

/** A fetcher with its cache; `onFailure` is told why a document could not be fetched. */
export function metadataFetcher(onFailure: (clientId: string, reason: string) => void): MetadataFetcher {
  const cache = new Map<string, { metadata: ClientMetadata; expiresAt: number }>();
  return async (clientId) => {
    if (!isMetadataUrl(clientId)) return undefined;
    const cached = cache.get(clientId);
    if (cached && cached.expiresAt > Date.now()) return cached.metadata;
    try {
      const { text, maxAgeMs } = await fetchGuarded(new URL(clientId));
      const metadata = parseDocument(clientId, text);
      if (!metadata) throw new Error('not a client metadata document for this URL');
      if (cache.size >= 100) cache.delete(cache.keys().next().value as string);
      cache.set(clientId, { metadata, expiresAt: Date.now() + maxAgeMs });
      return metadata;
    } catch (error) {
      onFailure(clientId, (error as Error).message);
      return PINNED_DOCUMENTS[clientId];
    }
  };
}
