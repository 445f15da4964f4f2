/**
 * Every route of the bridge, declared here: the MCP endpoints (each server's paths, with and without a
 * trailing slash) served by a plain Node handler, since they are the hot path; the server list behind the
 * same admission; health, readiness, the authorization server's routes and 404 by a small Hono app.
 */
import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Admission } from './admission.js';
import { corsHeaders } from './cors.js';
import type { Endpoint } from './mcp-endpoint.js';
import { loggedSessionId } from '../session/session-id.js';
import { NODE_HEADER, type PeerLink } from './peer-link.js';
import { ErrorCode, replyError } from './replies.js';

/** One MCP endpoint: who may reach it, and what serves it. */
export interface McpRoute {
  admission: Admission;
  endpoint: Endpoint;
}

/** A server as /readyz and the server list show it. */
export interface ServerStatus {
  name: string;
  path: string;
  /** Why it cannot take a new session now; undefined: it can. */
  notReady: string | undefined;
}

export interface RouteDeps {
  /** The MCP endpoints by path. */
  endpoints: Map<string, McpRoute>;
  /** GET <prefix>/servers (with --config): the servers and their readiness, behind an admission any server's credentials pass. */
  listing: { path: string; admission: Admission } | undefined;
  /** Every server's readiness, in order; with one server, /readyz answers as it always has. */
  statuses(): ServerStatus[];
  /** This node among several: names itself on every response, and passes requests for other nodes' sessions on. */
  peers: PeerLink;
  metrics: Metrics;
  log: Logger;
  /** More routes on the Hono app (the OAuth authorization server's). */
  mount?: (app: Hono<{ Bindings: HttpBindings }>) => void;
}

function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

export function createRequestListener(deps: RouteDeps): RequestListener {
  const { metrics, log, peers } = deps;
  const node = peers.nodeId;
  const app = new Hono<{ Bindings: HttpBindings }>();
  deps.mount?.(app);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const statuses = deps.statuses();
    if (deps.listing === undefined) {
      const reason = statuses[0].notReady;
      return reason === undefined ? c.json({ status: 'ready', node }) : c.json({ status: 'not ready', reason, node }, 503);
    }
    // Rule: ready when every server is: a broken one must show, though the others go on serving.
    const ready = statuses.every((status) => status.notReady === undefined);
    return c.json({ status: ready ? 'ready' : 'not ready', node, servers: Object.fromEntries(statuses.map(view)) }, ready ? 200 : 503);
  });
  app.notFound((c) => c.json({ jsonrpc: '2.0', id: null, error: { code: ErrorCode.BadRequest, message: 'Not Found: the MCP endpoint is elsewhere' } }, 404));
  const others = getRequestListener(app.fetch);
  // Served directly at both spellings: a redirected POST breaks many clients and proxies.
  const routes = new Map<string, McpRoute>();
  for (const [path, route] of deps.endpoints) {
    routes.set(path, route);
    if (path !== '/') routes.set(`${path}/`, route);
  }
  if (deps.listing) routes.set(deps.listing.path, { admission: deps.listing.admission, endpoint: listServers });

  async function listServers(req: IncomingMessage, res: ServerResponse, _client: unknown, cors: OutgoingHttpHeaders): Promise<void> {
    if (req.method !== 'GET') return replyError(res, { status: 405, code: ErrorCode.BadRequest, message: 'Method not allowed.', headers: { allow: 'GET' } }, cors);
    const servers = deps.statuses().map((status) => ({ name: status.name, path: status.path, ...view(status)[1] }));
    res.writeHead(200, { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ servers }));
  }

  async function serveRoute(route: McpRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = corsHeaders(req.headers);
    try {
      const client = await route.admission(req, res, cors);
      if (!client) return;
      const peer = peers.peerFor(req.headers, client.fromPeer);
      if (peer === undefined) await route.endpoint(req, res, client, cors);
      else await peers.forward(peer, req, res, client.address, cors);
    } catch (error) {
      log.error({ err: (error as Error).message, stack: (error as Error).stack }, 'request handler failed');
      if (!res.headersSent) replyError(res, { status: 500, code: ErrorCode.InternalError, message: 'Internal error' }, cors);
      else res.destroy();
    }
  }

  return (req, res) => {
    const started = performance.now();
    res.setHeader(NODE_HEADER, node);
    res.once('close', () => {
      metrics.httpResponse(res.statusCode);
      // Built only when wanted: this runs for every request.
      if (!log.isLevelEnabled('debug')) return;
      const session = req.headers['mcp-session-id'];
      log.debug(
        {
          method: req.method,
          path: pathOf(req.url),
          status: res.statusCode,
          ms: Math.round((performance.now() - started) * 10) / 10,
          session: typeof session === 'string' ? loggedSessionId(session) : undefined,
        },
        'request',
      );
    });
    const route = routes.get(pathOf(req.url));
    if (route) return void serveRoute(route, req, res);
    // HTTP/1.0 health checks (HAProxy's httpchk) send no Host, and Hono needs one to build the URL.
    req.headers.host ??= 'localhost';
    void others(req, res);
  };
}

/** A server's readiness as JSON: its name, and `ready` or `not ready` with the reason. */
function view(status: ServerStatus): [string, { status: string; reason?: string }] {
  return [status.name, status.notReady === undefined ? { status: 'ready' } : { status: 'not ready', reason: status.notReady }];
}
