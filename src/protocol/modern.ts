/**
 * The 2026-07-28 revision's per-request envelope: the reserved `_meta` keys every modern request carries
 * (protocol version, client capabilities, client info, log level) and the ones of its results and listen
 * streams, and the envelope as the bridge writes it when it is the client.
 */

export const MODERN_VERSION = '2026-07-28';
/** The modern revisions the bridge serves. */
export const MODERN_VERSIONS = [MODERN_VERSION];

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

export function isModernVersion(version: string): boolean {
  return version >= MODERN_VERSION;
}

/** The envelope of a request the bridge sends as a 2026-07-28 client, merged into the request's own `_meta`. */
export function envelope(
  client: { capabilities: unknown; info?: unknown; logLevel?: string },
  meta: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    ...meta,
    [META.protocolVersion]: MODERN_VERSION,
    [META.clientCapabilities]: client.capabilities,
    ...(client.info !== undefined && { [META.clientInfo]: client.info }),
    ...(client.logLevel !== undefined && { [META.logLevel]: client.logLevel }),
  };
}
