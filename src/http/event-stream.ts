/**
 * Writes SSE responses straight to the Node response instead of through @hono/node-server's generic
 * stream copy, which flushes the head on its own and then makes one socket write per event: three or four
 * writes (and as many wake-ups of the client) for a call that has one answer, against two here.
 */
import type { ServerResponse } from 'node:http';
import type { Http2Bindings, HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { streamEnded } from '../session/stream-end.js';

type Fetch = (request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>;

// The content type first: reading `body` of @hono/node-server's lightweight Response builds a full one.
function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').startsWith('text/event-stream') && response.body !== null;
}

/** Wraps the app's fetch so that its event-stream responses are written by `writeEventStream`. */
export function directEventStreams(fetch: Fetch): Fetch {
  return async (request, env) => {
    const response = await fetch(request, env);
    if (!isEventStream(response)) return response;
    // serve() is given no HTTP/2 server, so the response is always HTTP/1's.
    void writeEventStream(response, env.outgoing as ServerResponse);
    // A plain Response made before serve() replaced the global one: @hono/node-server then writes nothing.
    return RESPONSE_ALREADY_SENT;
  };
}

/**
 * Rule: the head leaves at the end of the turn that produced the response, with the events ready by then;
 * later events are written as they come, those of one event-loop turn together. Why: a socket write costs
 * a system call here and a wake-up at the client, so an answer and the end of its stream should share one;
 * but the head must not wait for a slow first event (a proxy such as Cloudflare's gives up on an origin
 * that sends no head for 100 s).
 */
export async function writeEventStream(response: Response, outgoing: ServerResponse): Promise<void> {
  const body = response.body as ReadableStream<Uint8Array>;
  const reader = body.getReader();
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  let corked = false;
  const uncork = () => {
    corked = false;
    outgoing.uncork();
  };
  const corkForThisTurn = () => {
    if (corked) return;
    corked = true;
    outgoing.cork();
    process.nextTick(uncork);
  };
  // The client went away: cancelling the body tells the SDK that the stream is gone.
  const onClose = () => void reader.cancel().catch(() => undefined);
  outgoing.once('close', onClose);
  let finished = false;
  try {
    corkForThisTurn();
    outgoing.writeHead(response.status, headers);
    outgoing.flushHeaders();
    while (!outgoing.destroyed) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      corkForThisTurn();
      if (!outgoing.write(value) && !outgoing.destroyed) await drained(outgoing);
    }
    if (finished && !outgoing.destroyed) outgoing.end();
  } catch (error) {
    outgoing.destroy(error as Error);
  } finally {
    outgoing.off('close', onClose);
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
    streamEnded(body);
  }
}

/** Resolves when the client has taken what was written, or is gone. */
function drained(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off('drain', done).off('close', done);
      resolve();
    };
    outgoing.on('drain', done).on('close', done);
  });
}
