/**
 * The bridge's own handshake with a child it shares out (--shared, and the 2026-07-28 side's children), in
 * the child's era: `initialize` then `notifications/initialized` (and the log level) for a 2025-era child;
 * for a 2026-07-28-only one, which has no handshake, `server/discover`, whose result stands for the
 * InitializeResult. The id of the handshake request is 0; no share's request gets that id.
 */
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { ownMessage, type WireMessage } from '../protocol/jsonrpc.js';
import { envelope } from '../protocol/modern.js';
import type { ChildEra } from './child-era.js';

export const HANDSHAKE_ID = 0;
/** The id of the bridge's own logging/setLevel request; its answer is dropped. */
const SET_LEVEL_ID = 'mcp-bridge:set-level';

export interface BridgeAsClient {
  capabilities: Record<string, unknown>;
  clientInfo: { name: string; version: string };
  /** The level a 2025-era child that can log is set to; undefined: left at its default. */
  logLevel: string | undefined;
}

/** The request that opens the child's era. */
export function handshakeRequest(era: ChildEra, client: BridgeAsClient): WireMessage {
  if (era === 'modern') {
    return ownMessage({ jsonrpc: '2.0', id: HANDSHAKE_ID, method: 'server/discover', params: { _meta: envelope({ capabilities: client.capabilities, info: client.clientInfo }) } });
  }
  const params = { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: client.capabilities, clientInfo: client.clientInfo };
  return ownMessage({ jsonrpc: '2.0', id: HANDSHAKE_ID, method: 'initialize', params });
}

/** What the bridge sends once the handshake succeeded with `result`. */
export function afterHandshake(era: ChildEra, result: Record<string, unknown>, client: BridgeAsClient): WireMessage[] {
  if (era === 'modern') return [];
  const messages = [ownMessage({ jsonrpc: '2.0', method: 'notifications/initialized' })];
  const canLog = (result.capabilities as { logging?: unknown } | undefined)?.logging !== undefined;
  if (client.logLevel && canLog) messages.push(ownMessage({ jsonrpc: '2.0', id: SET_LEVEL_ID, method: 'logging/setLevel', params: { level: client.logLevel } }));
  return messages;
}

/**
 * One child's handshake, from its start to its answer: the result every waiting sender shares. Rule: once
 * its request is sent, an answer that does not come within `timeoutMs` fails it. Why: every request
 * waiting for it would wait forever.
 */
export class PendingHandshake {
  readonly result: Promise<Record<string, unknown>>;
  private resolve!: (result: Record<string, unknown>) => void;
  private reject!: (error: Error) => void;
  private timer: NodeJS.Timeout | undefined;
  private state: 'pending' | 'succeeded' | 'failed' = 'pending';

  constructor() {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Handled here too, so that a handshake that fails while nobody waits is no unhandled rejection.
    this.result.catch(() => undefined);
  }

  /** Whether it is still waiting for its answer. */
  get pending(): boolean {
    return this.state === 'pending';
  }

  /** Whether the child answered it: requests may go to the child now. */
  get succeeded(): boolean {
    return this.state === 'succeeded';
  }

  /** Its request is sent: it fails (and `timedOut` runs) unless answered within `timeoutMs`. */
  sent(timeoutMs: number, timedOut: () => void): void {
    this.timer = setTimeout(() => {
      if (!this.pending) return;
      this.fail(new Error('the MCP server did not answer its handshake in time'));
      timedOut();
    }, timeoutMs);
    this.timer.unref();
  }

  succeed(result: Record<string, unknown>): void {
    if (!this.pending) return;
    this.state = 'succeeded';
    clearTimeout(this.timer);
    this.resolve(result);
  }

  fail(error: Error): void {
    if (!this.pending) return;
    this.state = 'failed';
    clearTimeout(this.timer);
    this.reject(error);
  }
}
