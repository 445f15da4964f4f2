/**
 * Which era a server's command speaks, found the way the spec tells a dual-era stdio client to: probe
 * with `server/discover`; a DiscoverResult offering 2026-07-28 means modern, anything else (an error of any
 * code, silence, garbage) means 2025-era and `initialize`. Probed once per server, on its first child, whose
 * session then goes on as its era wants.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from './child-process.js';
import { MODERN_VERSION, envelope } from '../protocol/modern.js';
import { exchange } from './first-exchange.js';

export type ChildEra = 'legacy' | 'modern';

/** What --child-era says: probe, or take the user's word. */
export type ChildEraSetting = 'auto' | ChildEra;

/** The probe's id: random per bridge, so no client request id can match it. */
const PROBE_ID = `mcp-bridge-era-probe-${randomUUID()}`;
/** A server silent this long after the probe is taken for a 2025-era one (which need not answer unknown methods). */
export const PROBE_TIMEOUT_MS = 3000;

/** The probe, as a modern client sends it: the per-request envelope with no capabilities. */
const probe = () => ({
  jsonrpc: '2.0',
  id: PROBE_ID,
  method: 'server/discover',
  params: { _meta: envelope({ capabilities: {}, info: { name: 'mcp-bridge (era probe)', version: '1' } }) },
});

/** The child's era, or 'exited' when it died on the probe (a 2025-era server that takes no unknown request). */
export async function probeEra(child: ChildProcess, timeoutMs = PROBE_TIMEOUT_MS): Promise<ChildEra | 'exited'> {
  const outcome = await exchange(child, probe(), new AbortController().signal, timeoutMs);
  if (outcome === 'exited') return 'exited';
  if (typeof outcome === 'string') return 'legacy';
  const versions = (outcome.answer.result as { supportedVersions?: unknown } | undefined)?.supportedVersions;
  return Array.isArray(versions) && versions.includes(MODERN_VERSION) ? 'modern' : 'legacy';
}
