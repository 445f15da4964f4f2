/**
 * One request to a child before its session uses it, and its answer, read off stdout without disturbing
 * the session's reader: every other byte the child wrote is put back. Two uses: a pooled child's warm-up
 * (one `ping`, the only request 2025-era servers take before `initialize`: a process that has never read,
 * parsed and written a message answers its first one slowly, the echo server ~3.5 ms instead of ~0.3; after a
 * ping its `initialize` takes ~1.5 ms), and the era probe (`server/discover`, see child-era.ts).
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from './child-process.js';

/** The ping's id: random per bridge, so no client request id can match it (client ids reach the child as they are). */
export const WARM_UP_ID = `mcp-bridge-warm-up-${randomUUID()}`;

/** A server that ignores pings before initialize is handed out anyway after this long. */
export const WARM_UP_TIMEOUT_MS = 5000;

/** Output held back while waiting (owner: one exchange); a child that writes more without answering counts as not answering. */
const MAX_HELD_BYTES = 1024 * 1024;

export type ExchangeOutcome = { answer: Record<string, unknown> } | 'no-answer' | 'exited' | 'aborted';
export type WarmUpResult = 'answered' | 'no-answer' | 'exited' | 'aborted';

/** Pings the child and waits for the answer (or the timeout, the child's exit, `signal`). */
export async function warmUp(child: ChildProcess, signal: AbortSignal, timeoutMs = WARM_UP_TIMEOUT_MS): Promise<WarmUpResult> {
  const outcome = await exchange(child, { jsonrpc: '2.0', id: WARM_UP_ID, method: 'ping' }, signal, timeoutMs);
  return typeof outcome === 'string' ? outcome : 'answered';
}

/**
 * Sends `request` and waits for the answer to its id (or the timeout, the child's exit, `signal`). stdout is
 * left paused with every other byte the child wrote put back, for the session's reader; only the answer is
 * consumed. Aborted before the answer, the answer is left for the session, which drops it as a reply to nothing.
 */
export function exchange(child: ChildProcess, request: { id: string } & Record<string, unknown>, signal: AbortSignal, timeoutMs: number): Promise<ExchangeOutcome> {
  const { stdout } = child;
  const kept: Buffer[] = [];
  let partial = Buffer.alloc(0);
  let held = 0;
  let done = false;
  return new Promise<ExchangeOutcome>((resolve) => {
    const finish = (result: ExchangeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      stdout.off('data', onData);
      stdout.pause();
      const rest = Buffer.concat([...kept, partial]);
      // After the end of stdout there is no one to read it: the child is on its way out.
      if (rest.length > 0 && !stdout.readableEnded) stdout.unshift(rest);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      held += chunk.length;
      partial = Buffer.concat([partial, chunk]);
      for (let end = partial.indexOf(10); end !== -1; end = partial.indexOf(10)) {
        const line = partial.subarray(0, end + 1);
        partial = partial.subarray(end + 1);
        const answer = answerTo(request.id, line);
        if (answer) return finish({ answer });
        kept.push(line);
      }
      if (held > MAX_HELD_BYTES) finish('no-answer');
    };
    const timer = setTimeout(() => finish('no-answer'), timeoutMs);
    const onAbort = () => finish('aborted');
    signal.addEventListener('abort', onAbort);
    stdout.on('data', onData);
    // A stream an earlier exchange paused stays paused for a new listener: read on.
    stdout.resume();
    void child.exited.then(() => finish('exited'));
    child.stdin.write(`${JSON.stringify(request)}\n`);
  });
}

function answerTo(id: string, line: Buffer): Record<string, unknown> | undefined {
  try {
    const message = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
    return message.id === id && message.method === undefined ? message : undefined;
  } catch {
    return undefined;
  }
}
