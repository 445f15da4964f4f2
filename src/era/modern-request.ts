/**
 * Which era a POSTed message speaks, and for a 2026-07-28 ("modern") request, its per-request envelope
 * checked against its headers the way the spec and the v2 SDK's entry ladder do (classifyInboundRequest,
 * validateStandardRequestHeaders): the body decides the era; the headers must agree with it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JSONRPCMessage, RequestId } from '../protocol/jsonrpc.js';

import { META, MODERN_VERSIONS, isModernVersion } from '../protocol/modern.js';

export const ModernError = {
  HeaderMismatch: -32020,
  MissingCapability: -32021,
  UnsupportedVersion: -32022,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InvalidRequest: -32600,
} as const;

/** Requests a modern client may send, each served by the bridge or by a child. */
const MODERN_METHODS = new Set([
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
]);

/** The body field that `Mcp-Name` mirrors, for the methods that have one. */
const NAME_SOURCE: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

export interface ModernRequest {
  era: 'modern';
  id: RequestId;
  method: string;
  version: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo: Record<string, unknown> | undefined;
  logLevel: string | undefined;
}

export interface Refusal {
  era: 'refused';
  status: number;
  code: number;
  message: string;
  id: RequestId | null;
  data?: unknown;
}

/** A modern notification: nothing in 2026-07-28 needs a server's answer to one. */
export interface ModernNotification {
  era: 'modern-notification';
}

export type Classified = { era: 'legacy' } | ModernRequest | ModernNotification | Refusal;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return typeof value === 'string' ? value.trim() : undefined;
};

const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A header value with `=?base64?…?=` decoded (undefined when that is not canonical Base64 of UTF-8); any other as it is. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!value.startsWith('=?base64?') || !value.endsWith('?=')) return value;
  const encoded = value.slice('=?base64?'.length, -2);
  if (!CANONICAL_BASE64.test(encoded)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64'));
  } catch {
    return undefined;
  }
}

/**
 * Rule: a message is modern when its `_meta` names a protocol version (even an `initialize`), or when its
 * MCP-Protocol-Version header names a modern one outside a session (then a missing envelope is refused);
 * anything else, an `initialize` whatever version it asks for, is 2025-era. Why: the spec and SDK classify by the body, so a
 * proxy that drops a header cannot change a request's era.
 */
export function classify(message: JSONRPCMessage, headers: IncomingHttpHeaders): Classified {
  const body = message as { id?: RequestId; method?: unknown; params?: unknown };
  if (typeof body.method !== 'string') return { era: 'legacy' };
  const id = body.id ?? null;
  const refuse = (status: number, code: number, text: string, data?: unknown): Refusal => ({ era: 'refused', status, code, message: text, id, data });
  const params = isObject(body.params) ? body.params : undefined;
  const meta = params && isObject(params._meta) ? params._meta : undefined;
  const versionHeader = header(headers, 'mcp-protocol-version');
  const methodHeader = header(headers, 'mcp-method');
  const claimed = meta !== undefined && META.protocolVersion in meta;
  const mismatch = (headerValue: string, text: string) =>
    refuse(400, ModernError.HeaderMismatch, `Bad Request: the request headers and body disagree: ${text}`, { mismatch: { header: headerValue, body: text } });

  if (!claimed) {
    // A request of a 2025 session stays the session's, whatever version its header names (the session refuses a bad one).
    if (versionHeader === undefined || !isModernVersion(versionHeader) || headers['mcp-session-id'] !== undefined) return { era: 'legacy' };
    if (body.method === 'initialize') return mismatch(versionHeader, 'an initialize request (legacy handshake) was sent with a modern MCP-Protocol-Version header');
    if (body.id === undefined) return { era: 'modern-notification' };
    return refuse(400, ModernError.InvalidParams, `Invalid params: the MCP-Protocol-Version header names ${versionHeader}, but the request has no per-request _meta envelope`, {
      envelope: { missing: [meta === undefined ? '_meta' : META.protocolVersion] },
    });
  }
  const version = meta[META.protocolVersion];
  if (typeof version !== 'string') return refuse(400, ModernError.InvalidParams, `Invalid _meta envelope: ${META.protocolVersion} must be a string`, { envelope: { key: META.protocolVersion, problem: 'expected a string' } });
  if (!isModernVersion(version)) return { era: 'legacy' };
  if (body.id === undefined) return { era: 'modern-notification' };
  const capabilities = meta[META.clientCapabilities];
  if (!isObject(capabilities)) {
    const problem = capabilities === undefined ? 'missing' : 'expected an object';
    return refuse(400, ModernError.InvalidParams, `Invalid _meta envelope: ${META.clientCapabilities}: ${problem}`, { envelope: { key: META.clientCapabilities, problem } });
  }
  const clientInfo = meta[META.clientInfo];
  if (clientInfo !== undefined && !isObject(clientInfo)) {
    return refuse(400, ModernError.InvalidParams, `Invalid _meta envelope: ${META.clientInfo}: expected an object`, { envelope: { key: META.clientInfo, problem: 'expected an object' } });
  }
  const logLevel = meta[META.logLevel];
  if (versionHeader === undefined) return mismatch('(missing)', `the body envelope names protocol version ${version} but the required MCP-Protocol-Version header is absent`);
  if (versionHeader !== version) return mismatch(versionHeader, `the body envelope names protocol version ${version} but the MCP-Protocol-Version header names ${versionHeader}`);
  if (methodHeader === undefined) return mismatch('(missing)', `the body names method ${body.method} but the required Mcp-Method header is absent`);
  if (methodHeader !== body.method) return mismatch(methodHeader, `the body names method ${body.method} but the Mcp-Method header names ${methodHeader}`);
  const nameField = NAME_SOURCE[body.method];
  const bodyName = nameField && typeof params?.[nameField] === 'string' ? (params[nameField] as string) : undefined;
  if (bodyName !== undefined) {
    const nameHeader = header(headers, 'mcp-name');
    if (nameHeader === undefined) return mismatch('(missing)', `the body carries params.${nameField}="${bodyName}" but the required Mcp-Name header is absent`);
    const decoded = decodeHeaderValue(nameHeader);
    if (decoded === undefined) return mismatch(nameHeader, 'the Mcp-Name header carries an invalid Base64 sentinel value');
    if (decoded !== bodyName) return mismatch(nameHeader, `the body carries params.${nameField}="${bodyName}" but the Mcp-Name header names "${decoded}"`);
  }
  if (!MODERN_VERSIONS.includes(version)) {
    return refuse(400, ModernError.UnsupportedVersion, `Unsupported protocol version: ${version}`, { supported: MODERN_VERSIONS, requested: version });
  }
  if (!MODERN_METHODS.has(body.method)) return refuse(404, ModernError.MethodNotFound, `Method not found: ${body.method}`);
  return {
    era: 'modern',
    id: body.id,
    method: body.method,
    version,
    clientCapabilities: capabilities,
    clientInfo: clientInfo as Record<string, unknown> | undefined,
    logLevel: typeof logLevel === 'string' ? logLevel : undefined,
  };
}
