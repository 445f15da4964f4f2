/**
 * The `requestState` of an `input_required` result: which parked call a retry continues, sealed with an
 * HMAC-SHA256 under a key of this bridge process, so that a client can neither forge nor alter one.
 * Format: `mcp-bridge.1.<base64url payload>.<base64url tag>` (the v2 SDK's codec's, under a prefix of its own,
 * so that a 2026-07-28 child's own sealed state, which the bridge passes on, is never taken for one of
 * ours). A replay is refused by the parked call itself (its round has moved on or it is gone), not here.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface RequestState {
  /** The node that parked the call (a retry is only served there). */
  node: string;
  /** The parked call. */
  call: string;
  /** Which answer of the call's this retry gives (1 for the first input_required). */
  round: number;
  /** When it stops being accepted (ms since the epoch). */
  expiresAt: number;
}

const PREFIX = 'mcp-bridge.1.';

/** Longest requestState accepted: far above what seal writes, so a client cannot make the bridge hash megabytes. */
const MAX_STATE_CHARS = 1024;

export class RequestStateCodec {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  seal(state: RequestState): string {
    const payload = Buffer.from(JSON.stringify({ n: state.node, c: state.call, r: state.round, e: state.expiresAt })).toString('base64url');
    return `${PREFIX}${payload}.${this.tag(payload)}`;
  }

  /** Whether `token` has this codec's shape (sealed by a bridge, valid or not), rather than being a server's own state. */
  isSealed(token: unknown): boolean {
    return typeof token === 'string' && token.startsWith(PREFIX);
  }

  /**
   * The node a sealed state names, read without checking it: only to pass a retry on to that node, which
   * checks it under its own key. Undefined when it is not one of ours or cannot be read.
   */
  nodeOf(token: unknown): string | undefined {
    return this.parts(token)?.state?.node;
  }

  /** The state, or undefined when it is malformed, forged, altered or expired. */
  open(token: unknown, now = Date.now()): RequestState | undefined {
    const parts = this.parts(token);
    if (!parts?.state) return undefined;
    const expected = Buffer.from(this.tag(parts.payload));
    const given = Buffer.from(parts.tag);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return parts.state.expiresAt > now ? parts.state : undefined;
  }

  /** A token of ours taken apart, its payload read (not checked). */
  private parts(token: unknown): { payload: string; tag: string; state: RequestState | undefined } | undefined {
    if (typeof token !== 'string' || token.length > MAX_STATE_CHARS || !this.isSealed(token)) return undefined;
    const [payload, tag, ...rest] = token.slice(PREFIX.length).split('.');
    if (payload === undefined || tag === undefined || rest.length > 0) return undefined;
    let value: { n?: unknown; c?: unknown; r?: unknown; e?: unknown };
    try {
      value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) ?? {};
    } catch {
      return { payload, tag, state: undefined };
    }
    const { n, c, r, e } = value;
    const wellFormed = typeof n === 'string' && typeof c === 'string' && typeof r === 'number' && typeof e === 'number';
    return { payload, tag, state: wellFormed ? { node: n, call: c, round: r, expiresAt: e } : undefined };
  }

  private tag(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
