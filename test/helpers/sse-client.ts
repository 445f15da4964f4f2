/**
 * A raw SSE request whose reading the test controls: paused, it stops reading its socket (TCP backpressure
 * reaches the bridge); its events are parsed as they are read.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { waitFor } from './bridge.js';

export interface SseEvent {
  id?: string;
  data: string;
  retry?: number;
}

export interface SseRequest {
  /** The response, once its head arrived. */
  response: Promise<IncomingMessage>;
  events: SseEvent[];
  /** Bytes read so far. */
  bytes(): number;
  pause(): void;
  resume(): void;
  ended(): boolean;
  waitForEvent(predicate: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Destroys the connection, as a client that goes away. */
  close(): void;
}

export function sseRequest(
  url: string,
  { method = 'GET', headers = {}, body, paused = false }: { method?: string; headers?: Record<string, string>; body?: string; paused?: boolean },
): SseRequest {
  const events: SseEvent[] = [];
  let buffered = '';
  let read = 0;
  let ended = false;
  let incoming: IncomingMessage | undefined;
  const req = httpRequest(url, { method, headers });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      incoming = res;
      if (paused) res.pause();
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        read += Buffer.byteLength(text);
        buffered += text;
        for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const event: SseEvent = { data: '' };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const [field, ...rest] = line.split(':');
            const value = rest.join(':').replace(/^ /, '');
            if (field === 'id') event.id = value;
            if (field === 'data') event.data = event.data ? `${event.data}\n${value}` : value;
            if (field === 'retry') event.retry = Number(value);
            isEvent ||= field === 'id' || field === 'data';
          }
          if (isEvent) events.push(event);
        }
      });
      res.on('end', () => (ended = true));
      res.on('error', () => (ended = true));
      resolve(res);
    });
    req.on('error', reject);
  });
  response.catch(() => undefined);
  req.end(body);
  return {
    response,
    events,
    bytes: () => read,
    pause: () => incoming?.pause(),
    resume: () => incoming?.resume(),
    ended: () => ended,
    waitForEvent: (predicate, timeoutMs = 10_000) => waitFor(() => events.find(predicate), { timeoutMs, what: 'an SSE event' }),
    close: () => req.destroy(),
  };
}

/** The JSON-RPC message of an event, or undefined for the priming event. */
export function messageOf(event: SseEvent): { id?: unknown; method?: string; result?: unknown; error?: { message: string }; params?: Record<string, unknown> } | undefined {
  return event.data === '' ? undefined : JSON.parse(event.data);
}
