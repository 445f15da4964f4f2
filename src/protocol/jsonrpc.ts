/**
 * JSON-RPC 2.0 messages as they cross the bridge: parsed once, kept with the one-line text they came as,
 * so that a message passed on unchanged is written exactly as it arrived, without serialising it again.
 */
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';

export type { JSONRPCMessage, RequestId };

export type MessageKind = 'request' | 'notification' | 'response';

export interface WireMessage {
  kind: MessageKind;
  message: JSONRPCMessage;
  /** The message as one line of JSON: no CR or LF, so it fits an SSE `data:` line and a stdio line. */
  text: string;
}

/** The top-level keys each kind may have, as the SDK's strict schemas allow them. */
const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);
const ERROR_KEYS = new Set(['jsonrpc', 'id', 'error']);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isRequestId = (value: unknown): value is RequestId =>
  typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));

function onlyKeys(value: Record<string, unknown>, allowed: Set<string>): boolean {
  for (const key in value) if (!allowed.has(key)) return false;
  return true;
}

/**
 * The envelope check of every message that enters a child or a client's stream: what the SDK's
 * JSONRPCMessageSchema accepts (version, id, method, object params and result, error code and message, no
 * other top-level keys), checked by hand. Why not the schema: a zod parse of the union costs tens of µs a
 * message, as much as the rest of a call's bookkeeping; the payload inside params and result is the
 * server's and the client's business, as it is for the SDK.
 */
export function kindOf(value: unknown): MessageKind | undefined {
  if (!isObject(value) || value.jsonrpc !== '2.0') return undefined;
  if (typeof value.method === 'string') {
    if (value.params !== undefined && !(isObject(value.params) && (value.params._meta === undefined || isObject(value.params._meta)))) {
      return undefined;
    }
    if (!onlyKeys(value, REQUEST_KEYS)) return undefined;
    if (value.id === undefined) return 'notification';
    return isRequestId(value.id) ? 'request' : undefined;
  }
  if (!isRequestId(value.id)) return undefined;
  if ('result' in value) return isObject(value.result) && onlyKeys(value, RESULT_KEYS) ? 'response' : undefined;
  const error = value.error;
  const wellFormed = isObject(error) && Number.isInteger(error.code) && typeof error.message === 'string';
  return wellFormed && onlyKeys(value, ERROR_KEYS) ? 'response' : undefined;
}

/** A parsed value as a WireMessage, or undefined when it is not a JSON-RPC message. `text` must be its one-line JSON. */
export function wireMessage(value: unknown, text: string): WireMessage | undefined {
  const kind = kindOf(value);
  return kind && { kind, message: value as JSONRPCMessage, text };
}

/** A message the bridge makes or rewrites itself. */
export function ownMessage(message: JSONRPCMessage): WireMessage {
  return { kind: kindOf(message) as MessageKind, message, text: JSON.stringify(message) };
}

/**
 * One line of JSON text (a stdout line, a request body) as a WireMessage: undefined when it is not JSON or
 * not JSON-RPC. Text with a raw CR or LF inside (JSON allows them as whitespace) is serialised again, so
 * that what is passed on is always one line.
 */
export function parseMessage(text: string): WireMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return wireMessage(value, oneLine(text, value));
}

/** `text` itself when it holds no line break, else the value serialised again. */
export function oneLine(text: string, value: unknown): string {
  return text.includes('\n') || text.includes('\r') ? JSON.stringify(value) : text;
}

export function idOf(message: JSONRPCMessage): RequestId | undefined {
  return (message as { id?: RequestId }).id;
}

export function methodOf(message: JSONRPCMessage): string | undefined {
  return (message as { method?: string }).method;
}

/** The progress token a request asks for (`params._meta.progressToken`), if any. */
export function progressTokenOf(message: JSONRPCMessage): string | number | undefined {
  const token = (message as { params?: { _meta?: { progressToken?: unknown } } }).params?._meta?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

export function errorResponse(id: RequestId, code: number, message: string, data?: unknown): WireMessage {
  const error: { code: number; message: string; data?: unknown } = { code, message };
  if (data !== undefined) error.data = data;
  return ownMessage({ jsonrpc: '2.0', id, error });
}

/**
 * The protocol version an `initialize` asks for, if its params have the shape the spec requires
 * (protocolVersion, capabilities, clientInfo with name and version); undefined otherwise. By hand, like
 * the envelope check: the SDK's schema costs about 0.2 ms a new session, and the child checks the rest.
 */
export function initializeVersionOf(message: JSONRPCMessage): string | undefined {
  const params = (message as { params?: Record<string, unknown> }).params;
  if (!isObject(params) || typeof params.protocolVersion !== 'string' || !isObject(params.capabilities)) return undefined;
  const info = params.clientInfo;
  return isObject(info) && typeof info.name === 'string' && typeof info.version === 'string' ? params.protocolVersion : undefined;
}
