/**
 * Every route of the bridge, declared here: the MCP endpoint (its path with and without a trailing slash)
 * served by a plain Node handler, since it is the hot path; health, readiness and 404 by a small Hono app.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Admission } from './admission.js';
import { corsHeaders } from './cors.js';
import type { Endpoint } from './mcp-endpoint.js';
import { ErrorCode, replyError } from './replies.js';

export interface RouteDeps {
  path: string;
  admission: Admission;
  endpoint: Endpoint;
  /** Why new sessions cannot be served now, or undefined when they can. */
  notReady(): string | undefined;
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
  const { metrics, log } = deps;
  const app = new Hono<{ Bindings: HttpBindings }>();
  deps.mount?.(app);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const reason = deps.notReady();
    return reason === undefined ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason }, 503);
  });
  app.notFound((c) => c.json({ jsonrpc: '2.0', id: null, error: { code: ErrorCode.BadRequest, message: 'Not Found: the MCP endpoint is elsewhere' } }, 404));
  const others = getRequestListener(app.fetch);
  // Served directly at both spellings: a redirected POST breaks many clients and proxies.
  const mcpPaths = new Set(deps.path === '/' ? ['/'] : [deps.path, `${deps.path}/`]);

  async function serveMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = corsHeaders(req.headers);
    try {
      const client = await deps.admission(req, res, cors);
      if (client) await deps.endpoint(req, res, client, cors);
    } catch (error) {
      log.error({ err: (error as Error).message, stack: (error as Error).stack }, 'request handler failed');
      if (!res.headersSent) replyError(res, { status: 500, code: ErrorCode.InternalError, message: 'Internal error' }, cors);
      else res.destroy();
    }
  }

  return (req, res) => {
    const started = performance.now();
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
          session: typeof session === 'string' ? session.slice(0, 8) : undefined,
        },
        'request',
      );
    });
    if (mcpPaths.has(pathOf(req.url))) void serveMcp(req, res);
    else void others(req, res);
  };
}
