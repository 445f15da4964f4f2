/**
 * When a session's SSE response is over. The SDK transport gives no such event, and the HTTP layer, which
 * writes the stream to the socket, is the one that sees it end: it reports here, the session listens here.
 */

const callbacks = new WeakMap<ReadableStream, () => void>();

/**
 * Calls `onEnd` once, when `response`'s event stream is over: ended by the server, failed, or dropped by the
 * client. Keyed by the body stream, which middleware that copies the Response keeps.
 */
export function onStreamEnd(response: Response, onEnd: () => void): void {
  if (response.body === null) onEnd();
  else callbacks.set(response.body, onEnd);
}

/** The HTTP layer is done with `body`. */
export function streamEnded(body: ReadableStream): void {
  callbacks.get(body)?.();
  callbacks.delete(body);
}
