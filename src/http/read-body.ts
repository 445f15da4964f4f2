/**
 * Reads a request body straight from Node's request, up to a limit. The web Request's body stream (what the
 * SDK's readRequestBody reads) costs a stream, a reader and a promise per chunk on every call.
 */
import type { IncomingMessage } from 'node:http';

export type BodyText = { tooLarge: false; text: string } | { tooLarge: true };

/** A declared Content-Length over `maxBytes` is refused unread; otherwise reading stops once more than `maxBytes` arrived. */
export function readBody(incoming: IncomingMessage, maxBytes: number): Promise<BodyText> {
  if (Number(incoming.headers['content-length']) > maxBytes) return Promise.resolve({ tooLarge: true });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (result: BodyText | Error) => {
      if (settled) return;
      settled = true;
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) settle({ tooLarge: true });
      else chunks.push(chunk);
    };
    const onEnd = () => settle({ tooLarge: false, text: Buffer.concat(chunks, received).toString('utf8') });
    const onError = (error: Error) => settle(error);
    const onClose = () => settle(new Error('the client closed the connection before the body ended'));
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
    // A request that ended or failed before the listeners were attached emits nothing more.
    queueMicrotask(() => {
      if (incoming.errored) onError(incoming.errored);
      else if (incoming.readableEnded) onEnd();
      else if (incoming.destroyed) onClose();
    });
  });
}
