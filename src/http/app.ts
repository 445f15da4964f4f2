/** The Hono app: health and readiness, the MCP endpoint at its path with and without a trailing slash, middleware order. */
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { TokenFile } from './auth.js';
import type { ClientAddressResolver } from './client-address.js';
import { ErrorCode, jsonRpcError } from './errors.js';
import { guards, type GuardPolicy } from './guards.js';
import type { Endpoint } from './mcp-endpoint.js';
import type { ClientRateLimit } from './rate-limits.js';

export interface AppDeps {
  path: string;
  policy: GuardPolicy;
  clientAddress: ClientAddressResolver;
  tokens: TokenFile | undefined;
  requestRate: ClientRateLimit;
  endpoint: Endpoint;
  /** Why new sessions cannot be served now, or undefined when they can. */
  notReady(): string | undefined;
  metrics: Metrics;
  log: Logger;
}

type Env = { Bindings: HttpBindings; Variables: { client: string } };

const MCP_METHODS = ['GET', 'POST', 'DELETE'];

export function createApp(deps: AppDeps): Hono<Env> {
  const { metrics, log } = deps;
  const app = new Hono<Env>();
  // Served directly at both spellings: a redirected POST breaks many clients and proxies.
  const paths = deps.path === '/' ? ['/'] : [deps.path, `${deps.path}/`];

  app.use(async (c, next) => {
    const started = performance.now();
    c.set('client', deps.clientAddress(getConnInfo(c).remote.address, c.req.raw.headers));
    await next();
    metrics.httpResponse(c.res.status);
    // Built only when wanted: this runs for every request.
    if (!log.isLevelEnabled('debug')) return;
    log.debug(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        client: c.get('client'),
        session: c.req.header('mcp-session-id')?.slice(0, 8),
      },
      'request',
    );
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const reason = deps.notReady();
    return reason === undefined ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason }, 503);
  });
  for (const path of paths) {
    app.use(
      path,
      guards(deps.policy, (reason) => metrics.rejected(reason)),
      // Only origins that passed the guard reach here, so the allowed origin is echoed back.
      cors({
        origin: (origin) => origin,
        allowMethods: MCP_METHODS,
        allowHeaders: ['Content-Type', 'Accept', 'Authorization', 'Mcp-Session-Id', 'MCP-Protocol-Version', 'Last-Event-ID'],
        exposeHeaders: ['Mcp-Session-Id', 'WWW-Authenticate'],
        maxAge: 600,
      }),
      authenticate(deps),
      rateLimit(deps),
    );
    app.on(MCP_METHODS, path, (c) => deps.endpoint(c.req.raw, c.env.incoming, c.get('client')));
    app.all(path, () =>
      jsonRpcError(405, ErrorCode.BadRequest, 'Method not allowed.', { headers: { Allow: MCP_METHODS.join(', ') } }),
    );
  }
  app.notFound(() => jsonRpcError(404, ErrorCode.BadRequest, 'Not Found: the MCP endpoint is elsewhere'));
  app.onError((error) => {
    log.error({ err: error.message, stack: error.stack }, 'request handler failed');
    return jsonRpcError(500, ErrorCode.InternalError, 'Internal error');
  });
  return app;
}

/** With a token file, every MCP request needs one of its bearer tokens. */
function authenticate(deps: AppDeps): MiddlewareHandler<Env> {
  return async (c, next) => {
    const { tokens } = deps;
    if (tokens === undefined || c.req.method === 'OPTIONS' || tokens.accepts(c.req.header('authorization'))) return next();
    deps.metrics.rejected('auth');
    const given = c.req.header('authorization') !== undefined;
    return jsonRpcError(401, ErrorCode.BadRequest, 'Unauthorized: a valid bearer token is required', {
      headers: { 'WWW-Authenticate': given ? 'Bearer realm="mcp-bridge", error="invalid_token"' : 'Bearer realm="mcp-bridge"' },
    });
  };
}

function rateLimit(deps: AppDeps): MiddlewareHandler<Env> {
  return async (c, next) => {
    const wait = await deps.requestRate.take(c.get('client'));
    if (wait === undefined) return next();
    deps.metrics.rejected('rate');
    return jsonRpcError(429, ErrorCode.BadRequest, 'Too Many Requests: slow down', { headers: { 'Retry-After': String(wait) } });
  };
}
