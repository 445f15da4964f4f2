/**
 * What a 2026-07-28 request and its answers become for a 2025-era child, and back: the request without
 * its envelope, which log messages pass, which questions a child may put and the capability each needs,
 * the client's answers, and the HTTP status of an error.
 */
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCMessage, RequestId } from '../protocol/jsonrpc.js';
import { META } from '../protocol/modern.js';
import { ModernError } from './modern-request.js';

/** The child's requests that become `inputRequests`. */
export const INPUT_METHODS = new Set(['elicitation/create', 'sampling/createMessage', 'roots/list']);
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Rule: a log message reaches the caller only when its request named a level and the message is at or above it. Why: 2026-07-28 has no logging/setLevel; `_meta` logLevel is the caller's only say, and none means none. */
export function logPasses(requested: string | undefined, level: unknown): boolean {
  if (requested === undefined) return false;
  const wanted = LOG_LEVELS.indexOf(requested);
  return wanted !== -1 && LOG_LEVELS.indexOf(String(level)) >= wanted;
}

/**
 * The client capabilities a child's question needs that the caller did not declare (the SDK's
 * requiredClientCapabilitiesForInputRequest and missingClientCapabilities), or undefined when none.
 */
export function missingCapabilities(question: JSONRPCRequest, declared: Record<string, unknown>): Record<string, unknown> | undefined {
  const params = (question.params ?? {}) as Record<string, unknown>;
  const has = (name: string, member?: string) => {
    const value = declared[name];
    if (typeof value !== 'object' || value === null) return false;
    if (member === undefined) return true;
    const members = value as Record<string, unknown>;
    // A bare `elicitation: {}` is form mode, as in 2025.
    if (name === 'elicitation' && member === 'form' && members.form === undefined && members.url === undefined) return true;
    return members[member] !== undefined;
  };
  switch (question.method) {
    case 'elicitation/create': {
      const mode = params.mode === 'url' ? 'url' : 'form';
      return has('elicitation', mode) ? undefined : { elicitation: { [mode]: {} } };
    }
    case 'sampling/createMessage': {
      const tools = params.tools !== undefined || params.toolChoice !== undefined;
      if (tools) return has('sampling', 'tools') ? undefined : { sampling: { tools: {} } };
      return has('sampling') ? undefined : { sampling: {} };
    }
    case 'roots/list':
      return has('roots') ? undefined : { roots: {} };
    default:
      return undefined;
  }
}

/** The well-formed entries (objects) of a request's inputResponses. */
export function answersOf(inputResponses: unknown): Record<string, unknown> {
  const answers: Record<string, unknown> = {};
  if (typeof inputResponses !== 'object' || inputResponses === null) return answers;
  for (const [key, answer] of Object.entries(inputResponses)) {
    if (typeof answer === 'object' && answer !== null && !Array.isArray(answer)) answers[key] = answer;
  }
  return answers;
}

/** Rule: an error answers with HTTP 200 (in-band), but -32021 with 400, as the spec says of that error wherever it comes from. */
export function httpStatusOf(message: JSONRPCMessage): number {
  return (message as { error?: { code?: unknown } }).error?.code === ModernError.MissingCapability ? 400 : 200;
}

/** The request as the child gets it, under `id`: the 2026 envelope and retry fields left out. */
export function childRequest(message: JSONRPCRequest, id: RequestId): JSONRPCRequest {
  const { inputResponses: _answers, requestState: _state, _meta, ...params } = (message.params ?? {}) as Record<string, unknown>;
  const meta: Record<string, unknown> = {};
  const envelope = new Set<string>(Object.values(META));
  for (const [key, value] of Object.entries((_meta ?? {}) as Record<string, unknown>)) if (!envelope.has(key)) meta[key] = value;
  if (Object.keys(meta).length > 0) params._meta = meta;
  return { jsonrpc: '2.0', id, method: message.method, params };
}
