/**
 * A pooled child's warm-up: one `ping` (the only request the protocol allows before `initialize`) and its
 * answer. A process that has never read, parsed and written a message answers its first one slowly (the
 * echo server: ~3.5 ms instead of ~0.3; lazy compilation, first-touch page faults); after a ping its
 * `initialize` takes ~1.5 ms. It also proves the child alive and speaking JSON-RPC before a client gets it.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from './child-process.js';

/** The ping's id: random per bridge, so no client request id can match it (client ids reach the child as they are). */
export const WARM_UP_ID = `mcp-bridge-warm-up-${randomUUID()}`;

/** A server that ignores pings before initialize is handed out anyway after this long. */
export const WARM_UP_TIMEOUT_MS = 5000;

/** Output held back while waiting; a child that writes more without answering is handed out as it is. */
const MAX_HELD_BYTES = 1024 * 1024;

export type WarmUpResult = 'answered' | 'no-answer' | 'exited' | 'aborted';

/**
 * Sends the ping and waits for its answer (or the timeout, the child's exit, `signal`). stdout is left paused
 * with every other byte the child wrote put back, for the session's reader; only the answer is consumed.
 * Aborted before the answer, the answer is left for the session, which drops it as a reply to nothing.
 */
export function warmUp(child: ChildProcess, signal: AbortSignal, timeoutMs = WARM_UP_TIMEOUT_MS): Promise<WarmUpResult> {
  const { stdout } = child;
  const kept: Buffer[] = [];
  let partial = Buffer.alloc(0);
  let held = 0;
  let done = false;
  return new Promise<WarmUpResult>((resolve) => {
    const finish = (result: WarmUpResult) => {
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
        if (isWarmUpAnswer(line)) return finish('answered');
        kept.push(line);
      }
      if (held > MAX_HELD_BYTES) finish('no-answer');
    };
    const timer = setTimeout(() => finish('no-answer'), timeoutMs);
    const onAbort = () => finish('aborted');
    signal.addEventListener('abort', onAbort);
    stdout.on('data', onData);
    void child.exited.then(() => finish('exited'));
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: WARM_UP_ID, method: 'ping' })}\n`);
  });
}

function isWarmUpAnswer(line: Buffer): boolean {
  try {
    const message = JSON.parse(line.toString('utf8')) as { id?: unknown; method?: unknown };
    return message.id === WARM_UP_ID && message.method === undefined;
  } catch {
    return false;
  }
}
