/**
 * Session ids: `<node>-<32 hex>`, so that with several bridges behind one balancer the id says which node
 * holds the session (its child cannot move), and a balancer can route on its prefix.
 */
import { randomBytes } from 'node:crypto';

/** A new session id of this node: `<node>-<32 hex>`, visible ASCII, at most 49 characters, 128 random bits. */
export function newSessionId(nodeId: string): string {
  return `${nodeId}-${randomBytes(16).toString('hex')}`;
}

/** A session id as logs show it: its node and 8 of its random characters, enough to tell sessions apart and too few to use one. */
export function loggedSessionId(sessionId: string): string {
  return sessionId.slice(0, sessionId.indexOf('-') + 9);
}

/** The node a session id names: what comes before its first `-`. */
export function nodeOf(sessionId: string): string {
  return sessionId.slice(0, Math.max(0, sessionId.indexOf('-')));
}
