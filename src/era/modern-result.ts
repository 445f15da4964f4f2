/** A 2025-era child's results as a 2026-07-28 client must receive them. */
import { META, MODERN_VERSIONS } from '../protocol/modern.js';

type Result = Record<string, unknown>;

/** Results that say how long they may be cached (SEP-2549), by method. */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);

/**
 * Rule: every result is marked complete; a cacheable one the child did not mark is good for 0 ms, for this
 * caller only. Why: a 2025-era server says nothing about how long its lists hold, nor whether they differ per
 * user, so the only safe hint is "do not reuse".
 */
export function modernResult(method: string, result: Result): Result {
  const shaped: Result = { ...result, resultType: 'complete' };
  if (CACHEABLE.has(method)) {
    shaped.ttlMs ??= 0;
    shaped.cacheScope ??= 'private';
  }
  return shaped;
}

/** The 2026-07-28 capabilities of a 2025-era server: tasks left out (an extension the era translation does not carry). */
function modernCapabilities(capabilities: unknown): Result {
  const { tasks: _tasks, ...rest } = (capabilities ?? {}) as Result;
  return rest;
}

/** `server/discover`, answered from the child's InitializeResult. */
export function discoverResult(initialize: Result): Result {
  const result: Result = {
    resultType: 'complete',
    ttlMs: 0,
    cacheScope: 'private',
    supportedVersions: MODERN_VERSIONS,
    capabilities: modernCapabilities(initialize.capabilities),
    _meta: { [META.serverInfo]: initialize.serverInfo },
  };
  if (typeof initialize.instructions === 'string') result.instructions = initialize.instructions;
  return result;
}
