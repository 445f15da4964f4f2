/** The 2025-era protocol revisions the bridge serves, and what each changes for the HTTP side. */
import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

export { SUPPORTED_PROTOCOL_VERSIONS };

/** What a request without MCP-Protocol-Version speaks, as the spec tells servers to assume. */
export const ASSUMED_VERSION = DEFAULT_NEGOTIATED_PROTOCOL_VERSION;

export function isSupportedVersion(version: string): boolean {
  return SUPPORTED_PROTOCOL_VERSIONS.includes(version);
}

/**
 * Rule: SSE streams are primed (an event id and empty data first, so they can be resumed) only for sessions
 * that speak 2025-11-25 or later. Why: the priming event came with that revision (SEP-1699); clients of
 * older ones may read an event with empty data as a broken message.
 */
export function primesStreams(version: string): boolean {
  return version >= '2025-11-25';
}
