/**
 * Whether a request may reach the MCP endpoint at all, decided before anything is read or spawned: Host,
 * Origin, CORS preflight, the request rate, authentication, in that order. Every refusal is answered here,
 * counted, and logged (throttled).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ThrottledWarnings } from '../log.js';
import type { RejectionReason, ServerMetrics } from '../metrics.js';
import type { Authentication } from './authentication.js';
import type { ClientIdentity, ClientIdentityResolver } from './client-address.js';
import { isPreflight, preflightHeaders } from './cors.js';
import { isHostAllowed, isOriginAllowed, type GuardPolicy } from './guards.js';
import type { PeerLink } from './peer-link.js';
import type { ClientRateLimit } from './rate-limits.js';
import { ErrorCode, replyEmpty, replyError, type ErrorReply } from './replies.js';

export interface AdmissionDeps {
  policy: GuardPolicy;
  identify: ClientIdentityResolver;
  peers: PeerLink;
  auth: Authentication;
  /** HTTP requests per client. */
  requestRate: ClientRateLimit;
  /** Failed authentications per client. */
  authFailures: ClientRateLimit;
  metrics: ServerMetrics;
  warnings: ThrottledWarnings;
}

/** An admitted request's client, and the principal it authenticated as. */
export interface Caller extends ClientIdentity {
  principal: string;
  /** Another node passed the request on: it is served here, never passed again. */
  fromPeer: boolean;
}

export type Admission = (req: IncomingMessage, res: ServerResponse, cors: OutgoingHttpHeaders) => Promise<Caller | undefined>;

const forbidden = (what: string): ErrorReply => ({ status: 403, code: ErrorCode.BadRequest, message: `Forbidden: ${what} not allowed`, omitId: true });
const tooMany = (message: string, seconds: number): ErrorReply => ({
  status: 429,
  code: ErrorCode.BadRequest,
  message: `Too Many Requests: ${message}`,
  headers: { 'retry-after': String(seconds) },
});

export function createAdmission(deps: AdmissionDeps): Admission {
  const refuse = (res: ServerResponse, cors: OutgoingHttpHeaders, client: ClientIdentity, reason: RejectionReason, reply: ErrorReply) => {
    deps.metrics.rejected(reason);
    deps.warnings.warn(`${reason}|${client.key}`, { client: client.address, status: reply.status, reason }, 'request refused');
    replyError(res, reply, cors);
    return undefined;
  };

  /**
   * Rule: every request counts toward the rate before authentication, and failed ones toward a limit of
   * their own; a request a peer passed on goes through the same checks, as the client the peer names.
   * Why: token guessing must cost the guesser, and the peer link must be no way around the guards.
   */
  return async (req, res, cors) => {
    const sender = deps.peers.senderOf(req.headers);
    const client = sender.kind === 'peer' ? deps.identify(sender.clientAddress, {}) : deps.identify(req.socket.remoteAddress, req.headers);
    if (sender.kind === 'forged') {
      await deps.authFailures.take(client.key);
      return refuse(res, cors, client, 'auth', forbidden('a request posing as a peer is'));
    }
    if (!isHostAllowed(req.headers.host, deps.policy)) return refuse(res, cors, client, 'host', forbidden('Host'));
    if (!isOriginAllowed(req.headers.origin, deps.policy)) return refuse(res, cors, client, 'origin', forbidden('Origin'));
    if (isPreflight(req.method, req.headers)) {
      replyEmpty(res, 204, preflightHeaders(req.headers));
      return undefined;
    }
    const wait = await deps.requestRate.take(client.key);
    if (wait !== undefined) return refuse(res, cors, client, 'rate', tooMany('slow down', wait));
    const { auth } = deps;
    if (auth.required) {
      const blocked = await deps.authFailures.exhausted(client.key);
      if (blocked !== undefined) return refuse(res, cors, client, 'auth', tooMany('too many failed authentications', blocked));
    }
    const authorization = req.headers.authorization;
    const principal = auth.principalOf(authorization);
    if (principal !== undefined) return { ...client, principal, fromPeer: sender.kind === 'peer' };
    // No token at all is how a client learns where to get one, not a guess: only wrong tokens count.
    if (authorization !== undefined) await deps.authFailures.take(client.key);
    return refuse(res, cors, client, 'auth', {
      status: 401,
      code: ErrorCode.BadRequest,
      message: 'Unauthorized: a valid bearer token is required',
      headers: { 'www-authenticate': auth.challenge(authorization !== undefined) },
    });
  };
}
