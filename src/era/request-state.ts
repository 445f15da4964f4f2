/**
 * The `requestState` of an `input_required` result: which parked call a retry continues, sealed with an
 * HMAC-SHA256 under a key of this bridge process, so that a client can neither forge nor alter one.
 * Format (the v2 SDK's codec's): `v1.<base64url payload>.<base64url tag>`. A replay is refused by the
 * parked call itself (its round has moved on or it is gone), not here.
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

/** Longest requestState accepted: far above what seal writes, so a client cannot make the bridge hash megabytes. */
const MAX_STATE_CHARS = 1024;

export class RequestStateCodec {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  seal(state: RequestState): string {
    const payload = Buffer.from(JSON.stringify({ n: state.node, c: state.call, r: state.round, e: state.expiresAt })).toString('base64url');
    return `v1.${payload}.${this.tag(payload)}`;
  }

  /** The state, or undefined when it is malformed, forged, altered or expired. */
  open(token: unknown, now = Date.now()): RequestState | undefined {
    if (typeof token !== 'string' || token.length > MAX_STATE_CHARS) return undefined;
    const [version, payload, tag, ...rest] = token.split('.');
    if (version !== 'v1' || payload === undefined || tag === undefined || rest.length > 0) return undefined;
    const expected = Buffer.from(this.tag(payload));
    const given = Buffer.from(tag);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let value: { n?: unknown; c?: unknown; r?: unknown; e?: unknown };
    try {
      value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const { n, c, r, e } = value;
    if (typeof n !== 'string' || typeof c !== 'string' || typeof r !== 'number' || typeof e !== 'number') return undefined;
    return e > now ? { node: n, call: c, round: r, expiresAt: e } : undefined;
  }

  private tag(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
