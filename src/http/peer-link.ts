/**
 * Several bridges behind one load balancer: a session lives on the node that made it (its child cannot
 * move), and its id says which node that is. A request that reaches another node is passed to the one
 * that holds its session and the answer streamed back, SSE included, so that even a round-robin balancer
 * works. The nodes prove themselves to each other with a shared secret; a request that came from a peer is
 * never passed on again, so there are no loops.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream';
import type { ClusterConfig } from '../config.js';
import type { Logger } from '../log.js';
import { nodeOf } from '../session/session-id.js';
import { replyError, sessionNotFound } from './replies.js';

/** Every response names the node that answered it (for a passed-on request, the node holding the session). */
export const NODE_HEADER = 'x-mcp-bridge-node';
/** The shared secret, on requests one node passes to another. */
const PEER_HEADER = 'x-mcp-bridge-peer';
/** The client's address as the node it reached first saw it: believed only with the secret. */
const CLIENT_HEADER = 'x-mcp-bridge-client';

/** The shortest secret accepted: guessing it must be out of reach. */
const MIN_SECRET_LENGTH = 32;

/** Hop-by-hop headers (RFC 9110 §7.6.1) stay on their own connection. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Who sent a request: a client, a peer that proved the secret (naming the client), or someone faking a peer. */
export type Sender = { kind: 'client' } | { kind: 'peer'; clientAddress: string } | { kind: 'forged' };

export class PeerLink {
  private readonly secret: string | undefined;
  private readonly secretDigest: Buffer | undefined;
  /** One pool of kept-alive connections per peer, so a passed-on call does not pay a TCP handshake. */
  private readonly agents = new Map<string, HttpAgent>();

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly log: Logger,
  ) {
    this.secret = cluster.peerSecretFile === undefined ? undefined : readSecret(cluster.peerSecretFile);
    this.secretDigest = this.secret === undefined ? undefined : digest(this.secret);
    for (const [node, origin] of cluster.peers) {
      const options = { keepAlive: true, maxFreeSockets: 16 };
      this.agents.set(node, origin.startsWith('https:') ? new HttpsAgent(options) : new HttpAgent(options));
    }
  }

  get nodeId(): string {
    return this.cluster.nodeId;
  }

  /**
   * Rule: a request with the peer header is a peer's only if it carries this node's secret; with a wrong one
   * (or when this node has none) it is forged and refused. Why: only a peer may name the client for it.
   */
  senderOf(headers: IncomingHttpHeaders): Sender {
    const offered = headers[PEER_HEADER];
    if (offered === undefined) return { kind: 'client' };
    if (this.secretDigest === undefined || typeof offered !== 'string' || !timingSafeEqual(digest(offered), this.secretDigest)) return { kind: 'forged' };
    const address = headers[CLIENT_HEADER];
    return typeof address === 'string' && address !== '' ? { kind: 'peer', clientAddress: address } : { kind: 'forged' };
  }

  /**
   * Rule: a request goes to the peer its session id names, unless it came from a peer (then it is served
   * here, where an unknown session is a 404). Why: one hop at most, so no loop; an unknown node or a forged
   * prefix simply finds no session here.
   */
  peerFor(headers: IncomingHttpHeaders, fromPeer: boolean): string | undefined {
    const id = headers['mcp-session-id'];
    if (fromPeer || typeof id !== 'string') return undefined;
    const node = nodeOf(id);
    return node === this.cluster.nodeId ? undefined : node && this.cluster.peers.has(node) ? node : undefined;
  }

  /**
   * Passes the request to the peer and streams its answer back as it comes (`passed`: the request's body, when
   * it was read here already, and the answer to give if the peer cannot be reached). A peer that cannot be
   * reached answers for its sessions with 404: they are gone with it, and the client re-initializes.
   */
  forward(
    node: string,
    req: IncomingMessage,
    res: ServerResponse,
    clientAddress: string,
    cors: OutgoingHttpHeaders,
    passed?: { body: string; unreachable: () => void },
  ): Promise<void> {
    const body = passed?.body;
    const origin = this.cluster.peers.get(node) as string;
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    headers[PEER_HEADER] = this.secret;
    headers[CLIENT_HEADER] = clientAddress;
    const send = origin.startsWith('https:') ? httpsRequest : httpRequest;
    this.log.debug({ peer: node, method: req.method }, 'passed to peer');
    return new Promise((resolve) => {
      const upstream = send(`${origin}${req.url ?? '/'}`, { method: req.method, headers, agent: this.agents.get(node) });
      // The client left: the peer sees its stream closed, as if the client had reached it directly.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
        resolve();
      });
      upstream.once('response', (answer) => {
        const passed: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) passed[name] = value;
        res.writeHead(answer.statusCode ?? 502, passed);
        res.flushHeaders();
        // Either side failing ends the other: a cut peer stream must show as a cut stream.
        pipeline(answer, res, () => undefined);
      });
      upstream.on('error', (error) => {
        this.log.warn({ peer: node, err: error.message }, 'peer unreachable: answering for what it holds');
        if (res.headersSent) res.destroy();
        else if (passed) passed.unreachable();
        else replyError(res, sessionNotFound, cors);
      });
      if (body === undefined) req.pipe(upstream);
      else upstream.end(body);
    });
  }

  /** Rule: a 2026-07-28 retry goes to the peer that parked its call (its requestState names it), unless it came from a peer. Why: the parked call and its child live there. */
  peerForNode(node: string | undefined, fromPeer: boolean): string | undefined {
    return !fromPeer && node !== undefined && node !== this.cluster.nodeId && this.cluster.peers.has(node) ? node : undefined;
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
  }
}

/** The secret file's first line that is not blank or a `#` comment; throws a readable message otherwise. */
function readSecret(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
  const secret = text.split('\n').map((line) => line.trim()).find((line) => line !== '' && !line.startsWith('#'));
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH || !/^[\x21-\x7e]+$/.test(secret)) {
    throw new Error(`${path} must hold a secret of at least ${MIN_SECRET_LENGTH} visible characters (e.g. \`openssl rand -hex 32\`)`);
  }
  return secret;
}
