/** The Hono app: health, the MCP endpoint at its path with and without a trailing slash, and middleware order. */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Logger } from '../log.js';
import { ErrorCode, jsonRpcError } from './errors.js';
import { guards, type GuardPolicy } from './guards.js';

export interface AppDeps {
  path: string;
  policy: GuardPolicy;
  endpoint(request: Request): Promise<Response>;
  log: Logger;
}

const MCP_METHODS = ['GET', 'POST', 'DELETE'];

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  // Served directly at both spellings: a redirected POST breaks many clients and proxies.
  const paths = deps.path === '/' ? ['/'] : [deps.path, `${deps.path}/`];

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  for (const path of paths) {
    app.use(
      path,
      guards(deps.policy),
      // Only origins that passed the guard reach here, so the allowed origin is echoed back.
      cors({
        origin: (origin) => origin,
        allowMethods: MCP_METHODS,
        allowHeaders: ['Content-Type', 'Accept', 'Authorization', 'Mcp-Session-Id', 'MCP-Protocol-Version', 'Last-Event-ID'],
        exposeHeaders: ['Mcp-Session-Id', 'WWW-Authenticate'],
        maxAge: 600,
      }),
    );
    app.on(MCP_METHODS, path, (c) => deps.endpoint(c.req.raw));
    app.all(path, () =>
      jsonRpcError(405, ErrorCode.BadRequest, 'Method not allowed.', { headers: { Allow: MCP_METHODS.join(', ') } }),
    );
  }
  app.notFound(() => jsonRpcError(404, ErrorCode.BadRequest, 'Not Found: the MCP endpoint is elsewhere'));
  app.onError((error) => {
    deps.log.error({ err: error.message, stack: error.stack }, 'request handler failed');
    return jsonRpcError(500, ErrorCode.InternalError, 'Internal error');
  });
  return app;
}
